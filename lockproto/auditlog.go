package lockproto

import (
	"crypto/hmac"
	"fmt"

	"github.com/keyledger/keyledger/access"
)

// The lock's audit log: a ring of AuditRingSize records, chained by tags.
//
// Keeping what matters: a record the backend has not acknowledged
// (AuditAck) is never overwritten. Grants and admin messages may use the
// whole ring; refusals only while more than AuditReserve places are left,
// after which they are tallied (Unrecorded) and written as one
// AuditRefusals record when there is room again. Refusals reached before
// the holder's proof verified (malformed, replayed, revoked, forged …) are
// always tallied, never recorded one by one: anyone can send them, so they
// must not be able to push out a record of who opened the door. Opens in
// passage mode (OpenFree) need no key either: each gets a record of its
// own only while a refusal would, after which they are tallied
// (State.Passed) and written as one AuditPassage record whose Value is how
// many opens it stands for, when there is room again; the door still opens
// (passage mode is an office door), and the tally is persisted before it
// does. When the
// ring holds AuditRingSize unacknowledged records the lock refuses grants
// (access.AuditFull) and admin messages until an acknowledgement arrives:
// an open nobody can audit is what the log exists to prevent, and a
// reserved region would only move that choice a few records later.

type recClass uint8

const (
	classRefusal recClass = iota // an authenticated refusal
	classGrant                   // a grant or an admin message
)

// unacked is the number of records the backend has not acknowledged.
func (l *Lock) unacked() uint32 { return l.st.AuditSeq - l.st.AuditAcked }

func limitOf(c recClass) uint32 {
	if c == classRefusal {
		return AuditRingSize - AuditReserve
	}
	return AuditRingSize
}

// room reports whether a record of class c may be written now.
func (l *Lock) room(c recClass) bool { return l.unacked() < limitOf(c) }

// flushable reports whether a tally may be written now, before a record of
// class c: a tally takes a place a refusal could, and leaves one for r.
func (l *Lock) flushable(c recClass) bool {
	return l.room(classRefusal) && l.unacked()+1 < limitOf(c)
}

// record writes r, after the tallies of unrecorded refusals and passage
// opens while there is room for them and r, and returns its sequence
// number. A refusal with no room left is tallied instead (0); grants and
// admin messages check room first.
func (l *Lock) record(c recClass, unix uint32, known bool, r AuditRecord) uint32 {
	if t := &l.st.Unrecorded; t.Count > 0 && l.flushable(c) {
		l.write(t.LockTime, t.LockTime != 0, AuditRecord{Kind: AuditRefusals, Reason: t.Reason, Door: t.Door,
			Action: t.Action, Credential: t.Credential, Value: t.Count})
		*t = Unrecorded{}
	}
	if p := &l.st.Passed; p.Count > 0 && l.flushable(c) {
		l.write(p.LockTime, p.LockTime != 0, AuditRecord{Kind: AuditPassage, Door: p.Door, Value: p.Count})
		*p = PassageTally{}
	}
	if !l.room(c) {
		l.tally(&r, unix, known)
		return 0
	}
	return l.write(unix, known, r)
}

// tally counts a refusal that gets no record of its own.
func (l *Lock) tally(r *AuditRecord, unix uint32, known bool) {
	t := &l.st.Unrecorded
	if t.Count < 1<<32-1 {
		t.Count++
	}
	t.Reason, t.Door, t.Action, t.Credential, t.LockTime = r.Reason, r.Door, r.Action, r.Credential, 0
	if known {
		t.LockTime = unix
	}
}

// write appends a record, chaining its tag, and returns its sequence number.
func (l *Lock) write(unix uint32, known bool, r AuditRecord) uint32 {
	l.st.AuditSeq++
	r.Seq = l.st.AuditSeq
	if known {
		r.LockTime = unix
	}
	r.Granted = r.Reason == access.Granted
	prev := l.st.AuditTag
	r.Tag = l.audit.tag(l.st.Pairing.Lock, &prev, &r)
	l.st.AuditTag = r.Tag
	l.st.AuditRing[(r.Seq-1)%AuditRingSize] = AuditEntry{Record: r, PrevTag: prev}
	return r.Seq
}

