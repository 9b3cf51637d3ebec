package lockproto

import (
	"crypto/ed25519"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/policy"
)

// MaxZoneTransitions bounds the time-zone table a lock keeps.
const MaxZoneTransitions = 8

// maxOffset is the largest UTC offset accepted (±18 h, as time.FixedZone allows).
const maxOffset = 18 * 3600

// ZoneTransition says that from the instant From (Unix seconds) on, the lock's
// local time is UTC+Offset seconds.
type ZoneTransition struct {
	From   uint32
	Offset int32
}

// ZoneRules is a bounded table of offset transitions derived by the issuer
// from the lock's IANA zone. Transitions are sorted by From. Before the first
// transition, and from ValidUntil on (0 = forever), the offset is unknown.
type ZoneRules struct {
	ValidUntil  uint32
	N           uint8
	Transitions [MaxZoneTransitions]ZoneTransition
}

// OffsetAt returns the UTC offset in seconds at Unix time t.
func (z *ZoneRules) OffsetAt(t uint32) (int, bool) {
	if z.N == 0 || (z.ValidUntil != 0 && t >= z.ValidUntil) || t < z.Transitions[0].From {
		return 0, false
	}
	off := z.Transitions[0].Offset
	for i := 1; i < int(z.N) && i < MaxZoneTransitions; i++ {
		if z.Transitions[i].From > t {
			break
		}
		off = z.Transitions[i].Offset
	}
	return int(off), true
}

func (z *ZoneRules) validate() error {
	if z.N == 0 || z.N > MaxZoneTransitions {
		return invalidf("%d zone transitions, want 1..%d", z.N, MaxZoneTransitions)
	}
	for i := 0; i < int(z.N); i++ {
		t := z.Transitions[i]
		if t.Offset < -maxOffset || t.Offset > maxOffset {
			return invalidf("zone transition %d: offset %d s", i, t.Offset)
		}
		if i > 0 && t.From <= z.Transitions[i-1].From {
			return invalidf("zone transition %d: from %d not after %d", i, t.From, z.Transitions[i-1].From)
		}
	}
	if z.ValidUntil != 0 && z.ValidUntil <= z.Transitions[z.N-1].From {
		return invalidf("zone rules valid until %d, before the last transition", z.ValidUntil)
	}
	return nil
}

// Admin is an issuer-signed admin message. Which fields count depends on
// Type; the others must be zero.
//
// Admin messages name no issuer key: only the lock's current key signs
// them (a retired key signs credentials during its grace, nothing else).
type Admin struct {
	Type Type
	Lock uuid.UUID
	// Seq numbers every message but a time sync (0, bound to a lock nonce
	// instead): the issuer hands them out strictly increasing per lock; the
	// lock applies each at most once, in whatever order they arrive.
	Seq        uint32
	Slot       uint8        // reset, deactivate, revoke
	Generation uint32       // reset, deactivate: the slot's new minimum; revoke: the credential's
	Credential CredentialID // revoke
	NotAfter   uint32       // revoke: the credential's end; the entry may be dropped after it (0 = never)
	Nonce      [16]byte     // time sync: the lock's challenge nonce
	Time       uint32       // time sync: Unix seconds at signing
	Zone       ZoneRules    // time zone
	NewKeyID   KeyID        // rotate key: the ID of the key taking over (not the current key's)
	NewKey     [32]byte     // rotate key: its Ed25519 public key
	Until      uint32       // rotate key: credentials of the signing key open until this lock time (0 = no grace)
	// Set and clear PIN or card: Credential names the key's entry in the
	// lock's code or card table and Generation orders its versions (set:
	// this version's; clear: the entry's new minimum, the cleared
	// generation + 1).
	Doors     uint8          // set: the doors the code or card opens (0 is invalid)
	Length    uint8          // set PIN: digits (MinPINDigits..MaxPINDigits); set card: identifier bytes (MinCardUIDLen..MaxCardUIDLen)
	Mode      CardMode       // set card: how the card proves itself; set PIN: 0
	Policy    policy.Compact // set: validity, use limit and weekly windows, as in a credential
	Digest    CodeDigest     // set: PINDigest or CardDigest of the code or identifier, never the code itself
	CodeSeq   uint8          // revoke code: the offline code's sequence number (its end is NotAfter)
	Signature [64]byte
	Passage   Passage // passage: the doors freed and the periods (passage.go)
	// Suspend (suspend.go): Credential names the key at the lock (its
	// credential ID, or its PIN or card entry ID), Change counts the key's
	// suspend and resume changes so far (the highest wins), Suspended says
	// which this one is.
	Change    uint32
	Suspended bool
	// Reset every key (resetall.go): Epoch, strictly increasing per lock;
	// Mark, the sequence number it was first issued under (1..Seq: the
	// lock empties its tables of what older messages set); MinGens, every
	// slot's new minimum generation; NotAfter, the time until which every
	// offline-code sequence number is revoked (0: none).
	Epoch   uint32
	Mark    uint32
	MinGens [MaxSlots]uint32
}

