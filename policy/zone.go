package policy

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// zone is a resolved location with a one-entry cache of the offset period
// last looked up: t.In(loc).Zone() costs a table search on every call, and a
// lock's instants almost always fall into the same period (months long).
//
// One *zone is shared by every Schedule compiled in that zone; a Schedule
// holds only the pointer, so copying one copies no atomic value.
type zone struct {
	loc  *time.Location
	last atomic.Pointer[span]
}

// span is an immutable offset period: the offset is off for every Unix second
// in [start, end). math.MinInt64 / math.MaxInt64 stand for an open side.
type span struct {
	start, end int64
	off        int
}

var (
	zones   sync.Map // zone name -> *zone, filled by LoadZone
	utcZone = func() *zone {
		z := &zone{loc: time.UTC}
		z.last.Store(&span{start: math.MinInt64, end: math.MaxInt64})
		return z
	}()
)

// loadZone resolves a zone name to its shared *zone.
func loadZone(name string) (*zone, error) {
	if name == "" || name == "UTC" {
		return utcZone, nil
	}
	if v, ok := zones.Load(name); ok {
		return v.(*zone), nil
	}
	if name == "Local" {
		return nil, &ValidationError{Field: "Zone", Value: name, Reason: "the lock's zone must be named", Err: ErrUnknownZone}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &ValidationError{Field: "Zone", Value: name, Reason: "unknown time zone", Err: ErrUnknownZone}
	}
	v, _ := zones.LoadOrStore(name, &zone{loc: loc}) // racing loaders share one
	return v.(*zone), nil
}

// offset returns the zone's UTC offset (seconds east) at the instant, exactly
// _, off := at.In(z.loc).Zone(). A hit costs an atomic load and two compares.
func (z *zone) offset(at time.Time) int {
	u := at.Unix()
	if s := z.last.Load(); s != nil && s.start <= u && u < s.end {
		return s.off
	}
	return z.lookup(at).off
}

// period returns the offset period containing the instant (from the cache
// when it holds it); end is math.MaxInt64 when the offset never changes again.
func (z *zone) period(at time.Time) span {
	u := at.Unix()
	if s := z.last.Load(); s != nil && s.start <= u && u < s.end {
		return *s
	}
	return z.lookup(at)
}

// lookup is the cache miss: the offset and period from the time package, and
// the period stored for the next call when it is sound. Go reports a period
// far from a DST change as starting at the start of the UTC year, which can
// precede the zone's last table transition (different offsets before it);
// so the start is trusted only if the period looked up at it starts there
// with the same offset, else the span starts at the instant itself. The end
// is exact or earlier (Go reports a leap year's period as ending on Dec 31);
// a period not containing the instant is not stored.
func (z *zone) lookup(at time.Time) span {
	lt := at.In(z.loc)
	_, off := lt.Zone()
	start, end := lt.ZoneBounds()
	s := span{start: math.MinInt64, end: math.MaxInt64, off: off}
	if !end.IsZero() {
		s.end = end.Unix()
	}
	u := at.Unix()
	if s.end <= u {
		return s
	}
	if !start.IsZero() {
		s.start = start.Unix()
		st := start.In(z.loc)
		_, o := st.Zone()
		if ss, _ := st.ZoneBounds(); s.start > u || o != off || ss.IsZero() || ss.Unix() != s.start {
			s.start = u
		}
	}
	ps := new(span) // a copy: only a stored miss allocates
	*ps = s
	z.last.Store(ps)
	return s
}
