package lockproto

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
)

// Remote open: the backend decides an open itself (an online key with its
// password, a digital key in the app, an intercom key at a panel) and, only
// then, signs an "open now" frame bound to a nonce the lock just issued.
// Any phone, gateway or intercom panel in reach relays it; none of them can
// change, keep or replay it. The lock checks the signature, the nonce
// (single use, 30 s), the door, its own view of the key (revocation list,
// slot generation) and the frame's short validity, and records it.

// Relay says who carried a remote open to the lock (recorded in its audit).
// Append only: never renumber or reuse a value.
type Relay uint8

const (
	RelayPhone    Relay = 0
	RelayGateway  Relay = 1
	RelayIntercom Relay = 2
)

const maxRelay = RelayIntercom

// NoSlot in RemoteOpen.Slot: the key holds no credential slot at the lock
// (online, digital and intercom keys); only the revocation list applies.
const NoSlot = 0xFF

// RemoteOpenSize is the size of a remote-open frame.
const RemoteOpenSize = 2 + 16 + NonceSize + 8 + 1 + 4 + 1 + 1 + 4 + 1 + signatureSize // 118

// MaxRemoteOpenValidity bounds how long after signing a remote open may
// reach the lock; the lock's nonce (30 s) bounds it too.
const MaxRemoteOpenValidity = 2 * time.Minute

// RemoteOpen is the issuer's signed order to open one door now.
type RemoteOpen struct {
	Lock       uuid.UUID
	Nonce      [NonceSize]byte // from the lock's challenge
	Key        CredentialID    // the key's ID at the lock (revocation list, audit)
	Slot       uint8           // the key's credential slot at the lock, or NoSlot
	Generation uint32          // its generation (ignored for NoSlot)
	Door       uint8           // 0..7
	Action     Action
	Doors      uint8  // the doors the key may open (the lock checks Door against it)
	NotAfter   uint32 // Unix s: the lock refuses the frame from then on (when it knows the time)
	Relay      Relay
	Signature  [64]byte
}

func (o *RemoteOpen) validate() error {
	switch {
	case o.Door > 7:
		return invalidf("remote open of door %d, at most 7", o.Door)
	case o.Action > maxAction:
		return invalidf("remote open: unknown action %d", o.Action)
	case o.Doors == 0:
		return invalidf("remote open for key %v: the key opens no door", o.Key)
	case o.NotAfter == 0:
		return invalidf("remote open for key %v: no validity", o.Key)
	case o.Relay > maxRelay:
		return invalidf("remote open: unknown relay %d", o.Relay)
	case o.Slot != NoSlot && int(o.Slot) >= MaxSlots:
		return invalidf("remote open: slot %d", o.Slot)
	}
	return nil
}

func (o *RemoteOpen) appendUnsigned(dst []byte) []byte {
	dst = appendHeader(dst, TypeRemoteOpen)
	dst = append(dst, o.Lock[:]...)
	dst = append(dst, o.Nonce[:]...)
	dst = append(dst, o.Key[:]...)
	dst = append(dst, o.Slot)
	dst = le.AppendUint32(dst, o.Generation)
	dst = append(dst, doorByte(o.Door, o.Action), o.Doors)
	dst = le.AppendUint32(dst, o.NotAfter)
	return append(dst, byte(o.Relay))
}

// AppendRemoteOpen appends the encoded frame, signature included.
func AppendRemoteOpen(dst []byte, o *RemoteOpen) ([]byte, error) {
	if err := o.validate(); err != nil {
		return dst, err
	}
	return append(o.appendUnsigned(dst), o.Signature[:]...), nil
}

// DecodeRemoteOpen decodes a remote-open frame; it checks the layout, not
// the signature.
func DecodeRemoteOpen(b []byte) (RemoteOpen, error) {
	var o RemoteOpen
	r := reader{b: b, name: "remote-open"}
	if err := r.header(TypeRemoteOpen); err != nil {
		return o, err
	}
	r.copy(o.Lock[:])
	r.copy(o.Nonce[:])
	r.copy(o.Key[:])
	o.Slot = r.u8()
	o.Generation = r.u32()
	db := r.u8()
	o.Doors = r.u8()
	o.NotAfter = r.u32()
	o.Relay = Relay(r.u8())
	r.copy(o.Signature[:])
	if err := r.end(); err != nil {
		return o, err
	}
	var ok bool
	if o.Door, o.Action, ok = splitDoor(db); !ok {
		return o, r.failAt(47, ErrMalformed, fmt.Sprintf("door byte 0x%02x", db))
	}
	if err := o.validate(); err != nil {
		return o, r.fail(ErrMalformed, err.Error())
	}
	return o, nil
}

