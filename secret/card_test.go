package secret_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyledger/keyledger/secret"
)

// A card's identifier hashes per lock: the same card on the same lock
// hashes equal (uniqueness is a lookup), on another lock or as another
// card differently; a PIN of the same bytes hashes otherwise (another
// key). Identifiers of 4 to 10 bytes are accepted; others are ErrInvalid
// with the length, never the bytes, in the message.
func TestCardHashes(t *testing.T) {
	v := newVault(t, nil)
	uid := secret.New([]byte{0x04, 0xa2, 0x3b, 0x91, 0x7c, 0x55, 0x80})
	a, err := v.HashCard("lock-a", uid)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := v.HashCard("lock-a", secret.New([]byte{0x04, 0xa2, 0x3b, 0x91, 0x7c, 0x55, 0x80}))
	b, _ := v.HashCard("lock-b", uid)
	c, _ := v.HashCard("lock-a", secret.New([]byte{0x04, 0xa2, 0x3b, 0x91, 0x7c, 0x55, 0x81}))
	if a != a2 || a == b || a == c {
		t.Fatal("the same card on the same lock must hash equal, other locks and cards differently")
	}
	x, _ := v.HashCard("lock-1", secret.New([]byte("2345")))
	y, _ := v.HashCard("lock-12", secret.New([]byte("3456")))
	p, _ := v.HashPIN("lock-1", secret.FromString("2345"))
	if x == y || x == secret.CardHash(p) {
		t.Fatal("ambiguous lock/identifier encoding, or the card and PIN hashes coincide")
	}
	if !v.CheckCard("lock-a", uid, a) || v.CheckCard("lock-b", uid, a) || v.CheckCard("lock-a", secret.New([]byte{1}), a) {
		t.Fatal("CheckCard")
	}
	for _, n := range []int{0, 3, 11, 64} {
		bad := bytes.Repeat([]byte{0xAB}, n)
		_, err := v.HashCard("l", secret.New(bad))
		if !errors.Is(err, secret.ErrInvalid) || (n > 0 && bytes.Contains([]byte(err.Error()), []byte("ab"))) {
			t.Fatalf("identifier of %d bytes: %v", n, err)
		}
	}
	for n := secret.MinCardUIDLen; n <= secret.MaxCardUIDLen; n++ {
		if _, err := v.HashCard("l", secret.New(bytes.Repeat([]byte{1}, n))); err != nil {
			t.Fatalf("identifier of %d bytes: %v", n, err)
		}
	}
}
