package lockproto

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/policy"
)

// Signer holds the issuer's Ed25519 key. The embedding backend supplies it
// (an HSM, a KMS, a sealed key); Ed25519Signer keeps one in memory.
type Signer interface {
	PublicKey() ed25519.PublicKey
	// Sign returns the 64-byte Ed25519 signature of message (pure Ed25519,
	// no pre-hash).
	Sign(message []byte) ([]byte, error)
}

// Ed25519Signer is an in-memory Signer for tests, examples and small
// deployments.
type Ed25519Signer struct{ key ed25519.PrivateKey }

// NewEd25519Signer wraps a private key.
func NewEd25519Signer(key ed25519.PrivateKey) (*Ed25519Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, invalidf("ed25519 private key of %d bytes", len(key))
	}
	return &Ed25519Signer{key: key}, nil
}

// GenerateEd25519Signer makes a new key from rand (nil = crypto/rand).
func GenerateEd25519Signer(r io.Reader) (*Ed25519Signer, error) {
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, err
	}
	return &Ed25519Signer{key: priv}, nil
}

func (s *Ed25519Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

func (s *Ed25519Signer) Sign(message []byte) ([]byte, error) {
	return ed25519.Sign(s.key, message), nil
}

// KeyID names an issuer key in every credential it signs, so a lock knows
// which of the (at most two) keys it holds to verify with. The issuer
// numbers its keys; IDs cycle through 0..MaxKeyID, and a lock never holds
// two keys with the same ID. Admin messages need none: only the lock's
// current key signs them.
type KeyID uint8

// MaxKeyID is the largest key ID: a credential carries it in four bits.
const MaxKeyID KeyID = 15

// Issuer signs credentials (naming its key ID) and admin messages with its
// Signer. It keeps no state: the caller (the ledger side) chooses
// credential IDs and admin sequence numbers and records what was issued.
type Issuer struct {
	signer Signer
	id     KeyID
}

// NewIssuer returns an Issuer signing with s under key ID 0.
func NewIssuer(s Signer) *Issuer { return &Issuer{signer: s} }

// NewIssuerKey returns an Issuer signing with s under key ID id (at most
// MaxKeyID): the key a rotation (RotateKey) hands over to.
func NewIssuerKey(s Signer, id KeyID) (*Issuer, error) {
	if id > MaxKeyID {
		return nil, invalidf("issuer key ID %d, at most %d", id, MaxKeyID)
	}
	return &Issuer{signer: s, id: id}, nil
}

// PublicKey is the key a lock is paired with.
func (i *Issuer) PublicKey() ed25519.PublicKey { return i.signer.PublicKey() }

// KeyID is the ID every frame this issuer signs names.
func (i *Issuer) KeyID() KeyID { return i.id }

func (i *Issuer) sign(dst []byte, sig *[64]byte) error {
	s, err := i.signer.Sign(dst)
	if err != nil {
		return fmt.Errorf("lockproto: signing: %w", err)
	}
	if len(s) != signatureSize {
		return fmt.Errorf("lockproto: signer returned %d bytes, want %d", len(s), signatureSize)
	}
	copy(sig[:], s)
	return nil
}

// IssueCredential signs c (its Signature field is ignored) and returns the
// credential frame.
func (i *Issuer) IssueCredential(c Credential) ([]byte, error) {
	c.KeyID = i.id
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := c.appendUnsigned(make([]byte, 0, MaxCredentialSize))
	if err := i.sign(b, &c.Signature); err != nil {
		return nil, err
	}
	return append(b, c.Signature[:]...), nil
}

// Admin signs a (its Signature field is ignored) and returns the frame.
func (i *Issuer) Admin(a Admin) ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	b := a.appendUnsigned(make([]byte, 0, MaxAdminSize))
	if err := i.sign(b, &a.Signature); err != nil {
		return nil, err
	}
	return append(b, a.Signature[:]...), nil
}

// ResetSlot makes every credential of slot with a generation below minGen
// lose at the lock: the slot's new generation lets the next holder's key
// overwrite the old one.
func (i *Issuer) ResetSlot(lock uuid.UUID, seq uint32, slot uint8, minGen uint32) ([]byte, error) {
	return i.Admin(Admin{Type: TypeResetSlot, Lock: lock, Seq: seq, Slot: slot, Generation: minGen})
}

// DeactivateSlot is a reset with no new holder yet, for deleting a
// downloaded key at once; the lock's audit record of applying it is the
// deactivation's confirmation.
func (i *Issuer) DeactivateSlot(lock uuid.UUID, seq uint32, slot uint8, minGen uint32) ([]byte, error) {
	return i.Admin(Admin{Type: TypeDeactivateSlot, Lock: lock, Seq: seq, Slot: slot, Generation: minGen})
}

// RevokeCredential puts one credential on the lock's revocation list. c is
// the credential as issued: its slot, generation and end let the lock drop
// the entry once a reset or the end makes it moot.
func (i *Issuer) RevokeCredential(lock uuid.UUID, seq uint32, c Credential) ([]byte, error) {
	return i.Admin(Admin{Type: TypeRevoke, Lock: lock, Seq: seq, Credential: c.ID, Slot: c.Slot,
		Generation: c.Generation, NotAfter: c.Policy.NotAfter})
}

