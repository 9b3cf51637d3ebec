package commands

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// A retried command with another dated period or another expiry after
// first use is a different command (its ID is refused as reused).
func TestSamePolicyComparesPeriodsAndFirstUse(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	base := policy.Policy{Periods: []policy.Period{{Start: t0, End: t0.Add(time.Hour)}}, AfterFirstUse: time.Hour}
	same := base
	same.Periods = []policy.Period{{Start: t0.In(time.FixedZone("x", 3600)), End: t0.Add(time.Hour)}} // decoded instants differ in location
	if !samePolicy(base, same) {
		t.Fatal("equal policies differ")
	}
	for name, edit := range map[string]func(*policy.Policy){
		"period end": func(p *policy.Policy) { p.Periods = []policy.Period{{Start: t0, End: t0.Add(2 * time.Hour)}} },
		"one more period": func(p *policy.Policy) {
			p.Periods = append(p.Periods[:1:1], policy.Period{Start: t0.Add(5 * time.Hour), End: t0.Add(6 * time.Hour)})
		},
		"no periods":      func(p *policy.Policy) { p.Periods = nil },
		"after first use": func(p *policy.Policy) { p.AfterFirstUse = 2 * time.Hour },
	} {
		other := base
		edit(&other)
		if samePolicy(base, other) {
			t.Errorf("%s: policies compare equal", name)
		}
	}
}
