package commands_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/logtest"
	"github.com/keyledger/keyledger/lockproto"
)

// uploadAt drains the lock as a phone that read the batches at readAt
// (zero: it does not know) and delivers the acknowledgements.
func (e *lockEnv) uploadAt(l *lockproto.Lock, lock string, readAt time.Time) commands.AuditResult {
	e.t.Helper()
	var last commands.AuditResult
	for b := l.DrainAudit(); b != nil; b = l.DrainAudit() {
		r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: lock, By: "ann", Batch: b, ReadAt: readAt})
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Ack != nil {
			if err := l.HandleAuditAck(r.Ack); err != nil {
				e.t.Fatal(err)
			}
		}
		last = r
	}
	return last
}

func (e *lockEnv) clockHealth(lock string) commands.ClockHealth {
	e.t.Helper()
	h, err := e.svc.ClockHealth(bg, lock)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// clockEvents counts the lock's ClockObserved events.
func (e *lockEnv) clockEvents(lock string) int {
	e.t.Helper()
	n := 0
	for ev, err := range e.l.ReadStream(bg, "lock-"+lock, 0) {
		if err != nil {
			e.t.Fatal(err)
		}
		if _, ok := ev.Data.(events.ClockObserved); ok {
			n++
		}
	}
	return n
}

// A lock whose clock runs 10 minutes fast: its clock reading shows it, the
// lock is flagged, SyncClock signs a time sync for the next phone's
// challenge that the lock applies, and the next upload clears the flag.
func TestClockDriftFlaggedAndSynced(t *testing.T) {
	e := newLockEnv(t)
	if h := e.clockHealth("front"); !h.Observed || !h.Known || h.SyncNeeded || h.ZoneStale != "" || h.Offset != 0 {
		t.Fatalf("after pairing: %+v", h)
	}
	e.setLockClock(e.now.Add(10 * time.Minute))
	e.now = e.now.Add(time.Hour)
	before := e.clockEvents("front")
	if r := e.uploadAt(e.lock, "front", e.now); !r.SyncNeeded {
		t.Fatalf("upload %+v: no sync needed", r)
	}
	h := e.clockHealth("front")
	if !h.SyncNeeded || h.Offset != 10*time.Minute || h.Bound || !h.MeasuredAt.Equal(e.now) {
		t.Fatalf("clock health %+v, want 10 min ahead, sync needed", h)
	}
	if n := e.clockEvents("front"); n != before+1 {
		t.Fatalf("%d clock events, want %d", n, before+1)
	}

	if row, err := e.proj.Lock(bg, "front"); err != nil || row.Clock == nil || !row.Clock.SyncNeeded || row.Clock.Offset != 10*time.Minute {
		t.Fatalf("lock row %+v %v", row, err)
	}

	// Another upload a minute later (a record and a reading) changes
	// nothing worth recording.
	e.now = e.now.Add(time.Minute)
	e.lock.HandleUnlock([]byte{lockproto.Version, 3, 0})
	e.uploadAt(e.lock, "front", e.now)
	if n := e.clockEvents("front"); n != before+1 {
		t.Fatalf("%d clock events after an unchanged upload, want %d", n, before+1)
	}

	chb, err := e.lock.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SyncClock(bg, "back", chb, false); !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("another lock's challenge: %v", err)
	}
	sync, err := e.svc.SyncClock(bg, "front", chb, false)
	if err != nil || sync == nil {
		t.Fatalf("sync clock: %v, %d bytes", err, len(sync))
	}
	if err := e.lock.HandleAdmin(sync); err != nil {
		t.Fatal(err)
	}
	if now, ok := e.lock.Now(); !ok || int64(now) != e.now.Unix() {
		t.Fatalf("lock time %d (%v), want %d", now, ok, e.now.Unix())
	}
	e.now = e.now.Add(time.Minute)
	if r := e.uploadAt(e.lock, "front", e.now); r.SyncNeeded {
		t.Fatalf("upload after the sync %+v", r)
	}
	if h := e.clockHealth("front"); h.SyncNeeded || h.Offset != 0 || !h.Known {
		t.Fatalf("clock health after the sync %+v", h)
	}
	if row, err := e.proj.Lock(bg, "front"); err != nil || row.Clock == nil || row.Clock.SyncNeeded {
		t.Fatalf("lock row after the sync %+v %v", row, err)
	}
	chb, _ = e.lock.Challenge()
	if m, err := e.svc.SyncClock(bg, "front", chb, false); err != nil || m != nil {
		t.Fatalf("no sync needed: %d bytes, %v", len(m), err)
	}
	if m, err := e.svc.SyncClock(bg, "front", chb, true); err != nil || m == nil {
		t.Fatalf("forced: %d bytes, %v", len(m), err)
	}
}

