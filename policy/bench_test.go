package policy

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
)

var sinkTime time.Time
var sinkReason access.Reason
var sinkSchedule *Schedule

func benchPolicy(b testing.TB) Policy {
	p := Policy{Zone: "Europe/Berlin",
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		Uses:      UsesN(100),
		Windows:   []Window{{Workdays, 8 * 60, 12 * 60}, {Workdays, 13 * 60, 18 * 60}, {Days(time.Friday), 22 * 60, 2 * 60}},
		Blackouts: []Blackout{{Days: EveryDay, From: 22 * 60, To: 6 * 60}}}
	if err := p.Validate(); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchSchedule(b testing.TB) *Schedule { return mustCompile(b, benchPolicy(b)) }

// Baseline: a bare t.In(loc), the cost the Allowed target is measured against.
func BenchmarkBaselineIn(b *testing.B) {
	p := benchPolicy(b)
	loc, _ := p.Location()
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkTime = t.Add(time.Duration(i&1023) * time.Minute).In(loc)
	}
}

// Schedule.Allowed, the hot path: target <= 3x BaselineIn, 0 allocs.
func BenchmarkAllowed(b *testing.B) {
	s := benchSchedule(b)
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReason = s.Allowed(t.Add(time.Duration(i&1023)*time.Minute), 3)
	}
}

// Policy.Allowed compiles on each call: what a caller pays for not keeping
// the *Schedule.
func BenchmarkPolicyAllowed(b *testing.B) {
	p := benchPolicy(b)
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReason = p.Allowed(t.Add(time.Duration(i&1023)*time.Minute), 3)
	}
}

func BenchmarkCompile(b *testing.B) {
	p := benchPolicy(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkSchedule, _ = Compile(p)
	}
}

func BenchmarkCompactAllowed(b *testing.B) {
	c, _ := benchSchedule(b).Compact()
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReason = c.Allowed(t.Add(time.Duration(i&1023)*time.Minute), 7200, 3)
	}
}

func BenchmarkNextOpen(b *testing.B) {
	s := benchSchedule(b)
	t := time.Date(2026, 6, 12, 19, 30, 0, 0, time.UTC) // Friday evening: next is Monday 08:00
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkTime, _ = s.NextOpen(t.Add(time.Duration(i&63)*time.Minute), 3)
	}
}

// Deciding allocates nothing, compiled or not (the Policy methods compile
// into a Schedule on the stack).
func TestAllowedAllocs(t *testing.T) {
	p := benchPolicy(t)
	p.Periods = []Period{{Start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 5, 0, 0, 0, 0, time.UTC)},
		{Start: time.Date(2026, 6, 14, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC)}}
	s := mustCompile(t, p)
	at := time.Date(2026, 6, 12, 19, 30, 0, 0, time.UTC)
	for name, f := range map[string]func(){
		"Schedule.Allowed":  func() { sinkReason = s.Allowed(at, 3) },
		"Schedule.NextOpen": func() { sinkTime, _ = s.NextOpen(at, 3) },
		"Schedule.Status":   func() { sinkTime = s.Status(at, 3).Next },
		"Policy.Allowed":    func() { sinkReason = p.Allowed(at, 3) },
		"Policy.NextOpen":   func() { sinkTime, _ = p.NextOpen(at, 3) },
		"Policy.Status":     func() { sinkTime = p.Status(at, 3).Next },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}

// Baseline: t.In(loc) and reading its wall clock (t.In alone computes nothing:
// Go looks the offset up lazily).
func BenchmarkBaselineInClock(b *testing.B) {
	p := benchPolicy(b)
	loc, _ := p.Location()
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	var h int
	for i := 0; b.Loop(); i++ {
		h, _, _ = t.Add(time.Duration(i&1023) * time.Minute).In(loc).Clock()
	}
	sinkReason = access.Reason(h)
}

// Schedule.Allowed with 8 dated periods (the instant in the fifth): against
// BenchmarkAllowed, the cost of the periods.
func BenchmarkAllowedPeriods8(b *testing.B) {
	p := benchPolicy(b)
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	for d := -4; d < 4; d++ {
		s := t.AddDate(0, 0, 7*d).Add(-time.Hour)
		p.Periods = append(p.Periods, Period{Start: s, End: s.AddDate(0, 0, 3)})
	}
	s := mustCompile(b, p)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReason = s.Allowed(t.Add(time.Duration(i&1023)*time.Minute), 3)
	}
}
