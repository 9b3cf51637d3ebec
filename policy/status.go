package policy

import (
	"math"
	"time"
)

// State is the K8 status of a key at an instant. Codes are append-only.
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
	Reason   Reason    // Allowed at the instant
	InWindow bool      // Reason == Granted
	Next     time.Time // NextOpen from the instant; zero if none
}

// Status reports the key's state at an instant, whether it may open now and
// when it next may.
func (p *Policy) Status(at time.Time, usesSoFar uint32) Status {
	var s Status
	switch {
	case !p.Start.IsZero() && at.Before(p.Start):
		s.State = StateUpcoming
	case !p.End.IsZero() && !at.Before(p.End):
		s.State = StateExpired
	case p.Uses.Limited && usesSoFar >= p.Uses.N:
		s.State = StateExhausted
	default:
		s.State = StateActive
	}
	s.Reason = p.Allowed(at, usesSoFar)
	s.InWindow = s.Reason == Granted
	if next, ok := p.NextOpen(at, usesSoFar); ok {
		s.Next = next
	}
	return s
}

// horizon bounds NextOpen's search past the last absolute edge: the weekly
// pattern repeats every week, and two weeks cover every wall-clock minute
// even in a week with a DST change.
const horizon = 15 * 24 * time.Hour

// NextOpen returns the first instant >= after at which Allowed is Granted,
// or false if there is none (expired, exhausted, or never opens).
// It steps over candidate instants (window and blackout edges in wall-clock
// time, zone offset changes, blackout ends, Start), not minute by minute.
func (p *Policy) NextOpen(after time.Time, usesSoFar uint32) (time.Time, bool) {
	if p.Uses.Limited && usesSoFar >= p.Uses.N {
		return time.Time{}, false
	}
	z := p.tz
	if z == nil {
		var err error
		if z, err = loadZone(p.Zone); err != nil {
			return time.Time{}, false
		}
	}
	t := after
	if !p.Start.IsZero() && t.Before(p.Start) {
		t = p.Start
	}
	limit := t.Add(horizon)
	for i := range p.Blackouts {
		if b := &p.Blackouts[i]; b.Days == 0 && b.End.Add(horizon).After(limit) {
			limit = b.End.Add(horizon)
		}
	}
	for n := 0; n < 100000; n++ {
		if !p.End.IsZero() && !t.Before(p.End) {
			return time.Time{}, false
		}
		if t.After(limit) {
			return time.Time{}, false
		}
		zp := z.period(t)
		if p.weekly(t, t.Unix(), zp.off) == Granted {
			return t, true
		}
		t = p.nextEdge(t, zp)
	}
	return time.Time{}, false
}

// nextEdge returns the first instant after lt at which weekly() may change;
// zp is the zone's offset period containing lt.
func (p *Policy) nextEdge(lt time.Time, zp span) time.Time {
	u := lt.Unix()
	sec := floorMod(u+int64(zp.off), 86400) // second of the wall day
	best := 86400 - sec                     // next wall midnight
	edge := func(m uint16) {
		d := int64(m)*60 - sec
		if d <= 0 {
			d += 86400
		}
		best = min(best, d)
	}
	for i := range p.Windows {
		edge(p.Windows[i].From)
		edge(p.Windows[i].To % MinutesPerDay)
	}
	for i := range p.Blackouts {
		if b := &p.Blackouts[i]; b.Days != 0 {
			edge(b.To % MinutesPerDay)
		}
	}
	next := time.Unix(u+best, 0)
	for i := range p.Blackouts {
		if b := &p.Blackouts[i]; b.Days == 0 && b.End.After(lt) && b.End.Before(next) {
			next = b.End
		}
	}
	if zp.end != math.MaxInt64 {
		if end := time.Unix(zp.end, 0); end.After(lt) && end.Before(next) {
			next = end
		}
	}
	return next
}
