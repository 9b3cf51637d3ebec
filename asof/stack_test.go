package asof_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// A day at Bill's front door, through the commands, on the stack's
// backend (KEYLEDGER_TEST_BACKEND=postgres runs it on PostgreSQL): the
// index follows the log as the commands append.
func TestADayAtTheFrontDoor(t *testing.T) {
	st := keyledgertest.New(t)
	ctx := context.Background()
	x, err := asof.Open(st.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	svc := st.Commands
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(d time.Duration) time.Time { st.Clock.Set(t0.Add(d)); return t0.Add(d) }
	for _, a := range []string{"bill", "ann", "bob"} {
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front", Zone: "UTC", Slots: 2, Doors: access.MainInner}))
	_, err = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "ann-app", Lock: "front", By: "bill", Kind: events.KindDigital, For: "ann",
		Settings: events.Settings{Doors: access.Main}})
	must(err)
	at(time.Hour)
	_, err = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "bob-share", Lock: "front", By: "bill", Kind: events.KindShare,
		Settings: events.Settings{Doors: access.MainInner, Policy: policy.Policy{Windows: []policy.Window{{Days: policy.Weekdays(0x7f), From: 8 * 60, To: 20 * 60}}}}})
	must(err)
	_, err = svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "bob-share", By: "bill", Method: events.ShareToID, Account: "bob"})
	must(err)
	downloaded := at(2 * time.Hour)
	_, err = svc.DownloadKey(ctx, commands.DownloadKey{ID: commands.NewID(), Key: "bob-share", By: "bob"})
	must(err)
	edited := at(3 * time.Hour)
	inner := access.MainInner
	must(svc.EditKey(ctx, commands.EditKey{ID: commands.NewID(), Key: "ann-app", By: "bill", Settings: commands.SettingsPatch{Doors: &inner}}))
	at(4 * time.Hour)
	must(svc.RevokeKey(ctx, commands.KeyCommand{ID: commands.NewID(), Key: "ann-app", By: "bill"}))

	who := func(door access.Door, d time.Duration) []string {
		t.Helper()
		ans, err := x.WhoCouldOpen(ctx, "front", door, t0.Add(d))
		must(err)
		var out []string
		for _, o := range ans.Openings {
			out = append(out, o.Account+"/"+o.Key)
		}
		return out
	}
	for _, c := range []struct {
		door access.Door
		d    time.Duration
		want []string
	}{
		{access.MainDoor, -time.Minute, nil},
		{access.MainDoor, 30 * time.Minute, []string{"ann/ann-app"}},
		{access.InnerDoor, 30 * time.Minute, nil},
		{access.MainDoor, 90 * time.Minute, []string{"ann/ann-app"}}, // bob's key shared, not downloaded
		{access.MainDoor, 150 * time.Minute, []string{"ann/ann-app", "bob/bob-share"}},
		{access.InnerDoor, 150 * time.Minute, []string{"bob/bob-share"}},
		{access.InnerDoor, 210 * time.Minute, []string{"ann/ann-app", "bob/bob-share"}},
		{access.MainDoor, 5 * time.Hour, []string{"bob/bob-share"}},  // ann's key revoked
		{access.MainDoor, 12 * time.Hour, nil},                       // 21:00, outside bob's window
		{access.MainDoor, 24 * time.Hour, []string{"bob/bob-share"}}, // the next morning, in the future
	} {
		if got := who(c.door, c.d); !slices.Equal(got, c.want) {
			t.Errorf("%s door at t0%+v: %q, want %q", c.door, c.d, got, c.want)
		}
	}

	ans, err := x.WhoCouldOpen(ctx, "front", access.InnerDoor, t0.Add(210*time.Minute))
	must(err)
	if o := ans.Openings[0]; !o.Since.Equal(edited) || o.StillAtLock || o.Kind != events.KindDigital {
		t.Errorf("ann's opening %+v: want since the edit %v", o, edited)
	}
	if o := ans.Openings[1]; !o.Since.Equal(downloaded) || len(o.Policy.Windows) != 1 {
		t.Errorf("bob's opening %+v: want since the download %v, under his window", o, downloaded)
	}
	for _, o := range ans.Openings {
		for _, p := range o.Positions {
			ev, err := st.Ledger.EventAt(ctx, p)
			must(err)
			if ev.Stream != "lock-front" && ev.Stream != "key-"+o.Key {
				t.Errorf("%s cites position %d, an event of %s", o.Key, p, ev.Stream)
			}
		}
	}

	acc, err := x.CouldOpen(ctx, "ann", t0.Add(-time.Hour), t0.Add(24*time.Hour))
	must(err)
	want := []asof.DoorSpan{
		{Lock: "front", Door: access.MainDoor, Key: "ann-app", Intervals: []asof.Interval{{From: t0, To: t0.Add(4 * time.Hour)}}},
		{Lock: "front", Door: access.InnerDoor, Key: "ann-app", Intervals: []asof.Interval{{From: edited, To: t0.Add(4 * time.Hour)}}},
	}
	if len(acc.Doors) != len(want) {
		t.Fatalf("ann's doors: %+v", acc.Doors)
	}
	for i, d := range acc.Doors {
		if d.Lock != want[i].Lock || d.Door != want[i].Door || d.Key != want[i].Key || !slices.EqualFunc(d.Intervals, want[i].Intervals,
			func(a, b asof.Interval) bool {
				return a.From.Equal(b.From) && a.To.Equal(b.To) && a.StillAtLock == b.StillAtLock
			}) {
			t.Errorf("ann's door %d: %+v, want %+v", i, d, want[i])
		}
	}
}

