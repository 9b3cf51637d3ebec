package keyledgertest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

var bg = context.Background()

// Concurrent readers and writers of a Clock (run with -race) see only times
// it was set to, and Advance adds up.
func TestClock(t *testing.T) {
	c := keyledgertest.NewClock(keyledgertest.Start)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 250 {
				c.Advance(time.Second)
				if now := c.Now(); now.Before(keyledgertest.Start) {
					t.Errorf("Now %v before the start", now)
				}
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), keyledgertest.Start.Add(1000*time.Second); !got.Equal(want) {
		t.Fatalf("after 1000 advances of 1s: %v, want %v", got, want)
	}
	c.Set(keyledgertest.Start)
	if !c.Now().Equal(keyledgertest.Start) {
		t.Fatal("Set did not move the clock back")
	}
}

// The stack's decisions follow its clock: a key valid for a day is active
// at the start and expired once the clock is advanced past it, and its
// events carry the clock's time.
func TestNewUsesTheClock(t *testing.T) {
	st := keyledgertest.New(t)
	svc := st.Commands
	must(t, svc.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"}))
	must(t, svc.RegisterLock(bg, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front", Zone: "UTC", Slots: 1}))
	day := policy.Policy{Start: keyledgertest.Start, End: keyledgertest.Start.Add(24 * time.Hour)}
	_, err := svc.CreateKey(bg, commands.CreateKey{ID: commands.NewID(), Key: "k", Lock: "front", By: "bill", Kind: events.KindShare,
		Settings: events.Settings{Policy: day}})
	must(t, err)
	// A code needs the vault: New gives one.
	if _, err := svc.ShareKey(bg, commands.ShareKey{ID: commands.NewID(), Key: "k", By: "bill", Method: events.ShareToCode}); err != nil {
		t.Fatalf("share To Code on a test stack: %v", err)
	}
	if s, err := st.Projections.KeyStatus(bg, "k", st.Clock.Now()); err != nil || s.Status != projections.StatusActive {
		t.Fatalf("at the start: %v, %v", s.Status, err)
	}
	later := st.Clock.Advance(48 * time.Hour)
	if s, err := st.Projections.KeyStatus(bg, "k", later); err != nil || s.Status != projections.StatusExpired {
		t.Fatalf("two days later: %v, %v", s.Status, err)
	}
	must(t, svc.RevokeKey(bg, commands.KeyCommand{ID: commands.NewID(), Key: "k", By: "bill"}))
	ev, err := st.Ledger.EventAt(bg, st.Ledger.DurablePosition())
	must(t, err)
	if !ev.Time.Equal(later) {
		t.Fatalf("last event at %v, want the clock's %v", ev.Time, later)
	}
}

// Options reach Open, and the stack is closed when the test that made it
// ends.
func TestNewOptionsAndCleanup(t *testing.T) {
	var st *keyledgertest.Stack
	t.Run("inner", func(t *testing.T) {
		st = keyledgertest.New(t, func(o *keyledger.Options) { o.BatchSize = 3 })
		must(t, st.Commands.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"}))
	})
	if _, err := st.Ledger.Append(bg, "s", ledger.ExpectAny, ledger.NewEvent{Data: events.AccountRegistered{Account: "x"}}); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("append after the test ended: %v, want ledger.ErrClosed", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
