package policy_test

import (
	"fmt"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// A holiday flat's guest key: two stays, 10:00–18:00 every day during
// them. Between the stays the key is outside its dated periods, and
// NextOpen jumps to the second stay.
func ExamplePeriod() {
	day := func(d int) time.Time { return time.Date(2026, 7, d, 0, 0, 0, 0, time.UTC) }
	s, err := policy.Compile(policy.Policy{
		Periods: []policy.Period{{Start: day(3), End: day(6)}, {Start: day(17), End: day(20)}},
		Windows: []policy.Window{{Days: policy.EveryDay, From: 10 * 60, To: 18 * 60}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	at := day(10).Add(12 * time.Hour)
	next, _ := s.NextOpen(at, 0)
	fmt.Println(s.Allowed(at, 0), "- next", next.Format(time.DateTime))
	fmt.Println(s.Status(day(21), 0).State)
	// Output:
	// outside the key's dated periods - next 2026-07-17 10:00:00
	// EXPIRED
}

// A courier's key expires two hours after its first use. The model does
// not know the first use: the caller records it and decides with the
// narrowed policy.
func ExamplePolicy_FirstUsed() {
	p := policy.Policy{AfterFirstUse: 2 * time.Hour}
	first := time.Date(2026, 7, 3, 9, 15, 0, 0, time.UTC)
	q := p.FirstUsed(first)
	fmt.Println(q.End.Format(time.DateTime), q.Allowed(first.Add(2*time.Hour), 0))
	// Output: 2026-07-03 11:15:00 expired
}
