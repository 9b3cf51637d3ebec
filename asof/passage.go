package asof

import (
	"slices"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// PassageOpening says that at the instant asked, the door was free to
// anyone, no key needed, by a passage schedule of the lock (passage mode).
type PassageOpening struct {
	Doors   access.Doors    // every door the schedule frees
	Periods []policy.Policy // the schedule's periods, in the lock's zone
	// Since is when the schedule began to free the door: the time it was
	// set, or the start of the period that frees it, whichever is later.
	// It says nothing of the windows in between.
	Since time.Time
	// Position is the lock.passage_set event of the schedule.
	Position uint64
	// StillAtLock: a newer schedule had been set, but the lock's audit had
	// not shown its message applied; this one, which the lock had applied,
	// was still in force there.
	StillAtLock bool
	// NotYetAtLock: the schedule had been set, but the lock's audit had not
	// shown its message applied (or there was none: no issuer); a phone may
	// already have delivered it.
	NotYetAtLock bool
	// Positions are the events the answer rests on, ascending: the
	// schedule's set event, its admin messages and the lock's AdminApplied
	// of it; for StillAtLock also the newer schedule's set event and
	// messages.
	Positions []uint64
}

// passageVersion is one passage schedule of a lock, compiled when applied.
type passageVersion struct {
	pos       uint64
	time      time.Time
	set       events.PassageSet
	schedules []*policy.Schedule // one per period that compiles (all do, as the commands validate them)
	issued    []passageMessage   // its admin messages (a passed one is issued again)
}

// passageMessage is an admin message carrying a schedule.
type passageMessage struct {
	seq uint32
	pos uint64 // its AdminIssued
}

// passageApplied is the lock's audit showing a passage message applied.
type passageApplied struct {
	pos     uint64 // the AdminApplied event
	seq     uint32
	version int // index in lockHistory.passages
}

func passagePos(v *passageVersion) uint64 { return v.pos }

func (l *lockHistory) applyPassage(ev *ledger.Event, e events.PassageSet) {
	v := passageVersion{pos: ev.Position, time: ev.Time, set: e}
	for _, p := range e.Periods {
		if s, err := policy.Compile(p); err == nil {
			v.schedules = append(v.schedules, s)
		}
	}
	l.passages = append(l.passages, v)
}

// applyPassageAdmin follows the messages that carry a lock's passage
// schedules: issued with the set event (the latest schedule) or again for
// the one a passed message carried, and applied by the lock.
func (l *lockHistory) applyPassageAdmin(ev *ledger.Event) {
	switch e := ev.Data.(type) {
	case events.AdminIssued:
		if e.Type != lockproto.TypePassage || len(l.passages) == 0 {
			return
		}
		i := len(l.passages) - 1
		if e.Reissues != 0 {
			if i = l.passageOfSeq(e.Reissues); i < 0 {
				return
			}
		}
		l.passages[i].issued = append(l.passages[i].issued, passageMessage{e.Seq, ev.Position})
	case events.AdminApplied:
		if e.Type != lockproto.TypePassage || !e.Applied {
			return
		}
		if i := l.passageOfSeq(e.Seq); i >= 0 {
			l.passageApplied = append(l.passageApplied, passageApplied{ev.Position, e.Seq, i})
		}
	}
}

// passageOfSeq is the index of the schedule admin message seq carried, or -1.
func (l *lockHistory) passageOfSeq(seq uint32) int {
	for i := len(l.passages) - 1; i >= 0; i-- {
		for _, m := range l.passages[i].issued {
			if m.seq == seq {
				return i
			}
		}
	}
	return -1
}

// atLock is the schedule in force at the lock as of pos: the one whose
// applied message has the highest sequence number (the lock replaces its
// schedule only by a higher one), with that AdminApplied; -1 if none.
func (l *lockHistory) atLock(pos uint64) (int, uint64) {
	best, seq, at := -1, uint32(0), uint64(0)
	for _, a := range l.passageApplied {
		if a.pos > pos {
			break
		}
		if best < 0 || a.seq > seq {
			best, seq, at = a.version, a.seq, a.pos
		}
	}
	return best, at
}

// passageAt is the passage schedule that frees door at at, as of pos, or
// nil. The lock's applied schedule answers first (StillAtLock when a newer
// one was set); else the latest schedule set, when the lock's audit had
// not shown it applied (NotYetAtLock): it may be at the lock already, and
// "could open" leaves no door out that may have been free.
func (l *lockHistory) passageAt(pos uint64, door access.Door, at time.Time) *PassageOpening {
	latest := lastAt(l.passages, pos, passagePos)
	if latest < 0 {
		return nil
	}
	lock, applied := l.atLock(pos)
	if lock >= 0 {
		if o := l.passages[lock].frees(pos, door, at); o != nil {
			o.Positions = append(o.Positions, applied)
			if lock != latest {
				o.StillAtLock = true
				o.Positions = append(o.Positions, l.passages[latest].cited(pos)...)
			}
			slices.Sort(o.Positions)
			return o
		}
	}
	if lock == latest {
		return nil
	}
	o := l.passages[latest].frees(pos, door, at)
	if o != nil {
		o.NotYetAtLock = true
		slices.Sort(o.Positions)
	}
	return o
}

// frees is the answer when v frees door at at, else nil, citing its set
// event and its messages issued by pos.
func (v *passageVersion) frees(pos uint64, door access.Door, at time.Time) *PassageOpening {
	if !v.set.Doors.Has(door) {
		return nil
	}
	for _, s := range v.schedules {
		if s.Allowed(at, 0) != access.Granted {
			continue
		}
		since := v.time
		if start := s.Policy().Start; start.After(since) {
			since = start
		}
		return &PassageOpening{Doors: v.set.Doors, Periods: v.set.Periods, Since: since, Position: v.pos, Positions: v.cited(pos)}
	}
	return nil
}

// cited is v's set event and the messages for it issued by pos.
func (v *passageVersion) cited(pos uint64) []uint64 {
	out := []uint64{v.pos}
	for _, m := range v.issued {
		if m.pos <= pos {
			out = append(out, m.pos)
		}
	}
	return out
}

// applyLockPassageAdmin routes an admin event to its lock's passage
// schedules. Write lock held.
func (x *Index) applyLockPassageAdmin(ev *ledger.Event) {
	var lock string
	switch e := ev.Data.(type) {
	case events.AdminIssued:
		lock = e.Lock
	case events.AdminApplied:
		lock = e.Lock
	}
	if l := x.locks[lock]; l != nil {
		l.applyPassageAdmin(ev)
	}
}
