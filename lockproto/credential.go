package lockproto

import (
	"crypto/ed25519"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/policy"
)

// CredentialID names one issued credential; the issuer picks it (random or
// derived from the key's identity) and never reuses it for a lock.
type CredentialID [8]byte

func (id CredentialID) String() string { return fmt.Sprintf("%x", id[:]) }

// Role is the holder's role carried to the lock. Append only: never renumber
// or reuse a value.
type Role uint8

const (
	RoleUser  Role = 0
	RoleAdmin Role = 1
)

// maxRole is the largest role this version knows; a role shares its byte
// with the key ID (low four bits), so there is room for 16.
const maxRole = RoleAdmin

// Credential sizes.
const (
	credentialFixedSize = 2 + 16 + 8 + 1 + 4 + 1 + 1 + 4 + 4 + 2 + 1 + 32 + 64 // 140
	windowSize          = 5
	periodSize          = 8
	// MaxCredentialSize is the size of a credential with the most windows
	// and dated periods.
	MaxCredentialSize = credentialFixedSize + policy.MaxCompactWindows*windowSize + policy.MaxCompactPeriods*periodSize // 184
	signatureSize     = ed25519.SignatureSize
	minutesPerDay     = 1440
)

// Credential is an offline credential: what one holder may do at one
// lock, signed by the issuer. Decoding never allocates.
type Credential struct {
	Lock       uuid.UUID
	ID         CredentialID
	Slot       uint8
	Generation uint32 // the slot's generation it was issued for
	Doors      uint8  // bit i: door i may be opened
	Role       Role
	KeyID      KeyID // the issuer key that signed it (set by Issuer.IssueCredential)
	Policy     policy.Compact
	HolderKey  [32]byte // X25519 public key of the holder
	Signature  [64]byte // Ed25519 by the issuer over every byte before it
}

// Size is the encoded size of c.
func (c *Credential) Size() int {
	return credentialFixedSize + compactExtra(&c.Policy)
}

// compactExtra is what windows and dated periods add to a compact schedule.
func compactExtra(p *policy.Compact) int {
	return int(p.NumWindows)*windowSize + int(p.NumPeriods)*periodSize
}

// validate checks the fields the encoder would otherwise write in a form the
// decoder refuses; both share it so every accepted frame re-encodes the same.
func (c *Credential) validate() error {
	if c.Doors == 0 {
		return invalidf("credential %v opens no door", c.ID)
	}
	if c.Role > maxRole {
		return invalidf("credential %v: unknown role %d", c.ID, c.Role)
	}
	if c.KeyID > MaxKeyID {
		return invalidf("credential %v: key ID %d, at most %d", c.ID, c.KeyID, MaxKeyID)
	}
	return validateCompact(&c.Policy)
}

func validateCompact(p *policy.Compact) error {
	if p.NotAfter != 0 && p.NotBefore >= p.NotAfter {
		return invalidf("validity [%d, %d) is empty", p.NotBefore, p.NotAfter)
	}
	if int(p.NumWindows) > policy.MaxCompactWindows {
		return invalidf("%d windows, at most %d", p.NumWindows, policy.MaxCompactWindows)
	}
	for i := 0; i < int(p.NumWindows); i++ {
		w := p.Windows[i]
		if w.Days == 0 || w.Days&0x80 != 0 {
			return invalidf("window %d: weekday mask 0x%02x", i, uint8(w.Days))
		}
		if w.From >= minutesPerDay || w.To > minutesPerDay || w.From == w.To {
			return invalidf("window %d: minutes [%d, %d)", i, w.From, w.To)
		}
	}
	if int(p.NumPeriods) > policy.MaxCompactPeriods {
		return invalidf("%d dated periods, at most %d", p.NumPeriods, policy.MaxCompactPeriods)
	}
	for i := 0; i < int(p.NumPeriods); i++ {
		d := p.Periods[i]
		if d.From >= d.To {
			return invalidf("dated period %d: [%d, %d) is empty", i, d.From, d.To)
		}
		if i > 0 && d.From < p.Periods[i-1].To {
			return invalidf("dated period %d starts at %d, before period %d ends (%d)", i, d.From, i-1, p.Periods[i-1].To)
		}
	}
	return nil
}

// appendUnsigned appends every byte of the credential before its signature.
func (c *Credential) appendUnsigned(dst []byte) []byte {
	dst = appendHeader(dst, TypeCredential)
	dst = append(dst, c.Lock[:]...)
	dst = append(dst, c.ID[:]...)
	dst = append(dst, c.Slot)
	dst = le.AppendUint32(dst, c.Generation)
	dst = append(dst, c.Doors, byte(c.Role)&0x0f|byte(c.KeyID)<<4)
	dst = appendCompact(dst, &c.Policy)
	dst = append(dst, c.HolderKey[:]...)
	return dst
}