// A batch a phone drained and lost is handed out again hours later, after
// another phone delivered the last acknowledgement again: the lock, in
// time, is not taken for hours behind.
func TestRewoundDrainKeepsALockInTime(t *testing.T) {
	e := newLockEnv(t)
	e.now = e.now.Add(7 * time.Hour)
	e.lock.HandleUnlock([]byte{lockproto.Version, 3, 0})
	ack := e.uploadAt(e.lock, "front", e.now).Ack
	if ack == nil {
		t.Fatal("no acknowledgement")
	}
	e.now = e.now.Add(time.Minute)
	e.setLockClock(e.now)
	if b := e.lock.DrainAudit(); b == nil { // a phone drains it and never uploads
		t.Fatal("nothing drained")
	}
	e.now = e.now.Add(3 * time.Hour)
	if err := e.lock.HandleAuditAck(ack); err != nil {
		t.Fatal(err)
	}
	if r := e.uploadAt(e.lock, "front", e.now); r.SyncNeeded {
		t.Fatalf("upload %+v: a lock in time needs a sync", r)
	}
	if h := e.clockHealth("front"); h.SyncNeeded || h.Offset != 0 || h.Bound {
		t.Fatalf("clock health %+v, want measured in time", h)
	}
}

// A phone that says it read the batch ten minutes after the service
// received it cannot hide a lock ten minutes ahead: the read time is
// ignored and the receipt shows the lock ahead.
func TestReadTimeAfterTheReceiptCannotHideALockAhead(t *testing.T) {
	e := newLockEnv(t)
	e.setLockClock(e.now.Add(10 * time.Minute))
	if r := e.uploadAt(e.lock, "front", e.now.Add(10*time.Minute)); !r.SyncNeeded {
		t.Fatalf("upload %+v: a lock 10 min ahead needs no sync", r)
	}
	if h := e.clockHealth("front"); !h.SyncNeeded || !h.Bound || h.Offset != 10*time.Minute {
		t.Fatalf("clock health %+v, want at least 10 min ahead", h)
	}
	chb, err := e.lock.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := e.svc.SyncClock(bg, "front", chb, false); err != nil || m == nil {
		t.Fatalf("sync clock: %d bytes, %v", len(m), err)
	}
}

// A lock whose clock is unknown (a restart) is flagged from its reading;
// the challenge alone also asks for a sync.
func TestClockLostNeedsASync(t *testing.T) {
	e := newLockEnv(t)
	l, err := lockproto.RestoreLock(e.lock.State(), &lockproto.Config{Clock: func() time.Duration { return e.now.Sub(e.start) }, Rand: e.rnd})
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Hour)
	e.uploadAt(l, "front", e.now)
	if h := e.clockHealth("front"); h.Known || !h.SyncNeeded {
		t.Fatalf("after a restart: %+v", h)
	}
	chb, _ := l.Challenge()
	if m, err := e.svc.SyncClock(bg, "front", chb, false); err != nil || m == nil {
		t.Fatalf("sync clock: %d bytes, %v", len(m), err)
	}
}

