package commands_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// Once the backend acknowledges a notification, the code or PIN
// sealed in it is crypto-shredded: it can never be revealed again, its data
// key is gone from the state, and so is the outbox row holding it.
func TestAckShredsSealedSecrets(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0))...)
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToCode, Email: "guest@example.com"}); err != nil {
		t.Fatal(err)
	}
	st := settings("d1")
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		Settings: st, For: "ann", Credential: events.CredentialPIN, Email: true, EmailPIN: true}); err != nil {
		t.Fatal(err)
	}
	pending, err := e.proj.Pending(bg, 10)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending %d %v", len(pending), err)
	}
	for _, n := range pending {
		if len(n.Secret) == 0 {
			t.Fatalf("notification about %s has no sealed secret", n.Key)
		}
		if _, err := e.svc.RevealNotificationSecret(bg, n.Key, n.Secret); err != nil {
			t.Fatalf("before ack: %v", err)
		}
		id, err := secret.Sealed(n.Secret).KeyID()
		if err != nil {
			t.Fatal(err)
		}
		dk := append([]byte("secret/dk/"), id[:]...)
		if _, err := e.l.GetState(bg, dk); err != nil {
			t.Fatalf("data key of %s not stored: %v", n.Key, err)
		}
		for range 2 { // at-least-once delivery: a second ack is a no-op
			if err := e.svc.AckNotification(bg, n.ID); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.svc.RevealNotificationSecret(bg, n.Key, n.Secret)
		var ke *secret.KeyError
		if !errors.Is(err, secret.ErrShredded) || !errors.As(err, &ke) || ke.ID != id {
			t.Fatalf("reveal after ack: %v", err)
		}
		if _, err := e.l.GetState(bg, dk); err == nil {
			t.Fatalf("data key of %s still in the state after ack", n.Key)
		}
		// No row of the state holds the sealed value any more (the outbox
		// row is gone with the ack).
		for kv, err := range e.l.ScanState(bg, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(kv.Value, n.Secret) {
				t.Fatalf("state row %q still holds the sealed secret of %s", kv.Key, n.Key)
			}
		}
	}
}