const (
	adminFixedSize = 2 + 16 + 4 + signatureSize // 86
	rotateBodySize = 1 + 32 + 4                 // 37
	// SetCodeFixedSize is a set-PIN or set-card frame with no windows or
	// dated periods; each window adds 5 bytes, each period 8 (at most 172).
	SetCodeFixedSize = adminFixedSize + 8 + 4 + 1 + 1 + 1 + 11 + CodeDigestSize // 128
	// ClearCodeSize is a clear-PIN or clear-card frame.
	ClearCodeSize = adminFixedSize + 8 + 4 // 98
)

// knownAdmin reports whether this version decodes admin type t.
func knownAdmin(t Type) bool {
	return (t >= TypeResetSlot && t <= TypeRotateKey) || (t >= TypeSetPIN && t <= TypeClearCard) || t == TypeRevokeCode ||
		t == TypePassage || t == TypeSuspend || t == TypeResetAll
}

// MaxAdminSize is the size of the largest admin frame: a reset of every
// key (a passage schedule of four periods with four windows each takes
// 212, a set-PIN or set-card frame with every window and dated period
// 172, time-zone rules 155). Every one fits a download's length byte.
const MaxAdminSize = max(ResetAllSize, maxPassageSize, adminFixedSize+5+MaxZoneTransitions*8,
	SetCodeFixedSize+policy.MaxCompactWindows*windowSize+policy.MaxCompactPeriods*periodSize) // 226

func (a *Admin) validate() error {
	switch a.Type {
	case TypeResetSlot, TypeDeactivateSlot, TypeRevoke, TypeTimeZone, TypeRotateKey,
		TypeSetPIN, TypeClearPIN, TypeSetCard, TypeClearCard, TypeRevokeCode, TypePassage, TypeSuspend, TypeResetAll:
		if a.Seq == 0 {
			return invalidf("%v: sequence number 0", a.Type)
		}
	case TypeTimeSync:
		if a.Seq != 0 {
			return invalidf("time-sync: sequence number %d, must be 0", a.Seq)
		}
		if a.Time == 0 {
			return invalidf("time-sync: time 0")
		}
	default:
		return invalidf("%v is not an admin type", a.Type)
	}
	switch a.Type {
	case TypeTimeZone:
		return a.Zone.validate()
	case TypePassage:
		return a.Passage.validate()
	case TypeRevokeCode:
		if a.CodeSeq >= CodeSeqs || a.NotAfter == 0 {
			return invalidf("revoke-code: code sequence %d (want below %d), end %d (want one)", a.CodeSeq, CodeSeqs, a.NotAfter)
		}
	case TypeRotateKey:
		switch {
		case a.NewKeyID > MaxKeyID:
			return invalidf("rotate-key: new key ID %d, at most %d", a.NewKeyID, MaxKeyID)
		case a.NewKey == [32]byte{}:
			return invalidf("rotate-key: no new key")
		}
	case TypeSetPIN, TypeSetCard:
		return a.validateSetCode()
	case TypeClearPIN, TypeClearCard:
		if a.Generation == 0 {
			return invalidf("%v %v: new minimum generation 0 clears nothing", a.Type, a.Credential)
		}
	case TypeSuspend:
		return a.validateSuspend()
	case TypeResetAll:
		return a.validateResetAll()
	}
	return nil
}

