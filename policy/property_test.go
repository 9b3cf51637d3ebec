package policy

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

var testZones = []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Tokyo", "UTC"}

// DST change days of 2026 (and a quiet week), so random instants hit them.
var testBases = []time.Time{
	time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC),  // EU spring
	time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC), // EU autumn
	time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC),   // US spring
	time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC), // US autumn
	time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC),   // Lord Howe back
	time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC),  // Lord Howe forward
	time.Date(2026, 6, 12, 0, 0, 0, 0, time.UTC),
}

func drawRange(t *rapid.T, label string) (Weekdays, uint16, uint16) {
	days := Weekdays(rapid.IntRange(1, 127).Draw(t, label+"days"))
	step := rapid.SampledFrom([]int{1, 15, 30, 60}).Draw(t, label+"step")
	from := rapid.IntRange(0, 1439/step).Draw(t, label+"from") * step
	to := rapid.IntRange(1, 1440/step).Draw(t, label+"to") * step
	if to == from {
		to = (from + step) % 1440
		if to == 0 {
			to = 1440
		}
	}
	return days, uint16(from), uint16(to)
}

// drawPolicy draws a valid policy in a DST week, its compiled schedule and
// the week's base instant.
func drawPolicy(t *rapid.T) (Policy, *Schedule, time.Time) {
	zone := rapid.SampledFrom(testZones).Draw(t, "zone")
	base := rapid.SampledFrom(testBases).Draw(t, "base")
	var p Policy
	p.Zone = zone
	if rapid.Bool().Draw(t, "start") {
		p.Start = base.Add(time.Duration(rapid.IntRange(0, 7*24*60).Draw(t, "startMin")) * time.Minute)
	}
	if rapid.Bool().Draw(t, "end") {
		p.End = base.Add(time.Duration(rapid.IntRange(7*24*60+1, 14*24*60).Draw(t, "endMin")) * time.Minute)
	}
	if rapid.Bool().Draw(t, "limited") {
		p.Uses = UsesN(uint32(rapid.IntRange(1, 5).Draw(t, "n")))
	}
	for i := rapid.IntRange(0, 3).Draw(t, "windows"); i > 0; i-- {
		d, f, to := drawRange(t, "w")
		p.Windows = append(p.Windows, Window{Days: d, From: f, To: to})
	}
	for i := rapid.IntRange(0, 2).Draw(t, "weeklyBlackouts"); i > 0; i-- {
		d, f, to := drawRange(t, "b")
		p.Blackouts = append(p.Blackouts, Blackout{Days: d, From: f, To: to})
	}
	if rapid.Bool().Draw(t, "absBlackout") {
		s := base.Add(time.Duration(rapid.IntRange(0, 10*24*60).Draw(t, "absStart")) * time.Minute)
		p.Blackouts = append(p.Blackouts, Blackout{Start: s, End: s.Add(time.Duration(rapid.IntRange(1, 3*24*60).Draw(t, "absLen")) * time.Minute)})
	}
	p.Periods = drawPeriods(t, base)
	s, err := Compile(p)
	if err != nil {
		t.Fatalf("drawn policy invalid: %v", err)
	}
	return p, s, base
}

// drawPeriods draws 0..5 dated periods (half the time none) in the two
// weeks from base, some overlapping, some with seconds.
func drawPeriods(t *rapid.T, base time.Time) []Period {
	var ps []Period
	if !rapid.Bool().Draw(t, "periods") {
		return nil
	}
	for i := rapid.IntRange(1, 5).Draw(t, "nPeriods"); i > 0; i-- {
		s := base.Add(time.Duration(rapid.IntRange(-24*60, 13*24*60).Draw(t, "pStart")) * time.Minute)
		if rapid.IntRange(0, 3).Draw(t, "pSec") == 0 {
			s = s.Add(time.Duration(rapid.IntRange(1, 59).Draw(t, "pSecs")) * time.Second)
		}
		ps = append(ps, Period{Start: s, End: s.Add(time.Duration(rapid.IntRange(1, 4*24*60).Draw(t, "pLen")) * time.Minute)})
	}
	return ps
}

