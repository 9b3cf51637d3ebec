package secret_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/secret"
	"github.com/vmihailenco/msgpack/v5"
)

const canary = "canary-9Q7Z"

func TestSecretRedacts(t *testing.T) {
	s := secret.FromString(canary)
	type event struct {
		Code secret.Secret
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%c", "%U", "%e", "%t", "%T %v"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, canary) || strings.Contains(out, fmt.Sprintf("%x", canary)) {
			t.Errorf("%s prints the secret: %s", f, out)
		}
		if out := fmt.Sprintf(f, event{s}); strings.Contains(out, canary) {
			t.Errorf("%s of a struct prints the secret: %s", f, out)
		}
		if out := fmt.Sprintf(f, &event{s}); strings.Contains(out, canary) {
			t.Errorf("%s of a pointer prints the secret: %s", f, out)
		}
		// fmt cannot call Format on an unexported field: the pointer inside
		// Secret is what keeps the bytes out.
		hidden := struct{ code secret.Secret }{s}
		if out := fmt.Sprintf(f, hidden); strings.Contains(out, canary) || strings.Contains(out, "99 97 110") || strings.Contains(out, "c a n") || strings.Contains(out, "143 141") ||
			strings.Contains(out, "0x63") || strings.Contains(out, fmt.Sprintf("%x", canary)) {
			t.Errorf("%s of an unexported field prints the secret: %s", f, out)
		}
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "code", s, "ev", event{s})
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "code", s)
	if strings.Contains(b.String(), canary) {
		t.Errorf("slog prints the secret: %s", b.String())
	}
	if _, err := json.Marshal(event{s}); !errors.Is(err, secret.ErrNotSerializable) {
		t.Errorf("json: %v", err)
	}
	if out, err := msgpack.Marshal(event{s}); !errors.Is(err, secret.ErrNotSerializable) {
		t.Errorf("msgpack: %v (%q)", err, out)
	}
	if out, err := msgpack.Marshal(s); err == nil || strings.Contains(string(out), canary) {
		t.Errorf("msgpack of a bare Secret: %v", err)
	}
	if string(s.Reveal()) != canary || s.Len() != len(canary) || s.IsZero() {
		t.Error("Reveal/Len/IsZero")
	}
	r := s.Reveal()
	r[0] = 'X'
	if string(s.Reveal()) != canary {
		t.Error("Reveal must return a copy")
	}
	raw := []byte(canary)
	n := secret.New(raw)
	raw[0] = 'X'
	if !n.Equal(s) || n.Equal(secret.FromString("other")) {
		t.Error("New must copy; Equal")
	}
}

func TestCodes(t *testing.T) {
	v := newVault(t, nil)
	seen := map[string]bool{}
	for range 200 {
		c, err := v.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		s := string(c.Reveal())
		if len(s) != secret.CodeLen+2 || s[4] != '-' || s[9] != '-' {
			t.Fatalf("code layout %q", s)
		}
		if seen[s] {
			t.Fatalf("duplicate code after %d", len(seen))
		}
		seen[s] = true
		h, err := v.HashCode(c)
		if err != nil {
			t.Fatal(err)
		}
		// Typed back by a person: lower case, no hyphens, spaces.
		typed := strings.ToLower(strings.ReplaceAll(s, "-", " "))
		if !v.CheckCode(secret.FromString(typed), h) {
			t.Fatalf("typed form of the code does not match")
		}
		if strings.Contains(h.String(), s) {
			t.Fatal("hash contains code")
		}
	}
	h, _ := v.HashCode(secret.FromString("0000-1111-2222"))
	for _, c := range []struct {
		in    string
		match bool
	}{
		{"0000-1111-2222", true},
		{"OOOO-IIII-2222", true}, // O reads as 0, I as 1
		{"oooo llll 2222", true},
		{"0000-1111-2223", false},
		{"0000-1111-222", false},
		{"0000-1111-22222", false},
		{"0000-1111-222U", false},
		{"", false},
	} {
		if got := v.CheckCode(secret.FromString(c.in), h); got != c.match {
			t.Errorf("CheckCode(%q) = %v, want %v", c.in, got, c.match)
		}
	}
	for _, bad := range []string{"0000-1111-222", "0000-1111-222U", "0000-1111-22220", "é"} {
		_, err := v.HashCode(secret.FromString(bad))
		if !errors.Is(err, secret.ErrInvalid) {
			t.Errorf("HashCode(%q) = %v", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "0000") {
			t.Errorf("error leaks the code: %v", err)
		}
	}
	// Another root gives another hash: the stored hash is useless without the root.
	other := newVaultRoot(t, 9)
	if other.CheckCode(secret.FromString("0000-1111-2222"), h) {
		t.Error("hash matched under another root")
	}
}

func newVaultRoot(t *testing.T, b byte) *secret.Vault {
	t.Helper()
	root := make([]byte, 32)
	for i := range root {
		root[i] = b
	}
	v, err := secret.NewVault(&secret.Options{Root: secret.New(root), Keystore: secret.NewMemKeystore(), Password: secret.TestPasswordParams})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPINs(t *testing.T) {
	v := newVault(t, nil)
	counts := [10]int{}
	for digits := secret.MinPINDigits; digits <= secret.MaxPINDigits; digits++ {
		for range 300 {
			p, err := v.NewPIN(digits)
			if err != nil {
				t.Fatal(err)
			}
			if err := secret.ValidatePIN(p); err != nil || p.Len() != digits {
				t.Fatalf("NewPIN(%d) gave an invalid PIN: %v", digits, err)
			}
			for _, c := range p.Reveal() {
				counts[c-'0']++
			}
		}
	}
	for d, n := range counts { // 4500 digits: each ~450; a stuck digit would show
		if n < 300 || n > 600 {
			t.Errorf("digit %d drawn %d times of 4500", d, n)
		}
	}
	for _, n := range []int{0, 3, 7} {
		if _, err := v.NewPIN(n); !errors.Is(err, secret.ErrInvalid) {
			t.Errorf("NewPIN(%d): %v", n, err)
		}
	}
	pin := secret.FromString("4711")
	a, err := v.HashPIN("lock-a", pin)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := v.HashPIN("lock-a", secret.FromString("4711"))
	b, _ := v.HashPIN("lock-b", pin)
	c, _ := v.HashPIN("lock-a", secret.FromString("47110"))
	if a != a2 {
		t.Error("same PIN on the same lock must hash equal (uniqueness check)")
	}
	if a == b || a == c {
		t.Error("hash must differ across locks and PINs")
	}
	// Lock/PIN boundary is unambiguous.
	x, _ := v.HashPIN("lock-1", secret.FromString("2345"))
	y, _ := v.HashPIN("lock-12", secret.FromString("345"+"6"))
	if x == y {
		t.Error("ambiguous lock/PIN encoding")
	}
	if !v.CheckPIN("lock-a", pin, a) || v.CheckPIN("lock-b", pin, a) || v.CheckPIN("lock-a", secret.FromString("12"), a) {
		t.Error("CheckPIN")
	}
	for _, bad := range []string{"", "123", "1234567", "12a4", "１２３４"} {
		if _, err := v.HashPIN("l", secret.FromString(bad)); !errors.Is(err, secret.ErrInvalid) {
			t.Errorf("HashPIN(%q): %v", bad, err)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error leaks the PIN: %v", err)
		}
	}
}
