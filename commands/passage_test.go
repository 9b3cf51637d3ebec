package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

// office frees the doors on weekdays 08:00–18:00, Berlin time.
func office() policy.Policy {
	return policy.Policy{Windows: []policy.Window{{Days: 0b0111110, From: 8 * 60, To: 18 * 60}}}
}

func TestSetPassageModeRules(t *testing.T) {
	e := newLockEnv(t) // now: Monday 2026-03-02 11:00 in Berlin
	limited := office()
	limited.Uses = policy.UsesN(3)
	badWindow := office()
	badWindow.Windows[0].To = 8 * 60
	over := policy.Policy{End: e.now.Add(-time.Hour)}
	otherZone := office()
	otherZone.Zone = "UTC"
	five := []policy.Policy{office(), office(), office(), office(), office()}
	dated := office()
	dated.Periods = []policy.Period{{Start: e.now, End: e.now.Add(24 * time.Hour)}}
	firstUse := office()
	firstUse.AfterFirstUse = time.Hour
	for _, c := range []struct {
		name   string
		cmd    commands.SetPassageMode
		target error
		field  string
	}{
		{"five periods", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: five}, commands.ErrInvalid, "periods"},
		{"no doors", commands.SetPassageMode{Lock: "front", By: "bill", Periods: []policy.Policy{office()}}, commands.ErrInvalid, "doors"},
		{"unknown door", commands.SetPassageMode{Lock: "front", By: "bill", Doors: 0b100, Periods: []policy.Policy{office()}}, commands.ErrInvalid, "doors"},
		{"use limit", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{limited}}, commands.ErrInvalid, "periods[0].uses"},
		{"dated periods", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{dated}}, commands.ErrInvalid, "periods[0].periods"},
		{"after first use", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{firstUse}}, commands.ErrInvalid, "periods[0].after_first_use"},
		{"invalid window", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{badWindow}}, policy.ErrInvalid, "periods[0]"},
		{"another zone", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{otherZone}}, commands.ErrInvalid, "periods[0].zone"},
		{"already over", commands.SetPassageMode{Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{over}}, policy.ErrNotCompact, "periods[0]"},
		{"not the owner", commands.SetPassageMode{Lock: "front", By: "ann", Doors: access.Main, Periods: []policy.Policy{office()}}, commands.ErrNotPermitted, ""},
		{"unknown lock", commands.SetPassageMode{Lock: "back", By: "bill", Doors: access.Main, Periods: []policy.Policy{office()}}, commands.ErrNotFound, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cmd.ID = e.id()
			err := e.refused(func() error { _, err := e.svc.SetPassageMode(bg, c.cmd); return err }, c.target)
			var ve *commands.ValidationError
			if c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field) {
				t.Fatalf("%v: want a *ValidationError of field %q", err, c.field)
			}
		})
	}
}

// Setting a schedule records it without secrets, queues the signed
// message, and a retry of the command returns the same message.
func TestSetPassageModeQueuesAndReplays(t *testing.T) {
	e := newLockEnv(t)
	c := commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Inner, Periods: []policy.Policy{office()}}
	pos := e.l.DurablePosition()
	res, err := e.svc.SetPassageMode(bg, c)
	if err != nil || res.Message == nil || res.Narrowed != nil {
		t.Fatalf("%+v, %v", res, err)
	}
	evs := e.eventsSince(pos)
	want := office()
	want.Zone = "Europe/Berlin"
	if len(evs) != 2 || !deepEqual(evs[0], events.PassageSet{Lock: "front", By: "bill", Doors: access.Inner, Periods: []policy.Policy{want}}) {
		t.Fatalf("events %#v", evs)
	}
	if a, ok := evs[1].(events.AdminIssued); !ok || a.Type != lockproto.TypePassage || string(a.Message) != string(res.Message) {
		t.Fatalf("admin %#v", evs[1])
	}
	if p := e.pending("front"); len(p) != 1 || string(p[0]) != string(res.Message) {
		t.Fatalf("pending %d messages", len(p))
	}
	again, err := e.svc.SetPassageMode(bg, c)
	if err != nil || string(again.Message) != string(res.Message) || len(e.eventsSince(pos)) != 2 {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	named := c
	named.Periods = []policy.Policy{want} // the lock's zone named: the same command
	if again, err := e.svc.SetPassageMode(bg, named); err != nil || string(again.Message) != string(res.Message) {
		t.Fatalf("retry naming the zone: %+v, %v", again, err)
	}
	utc := c
	utc.Periods = []policy.Policy{office()}
	utc.Periods[0].Zone = "UTC"
	e.refused(func() error { _, err := e.svc.SetPassageMode(bg, utc); return err }, commands.ErrIDReused)
	c.Doors = access.Main
	e.refused(func() error { _, err := e.svc.SetPassageMode(bg, c); return err }, commands.ErrIDReused)
}

