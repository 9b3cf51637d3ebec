package secret_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyledger/keyledger/secret"
)

// Open of arbitrary bytes never panics and fails with a documented error
// unless the bytes are the one valid sealed value.
func FuzzOpen(f *testing.F) {
	ctx := context.Background()
	v := newVault(f, nil)
	good, err := v.Seal(ctx, secret.FromString("fuzz-secret"), []byte("aad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(good), []byte("aad"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte(good[:30]), []byte("aad"))
	f.Fuzz(func(t *testing.T, b, aad []byte) {
		got, err := v.Open(ctx, secret.Sealed(b), aad)
		if err == nil {
			if string(got.Reveal()) != "fuzz-secret" {
				t.Fatal("opened something that was never sealed")
			}
			return
		}
		if !errors.Is(err, secret.ErrMalformed) && !errors.Is(err, secret.ErrUnknownKey) &&
			!errors.Is(err, secret.ErrAuthentication) {
			t.Fatalf("undocumented error %v", err)
		}
		_, _ = secret.Sealed(b).KeyID()
		_ = secret.Sealed(b).String()
	})
}

// Parsing stored password hashes never panics, never accepts a wrong
// password, and refuses costs beyond the bounds before computing.
func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2id$v=19$m=99999999999,t=1,p=1$$", "")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, h, pw string) {
		p, err := secret.PasswordHash(h).Params()
		if err == nil && (p.Memory > 64<<10 || p.Time > 4) {
			return // valid but too slow to verify in a fuzz loop
		}
		err = secret.VerifyPassword(secret.FromString(pw), secret.PasswordHash(h))
		if err == nil {
			t.Fatalf("a fuzzed hash accepted a password")
		}
		if !errors.Is(err, secret.ErrMalformed) && !errors.Is(err, secret.ErrWrongPassword) {
			t.Fatalf("undocumented error %v", err)
		}
		_ = secret.PasswordHash(h).String()
	})
}

// Share-code and PIN input never panics; accepted codes hash deterministically.
func FuzzCodeAndPIN(f *testing.F) {
	v := newVault(f, nil)
	f.Add("7KQ2-M9XD-E4RT")
	f.Add("1234")
	f.Add("oooo iiii llll")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := v.HashCode(secret.FromString(in))
		if err == nil && !v.CheckCode(secret.FromString(in), h) {
			t.Fatal("code does not check against its own hash")
		}
		if err != nil && !errors.Is(err, secret.ErrInvalid) {
			t.Fatalf("undocumented error %v", err)
		}
		if _, err := v.HashPIN("lock", secret.FromString(in)); err != nil && !errors.Is(err, secret.ErrInvalid) {
			t.Fatalf("undocumented error %v", err)
		}
	})
}
