package lockproto

import (
	"encoding/binary"
	"time"

	"github.com/keyledger/keyledger/access"
)

// Clock readings. A backend can only tell how far a lock's clock is off
// from a lock time read now, authenticated: so when a phone drains the
// audit, the lock first appends a clock reading (AuditClock) whose record
// time is the lock's time at that instant, and the phone notes when it
// read the batch (phones keep network time). The reading is MACed and
// chained like every record.
//
// Bounded: a reading is written only when the batch handed out now has
// room for it, while more than AuditReserve places of the ring are left
// (it never takes a place kept for grants), and either there are other
// records to hand out and the newest record is not already a reading, or
// the last reading of this start is at least Config.ClockReadingInterval
// old on the RTC (or there was none this start).
//
// A reading handed out again after an acknowledgement rewound the drain
// position is as old as when it was written; a backend that took the
// hand-out time for its reading time would see the lock behind by the
// delay. So when the newest record is a reading more than a minute old on
// the RTC and there is something to hand out, the lock writes a fresh one
// after it — unless the record before it is a reading the backend has not
// acknowledged: two readings in a row need an acknowledgement in between.
// So a phone draining again and again, or delivering the same
// acknowledgement again and again to rewind the drain position, adds at
// most one reading per interval beyond one per other record and one per
// acknowledgement.

// ClockFlags is the slot byte of a clock reading.
type ClockFlags uint8

const (
	ClockKnown     ClockFlags = 1 << 0 // the lock trusted its clock (LockTime ≠ 0)
	ClockZoneKnown ClockFlags = 1 << 1 // its zone table gave an offset for that time
	ClockZoneTable ClockFlags = 1 << 2 // it holds a zone table at all
	clockFlagsAll             = ClockKnown | ClockZoneKnown | ClockZoneTable
)

// ClockReading is what a clock reading record (AuditClock) says.
type ClockReading struct {
	LockTime uint32 // 0: the lock did not know the time
	Flags    ClockFlags
	// ZoneValidUntil and ZoneSeq describe the lock's zone table (both 0
	// without one): where it stops giving offsets (0 = never) and the
	// sequence number of the time-zone message it came with.
	ZoneValidUntil uint32
	ZoneSeq        uint32
	Boot           uint32 // the lock's start counter
}

// Clock returns the clock reading of an AuditClock record.
func (a *AuditRecord) Clock() (ClockReading, bool) {
	if a.Kind != AuditClock {
		return ClockReading{}, false
	}
	return ClockReading{LockTime: a.LockTime, Flags: ClockFlags(a.Slot),
		ZoneValidUntil: binary.LittleEndian.Uint32(a.Credential[0:]),
		ZoneSeq:        binary.LittleEndian.Uint32(a.Credential[4:]), Boot: a.Value}, true
}

// checkClock returns what is wrong with a clock reading record, or "".
func (a *AuditRecord) checkClock() string {
	f := ClockFlags(a.Slot)
	switch {
	case a.Reason != access.Granted:
		return "reason not 0"
	case a.Door != 0 || a.Action != 0:
		return "door byte not 0"
	case f&^clockFlagsAll != 0:
		return "unknown flags"
	case (f&ClockKnown != 0) != (a.LockTime != 0):
		return "clock-known flag disagrees with the lock time"
	case f&ClockZoneKnown != 0 && f&(ClockKnown|ClockZoneTable) != ClockKnown|ClockZoneTable:
		return "zone known without a clock or a table"
	case f&ClockZoneTable == 0 && a.Credential != CredentialID{}:
		return "zone fields without a table"
	}
	return ""
}

// staleReading: a reading handed out again that is older than this on the
// RTC is followed by a fresh one.
const staleReading = time.Minute

// isReading reports whether record seq (0: none) is a clock reading.
func (l *Lock) isReading(seq uint32) bool {
	return seq > 0 && l.st.AuditRing[(seq-1)%AuditRingSize].Record.Kind == AuditClock
}

// clockReading appends a clock reading before a drain when the rules above
// allow one.
func (l *Lock) clockReading() {
	undrained := l.st.AuditSeq - min(l.st.AuditDrained, l.st.AuditSeq)
	need := uint32(1) // record writes the tallies first
	if l.st.Unrecorded.Count > 0 {
		need++
	}
	if l.st.Passed.Count > 0 {
		need++
	}
	if undrained+need > MaxAuditBatch || l.unacked()+need > limitOf(classRefusal) {
		return
	}
	now, unix, known := l.observe()
	recent := l.readOnce && now >= l.reading && now-l.reading < l.cfg.ClockReadingInterval
	newest := l.isReading(l.st.AuditSeq)
	other := undrained > 0 || l.st.Unrecorded.Count > 0 || l.st.Passed.Count > 0
	switch {
	case !recent, other && !newest:
	case other && now-l.reading > staleReading && (l.st.AuditSeq-1 <= l.st.AuditAcked || !l.isReading(l.st.AuditSeq-1)):
		// The newest record is a reading handed out again (a rewind), too
		// old to end the batch: a fresh one follows it, once per
		// acknowledgement past the reading before.
	default:
		return
	}
	r := AuditRecord{Kind: AuditClock, Value: l.st.Boot}
	var f ClockFlags
	if known {
		f |= ClockKnown
	}
	if z := &l.st.Zone; z.N > 0 {
		f |= ClockZoneTable
		if _, ok := z.OffsetAt(unix); ok && known {
			f |= ClockZoneKnown
		}
		binary.LittleEndian.PutUint32(r.Credential[0:], z.ValidUntil)
		binary.LittleEndian.PutUint32(r.Credential[4:], l.st.ZoneSeq)
	}
	r.Slot = uint8(f)
	l.record(classRefusal, unix, known, r)
	l.reading, l.readOnce = now, true
}
