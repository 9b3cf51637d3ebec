package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// PIN lengths (a digital key's PIN credential).
const (
	MinPINDigits = 4
	MaxPINDigits = 6
)

// PINHash is the keyed hash of a PIN within one lock: equal PINs on the same
// lock give equal hashes (so uniqueness per lock is an index lookup), the same
// PIN on two locks gives unrelated hashes.
type PINHash [32]byte

// String is the hash in hex (not secret).
func (h PINHash) String() string { return hex.EncodeToString(h[:]) }

// NewPIN returns a uniformly random PIN of the given number of digits (4–6).
// Uniqueness within a lock is the caller's check: hash it with HashPIN and
// draw again if the hash is taken.
func (v *Vault) NewPIN(digits int) (Secret, error) {
	if digits < MinPINDigits || digits > MaxPINDigits {
		return Secret{}, invalidf("PIN of %d digits, want %d to %d", digits, MinPINDigits, MaxPINDigits)
	}
	out := make([]byte, digits)
	var r [2]byte
	defer clear(r[:])
	for i := range out {
		for {
			if err := v.random(r[:]); err != nil {
				clear(out)
				return Secret{}, err
			}
			x := binary.BigEndian.Uint16(r[:])
			if x < 65530 { // 65530 = 6553*10: reject the biased tail
				out[i] = '0' + byte(x%10)
				break
			}
		}
	}
	return wrapBytes(out), nil
}

// ValidatePIN checks that pin is 4–6 ASCII digits. The error names the
// length, never the digits.
func ValidatePIN(pin Secret) error {
	if pin.Len() < MinPINDigits || pin.Len() > MaxPINDigits {
		return invalidf("PIN of %d characters, want %d to %d digits", pin.Len(), MinPINDigits, MaxPINDigits)
	}
	for i, c := range pin.bytes() {
		if c < '0' || c > '9' {
			return invalidf("PIN has a non-digit at position %d", i)
		}
	}
	return nil
}

// HashPIN returns HMAC-SHA256(pinKey, lock, pin) with pinKey derived from the
// root secret. ErrInvalid if pin is not 4–6 digits.
func (v *Vault) HashPIN(lock string, pin Secret) (PINHash, error) {
	if err := ValidatePIN(pin); err != nil {
		return PINHash{}, err
	}
	m := hmac.New(sha256.New, v.pinKey)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(lock)))
	m.Write([]byte("pin v1\x00"))
	m.Write(n[:])
	m.Write([]byte(lock))
	m.Write(pin.bytes())
	var h PINHash
	m.Sum(h[:0])
	return h, nil
}

// CheckPIN reports whether pin on lock hashes to want (constant-time compare).
func (v *Vault) CheckPIN(lock string, pin Secret, want PINHash) bool {
	got, err := v.HashPIN(lock, pin)
	if err != nil {
		return false
	}
	return hmac.Equal(got[:], want[:])
}