func (a *Admin) validateSetCode() error {
	switch {
	case a.Doors == 0:
		return invalidf("%v %v opens no door", a.Type, a.Credential)
	case a.Type == TypeSetPIN && (a.Length < MinPINDigits || a.Length > MaxPINDigits):
		return invalidf("set-pin %v: PIN of %d digits, want %d to %d", a.Credential, a.Length, MinPINDigits, MaxPINDigits)
	case a.Type == TypeSetPIN && a.Mode != 0:
		return invalidf("set-pin %v: mode %d, must be 0", a.Credential, a.Mode)
	case a.Type == TypeSetCard && (a.Length < MinCardUIDLen || a.Length > MaxCardUIDLen):
		return invalidf("set-card %v: identifier of %d bytes, want %d to %d", a.Credential, a.Length, MinCardUIDLen, MaxCardUIDLen)
	case a.Type == TypeSetCard && a.Mode > maxCardMode:
		return invalidf("set-card %v: unknown mode %d", a.Credential, a.Mode)
	}
	return validateCompact(&a.Policy)
}

func (a *Admin) appendUnsigned(dst []byte) []byte {
	dst = appendHeader(dst, a.Type)
	dst = append(dst, a.Lock[:]...)
	dst = le.AppendUint32(dst, a.Seq)
	switch a.Type {
	case TypeResetSlot, TypeDeactivateSlot:
		dst = append(dst, a.Slot)
		dst = le.AppendUint32(dst, a.Generation)
	case TypeRevoke:
		dst = append(dst, a.Credential[:]...)
		dst = append(dst, a.Slot)
		dst = le.AppendUint32(dst, a.Generation)
		dst = le.AppendUint32(dst, a.NotAfter)
	case TypeTimeSync:
		dst = append(dst, a.Nonce[:]...)
		dst = le.AppendUint32(dst, a.Time)
	case TypeTimeZone:
		dst = le.AppendUint32(dst, a.Zone.ValidUntil)
		n := min(int(a.Zone.N), MaxZoneTransitions)
		dst = append(dst, byte(n))
		for i := 0; i < n; i++ {
			dst = le.AppendUint32(dst, a.Zone.Transitions[i].From)
			dst = le.AppendUint32(dst, uint32(a.Zone.Transitions[i].Offset))
		}
	case TypeRotateKey:
		dst = append(dst, byte(a.NewKeyID))
		dst = append(dst, a.NewKey[:]...)
		dst = le.AppendUint32(dst, a.Until)
	case TypeSetPIN, TypeSetCard:
		dst = append(dst, a.Credential[:]...)
		dst = le.AppendUint32(dst, a.Generation)
		dst = append(dst, a.Doors, a.Length, byte(a.Mode))
		dst = appendCompact(dst, &a.Policy)
		dst = append(dst, a.Digest[:]...)
	case TypeClearPIN, TypeClearCard:
		dst = append(dst, a.Credential[:]...)
		dst = le.AppendUint32(dst, a.Generation)
	case TypeRevokeCode:
		dst = append(dst, a.CodeSeq)
		dst = le.AppendUint32(dst, a.NotAfter)
	case TypePassage:
		dst = a.Passage.append(dst)
	case TypeSuspend:
		dst = a.appendSuspend(dst)
	case TypeResetAll:
		dst = a.appendResetAll(dst)
	}
	return dst
}

