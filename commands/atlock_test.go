package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
)

// A key's credential at its lock goes the way lock platforms show it:
// pending once issued, applied when the lock's audit shows the lock
// verified it, removing once the key is reset (revoked, deactivated), and
// removed when the audit shows the lock applied the removal. While it is
// removing the key is REVOKED but still open at the lock until the
// credential's own end: its status and the key lists say so, the slot it
// left shows "Removing", PendingRemovals lists it, and it cannot be
// deleted. And the credential does open the lock until the lock hears.
func TestSyncAtTheLockFromPendingToRemoved(t *testing.T) {
	e := newLockEnv(t)
	end := e.now.AddDate(0, 0, 7)
	st := settings("k1")
	st.Policy.Start, st.Policy.End = e.now, end
	ann := e.shareTo("k1", "ann", 1, st)

	status := func() projections.KeyStatus {
		t.Helper()
		s, err := e.proj.KeyStatus(bg, "k1", e.now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := status(); s.AtLock != events.SyncPending || s.OpenAtLock || s.Status != projections.StatusActive {
		t.Fatalf("downloaded: %+v", s)
	}
	if r, _ := e.proj.Key(bg, "k1"); !r.AtLock.Until.Equal(end) {
		t.Fatalf("the credential's own end %v, want %v", r.AtLock.Until, end)
	}

	e.now = e.now.Add(time.Hour)
	if d := e.visit(e.lock, ann, 0); !d.Granted {
		t.Fatalf("first visit refused: %v", d.Reason)
	}
	e.upload(e.lock, "front")
	if s := status(); s.AtLock != events.SyncApplied {
		t.Fatalf("after the lock verified it: %+v", s)
	}

	// Reset: taken away, but the lock has not heard.
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	s := status()
	if s.Status != projections.StatusRevoked || s.AtLock != events.SyncRemoving || !s.OpenAtLock || !s.OpenUntil.Equal(end) {
		t.Fatalf("reset, not yet at the lock: %+v", s)
	}
	if got, want := s.Summary(), "REVOKED, still open at the lock until "+end.UTC().Format(time.RFC3339); got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	list, err := e.proj.KeyList(bg, "front", e.now)
	if err != nil || len(list) != 1 || !list[0].Status.OpenAtLock {
		t.Fatalf("key list %+v %v", list, err)
	}
	for _, lock := range []string{"front", ""} {
		if pend, err := e.proj.PendingRemovals(bg, lock, e.now); err != nil || len(pend) != 1 || pend[0].Key != "k1" {
			t.Fatalf("pending removals of %q: %+v %v", lock, pend, err)
		}
	}
	if slots, err := e.proj.Slots(bg, "front"); err != nil || slots[0].State != projections.SlotRemoving || !deepEqual(slots[0].Removing, []string{"k1"}) {
		t.Fatalf("slots %+v %v", slots, err)
	}
	err = e.refused(func() error { return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}) }, commands.ErrStillAtLock)
	var ae *commands.AtLockError
	if !errors.As(err, &ae) || !errors.Is(err, commands.ErrForbidden) || ae.Key != "k1" || ae.Sync != events.SyncRemoving || !ae.Until.Equal(end) {
		t.Fatalf("delete while open at the lock: %v", err)
	}
	if d := e.visit(e.lock, ann, 0); !d.Granted { // the status tells the truth
		t.Fatalf("the reset key no longer opens before the lock heard: %v", d.Reason)
	}

	// A phone carries the reset to the lock; the upload confirms it.
	e.deliver(e.lock, e.pending("front"))
	if d := e.visit(e.lock, ann, 0); d.Granted || d.Reason != access.Superseded {
		t.Fatalf("after the reset reached the lock: %+v", d)
	}
	e.upload(e.lock, "front")
	if s := status(); s.AtLock != events.SyncRemoved || s.OpenAtLock || s.Summary() != "REVOKED" {
		t.Fatalf("removed: %+v", s)
	}
	if pend, err := e.proj.PendingRemovals(bg, "front", e.now); err != nil || len(pend) != 0 {
		t.Fatalf("pending removals after the lock confirmed: %+v %v", pend, err)
	}
	if slots, _ := e.proj.Slots(bg, "front"); slots[0].State != projections.SlotNotShared || slots[0].Removing != nil {
		t.Fatalf("slot after removal %+v", slots[0])
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatalf("delete once removed: %v", err)
	}

	// A rebuild from the log alone gives the same rows.
	before := dumpRows(t, e.env)
	if err := e.proj.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	if after := dumpRows(t, e.env); !deepEqual(before, after) {
		t.Fatal("a rebuild gives other rows")
	}
}

