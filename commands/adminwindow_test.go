package commands_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
)

// outrun has the lock apply a message signed outside the ledger (a slot
// reset raising nothing) more than the lock's window above every message
// issued so far: the lock can no longer apply any of them. It returns the
// message's sequence number.
func (e *lockEnv) outrun(l *lockproto.Lock) uint32 {
	e.t.Helper()
	top := l.State().AdminSeq
	for _, m := range e.pending("front") {
		top = max(top, decodeAdmin(e.t, m).Seq)
	}
	seq := top + lockproto.AdminWindow + 1
	m, err := e.issuer.ResetSlot(commands.LockUUID("front"), seq, lockproto.MaxSlots-1, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := l.HandleAdmin(m); err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func refusedAs(err error) access.Reason {
	var re *lockproto.RefusalError
	if errors.As(err, &re) {
		return re.Reason
	}
	return access.Granted
}

func decodeAdmin(t testing.TB, m []byte) lockproto.Admin {
	t.Helper()
	a, err := lockproto.DecodeAdmin(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *lockEnv) resetLock() {
	e.t.Helper()
	if _, err := e.svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "front", By: "bill"}); err != nil {
		e.t.Fatal(err)
	}
}

// A phone that delivers a later admin message first does not make the lock
// pass the earlier one: it stays pending, unchanged, and is applied and
// recorded as applied whenever it arrives.
func TestAdminDeliveredOutOfOrderStaysPending(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	e.shareTo("k2", "bob", 2, settings("k2"))
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	pend := e.pending("front") // reset k1, deactivate k2
	e.deliver(e.lock, pend[1:])
	res := e.upload(e.lock, "front")
	if !slices.Equal(res.Confirmed, []string{"k2"}) || len(res.Reissued) != 0 {
		t.Fatalf("upload %+v", res)
	}
	if p := e.pending("front"); len(p) != 1 || !bytes.Equal(p[0], pend[0]) {
		t.Fatalf("the earlier message, not applied yet: %d pending", len(p))
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.visit(e.lock, ann, 0); d.Granted {
		t.Fatal("the reset delivered late did not take")
	}
	res = e.upload(e.lock, "front")
	if a := decodeAdmin(t, pend[0]); !slices.Equal(res.Applied, []uint32{a.Seq}) || len(e.pending("front")) != 0 {
		t.Fatalf("the late record: %+v, %d pending", res, len(e.pending("front")))
	}
	if s := e.sync("k1"); s != events.SyncRemoved {
		t.Fatalf("k1 at the lock: %v", s)
	}
}

// A message the lock can no longer apply (more than its window below the
// highest it applied) is issued again, and the new one takes.
func TestAdminTooOldIsReissued(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	top := e.outrun(e.lock)
	e.deliver(e.lock, e.pending("front")) // stale now: refused
	res := e.upload(e.lock, "front")
	if !slices.Equal(res.Reissued, []uint32{top + 1}) {
		t.Fatalf("upload %+v", res)
	}
	again := e.pending("front")
	if a := decodeAdmin(t, again[0]); len(again) != 1 || a.Type != lockproto.TypeResetSlot || a.Slot != 0 {
		t.Fatalf("reissued %+v", a)
	}
	if d := e.visit(e.lock, ann, 0); !d.Granted {
		t.Fatalf("before the reissue reached the lock: %v", d.Reason)
	}
	e.deliver(e.lock, again)
	if d := e.visit(e.lock, ann, 0); d.Granted {
		t.Fatal("the reissued reset did not take")
	}
	if res := e.upload(e.lock, "front"); !slices.Equal(res.Applied, []uint32{top + 1}) || len(e.pending("front")) != 0 {
		t.Fatalf("second upload %+v", res)
	}
}

// A reset of every key delivered before a PIN set made before it: the set
// is not issued again above the reset (its key ended), so the PIN never
// opens at the lock.
func TestSetPINOfAKeyEndedByAResetIsNotReissued(t *testing.T) {
	e := newLockEnv(t)
	e.pinKey("p1", "482915", time.Time{})
	e.resetLock()
	pend := e.pending("front") // set p1, reset
	e.deliver(e.lock, pend[len(pend)-1:])
	e.outrun(e.lock)
	if res := e.upload(e.lock, "front"); len(res.Reissued) != 0 {
		t.Fatalf("reissued %v", res.Reissued)
	}
	for _, m := range pend { // the set is stale now, the reset applied
		_ = e.lock.HandleAdmin(m)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("482915")); d.Granted {
		t.Fatalf("the PIN of a key the reset ended opens at the lock: %+v", d)
	}
	if len(e.pending("front")) != 0 {
		t.Fatalf("%d pending", len(e.pending("front")))
	}
}

// The same within the lock's window: the set delivered after the reset is
// applied as older than it (changes nothing), and its record counts.
func TestSetPINDeliveredAfterTheResetStaysOff(t *testing.T) {
	e := newLockEnv(t)
	e.pinKey("p1", "482915", time.Time{})
	e.resetLock()
	pend := e.pending("front")
	e.deliver(e.lock, pend[len(pend)-1:])
	if res := e.upload(e.lock, "front"); len(res.Reissued) != 0 || len(e.pending("front")) != 1 {
		t.Fatalf("upload %+v, %d pending", res, len(e.pending("front")))
	}
	if err := e.lock.HandleAdmin(e.pending("front")[0]); refusedAs(err) != access.Superseded {
		t.Fatalf("the set older than the reset: %v", err)
	}
	if d := e.lock.EnterCode(0, []byte("482915")); d.Granted {
		t.Fatalf("the PIN of a key the reset ended opens at the lock: %+v", d)
	}
	if res := e.upload(e.lock, "front"); len(res.Applied) != 1 || len(e.pending("front")) != 0 {
		t.Fatalf("upload %+v, %d pending", res, len(e.pending("front")))
	}
}

// A reset and a PIN set after it, delivered in reverse: both apply, and
// the backend issues nothing again, so the new PIN stays.
func TestResetAndLaterPINDeliveredReversedKeepThePIN(t *testing.T) {
	e := newLockEnv(t)
	e.resetLock()
	e.pinKey("p2", "482915", time.Time{})
	pend := e.pending("front") // reset, set p2
	e.deliver(e.lock, pend[1:])
	e.deliver(e.lock, pend[:1])
	res := e.upload(e.lock, "front")
	if len(res.Reissued) != 0 || len(res.Applied) != 2 || len(e.pending("front")) != 0 {
		t.Fatalf("upload %+v, %d pending", res, len(e.pending("front")))
	}
	if d := e.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Fatalf("a PIN made after the reset: %+v", d)
	}
	if s := e.sync("p2"); s != events.SyncApplied {
		t.Fatalf("p2 at the lock: %v", s)
	}
}

// A reset the lock can no longer apply is issued again with its mark: a
// PIN and a suspension made after the reset, applied before it, stay.
func TestReissuedResetKeepsWhatCameAfterIt(t *testing.T) {
	e := newLockEnv(t)
	e.shareTo("k1", "ann", 1, settings("k1"))
	e.deliver(e.lock, e.pending("front"))
	e.upload(e.lock, "front")
	e.resetLock()
	p := e.shareTo("k2", "bob", 0, settings("k2"))
	e.pinKey("p2", "482915", time.Time{})
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	var rest [][]byte
	for _, m := range e.pending("front") {
		if decodeAdmin(t, m).Type != lockproto.TypeResetAll {
			rest = append(rest, m)
		}
	}
	e.deliver(e.lock, rest) // everything but the reset
	e.outrun(e.lock)
	res := e.upload(e.lock, "front")
	if len(res.Reissued) != 1 {
		t.Fatalf("upload %+v", res)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Fatalf("a PIN made after the reset, after the reissued reset: %+v", d)
	}
	if d := e.visit(e.lock, p, 0); d.Reason != access.KeySuspended {
		t.Fatalf("k2, suspended after the reset, after the reissued reset: %+v", d)
	}
	if res := e.upload(e.lock, "front"); len(res.Applied) != 1 || len(e.pending("front")) != 0 {
		t.Fatalf("upload %+v, %d pending", res, len(e.pending("front")))
	}
}

// A suspend the lock can no longer apply is issued again only while the
// key made no change since: a resume issued after it makes it moot.
func TestSuspendSupersededIsNotReissued(t *testing.T) {
	e := newLockEnv(t)
	p := e.shareTo("k1", "ann", 1, settings("k1"))
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResumeKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.outrun(e.lock)
	if res := e.upload(e.lock, "front"); len(res.Reissued) != 1 {
		t.Fatalf("upload %+v", res)
	}
	again := e.pending("front")
	if len(again) != 1 || decodeAdmin(t, again[0]).Suspended {
		t.Fatalf("reissued: %d, want the resume only", len(again))
	}
	e.deliver(e.lock, again)
	if d := e.visit(e.lock, p, 0); !d.Granted {
		t.Fatalf("k1, resumed: %v", d.Reason)
	}
}

// A reset of every key the lock applied marks the offline codes it ended
// as revoked at the lock.
func TestResetAppliedMarksCodesRevokedAtTheLock(t *testing.T) {
	e := newLockEnv(t)
	e.enableCodes()
	e.issueCode("stay-1", lockproto.CodePeriod, e.now, e.now.Add(3*time.Hour))
	e.resetLock()
	e.deliver(e.lock, e.pending("front"))
	e.upload(e.lock, "front")
	if s := e.codeStatus("stay-1"); s != "revoked" {
		t.Fatalf("after the lock applied the reset: %q", s)
	}
}