// Queries run while the index applies appends (run with -race).
func TestQueriesWhileFollowing(t *testing.T) {
	log := lockWithKeys(200)
	l := store(t, log[:1])
	x := index(t, l)
	ctx := context.Background()
	done := make(chan error)
	go func() {
		for _, e := range log[1:] {
			if _, err := l.Append(ctx, e.stream, ledger.ExpectAny, ledger.NewEvent{Data: e.data, Time: e.at}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; ; i++ {
		if _, err := x.WhoCouldOpen(ctx, "front", access.MainDoor, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := x.CouldOpen(ctx, "user1", t0, t0.Add(time.Hour)); err != nil && i > 0 && !errors.Is(err, asof.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			ans, err := x.WhoCouldOpen(ctx, "front", access.MainDoor, t0.Add(2*time.Hour))
			if err != nil || len(ans.Openings) != 200 || ans.Head != l.DurablePosition() {
				t.Fatalf("after the appends: %d openings, head %d of %d (%v)", len(ans.Openings), ans.Head, l.DurablePosition(), err)
			}
			return
		default:
		}
	}
}

// An online key through the commands: at each step the index names a
// member exactly when the server grants that member's online unlock with
// the right password.
func TestOnlineKeyAgreesWithTheServer(t *testing.T) {
	st := keyledgertest.New(t)
	ctx := context.Background()
	x, err := asof.Open(st.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	svc := st.Commands
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := t0
	st.Clock.Set(now)
	later := func(d time.Duration) { now = now.Add(d); st.Clock.Set(now) }
	for _, a := range []string{"bill", "ann", "bob"} {
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "garage", Owner: "bill", Name: "Garage", Zone: "UTC", Slots: 2, Doors: access.MainInner}))
	_, err = svc.TurnOnNetwork(ctx, commands.TurnOnNetwork{ID: commands.NewID(), Lock: "garage", By: "bill",
		MasterCode: secret.FromString("731946"), Duration: 30 * 24 * time.Hour})
	must(err)
	_, err = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "client", Lock: "garage", By: "bill", Kind: events.KindOnline,
		Settings: events.Settings{Name: "Client", Doors: access.MainInner}})
	must(err)
	must(svc.InviteMember(ctx, commands.InviteMember{ID: commands.NewID(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
	later(time.Minute)
	must(svc.AcceptInvitation(ctx, commands.AcceptInvitation{ID: commands.NewID(), Lock: "garage", Account: "ann",
		Password: secret.FromString("ann's password"), LockName: "Bill's garage"}))

	// step asks the index at now, then the server (which records the
	// attempt, so the index is asked first).
	step := func(name string, door access.Door, pw string, want bool) {
		t.Helper()
		ans, err := x.WhoCouldOpen(ctx, "garage", door, now)
		must(err)
		named := len(ans.Openings) == 1 && ans.Openings[0].Account == "ann" && ans.Openings[0].Online && ans.Openings[0].Key == "client"
		if named != want || len(ans.Openings) > 1 {
			t.Fatalf("%s: openings %+v, want ann online: %v", name, ans.Openings, want)
		}
		if named {
			checkCitedPlain(t, ans.Openings[0].Positions, ans.Position)
		}
		r, err := svc.UnlockOnline(ctx, commands.UnlockOnline{ID: commands.NewID(), Key: "client", By: "ann", Password: secret.FromString(pw), Door: door})
		must(err)
		if r.Granted != want {
			t.Fatalf("%s: the server says granted %v (%v), the index %v", name, r.Granted, r.Reason, want)
		}
	}
	step("a member", access.MainDoor, "ann's password", true)
	step("a door not permitted", access.InnerDoor, "ann's password", false)
	later(time.Minute)
	for range commands.MaxPasswordFailures {
		r, err := svc.UnlockOnline(ctx, commands.UnlockOnline{ID: commands.NewID(), Key: "client", By: "ann", Password: secret.FromString("a guess")})
		must(err)
		if r.Granted {
			t.Fatal("a wrong password granted")
		}
	}
	step("locked out", access.MainDoor, "ann's password", false)
	later(commands.LockoutDuration)
	step("the lockout over", access.MainDoor, "ann's password", true)
	acc, err := x.CouldOpen(ctx, "ann", t0, now.Add(time.Minute))
	must(err)
	if len(acc.Doors) != 1 || len(acc.Doors[0].Intervals) != 2 || !acc.Doors[0].Intervals[0].Online ||
		!acc.Doors[0].Intervals[0].To.Equal(t0.Add(2*time.Minute)) || !acc.Doors[0].Intervals[1].From.Equal(now) {
		t.Fatalf("ann's doors: %+v, want the main door online, before and after the lockout", acc.Doors)
	}
	must(svc.TurnOffNetwork(ctx, commands.TurnOffNetwork{ID: commands.NewID(), Lock: "garage", By: "bill"}))
	later(time.Minute)
	step("network management off", access.MainDoor, "ann's password", false)
}

func checkCitedPlain(t *testing.T, ps []uint64, prefix uint64) {
	t.Helper()
	if len(ps) == 0 || !slices.IsSorted(ps) || ps[0] == 0 || ps[len(ps)-1] > prefix {
		t.Fatalf("cited positions %v: want ascending, in 1..%d", ps, prefix)
	}
}
