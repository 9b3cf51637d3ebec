package lockproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
)

// AuditKind is what an audit record is about. Append only: never renumber
// or reuse a value.
type AuditKind uint8

const (
	AuditUnlock AuditKind = 1 // an unlock attempt, granted or refused
	AuditAdmin  AuditKind = 2 // an admin message applied or refused after its signature verified
	// AuditRefusals stands for Value refused unlock attempts the lock did
	// not record one by one: those refused before the holder's proof
	// verified (anyone can send them), and, while the audit is nearly
	// full, authenticated refusals too. Reason, Door and Credential are
	// the last one's (the credential ID as presented, never verified).
	AuditRefusals AuditKind = 3
	// AuditKeypad is a PIN typed at the keypad that matched an entry,
	// granted or refused (Slot: the code table entry, Credential: its ID).
	// Wrong codes are tallied (AuditRefusals, reason WrongPIN).
	AuditKeypad AuditKind = 4
	// AuditCard is a card that matched an entry, granted or refused.
	AuditCard AuditKind = 5
	// AuditRemoteOpen is a remote open whose signature verified, granted
	// or refused (Credential: the key's ID, Value: who relayed it).
	AuditRemoteOpen AuditKind = 6
	// AuditKeypadLockout is the alarm: Value wrong codes in a row locked
	// the keypad out (reason LockedOut).
	AuditKeypadLockout AuditKind = 7
	// AuditCode is an offline code typed at the keypad whose MAC verified:
	// Slot is its CodeKind, Value its sequence number, Door 0. (Digits
	// that are no code are tallied as AuditRefusals.)
	AuditCode AuditKind = 8
	// AuditClock is a clock reading the lock writes as a phone drains its
	// audit (clockread.go): LockTime is its time (0: unknown), Value its
	// boot counter, Slot the ClockFlags, Credential the zone table's
	// valid-until and sequence number.
	AuditClock AuditKind = 9
	// AuditPassage is a door opened in passage mode (OpenFree): no key,
	// the door in the door byte, Value how many opens it stands for (more
	// than 1 for opens tallied while the audit was nearly full; 0, in
	// records written before, means 1). Refused attempts are tallied.
	AuditPassage AuditKind = 10
)

const maxAuditKind = AuditPassage

// Audit sizes.
const (
	AuditTagSize      = 16
	auditRecordSize   = 4 + 4 + 1 + 1 + 1 + 1 + 1 + 8 + 1 + 4 // 26
	auditEntrySize    = auditRecordSize + AuditTagSize        // 42
	MaxAuditBatch     = 16
	auditBatchFixed   = 2 + 16 + AuditTagSize + 1                      // 35
	MaxAuditBatchSize = auditBatchFixed + MaxAuditBatch*auditEntrySize // 707
)

// AuditRecord is one thing the lock did, as it recorded it, with its own
// sequence number and time, for later upload.
type AuditRecord struct {
	Seq        uint32 // 1, 2, 3 ... per lock, never reused
	LockTime   uint32 // the lock's Unix time, 0 if it did not know it
	Kind       AuditKind
	Granted    bool          // unlock granted / admin applied
	Reason     access.Reason // ReasonGranted when Granted
	Slot       uint8
	Door       uint8
	Action     Action       // unlock: what the request asked for (in the door byte)
	Credential CredentialID // unlock: the credential ID as presented (verified only if the reason is past ReasonBadProof)
	AdminType  Type         // admin records: which message
	// Value: unlock — counted uses after it; admin — the message's sequence
	// number, or for a time sync the seconds it moved the clock back past
	// the lock's high-water mark when that exceeds the bound
	// (Config.MaxClockStepBack), else 0; refusals — how many.
	Value uint32
	// Tag = HMAC-SHA256(audit key, version || 0x30 || lock ID || previous tag || record)[:16];
	// the previous tag of record 1 is all zeros.
	Tag [AuditTagSize]byte
}

func (a *AuditRecord) append(dst []byte) []byte {
	dst = le.AppendUint32(dst, a.Seq)
	dst = le.AppendUint32(dst, a.LockTime)
	g := byte(0)
	if a.Granted {
		g = 1
	}
	dst = append(dst, byte(a.Kind), g, byte(a.Reason), a.Slot, doorByte(a.Door, a.Action))
	dst = append(dst, a.Credential[:]...)
	dst = append(dst, byte(a.AdminType))
	return le.AppendUint32(dst, a.Value)
}

