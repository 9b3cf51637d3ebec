package lockproto

import (
	"encoding/binary"
	"fmt"
)

// Version is the only protocol version this package speaks. Every frame starts
// with it and every signature and MAC covers it, so a frame cannot be
// relabelled as another version; a receiver refuses any other value.
// Additions since 0.1.0 (key IDs, actions, key rotation, audit
// acknowledgements) use values that were invalid before, so every earlier
// frame still decodes to what it meant.
const Version byte = 1

// Type is the second byte of every frame: what the rest of it holds.
type Type uint8

// Frame types. Persisted and on the wire: append only, never renumber or reuse.
const (
	TypeCredential     Type = 0x01 // issuer -> phone -> lock: signed offline credential
	TypeChallenge      Type = 0x02 // lock -> phone: fresh nonce
	TypeUnlock         Type = 0x03 // phone -> lock: full credential + proof
	TypeUnlockCached   Type = 0x04 // phone -> lock: credential ID only + proof
	TypeUnlockResponse Type = 0x05 // lock -> phone: decision, MACed
	TypeDownload       Type = 0x06 // issuer -> phone: credential, lock key, pending admin messages
	TypeRemoteOpen     Type = 0x07 // issuer -> phone, gateway or panel -> lock: open now, bound to a lock nonce
	// 0x08 is reserved for a remote-open answer.
	TypeResetSlot      Type = 0x10 // admin: raise a slot's minimum generation
	TypeDeactivateSlot Type = 0x11 // admin: raise a slot's minimum generation, no new holder
	TypeRevoke         Type = 0x12 // admin: deny one credential ID
	TypeTimeSync       Type = 0x13 // admin: set the lock's clock, bound to a lock nonce
	TypeTimeZone       Type = 0x14 // admin: UTC offset transitions of the lock's zone
	TypeRotateKey      Type = 0x15 // admin: the current issuer key hands over to the next one
	TypeSetPIN         Type = 0x16 // admin: put a PIN (its keyed digest) and its rules in the lock's code table
	TypeClearPIN       Type = 0x17 // admin: take a PIN out of the code table
	TypeSetCard        Type = 0x18 // admin: put a card (its identifier's keyed digest) and its rules in the card table
	TypeClearCard      Type = 0x19 // admin: take a card out of the card table
	TypeRevokeCode     Type = 0x1A // admin: revoke an offline code by its sequence number (0x1B reserved with it)
	TypeSuspend        Type = 0x1C // admin: suspend or resume one key (credential, PIN or card entry)
	TypeResetAll       Type = 0x1D // admin: reset every key of the lock (an epoch)
	TypePassage        Type = 0x1E // admin: the lock's passage schedule (doors free to anyone during periods)
	TypeAuditBatch     Type = 0x30 // lock -> phone -> backend: chained, MACed records
	TypeAuditAck       Type = 0x31 // backend -> phone -> lock: records up to here are stored
)

var typeNames = map[Type]string{
	TypeCredential: "credential", TypeChallenge: "challenge", TypeUnlock: "unlock",
	TypeUnlockCached: "unlock-cached", TypeUnlockResponse: "unlock-response", TypeDownload: "download",
	TypeResetSlot: "reset-slot", TypeDeactivateSlot: "deactivate-slot", TypeRevoke: "revoke",
	TypeTimeSync: "time-sync", TypeTimeZone: "time-zone", TypeRotateKey: "rotate-key", TypeAuditBatch: "audit-batch",
	TypeAuditAck: "audit-ack", TypeRemoteOpen: "remote-open", TypeSetPIN: "set-pin", TypeClearPIN: "clear-pin",
	TypeSetCard: "set-card", TypeClearCard: "clear-card", TypeRevokeCode: "revoke-code",
	TypePassage: "passage", TypeSuspend: "suspend", TypeResetAll: "reset-all",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// IsAdmin reports whether t is in the range of issuer-signed admin message
// types, 0x10..0x1F: types added later stay admin messages for the
// audit's decoder, and DecodeAdmin refuses the ones it does not know.
func (t Type) IsAdmin() bool { return t >= 0x10 && t <= 0x1F }

const headerSize = 2

// PeekType returns the frame's type after checking its version byte.
func PeekType(b []byte) (Type, error) {
	if len(b) < headerSize {
		return 0, &FrameError{Frame: "frame", Offset: len(b), Err: ErrMalformed, Detail: "shorter than the 2-byte header"}
	}
	if b[0] != Version {
		return 0, &FrameError{Frame: "frame", Offset: 0, Err: ErrVersion, Detail: fmt.Sprintf("version %d", b[0])}
	}
	return Type(b[1]), nil
}

// reader is a bounds-checked little-endian cursor; after the first short read
// every read returns zero and err stays set, so decoders check once at the end.
type reader struct {
	b    []byte
	off  int
	bad  bool
	name string
}

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || len(r.b)-r.off < n {
		r.bad = true
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	s := r.take(1)
	if s == nil {
		return 0
	}
	return s[0]
}

func (r *reader) u16() uint16 {
	s := r.take(2)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(s)
}

func (r *reader) u32() uint32 {
	s := r.take(4)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(s)
}

func (r *reader) copy(dst []byte) {
	if s := r.take(len(dst)); s != nil {
		copy(dst, s)
	}
}

// header checks version and type; it leaves r positioned after them.
func (r *reader) header(want Type) error {
	if len(r.b) < headerSize {
		return r.fail(ErrMalformed, "shorter than the 2-byte header")
	}
	if r.b[0] != Version {
		return r.failAt(0, ErrVersion, fmt.Sprintf("version %d", r.b[0]))
	}
	if Type(r.b[1]) != want {
		return r.failAt(1, ErrType, fmt.Sprintf("got %v, want %v", Type(r.b[1]), want))
	}
	r.off = headerSize
	return nil
}

// end reports truncation or trailing bytes.
func (r *reader) end() error {
	if r.bad {
		return r.fail(ErrMalformed, fmt.Sprintf("truncated at %d bytes", len(r.b)))
	}
	if r.off != len(r.b) {
		return r.fail(ErrMalformed, fmt.Sprintf("%d trailing bytes", len(r.b)-r.off))
	}
	return nil
}

func (r *reader) fail(err error, detail string) error { return r.failAt(r.off, err, detail) }

func (r *reader) failAt(off int, err error, detail string) error {
	return &FrameError{Frame: r.name, Offset: off, Err: err, Detail: detail}
}

func appendHeader(dst []byte, t Type) []byte { return append(dst, Version, byte(t)) }

var le = binary.LittleEndian