// RemoteOpen signs o (its Signature is ignored) and returns the frame. The
// caller decided the open already; the issuer refuses a door the key
// lacks and a validity longer than MaxRemoteOpenValidity after now.
func (i *Issuer) RemoteOpen(o RemoteOpen, now time.Time) ([]byte, error) {
	if o.Doors&(1<<(o.Door&7)) == 0 {
		return nil, invalidf("remote open for key %v: door %d is not one of its doors 0x%02x", o.Key, o.Door, o.Doors)
	}
	if end := time.Unix(int64(o.NotAfter), 0); !end.After(now) || end.Sub(now) > MaxRemoteOpenValidity {
		return nil, invalidf("remote open for key %v: valid until %v, want within %v after %v", o.Key, end.UTC(), MaxRemoteOpenValidity, now.UTC())
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	b := o.appendUnsigned(make([]byte, 0, RemoteOpenSize))
	if err := i.sign(b, &o.Signature); err != nil {
		return nil, err
	}
	return append(b, o.Signature[:]...), nil
}

// RemoteDecision is the lock's decision on a remote open.
type RemoteDecision struct {
	Granted  bool
	Reason   access.Reason
	Key      CredentialID // as presented
	Door     uint8
	Action   Action
	Relay    Relay
	AuditSeq uint32 // 0 if no record of its own (tallied)
}

// HandleRemoteOpen decides a relayed remote open. Checks, in order
// (cheap ones and the nonce first, so one challenge buys at most one
// signature verification; nothing but the spent nonce changes before the
// signature verifies):
//
//  1. frame
//  2. lock ID
//  3. nonce: a live challenge of this lock, consumed now (a replay is
//     BadNonce)
//  4. the lock's own view of the key: revocation list, slot generation
//  5. room in the audit
//  6. the source's backoff
//  7. the current issuer key's signature (a retired key signs none)
//  8. the key is not suspended (suspend.go), the door among the key's doors
//  9. validity: at or before the high-water mark of time, or past on a
//     known clock, is RemoteOpenLate (with an unknown clock the nonce's
//     lifetime is the bound)
//  10. record, persist, grant
//
// Refusals before the signature verified are tallied; later ones are
// records of their own (AuditRemoteOpen, Value: the relay).
func (l *Lock) HandleRemoteOpen(frame []byte) RemoteDecision {
	now, unix, known := l.observe()
	var d RemoteDecision
	o, err := DecodeRemoteOpen(frame)
	tally := func(r access.Reason) RemoteDecision {
		d.Reason = r
		l.tally(&AuditRecord{Kind: AuditRemoteOpen, Reason: r, Door: d.Door, Action: d.Action, Credential: d.Key}, unix, known)
		return d
	}
	if err != nil {
		return tally(reasonOf(err))
	}
	d.Key, d.Door, d.Action, d.Relay = o.Key, o.Door, o.Action, o.Relay
	if o.Lock != l.st.Pairing.Lock {
		return tally(access.WrongLock)
	}
	if _, ok := l.takeNonce(now, 0, &o.Nonce); !ok {
		return tally(access.BadNonce)
	}
	if l.isRevoked(o.Key) {
		return tally(access.Revoked)
	}
	if o.Slot != NoSlot && o.Generation < l.st.MinGen[o.Slot] {
		return tally(access.Superseded)
	}
	if !l.room(classGrant) {
		return tally(access.AuditFull)
	}
	src := sourceOf(frame)
	if l.limited(now, src) {
		return tally(access.RateLimited)
	}
	if !ed25519.Verify(l.st.Issuer.Key[:], frame[:len(frame)-signatureSize], o.Signature[:]) {
		l.failedFrom(now, src)
		return tally(access.BadSignature)
	}
	l.forgive(src)
	rec := AuditRecord{Kind: AuditRemoteOpen, Slot: o.Slot, Door: o.Door, Action: o.Action, Credential: o.Key, Value: uint32(o.Relay)}
	refuse := func(r access.Reason) RemoteDecision {
		d.Reason, rec.Reason = r, r
		d.AuditSeq = l.record(classRefusal, unix, known, rec)
		return d
	}
	if l.suspended(o.Key) {
		return refuse(access.KeySuspended)
	}
	if o.Doors&(1<<o.Door) == 0 {
		return refuse(access.WrongDoor)
	}
	if o.NotAfter <= l.st.ClockMark || (known && unix >= o.NotAfter) {
		return refuse(access.RemoteOpenLate)
	}
	undo := l.begin(-1)
	d.AuditSeq = l.record(classGrant, unix, known, rec)
	if err := l.persist(); err != nil {
		l.rollback(&undo)
		d.AuditSeq = 0
		return refuse(access.StorageFailed)
	}
	d.Granted, d.Reason = true, access.Granted
	return d
}
