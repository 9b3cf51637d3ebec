package policy

import (
	"fmt"
	"time"
)

// MaxPeriods is how many dated periods a policy may hold.
const MaxPeriods = 32

// Period is a dated range of instants [Start, End) during which a key may
// open (Matter's year-day schedule). Both sides are required.
type Period struct {
	Start, End time.Time
}

func periodOK(p *Period) bool {
	return !p.Start.IsZero() && !p.End.IsZero() && p.End.After(p.Start)
}

// validatePeriods reports each bad period and too many periods.
func validatePeriods(ps []Period, bad func(string, any, string)) {
	if len(ps) > MaxPeriods {
		bad("Periods", len(ps), fmt.Sprintf("more than %d dated periods", MaxPeriods))
	}
	for i := range ps {
		p := &ps[i]
		if periodOK(p) {
			continue
		}
		f := fmt.Sprintf("Periods[%d]", i)
		switch {
		case p.Start.IsZero():
			bad(f+".Start", p.Start, "a dated period needs Start and End")
		case p.End.IsZero():
			bad(f+".End", p.End, "a dated period needs Start and End")
		default:
			bad(f+".End", p.End, "not after Start "+p.Start.Format(time.RFC3339Nano))
		}
	}
}

func periodsOK(ps []Period) bool {
	if len(ps) > MaxPeriods {
		return false
	}
	for i := range ps {
		if !periodOK(&ps[i]) {
			return false
		}
	}
	return true
}

// inPeriods reports whether some period holds at.
func inPeriods(ps []Period, at time.Time) bool {
	for i := range ps {
		if p := &ps[i]; !at.Before(p.Start) && at.Before(p.End) {
			return true
		}
	}
	return false
}

// periodFrom returns at if a period holds it, else the earliest period
// start after at; false if every period ended at or before at.
func periodFrom(ps []Period, at time.Time) (time.Time, bool) {
	var next time.Time
	for i := range ps {
		p := &ps[i]
		if !at.Before(p.Start) && at.Before(p.End) {
			return at, true
		}
		if p.Start.After(at) && (next.IsZero() || p.Start.Before(next)) {
			next = p.Start
		}
	}
	return next, !next.IsZero()
}

// periodBounds returns the earliest start and latest end of the periods
// (zero if there are none).
func periodBounds(ps []Period) (first, last time.Time) {
	for i := range ps {
		p := &ps[i]
		if first.IsZero() || p.Start.Before(first) {
			first = p.Start
		}
		if last.IsZero() || p.End.After(last) {
			last = p.End
		}
	}
	return first, last
}
