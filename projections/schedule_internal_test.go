package projections

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// The schedule cache keeps at most maxSchedules keys, never replaces a
// schedule with an older one, and answers only for the settings position
// asked.
func TestScheduleCacheIsBoundedAndKeepsTheNewest(t *testing.T) {
	var c scheduleCache
	for i := range maxSchedules + 100 {
		c.put(fmt.Sprint("k", i), &schedule{at: uint64(i + 1)})
	}
	if n := len(c.m); n != maxSchedules {
		t.Fatalf("%d schedules cached, want at most %d", n, maxSchedules)
	}
	last := fmt.Sprint("k", maxSchedules+99)
	if c.get(last, maxSchedules+100) == nil {
		t.Fatal("the schedule just added was evicted")
	}
	c.put(last, &schedule{at: 3})
	if c.get(last, maxSchedules+100) == nil || c.get(last, 3) != nil {
		t.Fatal("an older schedule replaced a newer one")
	}
	c.put(last, &schedule{at: maxSchedules + 200})
	if c.get(last, maxSchedules+100) != nil || c.get(last, maxSchedules+200) == nil {
		t.Fatal("a newer schedule did not replace the older one")
	}
}

// A policy that does not compile still has the state its dates and uses
// give, and never opens.
func TestStatusOfAPolicyThatDoesNotCompile(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	r := &KeyRow{SettingsAt: 7, Settings: events.Settings{Policy: policy.Policy{Zone: "Mars/Olympus", Start: at.Add(time.Hour)}}}
	sc := compileSchedule(r)
	if sc.sched != nil {
		t.Fatal("a policy in an unknown zone compiled")
	}
	var st KeyStatus
	evalStatus(&st, sc, at)
	if st.Status != StatusUpcoming || st.InWindow || !st.NextOpen.IsZero() {
		t.Fatalf("status %+v, want UPCOMING, not in window, no next opening", st)
	}
}
