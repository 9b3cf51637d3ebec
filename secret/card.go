package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Card identifier (UID) lengths: ISO/IEC 14443 cards have 4, 7 or 10 byte
// UIDs, 125 kHz cards 5-byte IDs.
const (
	MinCardUIDLen = 4
	MaxCardUIDLen = 10
)

// CardHash is the keyed hash of a card's identifier within one lock: the
// same card on the same lock gives the same hash (so a card is unique per
// lock by an index lookup), on two locks unrelated hashes.
type CardHash [32]byte

// String is the hash in hex (not secret).
func (h CardHash) String() string { return hex.EncodeToString(h[:]) }

// ValidateCardUID checks that uid is MinCardUIDLen to MaxCardUIDLen bytes.
// The error names the length, never the bytes.
func ValidateCardUID(uid Secret) error {
	if uid.Len() < MinCardUIDLen || uid.Len() > MaxCardUIDLen {
		return invalidf("card identifier of %d bytes, want %d to %d", uid.Len(), MinCardUIDLen, MaxCardUIDLen)
	}
	return nil
}

// HashCard returns HMAC-SHA256(cardKey, lock, uid) with cardKey derived
// from the root secret. ErrInvalid if uid's length is out of bounds.
//
// A card's UID is read by anyone in radio range and copied onto a blank
// card in seconds, so it identifies a card, it does not authenticate one:
// hashing it keeps it out of the ledger, not out of reach. A deployment
// that must resist cloning uses cards that answer a challenge with a key
// they never reveal (MIFARE DESFire EV2/EV3 with AES mutual
// authentication, for example) and records here only which card a key is.
func (v *Vault) HashCard(lock string, uid Secret) (CardHash, error) {
	if err := ValidateCardUID(uid); err != nil {
		return CardHash{}, err
	}
	m := hmac.New(sha256.New, v.cardKey)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(lock)))
	m.Write([]byte("card v1\x00"))
	m.Write(n[:])
	m.Write([]byte(lock))
	m.Write(uid.bytes())
	var h CardHash
	m.Sum(h[:0])
	return h, nil
}

// CheckCard reports whether uid on lock hashes to want (constant-time
// compare). An identifier of a wrong length is simply false.
func (v *Vault) CheckCard(lock string, uid Secret, want CardHash) bool {
	h, err := v.HashCard(lock, uid)
	return err == nil && hmac.Equal(h[:], want[:])
}