func appendCompact(dst []byte, p *policy.Compact) []byte {
	dst = le.AppendUint32(dst, p.NotBefore)
	dst = le.AppendUint32(dst, p.NotAfter)
	dst = le.AppendUint16(dst, p.UseLimit)
	n := min(int(p.NumWindows), policy.MaxCompactWindows)
	np := min(int(p.NumPeriods), policy.MaxCompactPeriods)
	dst = append(dst, byte(n)|byte(np)<<4)
	for i := 0; i < n; i++ {
		w := p.Windows[i]
		dst = append(dst, byte(w.Days))
		dst = le.AppendUint16(dst, w.From)
		dst = le.AppendUint16(dst, w.To)
	}
	for i := 0; i < np; i++ {
		dst = le.AppendUint32(dst, p.Periods[i].From)
		dst = le.AppendUint32(dst, p.Periods[i].To)
	}
	return dst
}

// AppendCredential appends the encoded credential, signature included, to dst.
// It refuses a credential the decoder would refuse.
func AppendCredential(dst []byte, c *Credential) ([]byte, error) {
	if err := c.validate(); err != nil {
		return dst, err
	}
	dst = c.appendUnsigned(dst)
	return append(dst, c.Signature[:]...), nil
}

// DecodeCredential decodes a credential frame. It checks the layout, not the
// signature: use VerifyCredential or the lock for that.
func DecodeCredential(b []byte) (Credential, error) {
	var c Credential
	r := reader{b: b, name: "credential"}
	if err := r.header(TypeCredential); err != nil {
		return c, err
	}
	if len(b) > MaxCredentialSize {
		return c, r.failAt(MaxCredentialSize, ErrMalformed, fmt.Sprintf("%d bytes, at most %d", len(b), MaxCredentialSize))
	}
	if err := decodeCredentialBody(&r, &c); err != nil {
		return c, err
	}
	if err := r.end(); err != nil {
		return c, err
	}
	return c, nil
}

func decodeCredentialBody(r *reader, c *Credential) error {
	r.copy(c.Lock[:])
	r.copy(c.ID[:])
	c.Slot = r.u8()
	c.Generation = r.u32()
	c.Doors = r.u8()
	rk := r.u8()
	c.Role, c.KeyID = Role(rk&0x0f), KeyID(rk>>4)
	if err := decodeCompact(r, &c.Policy); err != nil {
		return err
	}
	r.copy(c.HolderKey[:])
	r.copy(c.Signature[:])
	if r.bad {
		return r.fail(ErrMalformed, fmt.Sprintf("truncated at %d bytes", len(r.b)))
	}
	if err := c.validate(); err != nil {
		return r.fail(ErrMalformed, err.Error())
	}
	return nil
}

func decodeCompact(r *reader, p *policy.Compact) error {
	p.NotBefore = r.u32()
	p.NotAfter = r.u32()
	p.UseLimit = r.u16()
	start := r.off
	b := r.u8()
	// Low four bits: windows. Bits 4-5: dated periods (0.1.0 required them
	// 0, so it refuses such frames). Bits 6-7 must be 0.
	n, np := b&0x0f, b>>4&0x03
	if b&0xc0 != 0 {
		return r.failAt(start, ErrMalformed, fmt.Sprintf("window count byte 0x%02x: bits 6-7 set", b))
	}
	if int(n) > policy.MaxCompactWindows {
		return r.failAt(start, ErrMalformed, fmt.Sprintf("%d windows, at most %d", n, policy.MaxCompactWindows))
	}
	p.NumWindows, p.NumPeriods = n, np
	for i := 0; i < int(n); i++ {
		p.Windows[i].Days = policy.Weekdays(r.u8())
		p.Windows[i].From = r.u16()
		p.Windows[i].To = r.u16()
	}
	for i := 0; i < int(np); i++ {
		p.Periods[i].From = r.u32()
		p.Periods[i].To = r.u32()
	}
	return nil
}

// signedPart returns the bytes of an encoded credential the signature covers.
func credentialSigned(raw []byte) []byte { return raw[:len(raw)-signatureSize] }

// VerifyCredential decodes a credential and checks its issuer signature.
func VerifyCredential(raw []byte, issuer ed25519.PublicKey) (Credential, error) {
	c, err := DecodeCredential(raw)
	if err != nil {
		return c, err
	}
	if len(issuer) != ed25519.PublicKeySize || !ed25519.Verify(issuer, credentialSigned(raw), c.Signature[:]) {
		return c, fmt.Errorf("%w: credential %v", ErrSignature, c.ID)
	}
	return c, nil
}
