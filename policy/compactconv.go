package policy

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"

	"github.com/keyledger/keyledger/access"
)

// Allowed evaluates the compact form at an instant read with the lock's UTC
// offset (seconds east), by the same wall-clock rule as Schedule.Allowed.
// A malformed form fails closed (InvalidPolicy).
func (c *Compact) Allowed(at time.Time, utcOffsetSeconds int, usesSoFar uint32) access.Reason {
	if int(c.NumWindows) > MaxCompactWindows || int(c.NumPeriods) > MaxCompactPeriods {
		return access.InvalidPolicy
	}
	u := at.Unix()
	if c.NotBefore != 0 && u < int64(c.NotBefore) {
		return access.NotYetValid
	}
	if c.NotAfter != 0 && u >= int64(c.NotAfter) {
		return access.Expired
	}
	if c.UseLimit != 0 && usesSoFar >= uint32(c.UseLimit) {
		return access.Exhausted
	}
	if c.NumPeriods != 0 && !c.inPeriods(u) {
		return access.OutsidePeriods
	}
	if c.NumWindows == 0 {
		return access.Granted
	}
	wd, m := wall(u, utcOffsetSeconds)
	for i := 0; i < int(c.NumWindows); i++ {
		w := &c.Windows[i]
		if w.Days&0x80 == 0 && covers(w.Days, w.From, w.To, wd, m) { // covers: bad minutes cover nothing
			return access.Granted
		}
	}
	return access.OutsideWindow
}

// Compact converts the schedule to the form a lock enforces offline. Weekly
// blackouts are subtracted from the windows exactly. With a nil error the
// result grants exactly when s does (given the right UTC offset). An error
// wrapping ErrLossy comes with a usable result that is strictly narrower
// (never wider); ErrNotCompact comes with a zero Compact that must not be
// issued. See doc.go for what is lost. Issuers use CompactFrom.
func (s *Schedule) Compact() (Compact, error) {
	if s == nil || s.tz == nil {
		return Compact{}, &CompactError{What: "no compiled schedule", Err: ErrNotCompact}
	}
	return s.compact(s.start, s.start)
}

// CompactFrom is Compact for a credential issued at now: validity starts no
// earlier than now (whole seconds), so absolute blackouts and dated periods
// already over cost nothing, and AfterFirstUse counts from the latest of
// now, Start and the first dated period's start (no use comes before
// them). Issuers should use it rather than Compact, with now the key's
// first issuance to the lock.
func (s *Schedule) CompactFrom(now time.Time) (Compact, error) {
	if s == nil || s.tz == nil {
		return Compact{}, &CompactError{What: "no compiled schedule", Err: ErrNotCompact}
	}
	start := s.start
	if n := now.Truncate(time.Second); start.IsZero() || start.Before(n) {
		start = n
	}
	return s.compact(start, now)
}

// Compact is Schedule.Compact for p, compiled on each call. An invalid
// policy yields a zero Compact and Validate's errors, wrapped together with
// ErrNotCompact.
func (p *Policy) Compact() (Compact, error) {
	var s Schedule
	if !p.compileTo(&s) {
		return Compact{}, notCompact(p)
	}
	return s.Compact()
}

// CompactFrom is Schedule.CompactFrom for p, compiled on each call; an
// invalid policy is refused as by Compact.
func (p *Policy) CompactFrom(now time.Time) (Compact, error) {
	var s Schedule
	if !p.compileTo(&s) {
		return Compact{}, notCompact(p)
	}
	return s.CompactFrom(now)
}

func notCompact(p *Policy) error {
	return fmt.Errorf("%w: %w", ErrNotCompact, p.Validate())
}