func (a *AuditRecord) decode(r *reader) error {
	at := r.off
	a.Seq = r.u32()
	a.LockTime = r.u32()
	a.Kind = AuditKind(r.u8())
	g := r.u8()
	a.Reason = access.Reason(r.u8())
	a.Slot = r.u8()
	db := r.u8()
	r.copy(a.Credential[:])
	a.AdminType = Type(r.u8())
	a.Value = r.u32()
	r.copy(a.Tag[:])
	if r.bad {
		return nil // end() reports it
	}
	a.Granted = g == 1
	var known bool
	a.Door, a.Action, known = splitDoor(db)
	switch {
	case a.Kind < AuditUnlock || a.Kind > maxAuditKind:
		return r.failAt(at+8, ErrMalformed, fmt.Sprintf("record %d: kind %d", a.Seq, a.Kind))
	case g > 1 || a.Granted != (a.Reason == access.Granted):
		return r.failAt(at+9, ErrMalformed, fmt.Sprintf("record %d: granted byte %d with reason %d", a.Seq, g, a.Reason))
	case a.Kind == AuditAdmin && !a.AdminType.IsAdmin(), a.Kind != AuditAdmin && a.AdminType != 0:
		return r.failAt(at+21, ErrMalformed, fmt.Sprintf("record %d: admin type %v", a.Seq, a.AdminType))
	case !known || (a.Kind == AuditAdmin && db != 0):
		return r.failAt(at+12, ErrMalformed, fmt.Sprintf("record %d: door byte 0x%02x", a.Seq, db))
	case a.Kind == AuditRefusals && (a.Granted || a.Value == 0):
		return r.failAt(at+22, ErrMalformed, fmt.Sprintf("record %d: %d refusals", a.Seq, a.Value))
	case a.Seq == 0:
		return r.failAt(at, ErrMalformed, "record sequence number 0")
	case a.Kind == AuditClock:
		if err := a.checkClock(); err != "" {
			return r.failAt(at+8, ErrMalformed, fmt.Sprintf("record %d: clock reading: %s", a.Seq, err))
		}
	}
	return nil
}

// auditMAC computes record tags under one lock's audit key.
type auditMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
	buf [2 + 16 + AuditTagSize + auditRecordSize]byte
}

func newAuditMAC(key [32]byte) *auditMAC { return &auditMAC{h: hmac.New(sha256.New, key[:])} }

// ack = HMAC-SHA256(audit key, version || 0x31 || lock ID || seq || tag)[:16].
func (m *auditMAC) ack(lock uuid.UUID, seq uint32, tag *[AuditTagSize]byte) (t [AuditTagSize]byte) {
	b := appendHeader(m.buf[:0], TypeAuditAck)
	b = append(b, lock[:]...)
	b = le.AppendUint32(b, seq)
	b = append(b, tag[:]...)
	m.h.Reset()
	m.h.Write(b)
	copy(t[:], m.h.Sum(m.sum[:0]))
	return t
}

func (m *auditMAC) tag(lock uuid.UUID, prev *[AuditTagSize]byte, rec *AuditRecord) (t [AuditTagSize]byte) {
	b := appendHeader(m.buf[:0], TypeAuditBatch)
	b = append(b, lock[:]...)
	b = append(b, prev[:]...)
	b = rec.append(b)
	m.h.Reset()
	m.h.Write(b)
	copy(t[:], m.h.Sum(m.sum[:0]))
	return t
}

// AuditBatch is a batch of consecutive records for upload.
type AuditBatch struct {
	Lock    uuid.UUID
	PrevTag [AuditTagSize]byte // tag of the record before the first (zeros before record 1)
	N       uint8
	Records [MaxAuditBatch]AuditRecord
}

// All returns the records in the batch.
func (b *AuditBatch) All() []AuditRecord { return b.Records[:min(int(b.N), MaxAuditBatch)] }

// AppendAuditBatch appends the encoded batch.
func AppendAuditBatch(dst []byte, b *AuditBatch) ([]byte, error) {
	if b.N > MaxAuditBatch {
		return dst, invalidf("%d audit records, at most %d", b.N, MaxAuditBatch)
	}
	dst = appendHeader(dst, TypeAuditBatch)
	dst = append(dst, b.Lock[:]...)
	dst = append(dst, b.PrevTag[:]...)
	dst = append(dst, b.N)
	for i := 0; i < int(b.N); i++ {
		dst = b.Records[i].append(dst)
		dst = append(dst, b.Records[i].Tag[:]...)
	}
	return dst, nil
}

// DecodeAuditBatch decodes a batch without checking tags (VerifyAudit does).
func DecodeAuditBatch(b []byte) (AuditBatch, error) {
	var a AuditBatch
	r := reader{b: b, name: "audit-batch"}
	if err := r.header(TypeAuditBatch); err != nil {
		return a, err
	}
	if len(b) > MaxAuditBatchSize {
		return a, r.failAt(MaxAuditBatchSize, ErrMalformed, fmt.Sprintf("%d bytes, at most %d", len(b), MaxAuditBatchSize))
	}
	r.copy(a.Lock[:])
	r.copy(a.PrevTag[:])
	at := r.off
	n := r.u8()
	if n > MaxAuditBatch {
		return a, r.failAt(at, ErrMalformed, fmt.Sprintf("%d records, at most %d", n, MaxAuditBatch))
	}
	a.N = n
	for i := 0; i < int(n); i++ {
		if err := a.Records[i].decode(&r); err != nil {
			return a, err
		}
		if i > 0 && !r.bad && a.Records[i].Seq != a.Records[i-1].Seq+1 {
			return a, r.fail(ErrMalformed, fmt.Sprintf("record %d follows %d", a.Records[i].Seq, a.Records[i-1].Seq))
		}
	}
	if err := r.end(); err != nil {
		return a, err
	}
	return a, nil
}

