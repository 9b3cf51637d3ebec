package commands_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/lockproto"
)

func (e *lockEnv) suspendedAtLock() int {
	n := 0
	for _, s := range e.lock.State().Suspended {
		if s.InUse && s.Suspended {
			n++
		}
	}
	return n
}

// Suspended PIN keys deleted afterwards leave no suspended entry in the
// lock's suspension table (only tombstones a new suspension evicts): once
// more keys than it holds were suspended and deleted, a suspension still
// takes at the lock.
func TestDeletedSuspendedPINKeysFreeTheLocksTable(t *testing.T) {
	e := newLockEnv(t)
	for i := range lockproto.MaxSuspensions {
		k := fmt.Sprintf("p%d", i)
		e.pinKey(k, fmt.Sprintf("4829%02d", i), time.Time{})
		if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: k, By: "bill"}); err != nil {
			t.Fatal(err)
		}
		e.deliver(e.lock, e.pending("front"))
		if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: k, By: "bill"}); err != nil {
			t.Fatal(err)
		}
		e.deliver(e.lock, e.pending("front"))
		e.upload(e.lock, "front")
	}
	if n := e.suspendedAtLock(); n != 0 {
		t.Fatalf("%d suspension entries of deleted keys", n)
	}
	e.pinKey("q", "777111", time.Time{})
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "q", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("777111")); d.Reason != access.KeySuspended {
		t.Fatalf("suspended q at the lock: %+v", d)
	}
}

// A suspended share key whose slot is reset or deactivated has its
// credential revoked too, which turns its suspension entry at the lock
// into a tombstone.
func TestSlotResetOfSuspendedKeysFreesTheLocksTable(t *testing.T) {
	e := newLockEnv(t)
	for i := range lockproto.MaxSuspensions {
		k := fmt.Sprintf("k%d", i)
		e.shareTo(k, "ann", 1, settings(k))
		if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: k, By: "bill"}); err != nil {
			t.Fatal(err)
		}
		e.deliver(e.lock, e.pending("front"))
		end := e.svc.ResetKey
		if i%2 == 1 {
			end = e.svc.RequestDeactivation
		}
		if err := end(bg, commands.KeyCommand{ID: e.id(), Key: k, By: "bill"}); err != nil {
			t.Fatal(err)
		}
		e.deliver(e.lock, e.pending("front"))
		e.upload(e.lock, "front") // confirms a deactivation: the slot is free again
	}
	if n := e.suspendedAtLock(); n != 0 {
		t.Fatalf("%d suspension entries of ended keys", n)
	}
	p := e.shareTo("last", "bob", 1, settings("last"))
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "last", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.visit(e.lock, p, 0); d.Reason != access.KeySuspended {
		t.Fatalf("a suspended key after sixteen ended ones: %+v", d)
	}
}
