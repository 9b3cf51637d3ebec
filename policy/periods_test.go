package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

var (
	pJun1 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pJun3 = time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC)
	pJun8 = time.Date(2026, 6, 8, 0, 0, 0, 0, time.UTC)
	pJun9 = time.Date(2026, 6, 9, 0, 0, 0, 0, time.UTC)
)

func twoPeriods() Policy {
	return Policy{Periods: []Period{{pJun8, pJun9}, {pJun1, pJun3}}} // unsorted on purpose
}

func TestValidatePeriodsAndAfterFirstUse(t *testing.T) {
	many := make([]Period, MaxPeriods+1)
	for i := range many {
		many[i] = Period{pJun1, pJun3}
	}
	for _, c := range []struct {
		name  string
		p     Policy
		field string // "" = valid
	}{
		{"two periods", twoPeriods(), ""},
		{"max periods", Policy{Periods: many[:MaxPeriods]}, ""},
		{"too many periods", Policy{Periods: many}, "Periods"},
		{"no start", Policy{Periods: []Period{{End: pJun3}}}, "Periods[0].Start"},
		{"no end", Policy{Periods: []Period{{pJun1, pJun3}, {Start: pJun1}}}, "Periods[1].End"},
		{"empty", Policy{Periods: []Period{{pJun3, pJun3}}}, "Periods[0].End"},
		{"inverted", Policy{Periods: []Period{{pJun3, pJun1}}}, "Periods[0].End"},
		{"after first use 1m", Policy{AfterFirstUse: time.Minute}, ""},
		{"after first use 366d", Policy{AfterFirstUse: MaxAfterFirstUse}, ""},
		{"after first use 59s", Policy{AfterFirstUse: 59 * time.Second}, "AfterFirstUse"},
		{"after first use 90s", Policy{AfterFirstUse: 90 * time.Second}, "AfterFirstUse"},
		{"after first use negative", Policy{AfterFirstUse: -time.Hour}, "AfterFirstUse"},
		{"after first use 367d", Policy{AfterFirstUse: MaxAfterFirstUse + 24*time.Hour}, "AfterFirstUse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want a *ValidationError on %s", err, c.field)
			}
			if r := c.p.Allowed(pJun1, 0); r != access.InvalidPolicy {
				t.Fatalf("invalid policy allowed: %v", r)
			}
		})
	}
}

func TestAllowedPeriods(t *testing.T) {
	p := twoPeriods()
	p.End = pJun9.Add(-time.Hour)
	p.Uses = SingleUse
	p.Windows = []Window{{Days: EveryDay, From: 8 * 60, To: 18 * 60}}
	s := mustCompile(t, p)
	at := func(d time.Time, h int) time.Time { return d.Add(time.Duration(h) * time.Hour) }
	for _, c := range []struct {
		at   time.Time
		uses uint32
		want access.Reason
	}{
		{at(pJun1, 9), 0, access.Granted},
		{at(pJun1, 7), 0, access.OutsideWindow},
		{at(pJun3, -15), 0, access.Granted}, // 2 June 09:00
		{at(pJun3, 9), 0, access.OutsidePeriods},
		{at(pJun3, 2), 0, access.OutsidePeriods},  // between the periods and outside the window: periods first
		{at(pJun3, 9), 1, access.Exhausted},       // the use limit before the periods
		{at(pJun8, 9), 0, access.Granted},         // second period
		{at(pJun8, 23), 0, access.Expired},        // End before the period's end
		{at(pJun1, -1), 0, access.OutsidePeriods}, // before the first period (validity open)
		{at(pJun9, 9), 0, access.Expired},
	} {
		if got := s.Allowed(c.at, c.uses); got != c.want {
			t.Errorf("Allowed(%v, %d) = %v, want %v", c.at, c.uses, got, c.want)
		}
	}
}

func TestNextOpenAndStatusWithPeriods(t *testing.T) {
	p := twoPeriods()
	p.Windows = []Window{{Days: EveryDay, From: 8 * 60, To: 18 * 60}}
	s := mustCompile(t, p)
	for _, c := range []struct {
		from  time.Time
		want  time.Time // zero: none
		state State
	}{
		{pJun1.Add(-72 * time.Hour), pJun1.Add(8 * time.Hour), StateUpcoming},
		{pJun3.Add(-5 * time.Hour), pJun8.Add(8 * time.Hour), StateActive}, // 2 June 19:00: next period
		{pJun3.Add(48 * time.Hour), pJun8.Add(8 * time.Hour), StateActive},
		{pJun8.Add(19 * time.Hour), time.Time{}, StateActive}, // after the last opening
		{pJun9, time.Time{}, StateExpired},                    // after the last period
	} {
		got, ok := s.NextOpen(c.from, 0)
		if ok != !c.want.IsZero() || ok && !got.Equal(c.want) {
			t.Errorf("NextOpen(%v) = %v %v, want %v", c.from, got, ok, c.want)
		}
		st := s.Status(c.from, 0)
		if st.State != c.state || !st.Next.Equal(c.want) {
			t.Errorf("Status(%v) = %+v, want state %v next %v", c.from, st, c.state, c.want)
		}
	}
}