// AppendAdmin appends the encoded admin message, signature included.
func AppendAdmin(dst []byte, a *Admin) ([]byte, error) {
	if err := a.validate(); err != nil {
		return dst, err
	}
	dst = a.appendUnsigned(dst)
	return append(dst, a.Signature[:]...), nil
}

// DecodeAdmin decodes any admin frame. It checks the layout, not the signature.
func DecodeAdmin(b []byte) (Admin, error) {
	var a Admin
	t, err := PeekType(b)
	if err != nil {
		return a, err
	}
	r := reader{b: b, name: "admin"}
	if !knownAdmin(t) {
		return a, r.failAt(1, ErrType, fmt.Sprintf("%v is not an admin type", t))
	}
	if len(b) > MaxAdminSize {
		return a, r.failAt(MaxAdminSize, ErrMalformed, fmt.Sprintf("%d bytes, at most %d", len(b), MaxAdminSize))
	}
	r.name = t.String()
	r.off = headerSize
	a.Type = t
	r.copy(a.Lock[:])
	a.Seq = r.u32()
	switch t {
	case TypeResetSlot, TypeDeactivateSlot:
		a.Slot = r.u8()
		a.Generation = r.u32()
	case TypeRevoke:
		r.copy(a.Credential[:])
		a.Slot = r.u8()
		a.Generation = r.u32()
		a.NotAfter = r.u32()
	case TypeTimeSync:
		r.copy(a.Nonce[:])
		a.Time = r.u32()
	case TypeTimeZone:
		a.Zone.ValidUntil = r.u32()
		at := r.off
		n := r.u8()
		if n > MaxZoneTransitions {
			return a, r.failAt(at, ErrMalformed, fmt.Sprintf("%d zone transitions, at most %d", n, MaxZoneTransitions))
		}
		a.Zone.N = n
		for i := 0; i < int(n); i++ {
			a.Zone.Transitions[i].From = r.u32()
			a.Zone.Transitions[i].Offset = int32(r.u32())
		}
	case TypeRotateKey:
		a.NewKeyID = KeyID(r.u8())
		r.copy(a.NewKey[:])
		a.Until = r.u32()
	case TypeSetPIN, TypeSetCard:
		r.copy(a.Credential[:])
		a.Generation = r.u32()
		a.Doors = r.u8()
		a.Length = r.u8()
		a.Mode = CardMode(r.u8())
		if err := decodeCompact(&r, &a.Policy); err != nil {
			return a, err
		}
		r.copy(a.Digest[:])
	case TypeClearPIN, TypeClearCard:
		r.copy(a.Credential[:])
		a.Generation = r.u32()
	case TypeRevokeCode:
		a.CodeSeq = r.u8()
		a.NotAfter = r.u32()
	case TypePassage:
		if err := a.Passage.decode(&r); err != nil {
			return a, err
		}
	case TypeSuspend:
		if err := a.decodeSuspend(&r); err != nil {
			return a, err
		}
	case TypeResetAll:
		a.decodeResetAll(&r)
	}
	r.copy(a.Signature[:])
	if err := r.end(); err != nil {
		return a, err
	}
	if err := a.validate(); err != nil {
		return a, r.fail(ErrMalformed, err.Error())
	}
	return a, nil
}

// adminSigned returns the bytes of an encoded admin frame its signature covers.
func adminSigned(raw []byte) []byte { return raw[:len(raw)-signatureSize] }

// VerifyAdmin decodes an admin frame and checks its issuer signature.
func VerifyAdmin(raw []byte, issuer ed25519.PublicKey) (Admin, error) {
	a, err := DecodeAdmin(raw)
	if err != nil {
		return a, err
	}
	if len(issuer) != ed25519.PublicKeySize || !ed25519.Verify(issuer, adminSigned(raw), a.Signature[:]) {
		return a, fmt.Errorf("%w: %v seq %d", ErrSignature, a.Type, a.Seq)
	}
	return a, nil
}
