package policy

import (
	"slices"
	"time"

	"github.com/keyledger/keyledger/access"
)

// Schedule is a compiled Policy: validated, its zone resolved and its weekly
// rules (windows and weekly blackouts) turned into one bit per minute of the
// week. It is immutable — Compile copies what it keeps — so one *Schedule
// serves any number of goroutines without locks. A nil or zero Schedule
// refuses everything (InvalidPolicy).
type Schedule struct {
	start, end time.Time // validity [start, end); zero = open side
	uses       Uses
	tz         *zone         // shared per zone name (zone.go); nil only in a zero Schedule
	blackouts  []Blackout    // checked by instant if absolute; weekly ones are in black
	src        Policy        // what Compile was given (its own slices)
	absolute   bool          // some blackout is absolute
	periods    []Period      // dated periods (none = no date restriction)
	afterUse   time.Duration // AfterFirstUse: only the compact form uses it
	// Last, so the garbage collector's view of a Schedule ends before them.
	open  weekBits // minutes some window covers (every minute without windows)
	black weekBits // minutes some weekly blackout covers
}

// Compile validates p and returns its compiled form, or nil and the errors
// Validate reports. The result does not change when p's slices are edited
// afterwards.
func Compile(p Policy) (*Schedule, error) {
	z, err := p.validate()
	if err != nil {
		return nil, err
	}
	s := &Schedule{src: p}
	s.src.Windows, s.src.Blackouts = slices.Clone(p.Windows), slices.Clone(p.Blackouts)
	s.src.Periods = slices.Clone(p.Periods)
	s.build(&s.src, z)
	return s, nil
}

// compileTo fills s from p without copying p's slices, for a Schedule that
// lives only during one call of a Policy method; false if p is invalid. It
// allocates nothing.
func (p *Policy) compileTo(s *Schedule) bool {
	z, ok := p.valid()
	if ok {
		s.build(p, z)
	}
	return ok
}

func (s *Schedule) build(p *Policy, z *zone) {
	s.start, s.end, s.uses, s.tz, s.blackouts = p.Start, p.End, p.Uses, z, p.Blackouts
	s.periods, s.afterUse = p.Periods, p.AfterFirstUse
	if len(p.Windows) == 0 {
		s.open.setRange(0, weekMinutes)
	}
	for i := range p.Windows {
		w := &p.Windows[i]
		s.open.set(w.Days, w.From, w.To)
	}
	for i := range p.Blackouts {
		if b := &p.Blackouts[i]; b.Days != 0 {
			s.black.set(b.Days, b.From, b.To)
		} else {
			s.absolute = true
		}
	}
}

// Policy returns a copy of the policy s was compiled from.
func (s *Schedule) Policy() Policy {
	if s == nil {
		return Policy{}
	}
	p := s.src
	p.Windows, p.Blackouts = slices.Clone(p.Windows), slices.Clone(p.Blackouts)
	p.Periods = slices.Clone(p.Periods)
	return p
}

// Location is the schedule's zone (nil for a nil or zero Schedule).
func (s *Schedule) Location() *time.Location {
	if s == nil || s.tz == nil {
		return nil
	}
	return s.tz.loc
}

// Allowed reports whether the key may open at the instant, given how many
// uses were granted so far; otherwise the first failing reason in the order
// NotYetValid, Expired, Exhausted, OutsidePeriods, OutsideWindow, InBlackout.
// AfterFirstUse restricts nothing here (see Policy.FirstUsed). It allocates
// nothing (except a 24-byte record when the instant falls into another UTC
// offset period than the zone's last lookup, see zone.go).
func (s *Schedule) Allowed(at time.Time, usesSoFar uint32) access.Reason {
	if s == nil || s.tz == nil {
		return access.InvalidPolicy
	}
	if !s.start.IsZero() && at.Before(s.start) {
		return access.NotYetValid
	}
	if !s.end.IsZero() && !at.Before(s.end) {
		return access.Expired
	}
	if s.uses.Limited && usesSoFar >= s.uses.N {
		return access.Exhausted
	}
	if len(s.periods) != 0 && !inPeriods(s.periods, at) {
		return access.OutsidePeriods
	}
	u := at.Unix()
	var off int
	if sp := s.tz.last.Load(); sp != nil && sp.start <= u && u < sp.end { // zone.offset, inlined by hand
		off = sp.off
	} else {
		off = s.tz.lookup(at).off
	}
	i := minuteOfWeek(u, off)
	if !s.open.has(i) {
		return access.OutsideWindow
	}
	if s.black.has(i) {
		return access.InBlackout
	}
	if s.absolute && s.blackoutAt(at) != nil {
		return access.InBlackout
	}
	return access.Granted
}

// blackoutAt returns the absolute blackout covering at that ends last, or nil.
func (s *Schedule) blackoutAt(at time.Time) *Blackout {
	var last *Blackout
	for i := range s.blackouts {
		if b := &s.blackouts[i]; b.Days == 0 && !at.Before(b.Start) && at.Before(b.End) && (last == nil || b.End.After(last.End)) {
			last = b
		}
	}
	return last
}

// minuteOfWeek is the minute of the week (0 = Sunday 00:00) of a Unix time
// read at a UTC offset.
func minuteOfWeek(unix int64, offset int) uint {
	wd, m := wall(unix, offset)
	return uint(wd)*MinutesPerDay + uint(m)
}

const weekMinutes = 7 * MinutesPerDay

// weekBits holds one bit per minute of the week, bit 0 = Sunday 00:00.
type weekBits [(weekMinutes + 63) / 64]uint64

func (m *weekBits) has(i uint) bool { return m[i/64]&(1<<(i%64)) != 0 }

// set sets the minutes a weekly range covers, exactly as covers decides
// (property-tested); a range breaking minutesOK sets nothing.
func (m *weekBits) set(days Weekdays, from, to uint16) {
	if !minutesOK(from, to) {
		return
	}
	f, t := int(from), int(to)
	for d := range 7 {
		if days&(1<<d) == 0 {
			continue
		}
		day, next := d*MinutesPerDay, (d+1)%7*MinutesPerDay
		if f < t {
			m.setRange(day+f, day+t)
		} else { // crosses midnight: belongs to the day it starts
			m.setRange(day+f, day+MinutesPerDay)
			m.setRange(next, next+t)
		}
	}
}

// setRange sets bits [lo, hi).
func (m *weekBits) setRange(lo, hi int) {
	for l, h := uint(lo), uint(hi); l < h; {
		b := l % 64
		n := min(h-l, 64-b)
		m[l/64] |= ^uint64(0) >> (64 - n) << b
		l += n
	}
}
