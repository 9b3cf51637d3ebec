package policy

import (
	"math/bits"
	"time"

	"github.com/keyledger/keyledger/access"
)

// State is the lifecycle status of a key at an instant. Codes are append-only.
type State uint8

const (
	StateUpcoming  State = 1 // before Start
	StateActive    State = 2
	StateExpired   State = 3 // at or after End
	StateExhausted State = 4 // use limit reached
)

func (s State) String() string {
	switch s {
	case StateUpcoming:
		return "UPCOMING"
	case StateActive:
		return "ACTIVE"
	case StateExpired:
		return "EXPIRED"
	case StateExhausted:
		return "EXHAUSTED"
	}
	return "UNKNOWN"
}

// Status is the answer to "what is this key's state at an instant".
type Status struct {
	State    State
	Reason   access.Reason // Allowed at the instant
	InWindow bool          // Reason == Granted
	Next     time.Time     // NextOpen from the instant; zero if none
}

// stateAt: dated periods narrow validity to [first start, last end), so a
// key is UPCOMING before its first period and EXPIRED after its last.
func stateAt(start, end time.Time, periods []Period, uses Uses, at time.Time, usesSoFar uint32) State {
	if first, last := periodBounds(periods); !first.IsZero() {
		if start.IsZero() || first.After(start) {
			start = first
		}
		if end.IsZero() || last.Before(end) {
			end = last
		}
	}
	switch {
	case !start.IsZero() && at.Before(start):
		return StateUpcoming
	case !end.IsZero() && !at.Before(end):
		return StateExpired
	case uses.Limited && usesSoFar >= uses.N:
		return StateExhausted
	}
	return StateActive
}

// Status reports the key's state at an instant, whether it may open now and
// when it next may. A nil or zero Schedule has State zero and Reason
// InvalidPolicy.
func (s *Schedule) Status(at time.Time, usesSoFar uint32) Status {
	if s == nil || s.tz == nil {
		return Status{Reason: access.InvalidPolicy}
	}
	st := Status{State: stateAt(s.start, s.end, s.periods, s.uses, at, usesSoFar), Reason: s.Allowed(at, usesSoFar)}
	st.InWindow = st.Reason == access.Granted
	if next, ok := s.NextOpen(at, usesSoFar); ok {
		st.Next = next
	}
	return st
}

// Status is Schedule.Status for p, compiled on each call (without
// allocating). An invalid policy has the state its dates and uses give,
// Reason InvalidPolicy and no next opening. Hot paths compile once.
func (p *Policy) Status(at time.Time, usesSoFar uint32) Status {
	var s Schedule
	if !p.compileTo(&s) {
		return Status{State: stateAt(p.Start, p.End, nil, p.Uses, at, usesSoFar), Reason: access.InvalidPolicy}
	}
	return s.Status(at, usesSoFar)
}

// horizon bounds NextOpen's search past the last absolute edge: the weekly
// pattern repeats every week, and two weeks cover every wall-clock minute
// even in a week with a DST change.
const horizon = 15 * 24 * time.Hour

// NextOpen returns the first instant >= after at which Allowed is Granted,
// or false if there is none (expired, exhausted, after the last dated period,
// or never opens). It jumps from instant to instant — the next open minute
// of the week's bits, a zone offset change, the end of an absolute blackout,
// the start of the next dated period — and allocates nothing.
func (s *Schedule) NextOpen(after time.Time, usesSoFar uint32) (time.Time, bool) {
	if s == nil || s.tz == nil || s.uses.Limited && usesSoFar >= s.uses.N {
		return time.Time{}, false
	}
	t := after
	if !s.start.IsZero() && t.Before(s.start) {
		t = s.start
	}
	limit := t.Add(horizon)
	for i := range s.blackouts {
		if b := &s.blackouts[i]; b.Days == 0 && b.End.Add(horizon).After(limit) {
			limit = b.End.Add(horizon)
		}
	}
	for i := range s.periods {
		if p := &s.periods[i]; p.Start.Add(horizon).After(limit) {
			limit = p.Start.Add(horizon)
		}
	}
	// Each step moves t past a closed stretch, an offset change or an
	// absolute blackout, so steps are few; the bound only guards the loop.
	for n := 0; n < 100000; n++ {
		if !s.end.IsZero() && !t.Before(s.end) || t.After(limit) {
			return time.Time{}, false
		}
		if len(s.periods) != 0 {
			p, ok := periodFrom(s.periods, t)
			if !ok {
				return time.Time{}, false // after the last period
			}
			if !p.Equal(t) {
				t = p
				continue
			}
		}
		u := t.Unix()
		zp := s.tz.period(t)
		i := minuteOfWeek(u, zp.off)
		if s.open.has(i) && !s.black.has(i) {
			b := s.blackoutAt(t)
			if b == nil {
				return t, true
			}
			t = b.End
			continue
		}
		d := s.untilOpen(i)
		if d == 0 {
			return time.Time{}, false // no open minute in the week
		}
		// The wall minute i starts at u - (u+off) mod 60 in Unix time; within
		// the offset period wall time runs with real time.
		next := u - floorMod(u+int64(zp.off), 60) + int64(d)*60
		if next > zp.end && zp.end > u { // an end at or before u is Go's imprecision (zone.lookup)
			next = zp.end
		}
		t = time.Unix(next, 0)
	}
	return time.Time{}, false
}

// untilOpen returns how many minutes after week minute i the next minute the
// weekly rules open (windows minus weekly blackouts) starts, cyclically:
// 1..weekMinutes-1, or 0 if no minute of the week is open. i is closed.
func (s *Schedule) untilOpen(i uint) uint {
	j := (i + 1) % weekMinutes
	for range len(weekBits{}) + 1 { // from j round the week back to i's word
		w := j / 64
		if v := (s.open[w] &^ s.black[w]) >> (j % 64); v != 0 {
			n := j + uint(bits.TrailingZeros64(v))
			return (n + weekMinutes - i) % weekMinutes
		}
		if j = (w + 1) * 64; j >= weekMinutes {
			j = 0
		}
	}
	return 0
}

// NextOpen is Schedule.NextOpen for p, compiled on each call (without
// allocating); none for an invalid policy. Hot paths compile once.
func (p *Policy) NextOpen(after time.Time, usesSoFar uint32) (time.Time, bool) {
	var s Schedule
	if !p.compileTo(&s) {
		return time.Time{}, false
	}
	return s.NextOpen(after, usesSoFar)
}
