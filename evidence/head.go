package evidence

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Hash is a SHA-256 tree hash, written as lowercase hex in JSON.
type Hash [32]byte

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText implements encoding.TextUnmarshaler: exactly 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fail(ErrFormat, 0, "hash of %d hex digits, want %d", len(b), 2*len(h))
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fail(ErrFormat, 0, "hash %.64q is not hex", b)
	}
	return nil
}

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Head is a tree head: the log's first Size events hash to Root (RFC 9162,
// SHA-256); Time is when it was signed.
type Head struct {
	Size uint64    `json:"size"`
	Root Hash      `json:"root"`
	Time time.Time `json:"time"`
}

// headContext starts every signed message: a signature over a tree head can
// never be taken for one over anything else the key might sign.
const headContext = "keyledger/tree-head v1\n"

// Message is the byte string a head's signature covers: the context line,
// then size and time (Unix nanoseconds), 8 bytes big-endian each, then the
// root.
func (h Head) Message() []byte {
	b := make([]byte, 0, len(headContext)+8+8+32)
	b = append(b, headContext...)
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time.UnixNano()))
	return append(b, h.Root[:]...)
}

// SignedHead is a head with the log key's Ed25519 signature over Message.
type SignedHead struct {
	Head
	Key       PublicKey `json:"key"`
	Signature []byte    `json:"signature"`
}

// PublicKey is an Ed25519 public key, written as hex in JSON.
type PublicKey []byte

// MarshalText implements encoding.TextMarshaler.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(k)), nil }

// UnmarshalText implements encoding.TextUnmarshaler: exactly 64 hex digits.
func (k *PublicKey) UnmarshalText(b []byte) error {
	var h Hash
	if err := h.UnmarshalText(b); err != nil {
		return fail(ErrFormat, 0, "public key: %s", err.(*Error).Reason)
	}
	*k = PublicKey(h[:])
	return nil
}

// Sign signs h with key. The time is kept to the nanosecond in UTC, as the
// message covers it.
func Sign(h Head, key ed25519.PrivateKey) SignedHead {
	h.Time = time.Unix(0, h.Time.UnixNano()).UTC()
	return SignedHead{Head: h, Key: PublicKey(key.Public().(ed25519.PublicKey)), Signature: ed25519.Sign(key, h.Message())}
}

// Check verifies s's signature under pub. A head naming another key is
// ErrKey; a bad signature ErrSignature.
func (s SignedHead) Check(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fail(ErrKey, 0, "log key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if !pub.Equal(ed25519.PublicKey(s.Key)) {
		return fail(ErrKey, 0, "head of size %d names key %x, the log key is %x", s.Size, []byte(s.Key), []byte(pub))
	}
	if !ed25519.Verify(pub, s.Message(), s.Signature) {
		return fail(ErrSignature, 0, "head of size %d, root %s", s.Size, s.Root)
	}
	return nil
}

// LeafHash is the tree's hash of an event's canonical record bytes:
// SHA-256(0x00 || record), RFC 9162's leaf hash.
func LeafHash(record []byte) Hash { return Hash(rfc6962.DefaultHasher.HashLeaf(record)) }

// EmptyRoot is the root of the tree of no events.
func EmptyRoot() Hash { return Hash(rfc6962.DefaultHasher.EmptyRoot()) }

// maxProof bounds a proof's length: a tree of 2^64 leaves needs 64 hashes
// (a consistency proof at most two more).
const maxProof = 66

func hashes(p []Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// VerifyInclusion checks that the record at position (from 1) is leaf
// position-1 of head's tree: its leaf hash and proof lead to head.Root. A
// failure is an *Error matching ErrInclusion.
func VerifyInclusion(record []byte, position uint64, p []Hash, head Head) error {
	if position == 0 || position > head.Size {
		return fail(ErrInclusion, position, "not in a tree of size %d", head.Size)
	}
	if len(p) > maxProof {
		return fail(ErrInclusion, position, "proof of %d hashes", len(p))
	}
	leaf := LeafHash(record)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, position-1, head.Size, leaf[:], hashes(p), head.Root[:]); err != nil {
		return fail(ErrInclusion, position, "tree of size %d, root %s: %v", head.Size, head.Root, shortErr(err))
	}
	return nil
}

// VerifyConsistency checks that the tree of newer extends the tree of
// older: the first older.Size events are the same. A failure is an *Error
// matching ErrConsistency.
func VerifyConsistency(older, newer Head, p []Hash) error {
	if len(p) > maxProof {
		return fail(ErrConsistency, 0, "proof of %d hashes", len(p))
	}
	if older.Size > newer.Size {
		return fail(ErrConsistency, 0, "trusted head of size %d is newer than the head of size %d", older.Size, newer.Size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, hashes(p), older.Root[:], newer.Root[:]); err != nil {
		return fail(ErrConsistency, 0, "from size %d (root %s) to %d (root %s): %v", older.Size, older.Root, newer.Size, newer.Root, shortErr(err))
	}
	return nil
}

// shortErr keeps the library's errors on one line (its root mismatch
// prints both roots as byte lists).
func shortErr(err error) string {
	if _, ok := err.(proof.RootMismatchError); ok {
		return "the proof leads to another root"
	}
	return fmt.Sprint(err)
}