// naive is an independent evaluation: calendar fields of t.In(loc).
func naive(p *Policy, at time.Time, uses uint32) bool {
	if !p.Start.IsZero() && at.Before(p.Start) || !p.End.IsZero() && !at.Before(p.End) {
		return false
	}
	inPeriod := len(p.Periods) == 0
	for _, q := range p.Periods {
		inPeriod = inPeriod || !at.Before(q.Start) && at.Before(q.End)
	}
	if !inPeriod {
		return false
	}
	if p.Uses.Limited && uses >= p.Uses.N {
		return false
	}
	loc, _ := LoadZone(p.Zone)
	lt := at.In(loc)
	wd, m := lt.Weekday(), lt.Hour()*60+lt.Minute()
	yesterday := lt.AddDate(0, 0, -1).Weekday()
	in := func(days Weekdays, from, to uint16) bool {
		if from < to {
			return days&(1<<uint(wd)) != 0 && m >= int(from) && m < int(to)
		}
		return days&(1<<uint(wd)) != 0 && m >= int(from) || days&(1<<uint(yesterday)) != 0 && m < int(to)
	}
	ok := len(p.Windows) == 0
	for _, w := range p.Windows {
		ok = ok || in(w.Days, w.From, w.To)
	}
	for _, b := range p.Blackouts {
		if b.Days != 0 && in(b.Days, b.From, b.To) || b.Days == 0 && !at.Before(b.Start) && at.Before(b.End) {
			ok = false
		}
	}
	return ok
}

// The compiled schedule decides as the calendar fields say, and the
// Policy's convenience method gives the same reason.
func TestPropAllowedMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, s, base := drawPolicy(t)
		uses := uint32(rapid.IntRange(0, 6).Draw(t, "uses"))
		for i := 0; i < 50; i++ {
			at := base.Add(time.Duration(rapid.IntRange(-24*60, 15*24*60).Draw(t, "at")) * time.Minute)
			r := s.Allowed(at, uses)
			if got, want := r == access.Granted, naive(&p, at, uses); got != want {
				t.Fatalf("at %v (%v): Allowed %v (%v), naive %v", at, at.In(s.Location()), got, r, want)
			}
			if pr := p.Allowed(at, uses); pr != r {
				t.Fatalf("at %v: Policy.Allowed %v, Schedule.Allowed %v", at, pr, r)
			}
		}
	})
}

func TestPropNextOpenIsFirstOpenMinute(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, s, base := drawPolicy(t)
		uses := uint32(rapid.IntRange(0, 6).Draw(t, "uses"))
		from := base.Add(time.Duration(rapid.IntRange(-24*60, 10*24*60).Draw(t, "from")) * time.Minute)
		const horizon = 9 * 24 * 60
		var want time.Time
		for m := 0; m <= horizon; m++ {
			if c := from.Add(time.Duration(m) * time.Minute); s.Allowed(c, uses) == access.Granted {
				want = c
				break
			}
		}
		for _, q := range p.Periods { // a period may start between whole minutes
			if !q.Start.Before(from) && !q.Start.After(from.Add(horizon*time.Minute)) &&
				(want.IsZero() || q.Start.Before(want)) && s.Allowed(q.Start, uses) == access.Granted {
				want = q.Start
			}
		}
		got, ok := s.NextOpen(from, uses)
		if pg, pok := p.NextOpen(from, uses); pok != ok || !pg.Equal(got) {
			t.Fatalf("Policy.NextOpen %v %v, Schedule.NextOpen %v %v", pg, pok, got, ok)
		}
		if want.IsZero() {
			if ok && !got.After(from.Add(horizon*time.Minute)) {
				t.Fatalf("NextOpen %v, brute force none within horizon", got)
			}
			return
		}
		if !ok || !got.Equal(want) {
			t.Fatalf("NextOpen(%v) = %v %v, brute force %v (%v)", from, got, ok, want, want.In(s.Location()))
		}
	})
}

func TestPropCompactAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, s, base := drawPolicy(t)
		c, err := s.Compact()
		if pc, perr := p.Compact(); pc != c || (perr == nil) != (err == nil) {
			t.Fatalf("Policy.Compact %+v %v, Schedule.Compact %+v %v", pc, perr, c, err)
		}
		if err != nil {
			t.Skip("lossy")
		}
		uses := uint32(rapid.IntRange(0, 6).Draw(t, "uses"))
		for i := 0; i < 50; i++ {
			at := base.Add(time.Duration(rapid.IntRange(-24*60, 15*24*60).Draw(t, "at")) * time.Minute)
			_, off := at.In(s.Location()).Zone()
			if got, want := c.Allowed(at, off, uses) == access.Granted, s.Allowed(at, uses) == access.Granted; got != want {
				t.Fatalf("at %v: compact %v (%+v), policy %v", at.In(s.Location()), c.Allowed(at, off, uses), c, s.Allowed(at, uses))
			}
		}
	})
}

// A lossy compact form never grants where the policy refuses.
func TestPropCompactNeverWider(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, _, base := drawPolicy(t)
		for i := rapid.IntRange(0, 4).Draw(t, "extra"); i > 0; i-- {
			d, f, to := drawRange(t, "x")
			p.Windows = append(p.Windows, Window{Days: d, From: f, To: to})
		}
		s, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Compact()
		if err != nil && c == (Compact{}) {
			return
		}
		uses := uint32(rapid.IntRange(0, 6).Draw(t, "uses"))
		for i := 0; i < 50; i++ {
			at := base.Add(time.Duration(rapid.IntRange(-24*60, 15*24*60).Draw(t, "at")) * time.Minute)
			_, off := at.In(s.Location()).Zone()
			if c.Allowed(at, off, uses) == access.Granted && s.Allowed(at, uses) != access.Granted {
				t.Fatalf("at %v: compact grants (%+v, %v), policy %v", at.In(s.Location()), c, err, s.Allowed(at, uses))
			}
		}
	})
}

// The lock's view: offsets from an OffsetTransitions table, then
// Compact.Allowed — agrees with Schedule.Allowed for lossless policies.
func TestPropLockWithTransitionTable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, s, base := drawPolicy(t)
		c, err := s.Compact()
		if err != nil {
			t.Skip("lossy")
		}
		table, until := OffsetTransitions(s.Location(), base.Add(-48*time.Hour), base.Add(20*24*time.Hour), 8)
		for i := 0; i < 50; i++ {
			at := base.Add(time.Duration(rapid.IntRange(-24*60*60, 15*24*60*60).Draw(t, "atSec")) * time.Second)
			if !at.Before(until) {
				continue
			}
			off := 0
			for _, tr := range table {
				if at.Unix() >= int64(tr.At) {
					off = int(tr.Offset)
				}
			}
			if (c.Allowed(at, off, 0) == access.Granted) != (s.Allowed(at, 0) == access.Granted) {
				t.Fatalf("at %v offset %d: lock %v, policy %v", at.In(s.Location()), off, c.Allowed(at, off, 0), s.Allowed(at, 0))
			}
		}
	})
}

// NextOpen from an instant with seconds and nanoseconds.
func TestPropNextOpenSubMinute(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, s, base := drawPolicy(t)
		from := base.Add(time.Duration(rapid.Int64Range(0, int64(10*24*time.Hour)).Draw(t, "fromNs")))
		got, ok := s.NextOpen(from, 0)
		if !ok {
			return
		}
		if got.Before(from) || s.Allowed(got, 0) != access.Granted {
			t.Fatalf("NextOpen(%v) = %v: before from or not allowed (%v)", from, got, s.Allowed(got, 0))
		}
		// Nothing open between from and got: check whole seconds and from itself.
		if got.After(from) && s.Allowed(from, 0) == access.Granted {
			t.Fatalf("from %v is open but NextOpen = %v", from, got)
		}
		for m := from.Truncate(time.Minute).Add(time.Minute); m.Before(got); m = m.Add(time.Minute) {
			if s.Allowed(m, 0) == access.Granted {
				t.Fatalf("open at %v before NextOpen %v", m, got)
			}
		}
	})
}