// compact converts s with validity starting at start, counting
// AfterFirstUse from issued (zero: unknown).
func (s *Schedule) compact(start, issued time.Time) (Compact, error) {
	var c Compact
	var lossy []string
	// Validity, in whole seconds, narrowed inward.
	var nb, na int64 // 0 = open
	if !start.IsZero() {
		nb = start.Unix()
		if start.Nanosecond() != 0 {
			nb++
		}
		if nb <= 0 {
			nb = 0 // lock time never precedes 1970: open is equivalent
		}
	}
	if !s.end.IsZero() {
		na = s.end.Unix()
		if na <= 0 {
			return Compact{}, &CompactError{What: "End before 1970", Err: ErrNotCompact}
		}
		if na > math.MaxUint32 {
			na = math.MaxUint32
			lossy = append(lossy, "End after 2106 narrowed to 2106-02-07")
		}
	}
	// Dated periods: validity shrinks to [first start, last end), exactly.
	var ps []secs
	if len(s.periods) != 0 {
		var err error
		if ps, nb, na, err = clipPeriods(s.periods, nb, na, &lossy); err != nil {
			return Compact{}, err
		}
	}
	// Expiry after first use: counted from the latest of the issuance, the
	// start and the first dated period's start, in whole seconds rounded
	// down. No use precedes any of them, so the lock's end is never later
	// than first use + N.
	if d := s.afterUse; d != 0 {
		from := s.earliestUse(start, issued)
		if from <= 0 {
			return Compact{}, &CompactError{What: "expires after first use: no issuance, Start or dated period to count from", Err: ErrNotCompact}
		}
		if e := from + int64(d/time.Second); e <= math.MaxUint32 && (na == 0 || e < na) {
			na = e
			lossy = append(lossy, "expires after first use: counted from issuance at the lock")
		}
	}
	// Absolute blackouts: narrow validity around them.
	abs := make([]Blackout, 0, len(s.blackouts))
	for _, b := range s.blackouts {
		if b.Days == 0 {
			abs = append(abs, b)
		}
	}
	sort.Slice(abs, func(i, j int) bool { return abs[i].Start.Before(abs[j].Start) })
	for _, b := range abs {
		bs, be := b.Start.Unix(), b.End.Unix()
		if b.End.Nanosecond() != 0 {
			be++
		}
		if na != 0 && bs >= na || be <= nb {
			continue // outside validity: nothing lost
		}
		if bs <= nb || nb == 0 && bs <= 0 {
			nb = be // covers the start: start later, exactly
			continue
		}
		if na == 0 || bs < na {
			na = bs // end at the blackout: narrower
			lossy = append(lossy, "absolute blackout: validity ends at its start "+b.Start.UTC().Format(time.RFC3339))
		}
	}
	if nb > math.MaxUint32 {
		return Compact{}, &CompactError{What: "Start after 2106", Err: ErrNotCompact}
	}
	if na != 0 && nb >= na {
		return Compact{}, &CompactError{What: "never valid", Err: ErrNotCompact}
	}
	if len(s.periods) != 0 {
		var err error
		if nb, na, err = c.setPeriods(ps, nb, na, &lossy); err != nil {
			return Compact{}, err
		}
	}
	c.NotBefore, c.NotAfter = uint32(nb), uint32(na)
	if s.uses.Limited { // N > 0: Compile refuses a limit of 0
		if s.uses.N > math.MaxUint16 {
			c.UseLimit = math.MaxUint16
			lossy = append(lossy, "use limit above 65535 narrowed to 65535")
		} else {
			c.UseLimit = uint16(s.uses.N)
		}
	}
	// Weekly: windows minus weekly blackouts, as a set of week minutes.
	var open weekBits
	count := 0
	for i := range open {
		open[i] = s.open[i] &^ s.black[i]
		count += bits.OnesCount64(open[i])
	}
	switch {
	case count == 0:
		return Compact{}, &CompactError{What: "no open minute in the week", Err: ErrNotCompact}
	case count == weekMinutes:
		// no weekly restriction
	default:
		ws := windowsOf(&open)
		if len(ws) > MaxCompactWindows {
			sort.SliceStable(ws, func(i, j int) bool { return ws[i].size() > ws[j].size() })
			ws = ws[:MaxCompactWindows]
			lossy = append(lossy, "more weekly windows than fit: the smallest were dropped")
		}
		c.NumWindows = uint8(len(ws))
		copy(c.Windows[:], ws)
	}
	if len(lossy) > 0 {
		what := lossy[0]
		for _, l := range lossy[1:] {
			what += "; " + l
		}
		return c, &CompactError{What: what, Err: ErrLossy}
	}
	return c, nil
}

