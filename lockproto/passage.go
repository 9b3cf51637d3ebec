package lockproto

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// Passage mode. A lock's passage schedule frees some of its doors during
// some periods: anyone may open them then (the firmware holds the latch
// released, or lets the handle open), no key needed. Outside the periods
// the lock behaves as usual. The schedule arrives as the admin message
// TypePassage, which replaces the previous one only if its sequence number
// is higher (like the time-zone rules), so messages still commute.
//
// Each period is a compact schedule (validity and weekly windows, as in a
// credential; no use limit), evaluated on the lock's own clock and UTC
// offset by policy.Compact.Allowed, the evaluator credentials use; the
// periods are OR-combined. An unknown clock frees nothing, and a period
// with windows frees nothing while the zone is unknown: passage mode fails
// closed, with the reason.

// MaxPassagePeriods bounds the periods of a passage schedule.
const MaxPassagePeriods = 4

// Passage is a lock's passage schedule: the doors it frees (bit i = door
// i) during any of its N periods. N == 0 (and Doors 0) is no schedule.
type Passage struct {
	Doors   uint8
	N       uint8
	Periods [MaxPassagePeriods]policy.Compact
}

// compactMaxSize is the largest compact schedule on the wire.
const compactMaxSize = 4 + 4 + 2 + 1 + 5*policy.MaxCompactWindows // 31

// PassageSize is the size of a passage frame of periods with w windows in
// all: 88 + 11 per period + 5 per window, at most 212 (a download carries
// each admin frame after a one-byte length, so every one fits).
func PassageSize(periods, w int) int { return adminFixedSize + 2 + 11*periods + 5*w }

// maxPassageSize is the largest passage frame.
const maxPassageSize = adminFixedSize + 2 + MaxPassagePeriods*compactMaxSize // 212

func (p *Passage) validate() error {
	if p.N > MaxPassagePeriods {
		return invalidf("passage: %d periods, at most %d", p.N, MaxPassagePeriods)
	}
	if p.N == 0 && p.Doors != 0 {
		return invalidf("passage: doors 0x%02x with no period (a clear names no door)", p.Doors)
	}
	if p.N > 0 && p.Doors == 0 {
		return invalidf("passage: %d periods free no door", p.N)
	}
	for i := 0; i < int(p.N); i++ {
		c := &p.Periods[i]
		if c.UseLimit != 0 {
			return invalidf("passage: period %d: use limit %d, must be 0", i, c.UseLimit)
		}
		if c.NumPeriods != 0 {
			return invalidf("passage: period %d: %d dated periods, must be 0", i, c.NumPeriods)
		}
		if err := validateCompact(c); err != nil {
			return fmt.Errorf("passage: period %d: %w", i, err)
		}
	}
	for i := int(p.N); i < MaxPassagePeriods; i++ {
		if p.Periods[i] != (policy.Compact{}) {
			return invalidf("passage: period %d set past n = %d", i, p.N)
		}
	}
	return nil
}

func (p *Passage) append(dst []byte) []byte {
	n := min(int(p.N), MaxPassagePeriods)
	dst = append(dst, p.Doors, byte(n))
	for i := 0; i < n; i++ {
		dst = appendCompact(dst, &p.Periods[i])
	}
	return dst
}

func (p *Passage) decode(r *reader) error {
	p.Doors = r.u8()
	at := r.off
	n := r.u8()
	if n > MaxPassagePeriods {
		return r.failAt(at, ErrMalformed, fmt.Sprintf("%d passage periods, at most %d", n, MaxPassagePeriods))
	}
	p.N = n
	for i := 0; i < int(n); i++ {
		at := r.off
		if err := decodeCompact(r, &p.Periods[i]); err != nil {
			return err
		}
		if p.Periods[i].NumPeriods != 0 { // keeps the frame within a download's one-byte length
			return r.failAt(at, ErrMalformed, fmt.Sprintf("passage period %d has %d dated periods, must be 0", i, p.Periods[i].NumPeriods))
		}
	}
	return nil
}