func TestFirstUsed(t *testing.T) {
	use := pJun1.Add(10 * time.Hour)
	for _, c := range []struct {
		name string
		p    Policy
		end  time.Time
	}{
		{"no limit stays", Policy{End: pJun9}, pJun9},
		{"open end", Policy{AfterFirstUse: 2 * time.Hour}, use.Add(2 * time.Hour)},
		{"earlier than End", Policy{End: pJun9, AfterFirstUse: 2 * time.Hour}, use.Add(2 * time.Hour)},
		{"End earlier", Policy{End: use.Add(time.Hour), AfterFirstUse: 2 * time.Hour}, use.Add(time.Hour)},
	} {
		q := c.p.FirstUsed(use)
		if !q.End.Equal(c.end) || q.AfterFirstUse != 0 {
			t.Errorf("%s: FirstUsed = End %v AfterFirstUse %v, want End %v", c.name, q.End, q.AfterFirstUse, c.end)
		}
	}
	// Before the first use, AfterFirstUse restricts nothing; after it, the
	// narrowed policy refuses at first use + N.
	p := Policy{AfterFirstUse: 2 * time.Hour}
	if r := p.Allowed(pJun9, 0); r != access.Granted {
		t.Fatalf("before first use: %v", r)
	}
	q := p.FirstUsed(use)
	if r := q.Allowed(use.Add(2*time.Hour-time.Second), 0); r != access.Granted {
		t.Fatalf("inside N after first use: %v", r)
	}
	if r := q.Allowed(use.Add(2*time.Hour), 0); r != access.Expired {
		t.Fatalf("at first use + N: %v", r)
	}
}

func TestCompactPeriods(t *testing.T) {
	t.Run("two exact", func(t *testing.T) {
		p := twoPeriods()
		c, err := p.Compact()
		if err != nil {
			t.Fatal(err)
		}
		want := Compact{NotBefore: uint32(pJun1.Unix()), NotAfter: uint32(pJun9.Unix()), NumPeriods: 2}
		want.Periods[0] = CompactPeriod{uint32(pJun1.Unix()), uint32(pJun3.Unix())}
		want.Periods[1] = CompactPeriod{uint32(pJun8.Unix()), uint32(pJun9.Unix())}
		if c != want {
			t.Fatalf("Compact = %+v, want %+v", c, want)
		}
		if r := c.Allowed(pJun3.Add(time.Hour), 0, 0); r != access.OutsidePeriods {
			t.Fatalf("between periods at the lock: %v", r)
		}
	})
	t.Run("one folded into validity", func(t *testing.T) {
		p := twoPeriods()
		c, err := p.CompactFrom(pJun3.Add(time.Hour)) // the first is over
		if err != nil || c.NumPeriods != 0 || c.NotBefore != uint32(pJun8.Unix()) || c.NotAfter != uint32(pJun9.Unix()) {
			t.Fatalf("CompactFrom = %+v %v", c, err)
		}
	})
	t.Run("merged", func(t *testing.T) {
		p := Policy{Periods: []Period{{pJun1, pJun3}, {pJun3, pJun8}, {pJun1.Add(time.Hour), pJun3.Add(time.Hour)}}}
		c, err := p.Compact()
		if err != nil || c.NumPeriods != 0 || c.NotBefore != uint32(pJun1.Unix()) || c.NotAfter != uint32(pJun8.Unix()) {
			t.Fatalf("Compact = %+v %v", c, err)
		}
	})
	t.Run("more than fit: from now on, narrower", func(t *testing.T) {
		var p Policy
		for d := range 6 { // 1..6 June, 10:00-12:00
			s := pJun1.AddDate(0, 0, d).Add(10 * time.Hour)
			p.Periods = append(p.Periods, Period{s, s.Add(2 * time.Hour)})
		}
		now := pJun1.AddDate(0, 0, 1).Add(11 * time.Hour) // inside the second
		c, err := p.CompactFrom(now)
		var ce *CompactError
		if !errors.Is(err, ErrLossy) || !errors.As(err, &ce) || !strings.Contains(ce.What, "dated periods") {
			t.Fatalf("CompactFrom err = %v", err)
		}
		if c.NumPeriods != 3 || c.Periods[0].From != uint32(now.Unix()) || c.Periods[2].From != uint32(pJun1.AddDate(0, 0, 3).Add(10*time.Hour).Unix()) ||
			c.NotAfter != c.Periods[2].To {
			t.Fatalf("CompactFrom = %+v", c)
		}
	})
	t.Run("none left", func(t *testing.T) {
		p := twoPeriods()
		_, err := p.CompactFrom(pJun9)
		if !errors.Is(err, ErrNotCompact) {
			t.Fatalf("after every period: %v", err)
		}
	})
}