// A period the compact form cannot hold exactly (an absolute blackout
// inside it) is issued narrower and the loss reported, as credentials are.
func TestSetPassageModeNarrowed(t *testing.T) {
	e := newLockEnv(t)
	p := office()
	p.Blackouts = []policy.Blackout{{Start: e.now.Add(24 * time.Hour), End: e.now.Add(48 * time.Hour)}}
	res, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{p}})
	if err != nil || !errors.Is(res.Narrowed, policy.ErrLossy) || res.Message == nil {
		t.Fatalf("%+v, %v", res, err)
	}
	st, err := e.svc.PassageAt(bg, "front", access.MainDoor, e.now)
	if err != nil || st.Narrowed == "" {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestPassageAt(t *testing.T) {
	e := newLockEnv(t) // Monday 11:00 in Berlin
	berlin, _ := policy.LoadZone("Europe/Berlin")
	if st, err := e.svc.PassageAt(bg, "front", access.MainDoor, e.now); err != nil || st.Free || st.Periods != nil {
		t.Fatalf("no schedule: %+v, %v", st, err)
	}
	if _, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{office()}}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.PassageAt(bg, "front", access.MainDoor, e.now)
	if want := time.Date(2026, 3, 2, 18, 0, 0, 0, berlin); err != nil || !st.Free || !st.Until.Equal(want) {
		t.Fatalf("inside: %+v, %v; want free until %v", st, err, want)
	}
	evening := time.Date(2026, 3, 2, 19, 30, 0, 0, berlin)
	st, err = e.svc.PassageAt(bg, "front", access.MainDoor, evening)
	if want := time.Date(2026, 3, 3, 8, 0, 0, 0, berlin); err != nil || st.Free || !st.Next.Equal(want) {
		t.Fatalf("outside: %+v, %v; want next %v", st, err, want)
	}
	if st, err := e.svc.PassageAt(bg, "front", access.InnerDoor, e.now); err != nil || st.Free {
		t.Fatalf("a door not freed: %+v, %v", st, err)
	}
	if _, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if st, err := e.svc.PassageAt(bg, "front", access.MainDoor, e.now); err != nil || st.Free || st.Doors != 0 {
		t.Fatalf("cleared: %+v, %v", st, err)
	}
	if _, err := e.svc.PassageAt(bg, "back", access.MainDoor, e.now); !errors.Is(err, commands.ErrNotFound) {
		t.Fatalf("unknown lock: %v", err)
	}
}

// End to end: the owner sets office hours, a phone delivers the message,
// the handle opens inside and not outside, the audit upload puts the
// passage opens into history, and asof names "anyone" inside.
func TestPassageEndToEnd(t *testing.T) {
	e := newLockEnv(t)
	x, err := asof.Open(e.l)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{office()}}); err != nil {
		t.Fatal(err)
	}
	if d := e.lock.OpenFree(0); d.Granted || d.Reason != access.NotInPassage {
		t.Fatalf("before the message arrived: %+v", d)
	}
	e.deliver(e.lock, e.pending("front"))
	inside := e.now
	d := e.lock.OpenFree(0)
	if !d.Granted {
		t.Fatalf("inside: %+v", d)
	}
	if d := e.lock.OpenFree(1); d.Granted || d.Reason != access.NotInPassage {
		t.Fatalf("the inner door is not freed: %+v", d)
	}
	e.now = e.now.Add(8 * time.Hour) // 19:00 in Berlin
	if d := e.lock.OpenFree(0); d.Granted || d.Reason != access.NotInPassage {
		t.Fatalf("outside: %+v", d)
	}
	res := e.upload(e.lock, "front")
	if len(res.Applied) != 1 || len(e.pending("front")) != 0 {
		t.Fatalf("upload: %+v", res)
	}
	if err := e.proj.WaitApplied(bg, e.l.DurablePosition()); err != nil {
		t.Fatal(err)
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front"})
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	for _, h := range page.Entries {
		if h.Source == "passage mode" {
			opens++
			if !h.Granted || h.Key != "" || h.Account != "" || h.Door != access.Main || h.AuditSeq != d.AuditSeq || !h.Time.Equal(inside.Truncate(time.Second)) {
				t.Fatalf("history entry %+v", h)
			}
		}
	}
	if opens != 1 {
		t.Fatalf("%d passage opens in history, want 1: %+v", opens, page.Entries)
	}
	row, err := e.proj.Lock(bg, "front")
	if err != nil || row.PassageDoors != access.Main || len(row.Passage) != 1 {
		t.Fatalf("lock row %+v, %v", row, err)
	}
	ans, err := x.WhoCouldOpen(bg, "front", access.MainDoor, inside)
	if err != nil || ans.Passage == nil || ans.Passage.Doors != access.Main {
		t.Fatalf("asof inside: %+v, %v", ans.Passage, err)
	}
	if ans, err := x.WhoCouldOpen(bg, "front", access.MainDoor, e.now); err != nil || ans.Passage != nil {
		t.Fatalf("asof outside: %+v, %v", ans.Passage, err)
	}
}