// DrainAudit returns a batch of the oldest records not yet drained (at most
// MaxAuditBatch), or nil when there are none. Records stay in the ring
// until acknowledged (and overwritten), so a lost upload can be repeated
// with AuditFrom; an acknowledgement also rewinds the drain position to it,
// so records drained by a phone that never delivered them are handed out
// again. Records are persisted before they are handed out (nil if that
// fails), so a record the backend has can never be written again
// differently after a power cut. A drain may first append a clock reading
// (AuditClock, clockread.go) so the batch says what time the lock thinks
// it is now.
func (l *Lock) DrainAudit() []byte {
	l.clockReading()
	b := l.auditFrom(l.st.AuditDrained + 1)
	if b == nil {
		return nil
	}
	last := b.Records[b.N-1].Seq
	if last > l.persisted && l.persist() != nil {
		return nil
	}
	l.st.AuditDrained = last
	out, _ := AppendAuditBatch(make([]byte, 0, MaxAuditBatchSize), b)
	return out
}

// AuditFrom returns a batch starting at seq (or the oldest record still in
// the ring, if later), without moving the drain position.
func (l *Lock) AuditFrom(seq uint32) []byte {
	b := l.auditFrom(seq)
	if b == nil {
		return nil
	}
	if b.Records[b.N-1].Seq > l.persisted && l.persist() != nil {
		return nil
	}
	out, _ := AppendAuditBatch(make([]byte, 0, MaxAuditBatchSize), b)
	return out
}

func (l *Lock) auditFrom(from uint32) *AuditBatch {
	last := l.st.AuditSeq
	oldest := uint32(1)
	if last > AuditRingSize {
		oldest = last - AuditRingSize + 1
	}
	from = max(from, oldest)
	if from > last {
		return nil
	}
	b := &AuditBatch{Lock: l.st.Pairing.Lock}
	for s := from; s <= last && int(b.N) < MaxAuditBatch; s++ {
		e := &l.st.AuditRing[(s-1)%AuditRingSize]
		if b.N == 0 {
			b.PrevTag = e.PrevTag
		}
		b.Records[b.N] = e.Record
		b.N++
	}
	return b
}

// HandleAuditAck applies the backend's acknowledgement of the lock's
// records up to its Seq: its MAC must verify under the audit key and its
// tag must be the lock's record of that number (while the ring holds it).
// Records up to it may be overwritten from then on, and the drain position
// rewinds to it: what the backend lacks after it is handed out again. One
// equal to the last only rewinds; one below it changes nothing
// (access.StaleSequence). Refusals are *RefusalError; a failed Persist
// wraps ErrPersist.
func (l *Lock) HandleAuditAck(frame []byte) error {
	a, err := DecodeAuditAck(frame)
	if err != nil {
		return &RefusalError{Reason: reasonOf(err), Detail: err.Error()}
	}
	if a.Lock != l.st.Pairing.Lock {
		return &RefusalError{Reason: access.WrongLock, Detail: fmt.Sprintf("for lock %v", a.Lock)}
	}
	want := l.audit.ack(a.Lock, a.Seq, &a.Tag)
	if !hmac.Equal(want[:], a.MAC[:]) {
		return &RefusalError{Reason: access.BadSignature, Detail: fmt.Sprintf("acknowledgement of record %d: bad MAC", a.Seq)}
	}
	switch {
	case a.Seq > l.st.AuditSeq:
		return &RefusalError{Reason: access.Malformed, Detail: fmt.Sprintf("acknowledges record %d, the last is %d", a.Seq, l.st.AuditSeq)}
	case a.Seq < l.st.AuditAcked:
		return &RefusalError{Reason: access.StaleSequence, Detail: fmt.Sprintf("record %d, acknowledged up to %d", a.Seq, l.st.AuditAcked)}
	case l.st.AuditSeq-a.Seq < AuditRingSize:
		if e := &l.st.AuditRing[(a.Seq-1)%AuditRingSize]; !hmac.Equal(e.Record.Tag[:], a.Tag[:]) {
			return &RefusalError{Reason: access.BadSignature, Detail: fmt.Sprintf("acknowledges another record %d than the lock wrote", a.Seq)}
		}
	}
	l.st.AuditAcked = a.Seq
	l.st.AuditDrained = min(l.st.AuditDrained, a.Seq)
	return l.persist()
}