// earliestUse is the Unix second (rounded down) before which no use of a
// credential valid from start and issued at issued (zero: unknown) can be
// granted: the latest of both and the start of the first dated period
// still open at start. 0: none known.
func (s *Schedule) earliestUse(start, issued time.Time) int64 {
	return earliestUse(start, issued, s.periods)
}

// earliestUse is Schedule.earliestUse over the dated periods given.
func earliestUse(start, issued time.Time, periods []Period) int64 {
	var from int64
	if !start.IsZero() {
		from = start.Unix()
	}
	if !issued.IsZero() {
		from = max(from, issued.Unix())
	}
	first, ok := int64(0), false
	for _, p := range periods {
		if start.IsZero() || p.End.After(start) {
			if f := p.Start.Unix(); !ok || f < first {
				first, ok = f, true
			}
		}
	}
	if ok {
		from = max(from, first)
	}
	return from
}

func (w CompactWindow) size() int {
	n := int(w.To) - int(w.From)
	if n <= 0 {
		n += MinutesPerDay
	}
	return n * bits.OnesCount8(uint8(w.Days))
}

// windowsOf splits the open week minutes into day ranges and merges ranges
// with equal [From, To) into one window with several days.
func windowsOf(s *weekBits) []CompactWindow {
	// Start scanning at a closed minute so no run wraps the scan.
	start := 0
	for s.has(uint(start)) {
		start++
	}
	type key struct{ from, to uint16 }
	var order []key
	days := map[key]Weekdays{}
	add := func(day int, from, to int) {
		k := key{uint16(from), uint16(to)}
		if _, ok := days[k]; !ok {
			order = append(order, k)
		}
		days[k] |= 1 << uint(day)
	}
	for k := 0; k < weekMinutes; {
		i := (start + k) % weekMinutes
		if !s.has(uint(i)) {
			k++
			continue
		}
		n := 0
		for k+n < weekMinutes && s.has(uint((start+k+n)%weekMinutes)) {
			n++
		}
		// Run [i, i+n): emit as day pieces; a run that crosses one midnight
		// and is shorter than a day is one midnight-crossing window.
		day, from := i/MinutesPerDay, i%MinutesPerDay
		if from+n > MinutesPerDay && n < MinutesPerDay && from > 0 {
			add(day, from, (from+n)-MinutesPerDay)
		} else {
			rem := n
			for rem > 0 {
				m := min(rem, MinutesPerDay-from)
				add(day, from, from+m)
				rem -= m
				day, from = (day+1)%7, 0
			}
		}
		k += n
	}
	out := make([]CompactWindow, 0, len(order))
	for _, k := range order {
		out = append(out, CompactWindow{Days: days[k], From: k.from, To: k.to})
	}
	return out
}

// Transition is a UTC offset in force from a Unix time on.
type Transition struct {
	At     uint32 // Unix seconds
	Offset int32  // seconds east of UTC
}

// OffsetTransitions lists the offsets of loc over [from, to): the first entry
// is the offset at from, each later one a change. It returns at most max
// entries and the instant up to which they are exact (to, or the first change
// that did not fit). Changes of name only are skipped.
func OffsetTransitions(loc *time.Location, from, to time.Time, max int) ([]Transition, time.Time) {
	if loc == nil || max <= 0 || !to.After(from) || from.Unix() < 0 || to.Unix() > math.MaxUint32 {
		return nil, from
	}
	_, off := from.In(loc).Zone()
	out := []Transition{{At: uint32(from.Unix()), Offset: int32(off)}}
	t := from
	for {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			return out, to
		}
		t = end
		_, o := t.In(loc).Zone()
		if int32(o) == out[len(out)-1].Offset {
			continue
		}
		if len(out) == max {
			return out, t
		}
		out = append(out, Transition{At: uint32(t.Unix()), Offset: int32(o)})
	}
}