// Passage gives the lock its passage schedule (a zero Passage clears it).
func (i *Issuer) Passage(lock uuid.UUID, seq uint32, p Passage) ([]byte, error) {
	return i.Admin(Admin{Type: TypePassage, Lock: lock, Seq: seq, Passage: p})
}

// Passage reports whether door (0..7) is free now, on the lock's own clock
// and zone, and if not why: Malformed for a door past 7, ClockUnknown or
// ZoneUnknown when the lock cannot tell (fail closed), NotInPassage
// otherwise (no schedule, another door, or outside every period).
func (l *Lock) Passage(door uint8) (bool, access.Reason) {
	_, unix, known := l.observe()
	r := l.passageAt(door, unix, known)
	return r == access.Granted, r
}

// passageAt decides door at the lock time unix. A period that cannot be
// decided (clock, zone) only matters when no other period frees the door.
func (l *Lock) passageAt(door uint8, unix uint32, known bool) access.Reason {
	p := &l.st.Passage
	switch {
	case door > 7:
		return access.Malformed
	case p.N == 0 || p.Doors&(1<<door) == 0:
		return access.NotInPassage
	case !known:
		return access.ClockUnknown
	}
	out := access.NotInPassage
	at := time.Unix(int64(unix), 0)
	for i := 0; i < int(p.N) && i < MaxPassagePeriods; i++ {
		c := &p.Periods[i]
		offset, r := l.whenPolicy(c, unix, known)
		if r == access.ZoneUnknown {
			out = r
			continue
		}
		if r == access.Granted && c.Allowed(at, offset, 0) == access.Granted {
			return access.Granted
		}
	}
	return out
}

// PassageDecision is the outcome of OpenFree.
type PassageDecision struct {
	Door     uint8
	Granted  bool
	Reason   access.Reason
	AuditSeq uint32 // the open's audit record; 0 for a refusal or a tallied open
}

// OpenFree is what the firmware calls when the handle of door (0..7) is
// used: granted only while the door is free (Passage). Anyone can turn a
// handle, so an open gets an audit record of its own (AuditPassage, the
// door in the door byte, Value 1) only while a refusal would (more than
// AuditReserve places left); past that it is tallied in State.Passed and
// written later as one record of the count, so passage opens never use the
// places kept for keys and admin messages, and the door keeps opening. The
// record or tally is persisted before the grant is returned; when Persist
// fails it is undone and the open refused (StorageFailed). A refusal
// (NotInPassage, ClockUnknown, ZoneUnknown, StorageFailed) is tallied like
// the refusals anyone can cause; a door past 7 is Malformed and not
// tallied (a firmware fault).
func (l *Lock) OpenFree(door uint8) PassageDecision {
	_, unix, known := l.observe()
	d := PassageDecision{Door: door}
	if door > 7 {
		d.Reason = access.Malformed
		return d
	}
	refuse := func(r access.Reason) PassageDecision {
		d.Reason = r
		l.tally(&AuditRecord{Kind: AuditPassage, Door: door, Reason: r}, unix, known)
		return d
	}
	if r := l.passageAt(door, unix, known); r != access.Granted {
		return refuse(r)
	}
	undo := l.begin(-1)
	if p := &l.st.Passed; l.room(classRefusal) && (p.Count == 0 || l.flushable(classRefusal)) {
		d.AuditSeq = l.record(classRefusal, unix, known, AuditRecord{Kind: AuditPassage, Door: door, Value: 1})
	} else {
		if p.Count < 1<<32-1 {
			p.Count++
		}
		p.Door, p.LockTime = door, 0
		if known {
			p.LockTime = unix
		}
	}
	if err := l.persist(); err != nil {
		l.rollback(&undo)
		d.AuditSeq = 0
		return refuse(access.StorageFailed)
	}
	d.Granted, d.Reason = true, access.Granted
	return d
}