// RevokeCode revokes the offline code with sequence number codeSeq that
// ends at notAfter (Unix seconds, OfflineCode.Validity): the lock refuses
// codes with that number ending no later, which an erase code typed at the
// keypad does too.
func (i *Issuer) RevokeCode(lock uuid.UUID, seq uint32, codeSeq uint8, notAfter uint32) ([]byte, error) {
	return i.Admin(Admin{Type: TypeRevokeCode, Lock: lock, Seq: seq, CodeSeq: codeSeq, NotAfter: notAfter})
}

// TimeSync sets the lock's clock to now; nonce is from a challenge the lock
// issued moments ago, so the message works once and only at that lock.
func (i *Issuer) TimeSync(lock uuid.UUID, nonce [16]byte, now time.Time) ([]byte, error) {
	u := now.Unix()
	if u <= 0 || u > 1<<32-1 {
		return nil, invalidf("time %v outside uint32 Unix seconds", now)
	}
	return i.Admin(Admin{Type: TypeTimeSync, Lock: lock, Nonce: nonce, Time: uint32(u)})
}

// TimeZone gives the lock its UTC offset transitions.
func (i *Issuer) TimeZone(lock uuid.UUID, seq uint32, rules ZoneRules) ([]byte, error) {
	return i.Admin(Admin{Type: TypeTimeZone, Lock: lock, Seq: seq, Zone: rules})
}

// RotateKey hands a lock over from this issuer's key to next's: from the
// message on, the lock verifies everything with next's key and refuses
// admin messages signed by this one; credentials signed by this key still
// open until graceUntil on the lock's clock (the zero time: not at all).
// The lock keeps at most these two keys.
func (i *Issuer) RotateKey(lock uuid.UUID, seq uint32, next *Issuer, graceUntil time.Time) ([]byte, error) {
	var until uint32
	if !graceUntil.IsZero() {
		u := graceUntil.Unix()
		if u <= 0 || u > 1<<32-1 {
			return nil, invalidf("grace until %v outside uint32 Unix seconds", graceUntil)
		}
		until = uint32(u)
	}
	pub := next.PublicKey()
	if len(pub) != ed25519.PublicKeySize {
		return nil, invalidf("next issuer key of %d bytes", len(pub))
	}
	if next.id == i.id {
		return nil, invalidf("next issuer key has the current key's ID %d", i.id)
	}
	a := Admin{Type: TypeRotateKey, Lock: lock, Seq: seq, NewKeyID: next.id, Until: until}
	copy(a.NewKey[:], pub)
	return i.Admin(a)
}

// CodeEntry is what a set-PIN or set-card message puts in the lock's
// table: the key's ID at the lock and generation, the doors, the schedule
// and use limit, and the keyed digest of the code or card identifier
// (PINDigest, CardDigest) with its length. Never the code itself.
type CodeEntry struct {
	ID         CredentialID
	Generation uint32
	Doors      uint8
	Length     uint8    // PIN digits (4..6) or card identifier bytes (4..10)
	Mode       CardMode // cards: how the card proves itself (CardUID)
	Policy     policy.Compact
	Digest     CodeDigest
}

func (i *Issuer) setCode(t Type, lock uuid.UUID, seq uint32, e CodeEntry) ([]byte, error) {
	return i.Admin(Admin{Type: t, Lock: lock, Seq: seq, Credential: e.ID, Generation: e.Generation, Doors: e.Doors,
		Length: e.Length, Mode: e.Mode, Policy: e.Policy, Digest: e.Digest})
}

// SetPIN puts a PIN in the lock's code table (or replaces the entry's
// older generation). The lock refuses a digest another entry holds
// (access.CodeInUse) and a full table (access.CodeSlotsFull).
func (i *Issuer) SetPIN(lock uuid.UUID, seq uint32, e CodeEntry) ([]byte, error) {
	return i.setCode(TypeSetPIN, lock, seq, e)
}

// SetCard puts a card in the lock's card table, as SetPIN.
func (i *Issuer) SetCard(lock uuid.UUID, seq uint32, e CodeEntry) ([]byte, error) {
	return i.setCode(TypeSetCard, lock, seq, e)
}

// ClearPIN takes the PIN of entry id out of the code table: generations
// below minGen (the cleared one + 1) lose, whenever their set arrives.
func (i *Issuer) ClearPIN(lock uuid.UUID, seq uint32, id CredentialID, minGen uint32) ([]byte, error) {
	return i.Admin(Admin{Type: TypeClearPIN, Lock: lock, Seq: seq, Credential: id, Generation: minGen})
}

// ClearCard takes a card out of the card table, as ClearPIN.
func (i *Issuer) ClearCard(lock uuid.UUID, seq uint32, id CredentialID, minGen uint32) ([]byte, error) {
	return i.Admin(Admin{Type: TypeClearCard, Lock: lock, Seq: seq, Credential: id, Generation: minGen})
}
