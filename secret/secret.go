package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what every formatting of a Secret prints.
const Redacted = "[REDACTED]"

// Secret holds secret bytes (a master code, password, share code or PIN).
// Formatting, logging and every marshaling path redact it or fail, so a
// Secret cannot leak through fmt, slog, JSON, text or msgpack; Reveal is the
// one way to read it. The zero value is the empty secret. Values are
// immutable: constructors and Reveal copy.
//
// The bytes sit behind two pointers: fmt cannot call methods on an
// unexported struct field, and it follows at most one pointer (for a bad verb
// such as %q on a pointer) before printing addresses, so even a Secret in an
// unexported field of a printed struct shows no bytes.
type Secret struct {
	p *box
}

type box struct{ b *[]byte }

func wrapBytes(b []byte) Secret { return Secret{p: &box{&b}} }

// New returns a Secret holding a copy of b.
func New(b []byte) Secret { return wrapBytes(append([]byte(nil), b...)) }

// FromString returns a Secret holding s.
func FromString(s string) Secret { return wrapBytes([]byte(s)) }

func (s Secret) bytes() []byte {
	if s.p == nil || s.p.b == nil {
		return nil
	}
	return *s.p.b
}

// Reveal returns a copy of the secret bytes. Call it only where the
// plaintext is needed (hashing, sealing, showing it to its owner once).
func (s Secret) Reveal() []byte { return append([]byte(nil), s.bytes()...) }

// Len is the secret's length in bytes (not secret for our uses: PINs and
// codes have public lengths; password lengths are bounded).
func (s Secret) Len() int { return len(s.bytes()) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Len() == 0 }

// Equal compares two secrets in constant time (for equal lengths).
func (s Secret) Equal(t Secret) bool { return subtle.ConstantTimeCompare(s.bytes(), t.bytes()) == 1 }

// String returns Redacted.
func (Secret) String() string { return Redacted }

// GoString returns Redacted (for %#v).
func (Secret) GoString() string { return "secret.Secret(" + Redacted + ")" }

// Format prints Redacted for every verb (%x and %d included).
func (Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue redacts the secret in log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText fails with ErrNotSerializable.
func (Secret) MarshalText() ([]byte, error) { return nil, ErrNotSerializable }

// MarshalBinary fails with ErrNotSerializable.
func (Secret) MarshalBinary() ([]byte, error) { return nil, ErrNotSerializable }

// MarshalJSON fails with ErrNotSerializable.
func (Secret) MarshalJSON() ([]byte, error) { return nil, ErrNotSerializable }

// MarshalMsgpack fails with ErrNotSerializable (msgpack.Marshaler).
func (Secret) MarshalMsgpack() ([]byte, error) { return nil, ErrNotSerializable }