// Anyone can turn a handle: 200 opens without an upload leave the lock's
// audit room for keys and admin messages (the lock tallies them), and the
// upload accounts for every one of them in the result and in history.
func TestPassageOpensTalliedAndCounted(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{office()}}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	const opens = 200
	for i := range opens {
		if d := e.lock.OpenFree(0); !d.Granted {
			t.Fatalf("open %d: %+v", i, d)
		}
	}
	counted := 0
	for b := e.lock.DrainAudit(); b != nil; b = e.lock.DrainAudit() {
		r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: b})
		if err != nil {
			t.Fatal(err)
		}
		counted += r.PassageOpens
		if r.Ack != nil {
			if err := e.lock.HandleAuditAck(r.Ack); err != nil {
				t.Fatal(err)
			}
		}
	}
	if counted != opens {
		t.Fatalf("the uploads account for %d passage opens, want %d", counted, opens)
	}
	if err := e.proj.WaitApplied(bg, e.l.DurablePosition()); err != nil {
		t.Fatal(err)
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	total, entries := 0, 0
	for _, h := range page.Entries {
		if h.Source == "passage mode" {
			total += int(h.Opens)
			entries++
		}
	}
	if total != opens || entries >= opens {
		t.Fatalf("history: %d opens in %d entries, want %d in fewer entries", total, entries, opens)
	}
}

// A passage schedule the lock can no longer apply, because a newer one
// arrived first and the lock moved beyond its window, is not issued again:
// a higher sequence number would put the older schedule back in force.
// One that is still the latest is.
func TestPassedPassageReissuedOnlyIfLatest(t *testing.T) {
	e := newLockEnv(t)
	set := func(p policy.Policy) []byte {
		res, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{p}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Message
	}
	set(office())
	newer := set(policy.Policy{}) // free at all times
	e.deliver(e.lock, [][]byte{newer})
	e.outrun(e.lock)
	res := e.upload(e.lock, "front")
	if len(res.Reissued) != 0 || len(e.pending("front")) != 0 {
		t.Fatalf("reissued %v, pending %d", res.Reissued, len(e.pending("front")))
	}
	e.now = e.now.Add(10 * time.Hour) // 21:00 in Berlin: only the newer schedule frees the door
	if free, r := e.lock.Passage(0); !free {
		t.Fatalf("the newer schedule is not in force: %v", r)
	}

	latest := set(office())
	if _, err := e.svc.SendZoneRules(bg, commands.SendZoneRules{ID: e.id(), Lock: "front", By: "bill", From: e.now, Until: e.now.AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	p := e.pending("front")
	e.deliver(e.lock, p[1:]) // the zone rules first, then too much for the lock to apply the schedule
	e.outrun(e.lock)
	res = e.upload(e.lock, "front")
	if len(res.Reissued) != 1 {
		t.Fatalf("the latest schedule, passed, reissued %v", res.Reissued)
	}
	again := e.pending("front")
	if len(again) != 1 || string(again[0]) == string(latest) {
		t.Fatalf("pending %d", len(again))
	}
	e.deliver(e.lock, again)
	if free, _ := e.lock.Passage(0); free {
		t.Fatal("at 21:00 the reissued office hours still free the door")
	}
}

// PassageAt compiles the schedule on first use, once, while other readers
// and a new schedule race it (run with -race).
func TestPassageAtConcurrent(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{office()}}); err != nil {
		t.Fatal(err)
	}
	at := e.now
	done := make(chan error, 8)
	for range 8 {
		go func() {
			for range 20 {
				if _, err := e.svc.PassageAt(bg, "front", access.MainDoor, at); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	if _, err := e.svc.SetPassageMode(bg, commands.SetPassageMode{ID: e.id(), Lock: "front", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if st, err := e.svc.PassageAt(bg, "front", access.MainDoor, at); err != nil || st.Free {
		t.Fatalf("after the clear: %+v, %v", st, err)
	}
}