func TestCompactAfterFirstUse(t *testing.T) {
	issued := pJun1.Add(30 * time.Minute)
	p := Policy{End: pJun9, AfterFirstUse: 2 * time.Hour}
	c, err := p.CompactFrom(issued)
	var ce *CompactError
	if !errors.As(err, &ce) || !errors.Is(err, ErrLossy) || ce.What != "expires after first use: counted from issuance at the lock" {
		t.Fatalf("CompactFrom err = %v", err)
	}
	if c.NotAfter != uint32(issued.Add(2*time.Hour).Unix()) {
		t.Fatalf("NotAfter %d, want issuance + 2h", c.NotAfter)
	}
	// An End before issuance + N loses nothing.
	p.End = issued.Add(time.Hour)
	if c, err := p.CompactFrom(issued); err != nil || c.NotAfter != uint32(p.End.Unix()) {
		t.Fatalf("End first: %+v %v", c, err)
	}
	// Without an issuance or Start there is nothing to count from.
	if _, err := (&Policy{AfterFirstUse: time.Hour}).Compact(); !errors.Is(err, ErrNotCompact) {
		t.Fatalf("Compact without Start: %v", err)
	}
}

// The lock's form of a policy with AfterFirstUse, issued at some instant,
// never grants where the policy narrowed at any first use after the
// issuance refuses.
func TestPropCompactAfterFirstUseNeverWider(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, _, base := drawPolicy(t)
		p.AfterFirstUse = time.Duration(rapid.IntRange(1, 5*24*60).Draw(t, "afterMin")) * time.Minute
		issued := base.Add(time.Duration(rapid.IntRange(-24*60, 5*24*60).Draw(t, "issuedMin")) * time.Minute)
		c, err := p.CompactFrom(issued)
		if errors.Is(err, ErrNotCompact) {
			return
		}
		first := issued.Add(time.Duration(rapid.IntRange(0, 5*24*60).Draw(t, "firstMin")) * time.Minute)
		if !possibleFirstUse(t, p, &c, first) {
			return
		}
		s, cerr := Compile(p.FirstUsed(first))
		if cerr != nil {
			t.Fatal(cerr)
		}
		for i := 0; i < 50; i++ {
			at := first.Add(time.Duration(rapid.IntRange(0, 10*24*60).Draw(t, "at")) * time.Minute)
			_, off := at.In(s.Location()).Zone()
			if c.Allowed(at, off, 0) == access.Granted && s.Allowed(at, 0) != access.Granted {
				t.Fatalf("at %v: lock grants (%+v, %v), policy after first use %v: %v", at, c, err, first, s.Allowed(at, 0))
			}
		}
	})
}

// possibleFirstUse reports whether a first use at at could be granted:
// online by p (AfterFirstUse restricts nothing before it) or at the lock
// by c.
func possibleFirstUse(t *rapid.T, p Policy, c *Compact, at time.Time) bool {
	s, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, off := at.In(s.Location()).Zone()
	return s.Allowed(at, 0) == access.Granted || c.Allowed(at, off, 0) == access.Granted
}

// A start or a dated period later than the issuance: the lock's end
// counts from it (no use comes earlier), not from the issuance, so the
// key is valid at the lock for N from then.
func TestCompactFromAfterFirstUseCountsFromLaterStart(t *testing.T) {
	now := pJun1
	week := 7 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		p    Policy
		from time.Time
	}{
		{"Start", Policy{Start: now.Add(week), End: now.Add(2 * week), AfterFirstUse: 24 * time.Hour}, now.Add(week)},
		{"first period", Policy{Periods: []Period{{Start: now.Add(week), End: now.Add(week + 48*time.Hour)}}, AfterFirstUse: 24 * time.Hour}, now.Add(week)},
		{"issuance", Policy{Start: now.Add(-week), AfterFirstUse: 24 * time.Hour}, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.p.CompactFrom(now)
			if !errors.Is(err, ErrLossy) {
				t.Fatalf("CompactFrom: %+v, %v; want a narrower form", c, err)
			}
			if c.NotBefore != uint32(tc.from.Unix()) || c.NotAfter != uint32(tc.from.Add(24*time.Hour).Unix()) {
				t.Fatalf("valid [%d, %d), want [%d, +24h)", c.NotBefore, c.NotAfter, tc.from.Unix())
			}
		})
	}
}