// AuditCursor is how far a backend has verified one lock's records: the last
// sequence number and its tag. The zero cursor means nothing yet.
type AuditCursor struct {
	Seq uint32
	Tag [AuditTagSize]byte
}

// VerifyAudit decodes a batch from lock, checks every tag under the lock's
// audit key and the chain against after, and returns the records newer than
// after with the advanced cursor. Records at or before after are duplicates
// of an earlier upload and are left out (uploads are idempotent). If records
// are missing between after and the batch, the authentic records are still
// returned, with an *AuditGapError.
func VerifyAudit(auditKey [32]byte, lock uuid.UUID, after AuditCursor, batch []byte) ([]AuditRecord, AuditCursor, error) {
	b, err := DecodeAuditBatch(batch)
	if err != nil {
		return nil, after, err
	}
	if b.Lock != lock {
		return nil, after, fmt.Errorf("%w: audit batch from lock %v, want %v", ErrWrongLock, b.Lock, lock)
	}
	m := newAuditMAC(auditKey)
	prev := b.PrevTag
	recs := b.All()
	if len(recs) > 0 && recs[0].Seq == 1 && prev != ([AuditTagSize]byte{}) {
		return nil, after, fmt.Errorf("%w: audit record 1 with a previous tag", ErrMAC)
	}
	for i := range recs {
		want := m.tag(lock, &prev, &recs[i])
		if !hmac.Equal(want[:], recs[i].Tag[:]) {
			return nil, after, fmt.Errorf("%w: audit record %d", ErrMAC, recs[i].Seq)
		}
		prev = recs[i].Tag
	}
	var out []AuditRecord
	var gap error
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Seq < after.Seq:
			continue
		case r.Seq == after.Seq:
			if r.Tag != after.Tag {
				return nil, after, fmt.Errorf("%w: audit record %d differs from the one verified before", ErrMAC, r.Seq)
			}
			continue
		}
		if len(out) == 0 {
			link := b.PrevTag
			if i > 0 {
				link = recs[i-1].Tag
			}
			switch {
			case r.Seq == after.Seq+1 && link != after.Tag:
				return nil, after, fmt.Errorf("%w: audit record %d does not chain to %d", ErrMAC, r.Seq, after.Seq)
			case r.Seq > after.Seq+1:
				gap = &AuditGapError{After: after.Seq, First: r.Seq}
			}
		}
		out = append(out, *r)
	}
	if len(out) > 0 {
		last := out[len(out)-1]
		after = AuditCursor{Seq: last.Seq, Tag: last.Tag}
	}
	return out, after, gap
}

// AuditAckSize is the size of an audit acknowledgement frame.
const AuditAckSize = 2 + 16 + 4 + AuditTagSize + AuditTagSize // 54

// AuditAck tells a lock that the backend has stored every one of its
// records up to Seq, whose tag is Tag (so the backend proves it holds that
// very record). It is MACed under the pairing's audit key, which only the
// lock and the backend hold. A lock keeps every record until an
// acknowledgement covers it, and refuses grants rather than overwrite one.
type AuditAck struct {
	Lock uuid.UUID
	Seq  uint32
	Tag  [AuditTagSize]byte
	MAC  [AuditTagSize]byte
}

// NewAuditAck acknowledges a lock's records up to cur, the backend's cursor
// over the records stored without a gap.
func NewAuditAck(auditKey [32]byte, lock uuid.UUID, cur AuditCursor) AuditAck {
	a := AuditAck{Lock: lock, Seq: cur.Seq, Tag: cur.Tag}
	a.MAC = newAuditMAC(auditKey).ack(lock, cur.Seq, &cur.Tag)
	return a
}

// AppendAuditAck appends the encoded acknowledgement.
func AppendAuditAck(dst []byte, a *AuditAck) []byte {
	dst = appendHeader(dst, TypeAuditAck)
	dst = append(dst, a.Lock[:]...)
	dst = le.AppendUint32(dst, a.Seq)
	dst = append(dst, a.Tag[:]...)
	return append(dst, a.MAC[:]...)
}

// DecodeAuditAck decodes an acknowledgement without checking its MAC (the
// lock does).
func DecodeAuditAck(b []byte) (AuditAck, error) {
	var a AuditAck
	r := reader{b: b, name: "audit-ack"}
	if err := r.header(TypeAuditAck); err != nil {
		return a, err
	}
	r.copy(a.Lock[:])
	at := r.off
	a.Seq = r.u32()
	r.copy(a.Tag[:])
	r.copy(a.MAC[:])
	if err := r.end(); err != nil {
		return a, err
	}
	if a.Seq == 0 {
		return a, r.failAt(at, ErrMalformed, "acknowledges record 0")
	}
	return a, nil
}
