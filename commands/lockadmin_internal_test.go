package commands

import (
	"testing"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// The revocation message of a key with an offline credential names that
// credential (its ID, slot and generation). No lifecycle path reaches it
// today — a downloaded share key is reset or deactivated, never revoked
// (kindRules) — so it is checked here, below the commands.
func TestRevokeMessageNamesTheCredential(t *testing.T) {
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
	lk := &LockState{ID: "front", LockKey: make([]byte, 32), AdminSeq: 6, AdminSeen: 4}
	a, ok, err := s.adminOf(k, lk, lockproto.TypeRevoke)
	if err != nil || !ok {
		t.Fatalf("%v %v", ok, err)
	}
	m, err := lockproto.VerifyAdmin(a.Message, signer.PublicKey())
	if err != nil || m.Type != lockproto.TypeRevoke || m.Seq != 7 || a.Seq != 7 || m.Credential != credentialID(k) ||
		m.Slot != 2 || m.Generation != 5 || m.NotAfter != 0 || m.Lock != LockUUID("front") {
		t.Fatalf("revoke %+v (%+v) %v", m, a, err)
	}
	if _, ok, _ := s.adminOf(&KeyState{ID: "k2", Lock: "front", Kind: events.KindIntercom, HolderKey: make([]byte, 32)}, lk, lockproto.TypeRevoke); ok {
		t.Fatal("a key without a slot got a revocation")
	}
}
