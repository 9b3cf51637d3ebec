package asof_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
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
// to the instant says a schedule freed the door: the one the lock's audit
// showed applied (the highest sequence number applied), marked still at
// the lock while a newer one was set and not yet shown applied, else the
// latest set, marked not yet at the lock; and cites its events. Messages
// are delivered late, out of turn or refused. CouldOpen of an account is
// unaffected (passage mode is no key).
func TestWhoCouldOpenPassage(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := t0
		log := []logged{
			{"lock-front", now, events.LockRegistered{Lock: "front", Owner: "bill", Zone: "Europe/Berlin", Slots: 1, Doors: access.MainInner}},
			{"account-ann", now, events.AccountRegistered{Account: "ann"}},
		}
		var issued, applied uint32 // the last message issued, the last the audit showed
		for i := range rapid.IntRange(1, 8).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(1, 48*60).Draw(rt, "minutes later")) * time.Minute)
			if i == 0 || applied == issued || rapid.Bool().Draw(rt, "set") {
				issued++
				log = append(log, logged{"lock-front", now, genPassage(rt, now)},
					logged{"lock-front", now, events.AdminIssued{Lock: "front", Seq: issued, Type: lockproto.TypePassage}})
				continue
			}
			// The audit shows a later message consumed: applied, or
			// refused (it then changes nothing).
			applied = uint32(rapid.IntRange(int(applied)+1, int(issued)).Draw(rt, "applied seq"))
			log = append(log, logged{"lock-front", now, events.AdminApplied{Lock: "front", Seq: applied, Type: lockproto.TypePassage,
				Applied: rapid.IntRange(0, 3).Draw(rt, "refused") > 0}})
		}
		x := index(t, store(t, log))
		ctx := context.Background()
		frees := func(p events.PassageSet, door access.Door, at time.Time) bool {
			for _, q := range p.Periods {
				if p.Doors.Has(door) && q.Allowed(at, 0) == access.Granted {
					return true
				}
			}
			return false
		}
		for range rapid.IntRange(1, 8).Draw(rt, "questions") {
			at := t0.Add(time.Duration(rapid.IntRange(-60, 20*24*60).Draw(rt, "at minutes")) * time.Minute)
			door := rapid.SampledFrom([]access.Door{access.MainDoor, access.InnerDoor}).Draw(rt, "door")
			// Replay: the latest schedule set, and the one the lock holds.
			latest, lock := -1, -1
			var lockSeq uint32
			bySeq := map[uint32]int{}
			for i, e := range log {
				if e.at.After(at) {
					break
				}
				switch d := e.data.(type) {
				case events.PassageSet:
					latest = i
				case events.AdminIssued:
					bySeq[d.Seq] = latest
				case events.AdminApplied:
					if d.Applied && d.Seq > lockSeq {
						lock, lockSeq = bySeq[d.Seq], d.Seq
					}
				}
			}
			var want uint64 // the position of the schedule that frees the door, 0 = none
			var still, notYet bool
			switch {
			case lock >= 0 && frees(log[lock].data.(events.PassageSet), door, at):
				want, still = uint64(lock+1), lock != latest
			case latest >= 0 && latest != lock && frees(log[latest].data.(events.PassageSet), door, at):
				want, notYet = uint64(latest+1), true
			}
			ans, err := x.WhoCouldOpen(ctx, "front", door, at)
			if err != nil {
				rt.Fatal(err)
			}
			var got uint64
			if p := ans.Passage; p != nil {
				got = p.Position
				if !p.Doors.Has(door) || p.Since.After(at) || !contains(p.Positions, got) || !contains(p.Positions, got+1) {
					rt.Fatalf("passage answer %+v, positions %v", p, ans.Positions)
				}
				for _, q := range p.Positions {
					if !contains(ans.Positions, q) {
						rt.Fatalf("the answer does not cite %d: %v", q, ans.Positions)
					}
				}
				if still && !contains(p.Positions, uint64(latest+1)) {
					rt.Fatalf("still at the lock without citing the newer schedule %d: %v", latest+1, p.Positions)
				}
				if p.StillAtLock != still || p.NotYetAtLock != notYet {
					rt.Fatalf("door %v at %v: still at lock %v, not yet %v; replay says %v, %v", door, at, p.StillAtLock, p.NotYetAtLock, still, notYet)
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