// The exposure window ends with the credential's own end: a reset key
// whose lock never hears of the reset stops opening it when its validity
// ends, and is then neither open at the lock nor pending removal, and may
// be deleted. A deactivation is removing until the lock confirms it too.
func TestExposureEndsWithTheCredential(t *testing.T) {
	e := newLockEnv(t)
	end := e.now.AddDate(0, 0, 2)
	st := settings("k1")
	st.Policy.Start, st.Policy.End = e.now, end
	e.shareTo("k1", "ann", 1, st)
	e.shareTo("k2", "bob", 2, settings("k2")) // no end: open until the lock hears
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	pend, err := e.proj.PendingRemovals(bg, "front", e.now)
	if err != nil || len(pend) != 2 || pend[1].Key != "k2" || !pend[1].Status.OpenAtLock || !pend[1].Status.OpenUntil.IsZero() {
		t.Fatalf("pending removals %+v %v", pend, err)
	}
	if got := pend[1].Status.Summary(); got != "REVOKED, still open at the lock until it applies the removal" {
		t.Fatalf("summary %q", got)
	}
	if d, err := e.proj.PendingDeactivations(bg, "front", e.now); err != nil || len(d) != 1 || d[0].Key != "k2" {
		t.Fatalf("pending deactivations %+v %v", d, err)
	}

	e.now = end
	if s, _ := e.proj.KeyStatus(bg, "k1", e.now); s.OpenAtLock || s.AtLock != events.SyncRemoving {
		t.Fatalf("at the credential's end: %+v", s)
	}
	if pend, err := e.proj.PendingRemovals(bg, "front", e.now); err != nil || len(pend) != 1 || pend[0].Key != "k2" {
		t.Fatalf("pending removals at k1's end %+v %v", pend, err)
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatalf("delete after the credential ended: %v", err)
	}
	// The deactivation reaches the lock; the audit confirms it.
	e.deliver(e.lock, e.pending("front"))
	if res := e.upload(e.lock, "front"); !deepEqual(res.Confirmed, []string{"k2"}) {
		t.Fatalf("confirmed %v", res.Confirmed)
	}
	if s, _ := e.proj.KeyStatus(bg, "k2", e.now); s.AtLock != events.SyncRemoved || s.OpenAtLock {
		t.Fatalf("deactivated: %+v", s)
	}
	if pend, err := e.proj.PendingRemovals(bg, "", e.now); err != nil || len(pend) != 0 {
		t.Fatalf("pending removals at the end %+v %v", pend, err)
	}
}

// Keys that never hold a credential at a lock (online-only digital,
// intercom and online keys, share keys downloaded without one) show
// nothing at the lock and are deleted as before.
func TestNothingAtTheLockWithoutACredential(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0), []given{sharedToID("k1", "ann"), downloaded("k1", "ann")})...)
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.proj.KeyStatus(bg, "k1", e.now); s.AtLock != events.SyncNone || s.OpenAtLock {
		t.Fatalf("reset without a credential: %+v", s)
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
}

func dumpRows(t *testing.T, e *env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for en, err := range projections.Dump(bg, e.l) {
		if err != nil {
			t.Fatal(err)
		}
		out[string(en.Key)] = string(en.Value)
	}
	return out
}
