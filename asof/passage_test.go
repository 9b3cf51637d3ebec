package asof_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

// genPassage draws a passage schedule of lock front (Europe/Berlin): up to
// two periods of validity and weekly windows, sometimes none (a clear).
func genPassage(t *rapid.T, now time.Time) events.PassageSet {
	e := events.PassageSet{Lock: "front", By: "bill"}
	for i := range rapid.IntRange(0, 2).Draw(t, "periods") {
		p := policy.Policy{Zone: "Europe/Berlin"}
		if rapid.Bool().Draw(t, "start") {
			p.Start = now.Add(time.Duration(rapid.IntRange(-48, 72).Draw(t, "start hours")) * time.Hour)
		}
		if rapid.Bool().Draw(t, "end") {
			p.End = now.Add(time.Duration(rapid.IntRange(73, 200).Draw(t, "end hours")) * time.Hour)
		}
		for j := range rapid.IntRange(0, 2).Draw(t, "windows") {
			from := uint16(rapid.IntRange(0, 47).Draw(t, fmt.Sprintf("from %d.%d", i, j))) * 30
			p.Windows = append(p.Windows, policy.Window{Days: policy.Weekdays(rapid.IntRange(1, 127).Draw(t, "days")),
				From: from, To: (from + uint16(rapid.IntRange(1, 47).Draw(t, "half hours"))*30) % 1440})
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("generated an invalid period: %v", err)
		}
		e.Periods = append(e.Periods, p)
	}
	if len(e.Periods) > 0 {
		e.Doors = rapid.SampledFrom([]access.Doors{access.Main, access.Inner, access.MainInner}).Draw(t, "doors")
	}
	return e
}

// WhoCouldOpen names the passage schedule exactly when replaying the log
// to the instant and asking the policy of its periods says the door was
// free, and cites that schedule's event; CouldOpen of an account is
// unaffected (passage mode is no key).
func TestWhoCouldOpenPassage(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := t0
		log := []logged{
			{"lock-front", now, events.LockRegistered{Lock: "front", Owner: "bill", Zone: "Europe/Berlin", Slots: 1, Doors: access.MainInner}},
			{"account-ann", now, events.AccountRegistered{Account: "ann"}},
		}
		for range rapid.IntRange(1, 5).Draw(rt, "schedules") {
			now = now.Add(time.Duration(rapid.IntRange(1, 48*60).Draw(rt, "minutes later")) * time.Minute)
			log = append(log, logged{"lock-front", now, genPassage(rt, now)})
		}
		x := index(t, store(t, log))
		ctx := context.Background()
		for range rapid.IntRange(1, 8).Draw(rt, "questions") {
			at := t0.Add(time.Duration(rapid.IntRange(-60, 14*24*60).Draw(rt, "at minutes")) * time.Minute)
			door := rapid.SampledFrom([]access.Door{access.MainDoor, access.InnerDoor}).Draw(rt, "door")
			var want uint64 // the position of the schedule that frees the door, 0 = none
			for i, e := range log {
				p, ok := e.data.(events.PassageSet)
				if !ok || e.at.After(at) {
					continue
				}
				want = 0
				for _, q := range p.Periods {
					if p.Doors.Has(door) && q.Allowed(at, 0) == access.Granted {
						want = uint64(i + 1)
					}
				}
			}
			ans, err := x.WhoCouldOpen(ctx, "front", door, at)
			if err != nil {
				rt.Fatal(err)
			}
			var got uint64
			if ans.Passage != nil {
				got = ans.Passage.Position
				if !ans.Passage.Doors.Has(door) || ans.Passage.Since.After(at) || !contains(ans.Positions, got) {
					rt.Fatalf("passage answer %+v, positions %v", ans.Passage, ans.Positions)
				}
			}
			if got != want {
				rt.Fatalf("door %v at %v: passage by position %d, replay says %d", door, at, got, want)
			}
			acc, err := x.CouldOpen(ctx, "ann", at, at.Add(time.Hour))
			if err != nil || len(acc.Doors) != 0 {
				rt.Fatalf("ann, who holds no key, could open %+v (%v)", acc.Doors, err)
			}
		}
	})
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
