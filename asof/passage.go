package asof

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
)

// PassageOpening says that at the instant asked, the door was free to
// anyone, no key needed, by the lock's passage schedule (passage mode).
type PassageOpening struct {
	Doors   access.Doors    // every door the schedule frees
	Periods []policy.Policy // the schedule's periods, in the lock's zone
	// Since is when the schedule began to free the door: the time it was
	// set, or the start of the period that frees it, whichever is later.
	// It says nothing of the windows in between.
	Since time.Time
	// Position is the lock.passage_set event the answer rests on.
	Position uint64
}

// passageVersion is one passage schedule of a lock, compiled when applied.
type passageVersion struct {
	pos       uint64
	time      time.Time
	set       events.PassageSet
	schedules []*policy.Schedule // one per period that compiles (all do, as the commands validate them)
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

// passageAt is the lock's passage schedule as of pos if it frees door at
// at, else nil.
func (l *lockHistory) passageAt(pos uint64, door access.Door, at time.Time) *PassageOpening {
	i := lastAt(l.passages, pos, passagePos)
	if i < 0 || !l.passages[i].set.Doors.Has(door) {
		return nil
	}
	v := &l.passages[i]
	for _, s := range v.schedules {
		if s.Allowed(at, 0) != access.Granted {
			continue
		}
		since := v.time
		if start := s.Policy().Start; start.After(since) {
			since = start
		}
		return &PassageOpening{Doors: v.set.Doors, Periods: v.set.Periods, Since: since, Position: v.pos}
	}
	return nil
}
