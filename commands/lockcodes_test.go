package commands_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

func (e *lockEnv) sync(key string) events.LockSync {
	e.t.Helper()
	s, err := e.proj.KeyStatus(bg, key, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.AtLock
}

// A PIN key reaches the lock's keypad through the pending admin messages,
// and its revocation takes it off; the sync status follows the lock's audit.
func TestPINKeyAtTheLockKeypad(t *testing.T) {
	e := newLockEnv(t)
	res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482915"), Settings: settings("p1")})
	if err != nil {
		t.Fatal(err)
	}
	if e.sync("p1") != events.SyncPending {
		t.Fatalf("after creation: %v", e.sync("p1"))
	}
	for _, m := range e.pending("front") {
		if bytes.Contains(m, []byte("482915")) {
			t.Fatal("the PIN is in a lock message in plaintext")
		}
	}
	if d := e.lock.EnterCode(0, []byte("482915")); d.Reason != access.WrongPIN {
		t.Fatalf("before delivery: %+v", d)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, res.PIN.Reveal()); !d.Granted {
		t.Fatalf("after delivery: %+v", d)
	}
	if d := e.lock.EnterCode(1, []byte("482915")); d.Reason != access.WrongDoor {
		t.Fatalf("the inner door: %+v", d)
	}
	e.upload(e.lock, "front")
	if e.sync("p1") != events.SyncApplied {
		t.Fatalf("after the upload: %v", e.sync("p1"))
	}
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "p1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if e.sync("p1") != events.SyncRemoving {
		t.Fatalf("revoked: %v", e.sync("p1"))
	}
	if d := e.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Fatalf("the lock has not heard of the revocation yet: %+v", d)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("482915")); d.Reason != access.WrongPIN {
		t.Fatalf("after the revocation reached the lock: %+v", d)
	}
	e.upload(e.lock, "front")
	if e.sync("p1") != events.SyncRemoved {
		t.Fatalf("after the upload: %v", e.sync("p1"))
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "p1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pending("front")); n != 0 {
		t.Fatalf("deleting a removed PIN key queued %d messages", n)
	}
}

func TestCardKeyAtTheLockReader(t *testing.T) {
	e := newLockEnv(t)
	uid := []byte{0x04, 0xa2, 0x3b, 0x91, 0x7c, 0x55, 0x80}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "c1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialKeycard, Card: secret.New(bytes.Clone(uid)), Settings: settings("c1")}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.PresentCard(0, uid); !d.Granted {
		t.Fatalf("card: %+v", d)
	}
	e.upload(e.lock, "front")
	if e.sync("c1") != events.SyncApplied {
		t.Fatalf("after the upload: %v", e.sync("c1"))
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "c1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.PresentCard(0, uid); d.Reason != access.UnknownCard {
		t.Fatalf("deleted card: %+v", d)
	}
}

// An app key's granted unlock becomes a remote open an intercom relays.
func TestRemoteOpenFollowsTheDecision(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Settings: settings("d1")}); err != nil {
		t.Fatal(err)
	}
	unlock := func(door access.Door) commands.Unlock {
		return commands.Unlock{ID: e.id(), Key: "d1", By: "ann", Door: door, Source: "intercom"}
	}
	granted := unlock(access.MainDoor)
	if r, err := e.svc.Unlock(bg, granted); err != nil || !r.Granted {
		t.Fatalf("unlock: %+v %v", r, err)
	}
	chb, err := e.lock.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	frame, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: granted.ID, Challenge: chb, Relay: lockproto.RelayIntercom})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.lock.HandleRemoteOpen(frame); !d.Granted || d.Door != 0 {
		t.Fatalf("remote open: %+v", d)
	}
	if d := e.lock.HandleRemoteOpen(frame); d.Reason != access.BadNonce {
		t.Fatalf("replayed: %+v", d)
	}

	refused := unlock(access.InnerDoor) // the key lacks the inner door
	if r, _ := e.svc.Unlock(bg, refused); r.Granted {
		t.Fatal("inner door granted")
	}
	chb, _ = e.lock.Challenge()
	if _, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: refused.ID, Challenge: chb}); !errors.Is(err, commands.ErrNotGranted) {
		t.Fatalf("a refused decision: %v", err)
	}
	other, _ := lockproto.NewPairing(commands.LockUUID("back"), e.issuer.PublicKey(), e.rnd)
	ol, _ := lockproto.NewLock(other, nil)
	ochb, _ := ol.Challenge()
	var ve *commands.ValidationError
	if _, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: granted.ID, Challenge: ochb}); !errors.As(err, &ve) || ve.Field != "challenge" {
		t.Fatalf("another lock's challenge: %v", err)
	}
	if _, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: e.id(), Challenge: chb}); !errors.Is(err, commands.ErrNotFound) {
		t.Fatalf("no decision: %v", err)
	}
	e.now = e.now.Add(2 * commands.RemoteOpenValidity)
	if _, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: granted.ID, Challenge: chb}); !errors.As(err, &ve) || ve.Field != "decision" {
		t.Fatalf("an old decision: %v", err)
	}
	if _, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: granted.ID, Challenge: chb[:10]}); !errors.As(err, &ve) || strings.Contains(err.Error(), "482915") {
		t.Fatalf("a garbled challenge: %v", err)
	}
	_ = time.Second
}

// An edit of a PIN key reaches the lock as the next generation of its
// entry: new doors and schedule, the same PIN, its uses carried on; a
// later revocation clears that generation.
func TestEditedPINKeyReachesTheLock(t *testing.T) {
	e := newLockEnv(t)
	st := settings("p2")
	st.Policy.Uses = policy.UsesN(3)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p2", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("5151"), Settings: st}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("5151")); !d.Granted || d.Uses != 1 {
		t.Fatalf("before the edit: %+v", d)
	}
	doors := access.Inner
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p2", By: "bill", Settings: commands.SettingsPatch{Doors: &doors}}); err != nil {
		t.Fatal(err)
	}
	if e.sync("p2") != events.SyncPending {
		t.Fatalf("after the edit: %v", e.sync("p2"))
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("5151")); d.Reason != access.WrongDoor {
		t.Fatalf("the main door after the edit: %+v", d)
	}
	if d := e.lock.EnterCode(1, []byte("5151")); !d.Granted || d.Uses != 2 {
		t.Fatalf("the inner door after the edit: %+v", d)
	}
	e.upload(e.lock, "front")
	if e.sync("p2") != events.SyncApplied {
		t.Fatalf("after the upload: %v", e.sync("p2"))
	}
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "p2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(1, []byte("5151")); d.Reason != access.WrongPIN {
		t.Fatalf("revoked after an edit: %+v", d)
	}
}

// A code granted at an intercom panel that talks to the backend becomes a
// remote open too.
func TestRemoteOpenAfterAPINAtAPanel(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p3", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("909090"), Settings: settings("p3")}); err != nil {
		t.Fatal(err)
	}
	c := commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "lobby", PIN: secret.FromString("909090")}
	if r, err := e.svc.UnlockByPIN(bg, c); err != nil || !r.Granted {
		t.Fatalf("%+v %v", r, err)
	}
	chb, err := e.lock.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	frame, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: c.ID, Challenge: chb, Relay: lockproto.RelayIntercom})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(frame, []byte("909090")) {
		t.Fatal("the PIN is in the remote open")
	}
	if d := e.lock.HandleRemoteOpen(frame); !d.Granted {
		t.Fatalf("%+v", d)
	}
	e.upload(e.lock, "front")
}
