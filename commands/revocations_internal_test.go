package commands

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// When the lock's revocation list is full (as the service sees it: the
// revocations it issued whose slot has not moved past them), a revocation
// falls back to a reset of the revoked key's slot at the next generation:
// the credential stops opening all the same, the slot is released at that
// generation so the next key there opens, and the pending list shows the
// reset in place of the revocation. Revocations made moot by resets free
// the service's view again.
func TestRevocationFallsBackToSlotReset(t *testing.T) {
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	signer, err := lockproto.GenerateEd25519Signer(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(l, &Options{Issuer: lockproto.NewIssuer(signer)})
	if err != nil {
		t.Fatal(err)
	}
	k := &KeyState{ID: "k1", Lock: "front", Kind: events.KindShare, Slot: 3, Generation: 5, HolderKey: make([]byte, 32)}
	lk := &LockState{ID: "front", LockKey: make([]byte, 32), AdminSeq: 40, AdminSeen: 40, SlotKeys: []string{"a", "b", "k1", "d"}, SlotGens: []uint32{2, 2, 5, 2}}
	for i := range lockproto.MaxRevocations {
		slot := 1 + i%4
		lk.Revocations = append(lk.Revocations, events.AdminIssued{Lock: "front", Seq: uint32(i + 1), Type: lockproto.TypeRevoke, Slot: slot, Generation: lk.SlotGens[slot-1]})
	}
	if !lk.revocationsFull() {
		t.Fatal("32 live revocations do not fill the list")
	}
	_, evs, err := s.withAdmin(k, lk, lockproto.TypeRevoke, nil, releaseAll(k, lk, false))
	if err != nil {
		t.Fatal(err)
	}
	rel, ok := evs[0].(events.SlotReleased)
	a, ok2 := evs[1].(events.AdminIssued)
	if !ok || !ok2 || rel.Slot != 3 || rel.Generation != 6 {
		t.Fatalf("lock events %+v", evs)
	}
	m, err := lockproto.VerifyAdmin(a.Message, signer.PublicKey())
	if err != nil || a.Type != lockproto.TypeResetSlot || a.Replaces != lockproto.TypeRevoke || m.Type != lockproto.TypeResetSlot ||
		m.Slot != 2 || m.Generation != 6 || m.Seq != 41 {
		t.Fatalf("fallback %+v (%+v) %v", m, a, err)
	}

	// At a reference lock the reset makes the credential lose.
	p, _ := lockproto.NewPairing(LockUUID("front"), signer.PublicKey(), nil)
	var rtc time.Duration
	lock, _ := lockproto.NewLock(p, &lockproto.Config{Clock: func() time.Duration { return rtc }})
	hk, _ := lockproto.GenerateHolderKey(nil)
	raw, _ := s.issuer.IssueCredential(lockproto.Credential{Lock: LockUUID("front"), ID: credentialID(k), Slot: 2, Generation: 5, Doors: 1,
		HolderKey: hk.PublicKey(), Policy: policy.Compact{}})
	h, _ := lockproto.NewHolder(hk, raw, lock.PublicKey())
	open := func() access.Reason {
		chb, _ := lock.Challenge()
		ch, _ := lockproto.DecodeChallenge(chb)
		req, _ := h.Unlock(ch, 0)
		return lock.HandleUnlock(req).Reason
	}
	if r := open(); r != access.Granted {
		t.Fatalf("before: %v", r)
	}
	if err := lock.HandleAdmin(a.Message); err != nil {
		t.Fatal(err)
	}
	if r := open(); r != access.Superseded {
		t.Fatalf("after the fallback reset: %v", r)
	}

	// The pending list shows what the reset replaces.
	ctx := context.Background()
	if _, err := l.Append(ctx, "lock-front", ledger.ExpectAny,
		ledger.NewEvent{Data: events.LockRegistered{Lock: "front", Owner: "bill", Name: "front", Zone: "UTC", Slots: 4}},
		ledger.NewEvent{Data: a}); err != nil {
		t.Fatal(err)
	}
	list, err := s.PendingAdminList(ctx, "front")
	if err != nil || len(list) != 1 || list[0].Replaces != lockproto.TypeRevoke || list[0].Type != lockproto.TypeResetSlot {
		t.Fatalf("pending list %+v %v", list, err)
	}

	// Resets that moved the slots past the revoked generations free the view.
	lk.SlotGens = []uint32{3, 3, 6, 3}
	if lk.revocationsFull() {
		t.Fatal("moot revocations still fill the list")
	}
	if a, _, _ := s.adminOf(k, lk, lockproto.TypeRevoke); a.Type != lockproto.TypeRevoke || a.Replaces != 0 {
		t.Fatalf("with room: %+v", a)
	}
}