// Validate, Compile and the allocation-free check behind the Policy
// methods agree on every policy, valid or not: the same verdict and, for
// Compile, the same errors.
func TestPropValidityAgrees(t *testing.T) {
	edgeMinutes := rapid.OneOf(rapid.IntRange(0, MinutesPerDay), rapid.SampledFrom([]int{0, 1, 1439, 1440, 1441, 1500, 65535}))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	instant := func(t *rapid.T, label string) time.Time {
		if rapid.IntRange(0, 4).Draw(t, label+"Zero") == 0 {
			return time.Time{}
		}
		return t0.Add(time.Duration(rapid.IntRange(-3, 3).Draw(t, label)) * time.Hour)
	}
	rapid.Check(t, func(t *rapid.T) {
		p := Policy{Start: instant(t, "start"), End: instant(t, "end"),
			Uses: Uses{Limited: rapid.Bool().Draw(t, "limited"), N: uint32(rapid.IntRange(0, 2).Draw(t, "n"))},
			Zone: rapid.SampledFrom([]string{"", "UTC", "Europe/Berlin", "Local", "Mars/Olympus"}).Draw(t, "zone")}
		for i := rapid.IntRange(0, 2).Draw(t, "windows"); i > 0; i-- {
			p.Windows = append(p.Windows, Window{Days: Weekdays(rapid.Uint8().Draw(t, "wdays")),
				From: uint16(edgeMinutes.Draw(t, "wfrom")), To: uint16(edgeMinutes.Draw(t, "wto"))})
		}
		for i := rapid.IntRange(0, 2).Draw(t, "blackouts"); i > 0; i-- {
			p.Blackouts = append(p.Blackouts, Blackout{Days: Weekdays(rapid.SampledFrom([]uint8{0, 0, 1, 0x7f, 0x80}).Draw(t, "bdays")),
				From: uint16(edgeMinutes.Draw(t, "bfrom")), To: uint16(edgeMinutes.Draw(t, "bto")),
				Start: instant(t, "bstart"), End: instant(t, "bend")})
		}
		for i := rapid.IntRange(0, 2).Draw(t, "periods"); i > 0; i-- {
			p.Periods = append(p.Periods, Period{Start: instant(t, "pstart"), End: instant(t, "pend")})
		}
		if rapid.Bool().Draw(t, "manyPeriods") {
			for range MaxPeriods {
				p.Periods = append(p.Periods, Period{Start: t0, End: t0.Add(time.Hour)})
			}
		}
		p.AfterFirstUse = rapid.SampledFrom([]time.Duration{0, 0, time.Minute, 90 * time.Second, -time.Hour, time.Second,
			2 * time.Hour, MaxAfterFirstUse, MaxAfterFirstUse + time.Minute}).Draw(t, "afterFirstUse")
		verr := p.Validate()
		_, ok := p.valid()
		if ok != (verr == nil) {
			t.Fatalf("valid %v, Validate %v", ok, verr)
		}
		s, cerr := Compile(p)
		if (s == nil) != (verr != nil) || fmt.Sprint(cerr) != fmt.Sprint(verr) {
			t.Fatalf("Compile %v %v, Validate %v", s != nil, cerr, verr)
		}
		if verr != nil {
			now := t0.Add(time.Minute)
			if r := p.Allowed(now, 0); r != access.InvalidPolicy {
				t.Fatalf("invalid policy (%v): Allowed %v, want InvalidPolicy", verr, r)
			}
			if _, ok := p.NextOpen(now, 0); ok {
				t.Fatalf("invalid policy (%v): NextOpen found an instant", verr)
			}
			if c, err := p.Compact(); c != (Compact{}) || !errors.Is(err, ErrNotCompact) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("invalid policy: Compact %+v %v", c, err)
			}
		}
	})
}
