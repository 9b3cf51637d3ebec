package commands_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// A message signed by the issuer key a rotation retired can never apply
// once the lock applied the rotation: when the audit shows the rotation
// applied, every pending message below it is issued again under the new
// key (here a deleted PIN key's clear), whatever its distance below.
func TestMessagesBelowAnAppliedRotationAreIssuedAgain(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482915"), Settings: settings("p1")}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	e.upload(e.lock, "front")
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "p1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	old := e.pending("front") // the clear, signed by the key about to retire
	e.startWithNextIssuer()
	rot, err := e.svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: e.id(), Lock: "front", By: "ops", Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.lock.HandleAdmin(rot); err != nil { // the rotation overtakes the clear
		t.Fatal(err)
	}
	for _, m := range old {
		if err := e.lock.HandleAdmin(m); err == nil {
			t.Fatal("the lock applied a message the retired key signed after the rotation")
		}
	}
	r := e.upload(e.lock, "front")
	if len(r.Reissued) != len(old) {
		t.Fatalf("the upload that shows the rotation applied issued %v again, want the %d message(s) below it", r.Reissued, len(old))
	}
	e.deliver(e.lock, e.pending("front"))
	e.upload(e.lock, "front")
	if n := len(e.pending("front")); n != 0 {
		t.Fatalf("%d message(s) still pending after delivery", n)
	}
	if d := e.lock.EnterCode(0, []byte("482915")); d.Granted || d.Reason != access.WrongPIN {
		t.Fatalf("the deleted key's PIN at the lock: %+v, want refused as a wrong PIN", d)
	}
}
