package secret_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/secret"
)

func TestNewVaultOptions(t *testing.T) {
	cases := []struct {
		name string
		opts *secret.Options
		want []string // substrings of the joined error
	}{
		{"nil", nil, []string{"Root has 0 bytes", "Keystore is nil"}},
		{"short root", &secret.Options{Root: secret.New(make([]byte, 31)), Keystore: secret.NewMemKeystore()}, []string{"Root has 31 bytes"}},
		{"bad params", &secret.Options{Root: testRoot, Keystore: secret.NewMemKeystore(), Password: secret.PasswordParams{Memory: 1}}, []string{"Password"}},
		{"negative concurrency", &secret.Options{Root: testRoot, Keystore: secret.NewMemKeystore(), MaxConcurrentHashes: -1}, []string{"MaxConcurrentHashes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := secret.NewVault(c.opts)
			if !errors.Is(err, secret.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	v, err := secret.NewVault(&secret.Options{Root: testRoot, Keystore: secret.NewMemKeystore()})
	if err != nil {
		t.Fatal(err)
	}
	if v.PasswordParams() != secret.DefaultPasswordParams {
		t.Errorf("zero Password = %+v, want defaults", v.PasswordParams())
	}
}

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, nil)
	for _, pt := range []string{"", "1", "123456", "master-code-0042", strings.Repeat("x", secret.MaxSecretLen)} {
		s, err := v.Seal(ctx, secret.FromString(pt), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) >= 4 && bytes.Contains(s, []byte(pt)) {
			t.Fatalf("sealed bytes contain the plaintext")
		}
		got, err := v.Open(ctx, s, []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Reveal()) != pt {
			t.Fatalf("round trip of %d bytes failed", len(pt))
		}
	}
	if _, err := v.Seal(ctx, secret.New(make([]byte, secret.MaxSecretLen+1)), nil); !errors.Is(err, secret.ErrInvalid) {
		t.Errorf("oversized seal: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	ks := secret.NewMemKeystore()
	v := newVault(t, ks)
	sealed, err := v.Seal(ctx, secret.FromString("0000-1111"), []byte("lock-1"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := sealed.KeyID()
	flip := func(i int) secret.Sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		return c
	}
	other, err := secret.NewVault(&secret.Options{Root: secret.New(bytes.Repeat([]byte{7}, 32)), Keystore: ks})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		v     *secret.Vault
		s     secret.Sealed
		aad   string
		want  error
		keyed bool // a *KeyError naming the key
	}{
		{"empty", v, nil, "lock-1", secret.ErrMalformed, false},
		{"short", v, sealed[:44], "lock-1", secret.ErrMalformed, false},
		{"version", v, flip(0), "lock-1", secret.ErrMalformed, false},
		{"other key id", v, flip(3), "lock-1", secret.ErrUnknownKey, true},
		{"nonce altered", v, flip(20), "lock-1", secret.ErrAuthentication, true},
		{"ciphertext altered", v, flip(len(sealed) - 1), "lock-1", secret.ErrAuthentication, true},
		{"wrong aad", v, sealed, "lock-2", secret.ErrAuthentication, true},
		{"wrong root", other, sealed, "lock-1", secret.ErrAuthentication, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.v.Open(ctx, c.s, []byte(c.aad))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var ke *secret.KeyError
			if errors.As(err, &ke) != c.keyed {
				t.Fatalf("KeyError = %v, want %v", errors.As(err, &ke), c.keyed)
			}
			if strings.Contains(err.Error(), "0000-1111") {
				t.Fatal("error leaks the secret")
			}
		})
	}
	if err := v.Shred(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = v.Open(ctx, sealed, []byte("lock-1"))
	var ke *secret.KeyError
	if !errors.Is(err, secret.ErrShredded) || !errors.As(err, &ke) || ke.ID != id || ke.Op != "open" {
		t.Fatalf("after shred: %v", err)
	}
	if !strings.Contains(err.Error(), id.String()) {
		t.Errorf("error %q does not name the key", err)
	}
	// Shred is idempotent; a shredded ID cannot be brought back.
	if err := v.Shred(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := ks.Put(ctx, id, []byte("x")); !errors.Is(err, secret.ErrShredded) {
		t.Errorf("Put after shred: %v", err)
	}
}

func TestSealedKeyIDAndString(t *testing.T) {
	v := newVault(t, nil)
	s, err := v.Seal(context.Background(), secret.FromString("pw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	back, err := secret.ParseKeyID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseKeyID(%s) = %v, %v", id, back, err)
	}
	if got := s.String(); !strings.Contains(got, id.String()) {
		t.Errorf("String = %q", got)
	}
	if _, err := secret.ParseKeyID("zz"); !errors.Is(err, secret.ErrMalformed) {
		t.Errorf("ParseKeyID: %v", err)
	}
	if _, err := secret.Sealed("x").KeyID(); !errors.Is(err, secret.ErrMalformed) {
		t.Errorf("KeyID of junk: %v", err)
	}
}

// Every sealed value gets its own data key: shredding one leaves the others.
func TestShredIsPerSecret(t *testing.T) {
	ctx := context.Background()
	ks := secret.NewMemKeystore()
	v := newVault(t, ks)
	a, _ := v.Seal(ctx, secret.FromString("a"), nil)
	b, _ := v.Seal(ctx, secret.FromString("b"), nil)
	if err := v.ShredSealed(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(ctx, a, nil); !errors.Is(err, secret.ErrShredded) {
		t.Errorf("a: %v", err)
	}
	if got, err := v.Open(ctx, b, nil); err != nil || string(got.Reveal()) != "b" {
		t.Errorf("b: %v", err)
	}
	if ks.Len() != 1 {
		t.Errorf("keystore holds %d keys, want 1", ks.Len())
	}
}
