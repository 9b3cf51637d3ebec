package policy

import (
	"testing"
	"time"
)

var sinkTime time.Time
var sinkReason Reason

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

func BenchmarkAllowed(b *testing.B) {
	p := benchPolicy(b)
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReason = p.Allowed(t.Add(time.Duration(i&1023)*time.Minute), 3)
	}
}

func BenchmarkCompactAllowed(b *testing.B) {
	p := benchPolicy(b)
	c, _ := p.Compact()
	t := time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReason = c.Allowed(t.Add(time.Duration(i&1023)*time.Minute), 7200, 3)
	}
}

func BenchmarkNextOpen(b *testing.B) {
	p := benchPolicy(b)
	t := time.Date(2026, 6, 12, 19, 30, 0, 0, time.UTC) // Friday evening: next is Monday 08:00
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkTime, _ = p.NextOpen(t.Add(time.Duration(i&63)*time.Minute), 3)
	}
}

func TestAllowedAllocs(t *testing.T) {
	p := benchPolicy(t)
	at := time.Date(2026, 6, 12, 19, 30, 0, 0, time.UTC)
	if n := testing.AllocsPerRun(100, func() { sinkReason = p.Allowed(at, 3) }); n != 0 {
		t.Errorf("Allowed: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { sinkTime, _ = p.NextOpen(at, 3) }); n != 0 {
		t.Errorf("NextOpen: %v allocs", n)
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
	sinkReason = Reason(h)
}
