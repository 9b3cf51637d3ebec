package commands_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

func heldIntercom(t *testing.T, e *env, key string, st events.Settings) {
	t.Helper()
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: st}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: key, By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: key, By: "ann"}); err != nil {
		t.Fatal(err)
	}
}

// Two concurrent unlocks of a single-use key: exactly one is granted.
func TestSingleUseConcurrent(t *testing.T) {
	for round := range 10 {
		e := newEnv(t)
		e.given(frontLock()...)
		st := settings("once")
		st.Policy.Uses = policy.SingleUse
		st.Policy.Start, st.Policy.End = e.now.Add(-time.Hour), e.now.AddDate(0, 0, 1) // a single-use intercom key is dated
		heldIntercom(t, e, "once", st)
		var wg sync.WaitGroup
		results := make([]commands.UnlockResult, 2)
		for i := range results {
			id := e.id()
			wg.Go(func() {
				r, err := e.svc.Unlock(bg, commands.Unlock{ID: id, Key: "once", By: "ann"})
				if err != nil {
					t.Error(err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		if results[0].Granted == results[1].Granted {
			t.Fatalf("round %d: %+v", round, results)
		}
		loser := results[0]
		if loser.Granted {
			loser = results[1]
		}
		if loser.Reason != access.Exhausted {
			t.Fatalf("loser's reason %q", loser.Reason)
		}
		if s, _ := e.proj.KeyStatus(bg, "once", e.now); s.Status != projections.StatusExhausted || s.Uses != 1 {
			t.Fatalf("status %+v", s)
		}
	}
}

// The digital-keys table shows ACTIVE / UPCOMING / EXPIRED at the query's
// instant; weekly windows and lock-wide blackouts deny with a reason.
func TestSchedules(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, berlin) }
	mk := func(key string, from, to time.Time) {
		st := settings(key)
		st.Policy.Start, st.Policy.End = from, to
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindDigital, For: "ann", Settings: st}); err != nil {
			t.Fatal(err)
		}
	}
	mk("today", day(2, 9), day(2, 17))
	mk("next-week", day(9, 9), day(13, 17))
	mk("yesterday", day(1, 9), day(1, 17))
	at := day(2, 12)
	table, err := e.proj.DigitalKeys(bg, "bill", at)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]projections.Status{"today": projections.StatusActive, "next-week": projections.StatusUpcoming, "yesterday": projections.StatusExpired}
	for _, k := range table {
		if k.Status.Status != want[k.Key] {
			t.Fatalf("%s at %v: %v, want %v", k.Key, at, k.Status.Status, want[k.Key])
		}
	}
	if st, _ := e.proj.KeyStatus(bg, "today", day(2, 18)); st.Status != projections.StatusExpired {
		t.Fatalf("after its end: %+v", st)
	}
	if st, _ := e.proj.KeyStatus(bg, "next-week", at); !st.NextOpen.Equal(day(9, 9)) || st.InWindow {
		t.Fatalf("next open %+v", st)
	}

	// Weekly window: Tuesdays 10-12.
	st := settings("tuesday")
	st.Policy.Windows = []policy.Window{{Days: policy.Days(time.Tuesday), From: 10 * 60, To: 12 * 60}}
	st.Policy.Start, st.Policy.End = day(1, 0), day(31, 0) // a recurring intercom key is dated
	e.now = day(2, 9)
	heldIntercom(t, e, "tuesday", st)
	unlock := func(at time.Time) commands.UnlockResult {
		t.Helper()
		e.now = at
		r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "tuesday", By: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := unlock(day(3, 11)); !r.Granted {
		t.Fatalf("Tuesday 11:00: %+v", r)
	}
	if r := unlock(day(4, 11)); r.Granted || r.Reason != access.OutsideWindow {
		t.Fatalf("Wednesday 11:00: %+v", r)
	}
	// Lock-wide blackout, invalid at night — here over Tuesday 10:30-11:30.
	if err := e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "bill",
		Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 10*60 + 30, To: 11*60 + 30}}}); err != nil {
		t.Fatal(err)
	}
	if r := unlock(day(10, 11)); r.Granted || r.Reason != access.LockBlackout {
		t.Fatalf("in the lock-wide blackout: %+v", r)
	}
	if r := unlock(day(10, 11).Add(45 * time.Minute)); !r.Granted {
		t.Fatalf("after the blackout: %+v", r)
	}

	// Invalid policies are refused with the field named.
	bad := settings("bad")
	bad.Policy.Windows = []policy.Window{{Days: 0, From: 60, To: 60}}
	_, err = e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "bad", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: bad})
	var ve *commands.ValidationError
	if !errors.As(err, &ve) || ve.Field != "policy" {
		t.Fatalf("invalid policy: %v", err)
	}
	if err := e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "bill",
		Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 2000, To: 60}}}); !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("invalid blackout: %v", err)
	}
}

// A policy that does not validate is commands' *ValidationError (ErrInvalid)
// and policy's error at once, and its message shows instants in RFC 3339.
func TestPolicyErrorsKeepTheirType(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		create    bool // CreateKey; else SetLockBlackouts
		mutate    func(*events.Settings)
		blackouts []policy.Blackout
		field     string // commands' field
		pfield    string // policy's field
		msg       string // in the message
	}{
		{"end before start", true, func(s *events.Settings) { s.Policy.Start, s.Policy.End = start, start.Add(-time.Hour) },
			nil, "policy", "End", "End = 2026-03-02T08:00:00Z: not after Start 2026-03-02T09:00:00Z"},
		{"empty window", true, func(s *events.Settings) { s.Policy.Windows = []policy.Window{{From: 60, To: 60}} },
			nil, "policy", "Windows[0].Days", "Windows[0].To = 60: From == To"},
		{"use limit 0", true, func(s *events.Settings) { s.Policy.Uses = policy.Uses{Limited: true} },
			nil, "policy", "Uses.N", "Uses.N = 0"},
		{"absolute blackout reversed", false, nil, []policy.Blackout{{Start: start, End: start.Add(-time.Minute)}},
			"blackouts", "Blackouts[0].End", "not after Start 2026-03-02T09:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.create {
				st := settings("bad")
				c.mutate(&st)
				_, err = e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "bad", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: st})
			} else {
				err = e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "bill", Blackouts: c.blackouts})
			}
			var ve *commands.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, commands.ErrInvalid) {
				t.Fatalf("%v: want commands' *ValidationError for %q", err, c.field)
			}
			var pe *policy.ValidationError
			if !errors.As(err, &pe) || !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("%v: policy's error is not reachable", err)
			}
			found := false
			for _, e := range ve.Err.(interface{ Unwrap() []error }).Unwrap() {
				if errors.As(e, &pe) && pe.Field == c.pfield {
					found = true
				}
			}
			if !found {
				t.Fatalf("%v: no *policy.ValidationError for %s", err, c.pfield)
			}
			if msg := err.Error(); !strings.Contains(msg, c.msg) || strings.Contains(msg, "+0000 UTC") {
				t.Fatalf("message %q, want it to contain %q and no Go default time format", msg, c.msg)
			}
		})
	}
}
