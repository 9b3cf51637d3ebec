package secret_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/secret"
)

func TestPasswords(t *testing.T) {
	v := newVault(t, nil)
	pw := secret.FromString("correct horse battery staple")
	h, err := v.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(h), "horse") {
		t.Fatal("hash contains the password")
	}
	if !strings.HasPrefix(string(h), "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q does not record its parameters", h)
	}
	if got := h.String(); got != "argon2id(m=64,t=1,p=1)" {
		t.Errorf("String = %q (must not show salt or hash)", got)
	}
	h2, _ := v.HashPassword(pw)
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if err := v.VerifyPassword(pw, h); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", strings.Repeat("x", 2000)} {
		if err := v.VerifyPassword(secret.FromString(wrong), h); !errors.Is(err, secret.ErrWrongPassword) {
			t.Errorf("verify(%d bytes) = %v, want ErrWrongPassword", len(wrong), err)
		}
	}
	p, err := h.Params()
	if err != nil || p != secret.TestPasswordParams {
		t.Errorf("Params = %+v, %v", p, err)
	}
	if v.NeedsRehash(h) {
		t.Error("fresh hash needs rehash")
	}
	if !h.NeedsRehash(secret.DefaultPasswordParams) {
		t.Error("hash at test cost should need a rehash under the defaults")
	}
	if _, err := v.HashPassword(secret.Secret{}); !errors.Is(err, secret.ErrInvalid) {
		t.Errorf("empty password: %v", err)
	}
	if _, err := v.HashPassword(secret.New(make([]byte, secret.MaxPasswordLen+1))); !errors.Is(err, secret.ErrInvalid) {
		t.Errorf("long password: %v", err)
	}
}

func TestPasswordHashMalformed(t *testing.T) {
	good, err := secret.HashPassword(rand.Reader, secret.FromString("pw"), secret.TestPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(good), "$")
	with := func(i int, s string) string {
		c := append([]string(nil), parts...)
		c[i] = s
		return strings.Join(c, "$")
	}
	for _, h := range []string{
		"",
		"plaintext",
		"$argon2i" + strings.TrimPrefix(string(good), "$argon2id"),
		with(2, "v=16"),
		with(3, "m=64,t=1"),
		with(3, "m=64,t=1,p=0"),
		with(3, "m=4194304,t=1,p=1"), // 4 GiB: refused before allocating
		with(3, "m=64,t=1000,p=1"),
		with(3, "m=064,t=1,p=1"),
		with(3, "t=1,m=64,p=1"),
		with(4, "!!"),
		with(4, "c2FsdA"), // 4-byte salt
		with(5, "aGFzaA"), // 4-byte hash
		string(good) + "$",
	} {
		if err := secret.VerifyPassword(secret.FromString("pw"), secret.PasswordHash(h)); !errors.Is(err, secret.ErrMalformed) {
			t.Errorf("VerifyPassword(%q) = %v, want ErrMalformed", h, err)
		}
		if !secret.PasswordHash(h).NeedsRehash(secret.TestPasswordParams) {
			t.Errorf("malformed %q does not need rehash", h)
		}
	}
	bad := []secret.PasswordParams{
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	}
	for _, p := range bad {
		if _, err := secret.HashPassword(rand.Reader, secret.FromString("pw"), p); !errors.Is(err, secret.ErrInvalid) {
			t.Errorf("HashPassword with %+v: %v", p, err)
		}
	}
}