// CompactFrom never grants where the policy, narrowed at any possible
// first use, refuses: checked at every edge (to the nanosecond) of
// periods with sub-second bounds, blackouts and the result itself.
func TestPropCompactFromAfterFirstUseNeverWiderAtEdges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, _, base := drawPolicy(t)
		for i := rapid.IntRange(0, 5).Draw(t, "extraPeriods"); i > 0; i-- {
			s := base.Add(time.Duration(rapid.Int64Range(-86400e9, 14*86400e9).Draw(t, "periodStart")))
			p.Periods = append(p.Periods, Period{Start: s, End: s.Add(time.Duration(rapid.Int64Range(1, 3*86400e9).Draw(t, "periodLen")))})
		}
		if len(p.Periods) > MaxPeriods {
			p.Periods = p.Periods[:MaxPeriods]
		}
		if rapid.Bool().Draw(t, "afterFirstUse") {
			p.AfterFirstUse = time.Duration(rapid.IntRange(1, 3*24*60).Draw(t, "afterMin")) * time.Minute
		}
		s, err := Compile(p)
		if err != nil {
			return // an invalid draw (overlapping periods)
		}
		now := base.Add(time.Duration(rapid.Int64Range(-86400e9, 10*86400e9).Draw(t, "now")))
		c, cerr := s.CompactFrom(now)
		if errors.Is(cerr, ErrNotCompact) {
			return
		}
		first := now.Add(time.Duration(rapid.Int64Range(0, 5*86400e9).Draw(t, "first")))
		ref := p
		if p.AfterFirstUse != 0 {
			if !possibleFirstUse(t, p, &c, first) {
				return
			}
			ref = p.FirstUsed(first)
		}
		rs, err := Compile(ref)
		if err != nil {
			t.Fatal(err)
		}
		var edges []time.Time
		for _, q := range p.Periods {
			edges = append(edges, q.Start, q.End)
		}
		for _, b := range p.Blackouts {
			if b.Days == 0 {
				edges = append(edges, b.Start, b.End)
			}
		}
		edges = append(edges, time.Unix(int64(c.NotBefore), 0), time.Unix(int64(c.NotAfter), 0))
		for i := 0; i < int(c.NumPeriods); i++ {
			edges = append(edges, time.Unix(int64(c.Periods[i].From), 0), time.Unix(int64(c.Periods[i].To), 0))
		}
		check := func(at time.Time) {
			if p.AfterFirstUse != 0 && at.Before(first) {
				return
			}
			_, off := at.In(s.Location()).Zone()
			if c.Allowed(at, off, 0) == access.Granted && rs.Allowed(at, 0) != access.Granted {
				t.Fatalf("at %v: the lock grants (%+v, %v), the policy %v", at, c, cerr, rs.Allowed(at, 0))
			}
		}
		for _, e := range edges {
			for _, d := range []time.Duration{-time.Second, -time.Nanosecond, 0, time.Nanosecond, time.Second / 2, time.Second} {
				check(e.Add(d))
			}
		}
		for i := 0; i < 100; i++ {
			check(base.Add(time.Duration(rapid.Int64Range(-86400e9, 15*86400e9).Draw(t, "at"))))
		}
	})
}

// EarliestUse: the latest of the issuance, Start and the first dated
// period still open at Start, in whole seconds; CompactFrom counts an
// expiry after first use from the same instant.
func TestEarliestUse(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 500, time.UTC)
	day := 24 * time.Hour
	for _, c := range []struct {
		name string
		p    Policy
		want time.Time
	}{
		{"issuance", Policy{AfterFirstUse: time.Hour}, t0.Truncate(time.Second)},
		{"a later Start", Policy{Start: t0.Add(7 * day), AfterFirstUse: time.Hour}, t0.Add(7 * day).Truncate(time.Second)},
		{"a later first period", Policy{Periods: []Period{{Start: t0.Add(3 * day), End: t0.Add(4 * day)}, {Start: t0.Add(9 * day), End: t0.Add(10 * day)}}},
			t0.Add(3 * day).Truncate(time.Second)},
		{"a period over before Start", Policy{Start: t0.Add(5 * day), Periods: []Period{{Start: t0.Add(3 * day), End: t0.Add(4 * day)}, {Start: t0.Add(9 * day), End: t0.Add(10 * day)}}},
			t0.Add(9 * day).Truncate(time.Second)},
	} {
		if got := c.p.EarliestUse(t0); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if c.p.AfterFirstUse == 0 {
			continue
		}
		cp, err := c.p.CompactFrom(t0)
		if err != nil && !errors.Is(err, ErrLossy) {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want := uint32(c.want.Add(c.p.AfterFirstUse).Unix()); cp.NotAfter != want {
			t.Errorf("%s: CompactFrom ends at %d, want EarliestUse + AfterFirstUse %d", c.name, cp.NotAfter, want)
		}
	}
}
