package commands_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// A keycard key names its card by the card's identifier (UID): 4 to 10
// bytes, required, unique on the lock (ErrCardTaken for a second key with
// the same card; another lock may use it), freed when the key is revoked
// or deleted. The ledger keeps only its keyed hash: no event holds the
// identifier, no error names it.
func TestKeycardKeysNameTheirCard(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), []given{{"lock-back", events.LockRegistered{Lock: "back", Owner: "bill", Name: "Back", Zone: "Europe/Berlin", Doors: access.Main}}})...)
	uid := []byte{0x04, 0xa2, 0x3b, 0x91, 0x7c, 0x55, 0x80}
	card := func(key, lock string, id []byte, cred events.Credential) func() error {
		return func() error {
			_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: lock, By: "bill", Kind: events.KindDigital,
				For: "ann", Credential: cred, Card: secret.New(bytes.Clone(id)), Settings: settings(key)})
			return err
		}
	}
	h, err := e.vault.HashCard("front", secret.New(bytes.Clone(uid)))
	if err != nil {
		t.Fatal(err)
	}
	e.then(card("c1", "front", uid, events.CredentialKeycard),
		events.KeyCreated{Key: "c1", Lock: "front", Owner: "bill", Kind: events.KindDigital, Credential: events.CredentialKeycard,
			Settings: settings("c1"), Holder: "ann", CardHash: h[:]},
		events.CardClaimed{Lock: "front", Key: "c1", Hash: h[:]})
	e.refused(card("c2", "front", uid, events.CredentialKeycard), commands.ErrCardTaken)
	if err := card("c3", "back", uid, events.CredentialKeycard)(); err != nil {
		t.Fatalf("the same card on another lock: %v", err)
	}
	for _, bad := range []struct {
		name string
		id   []byte
		cred events.Credential
	}{
		{"no identifier", nil, events.CredentialKeycard},
		{"3 bytes", uid[:3], events.CredentialKeycard},
		{"11 bytes", append(bytes.Clone(uid), 1, 2, 3, 4), events.CredentialKeycard},
		{"an identifier for an app key", uid, events.CredentialApp},
	} {
		err := e.refused(card("c4", "front", bad.id, bad.cred), commands.ErrInvalid)
		var ve *commands.ValidationError
		if !errors.As(err, &ve) || ve.Field != "card" || strings.Contains(strings.ToLower(err.Error()), "04a23b") {
			t.Fatalf("%s: %v, want a *ValidationError for the card without its bytes", bad.name, err)
		}
	}
	// Revoking frees the card for another key of the lock.
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "c1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := card("c2", "front", uid, events.CredentialKeycard)(); err != nil {
		t.Fatalf("the card after its key was revoked: %v", err)
	}
	for ev, err := range e.l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(ev.Raw, uid) {
			t.Fatalf("the card's identifier in event %d (%s)", ev.Position, ev.Type)
		}
	}
}
