package asof_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
)

// The first use an expiry counts from is the earliest the log holds by
// then: a use at the lock whose audit arrives after an online use moves it
// earlier, for the answers from that upload on, and not before it.
func TestAfterFirstUseCountsFromTheEarliestUse(t *testing.T) {
	st := events.Settings{Doors: access.Main}
	st.Policy.AfterFirstUse = time.Hour
	l := store(t, []logged{
		{"lock-front", t0, events.LockRegistered{Lock: "front", Owner: "bill", Slots: 1, Doors: access.Main}},
		{"account-ann", t0, events.AccountRegistered{Account: "ann"}},
		{"key-k1", t0, events.KeyCreated{Key: "k1", Lock: "front", Owner: "bill", Kind: events.KindDigital, Holder: "ann", Settings: st}},
		{"key-k1", t0.Add(30 * time.Minute), events.UnlockAttempted{Key: "k1", Lock: "front", By: "ann", Granted: true, Uses: 1}},
		{"key-k1", t0.Add(70 * time.Minute), events.OfflineUnlocksCounted{Key: "k1", Lock: "front", Granted: 1, Uses: 2, First: t0.Add(10 * time.Minute)}},
	})
	x := index(t, l)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{
		{65 * time.Minute, true},  // before the audit: an hour from the online use
		{75 * time.Minute, false}, // after it: an hour from the use at the lock is over
	} {
		ans, err := x.WhoCouldOpen(context.Background(), "front", access.MainDoor, t0.Add(c.at))
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, o := range ans.Openings {
			got = got || o.Key == "k1"
		}
		if got != c.want {
			t.Errorf("at t0+%v: k1 could open %v, want %v", c.at, got, c.want)
		}
	}
}
