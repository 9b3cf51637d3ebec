package commands

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

// schedulePolicy is the decision as the policy states it: the key's policy,
// then the same policy with the lock-wide blackouts added.
func schedulePolicy(p policy.Policy, lock []policy.Blackout, now time.Time, uses uint32) access.Reason {
	if r := p.Allowed(now, uses); r != access.Granted {
		return r
	}
	if len(lock) > 0 {
		if withLock := p.WithBlackouts(lock); withLock.Allowed(now, uses) != access.Granted {
			return access.LockBlackout
		}
	}
	return access.Granted
}

var ruleBase = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func drawWeekly(t *rapid.T, label string) (policy.Weekdays, uint16, uint16) {
	days := policy.Weekdays(rapid.IntRange(0, 127).Draw(t, label+"Days")) // 0: invalid now and then
	from := uint16(rapid.IntRange(0, 96).Draw(t, label+"From") * 15)
	to := uint16(rapid.IntRange(0, 96).Draw(t, label+"To") * 15) // From == To or 1440 < From: invalid
	return days, from, to
}

func drawBlackouts(t *rapid.T, label string) []policy.Blackout {
	var bs []policy.Blackout
	for i := rapid.IntRange(0, 3).Draw(t, label); i > 0; i-- {
		if rapid.Bool().Draw(t, label+"Weekly") {
			d, f, to := drawWeekly(t, label)
			bs = append(bs, policy.Blackout{Days: d, From: f, To: to})
			continue
		}
		start := ruleBase.Add(time.Duration(rapid.IntRange(0, 14*24).Draw(t, label+"Start")) * time.Hour)
		bs = append(bs, policy.Blackout{Start: start, End: start.Add(time.Duration(rapid.IntRange(1, 72).Draw(t, label+"Hours")) * time.Hour)})
	}
	return bs
}

// decideSchedule, with both schedules compiled once and kept with the
// folded states, decides as the policy does, for any key policy, lock-wide
// blackouts (valid or not), zones (the key's the lock's or not), instants
// and uses; an edit of either is decided on the new one.
func TestDecideScheduleIsThePolicyWithTheLockBlackouts(t *testing.T) {
	zones := []string{"Europe/Berlin", "", "America/New_York", "Mars/Olympus"}
	rapid.Check(t, func(t *rapid.T) {
		lockZone := rapid.SampledFrom(zones[:3]).Draw(t, "lockZone")
		l := &LockState{}
		l.evolve(ledger.Event{Data: events.LockRegistered{Lock: "front", Zone: lockZone, Slots: 2}})
		k := &KeyState{}
		for i := range rapid.IntRange(1, 3).Draw(t, "edits") {
			p := policy.Policy{Zone: lockZone}
			if rapid.Bool().Draw(t, "otherZone") {
				p.Zone = rapid.SampledFrom(zones).Draw(t, "zone")
			}
			if rapid.Bool().Draw(t, "start") {
				p.Start = ruleBase.Add(time.Duration(rapid.IntRange(0, 7*24).Draw(t, "startHour")) * time.Hour)
			}
			if rapid.Bool().Draw(t, "end") {
				p.End = ruleBase.Add(time.Duration(rapid.IntRange(1, 14*24).Draw(t, "endHour")) * time.Hour)
			}
			if rapid.Bool().Draw(t, "limited") {
				p.Uses = policy.UsesN(uint32(rapid.IntRange(0, 4).Draw(t, "n")))
			}
			for j := rapid.IntRange(0, 3).Draw(t, "windows"); j > 0; j-- {
				d, f, to := drawWeekly(t, "window")
				p.Windows = append(p.Windows, policy.Window{Days: d, From: f, To: to})
			}
			p.Blackouts = drawBlackouts(t, "keyBlackouts")
			if i == 0 {
				k.evolve(ledger.Event{Data: events.KeyCreated{Key: "k", Lock: "front", Settings: events.Settings{Policy: p}}})
			} else {
				k = k.clone().(*KeyState)
				k.evolve(ledger.Event{Data: events.KeyEdited{Key: "k", Settings: events.Settings{Policy: p}}})
			}
			l = l.clone().(*LockState)
			l.evolve(ledger.Event{Data: events.LockBlackoutsSet{Lock: "front", Blackouts: drawBlackouts(t, "lockBlackouts")}})
			for range rapid.IntRange(1, 24).Draw(t, "instants") {
				at := ruleBase.Add(time.Duration(rapid.IntRange(-24*60, 16*24*60).Draw(t, "minute")) * time.Minute)
				uses := uint32(rapid.IntRange(0, 5).Draw(t, "uses"))
				want := schedulePolicy(k.Settings.Policy, l.Blackouts, at, uses)
				if got := decideSchedule(k, l, at, uses); got != want {
					t.Fatalf("at %v, uses %d: decideSchedule %v, the policy %v", at, uses, got, want)
				}
			}
		}
	})
}

// Once compiled, a decision allocates nothing (the policy's own methods
// compile on every call and adding the lock's blackouts allocated).
func TestDecideScheduleAllocatesNothing(t *testing.T) {
	p := policy.Policy{Zone: "Europe/Berlin", Windows: []policy.Window{{Days: policy.Workdays, From: 8 * 60, To: 18 * 60}}}
	k := &KeyState{}
	k.evolve(ledger.Event{Data: events.KeyCreated{Key: "k", Lock: "front", Settings: events.Settings{Policy: p}}})
	l := &LockState{}
	l.evolve(ledger.Event{Data: events.LockRegistered{Lock: "front", Zone: "Europe/Berlin", Slots: 2}})
	l.evolve(ledger.Event{Data: events.LockBlackoutsSet{Lock: "front", Blackouts: []policy.Blackout{{Days: policy.Weekend, From: 0, To: 1440}}}})
	at := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	if r := decideSchedule(k, l, at, 0); r != access.Granted {
		t.Fatalf("decideSchedule = %v, want granted", r)
	}
	if n := testing.AllocsPerRun(100, func() { decideSchedule(k, l, at, 0) }); n != 0 {
		t.Fatalf("%v allocations per decision, want 0", n)
	}
}