// A zone table that ends soon gets fresh zone rules queued by the upload
// that shows it, once; when the lock applies them the table is fresh.
func TestZoneRulesReissuedOnceWhenStale(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.SendZoneRules(bg, commands.SendZoneRules{ID: e.id(), Lock: "front", By: "bill",
		From: e.now, Until: e.now.AddDate(0, 0, 10)}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	r := e.uploadAt(e.lock, "front", e.now)
	if r.ZoneQueued == 0 {
		t.Fatalf("upload %+v: no zone rules queued for a table ending in 10 days", r)
	}
	h := e.clockHealth("front")
	if h.ZoneStale == "" || !h.ZonePending {
		t.Fatalf("clock health %+v", h)
	}
	p := e.pending("front")
	if len(p) != 1 {
		t.Fatalf("%d pending messages", len(p))
	}
	a, err := lockproto.VerifyAdmin(p[0], e.issuer.PublicKey())
	if err != nil || a.Type != lockproto.TypeTimeZone || a.Seq != r.ZoneQueued || a.Zone.ValidUntil < uint32(e.now.AddDate(0, 0, 300).Unix()) {
		t.Fatalf("queued message %+v %v", a, err)
	}

	// More uploads while it is on its way queue nothing more.
	e.now = e.now.Add(time.Hour)
	e.lock.HandleUnlock([]byte{lockproto.Version, 3, 0})
	if r := e.uploadAt(e.lock, "front", e.now); r.ZoneQueued != 0 {
		t.Fatalf("queued again: %+v", r)
	}
	if p := e.pending("front"); len(p) != 1 {
		t.Fatalf("%d pending messages", len(p))
	}

	e.deliver(e.lock, p)
	e.now = e.now.Add(time.Minute)
	if r := e.uploadAt(e.lock, "front", e.now); r.ZoneQueued != 0 {
		t.Fatalf("queued after the fresh table: %+v", r)
	}
	if h := e.clockHealth("front"); h.ZoneStale != "" || h.ZonePending || !h.ZoneKnown {
		t.Fatalf("after the fresh rules: %+v", h)
	}
}

// A lock 90 s behind (inside the tolerance) whose table ends soon gets
// fresh rules once: they start well before the upload, so the lock finds
// an offset for its own time and the table is not stale again.
func TestZoneRulesReissuedOnceToALockALittleBehind(t *testing.T) {
	e := newLockEnv(t)
	e.setLockClock(e.now.Add(-90 * time.Second))
	if _, err := e.svc.SendZoneRules(bg, commands.SendZoneRules{ID: e.id(), Lock: "front", By: "bill",
		From: e.now.AddDate(0, 0, -1), Until: e.now.AddDate(0, 0, 10)}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if r := e.uploadAt(e.lock, "front", e.now); r.ZoneQueued == 0 || r.SyncNeeded {
		t.Fatalf("upload %+v: want fresh zone rules and no sync", r)
	}
	for i := range 3 {
		e.now = e.now.Add(10 * time.Second)
		e.deliver(e.lock, e.pending("front"))
		if r := e.uploadAt(e.lock, "front", e.now); r.ZoneQueued != 0 {
			t.Fatalf("upload %d after the fresh rules: queued again, %+v", i, r)
		}
		if h := e.clockHealth("front"); h.ZoneStale != "" || !h.ZoneKnown {
			t.Fatalf("upload %d after the fresh rules: %+v", i, h)
		}
	}
}

// Zone rules that reach no further than the renewal margin would be stale
// as they are sent: New refuses them.
func TestNewRefusesZoneRulesShorterThanTheRenewal(t *testing.T) {
	e := newEnv(t)
	for _, o := range []commands.Options{
		{ZoneRulesAhead: 30 * 24 * time.Hour},
		{ZoneRenewBefore: 400 * 24 * time.Hour},
		{ZoneRulesAhead: time.Hour, ZoneRenewBefore: 2 * time.Hour},
	} {
		_, err := commands.New(e.l, &o)
		var ve *commands.ValidationError
		if !errors.Is(err, commands.ErrInvalid) || !errors.As(err, &ve) || ve.Field != "ZoneRulesAhead" {
			t.Errorf("ahead %v, renew %v: %v", o.ZoneRulesAhead, o.ZoneRenewBefore, err)
		}
	}
	if _, err := commands.New(e.l, &commands.Options{ZoneRulesAhead: 31 * 24 * time.Hour}); err != nil {
		t.Errorf("rules reaching past the renewal: %v", err)
	}
}

// An upload that flags a lock for a time sync is logged once, with the
// offset; the unchanged upload after it is not.
func TestLogClockNeedsASync(t *testing.T) {
	log, c := logtest.New()
	e := newObservedLockEnv(t, log)
	e.setLockClock(e.now.Add(10 * time.Minute))
	e.uploadAt(e.lock, "front", e.now)
	e.lock.HandleUnlock([]byte{lockproto.Version, 3, 0})
	e.uploadAt(e.lock, "front", e.now)
	r := only(t, c, slog.LevelWarn, "lock clock needs a time sync")
	if r.String("lock") != "front" || r.String("offset_seconds") != "600" || r.String("known") != "true" || r.String("lower_bound") != "false" {
		t.Fatalf("logged as %+v", r)
	}
}

// A lock whose clock is far off finds no offset in a table that is
// fine: no zone rules are queued until its clock is synced.
func TestZoneRulesWaitForTheClock(t *testing.T) {
	e := newLockEnv(t)
	e.setLockClock(e.now.AddDate(3, 0, 0))
	r := e.uploadAt(e.lock, "front", e.now)
	if !r.SyncNeeded || r.ZoneQueued != 0 {
		t.Fatalf("upload %+v: want a sync needed and no zone rules", r)
	}
	if h := e.clockHealth("front"); h.ZoneStale == "" || h.ZoneKnown || h.ZonePending {
		t.Fatalf("clock health %+v", h)
	}
}
