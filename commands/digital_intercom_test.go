package commands_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// Seed 003: digital keys for a user, with a PIN unique on the lock, role and
// an optional e-mail carrying the PIN (sealed).
func TestDigitalKeyPIN(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	st := settings("technician, Friday business hours")
	st.Role = events.RoleAdmin
	pos := e.l.DurablePosition()
	res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, Settings: st, Email: true, EmailPIN: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.PIN.Len() != 6 {
		t.Fatalf("PIN of %d digits", res.PIN.Len())
	}
	h, _ := e.vault.HashPIN("front", res.PIN)
	got := e.eventsSince(pos)
	if len(got) != 3 {
		t.Fatalf("events %#v", got)
	}
	kc := got[0].(events.KeyCreated)
	if kc.Holder != "ann" || kc.Email != "ann@example.com" || !bytes.Equal(kc.PINHash, h[:]) || kc.Settings.Role != events.RoleAdmin {
		t.Fatalf("created %#v", kc)
	}
	n := got[1].(events.NotificationQueued)
	if n.To != "ann" || n.Email != "ann@example.com" || len(n.Secret) == 0 {
		t.Fatalf("notification %#v", n)
	}
	if pin, err := e.svc.RevealNotificationSecret(bg, "d1", n.Secret); err != nil || !pin.Equal(res.PIN) {
		t.Fatalf("sealed PIN: %v", err)
	}
	if pc := got[2].(events.PINClaimed); !bytes.Equal(pc.Hash, h[:]) {
		t.Fatalf("claim %#v", pc)
	}

	// PINs are unique per lock.
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d2", Lock: "front", By: "bill", Kind: events.KindDigital,
			For: "bob", Credential: events.CredentialPIN, PIN: res.PIN})
		return err
	}, commands.ErrPINTaken)
	// Delivered at once: the user has it; deleting frees the PIN.
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d2", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "bob", Credential: events.CredentialPIN, PIN: res.PIN}); err != nil {
		t.Fatalf("PIN not released by delete: %v", err)
	}
	keys, err := e.proj.HolderKeys(bg, "bob", e.now)
	if err != nil || len(keys) != 1 || keys[0].Key != "d2" || keys[0].Sharing() != events.InSharing {
		t.Fatalf("bob's keys %+v %v", keys, err)
	}
}

func TestDigitalKeyApp(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	e.then(func() error {
		res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital, For: "ann", Settings: settings("d1")})
		if err == nil && !res.PIN.IsZero() {
			t.Error("an app key has no PIN")
		}
		return err
	}, events.KeyCreated{Key: "d1", Lock: "front", Owner: "bill", Kind: events.KindDigital, Credential: events.CredentialApp, Settings: settings("d1"), Holder: "ann"})
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d2", Lock: "front", By: "bill", Kind: events.KindDigital, For: "nobody"})
		return err
	}, commands.ErrNotFound)
	// Digital keys are made for their user; they are not shared again.
	e.refused(func() error {
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "d1", By: "bill", Method: events.ShareToID, Account: "bob"})
		return err
	}, commands.ErrForbidden)
	e.then(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "d1", By: "ann"})
		return err
	}, events.KeyDownloaded{Key: "d1", Lock: "front", Holder: "ann", Method: events.ShareToID})
	// Managed online: edited after download.
	e.then(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "d1", By: "bill", Settings: commands.AllSettings(settings("d1 v2"))})
	}, events.KeyEdited{Key: "d1", Lock: "front", By: "bill", Settings: settings("d1 v2")})
	table, err := e.proj.DigitalKeys(bg, "bill", e.now)
	if err != nil || len(table) != 1 || table[0].Settings.Name != "d1 v2" {
		t.Fatalf("digital keys %+v %v", table, err)
	}
	if list, _ := e.proj.ShareKeyList(bg, "bill", e.now); len(list) != 0 {
		t.Fatalf("digital key in the share key list: %+v", list)
	}
}

// Seed 004: intercom keys: category (Friend by default), inner door, welcome
// message; edited and deleted at any time.
func TestIntercomKey(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	st := events.Settings{Name: "Cleaner", Category: events.CategoryServices, Doors: access.Main | access.Inner, Welcome: "Hi! Code is on the fridge."}
	e.then(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: st})
		return err
	}, events.KeyCreated{Key: "i1", Lock: "front", Owner: "bill", Kind: events.KindIntercom, Credential: events.CredentialApp,
		Settings: events.Settings{Name: "Cleaner", Category: events.CategoryServices, Role: events.RoleUser, Doors: access.Main | access.Inner, Welcome: "Hi! Code is on the fridge.",
			Policy: policy.Policy{Zone: "Europe/Berlin"}}})
	// Defaults: Friend, main door only.
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i2", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: events.Settings{Name: "Me"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.proj.Key(bg, "i2"); r.Settings.Category != events.CategoryFriend || r.Settings.Doors != access.Main {
		t.Fatalf("defaults %+v", r.Settings)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	// The welcome message reaches the recipient when the key is downloaded.
	e.then(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"})
		return err
	}, events.KeyDownloaded{Key: "i1", Lock: "front", Holder: "ann", Method: events.ShareToID},
		events.NotificationQueued{Topic: events.TopicWelcome, To: "ann", Email: "ann@example.com", Lock: "front", Key: "i1", Message: "Hi! Code is on the fridge."})
	// "A key can be edited at any time."
	st.Doors = access.Main
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "i1", By: "bill", Settings: commands.AllSettings(st)}); err != nil {
		t.Fatal(err)
	}
	// Inner door no longer allowed: denied with a reason and recorded.
	e.then(func() error {
		r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann", Door: access.InnerDoor, Source: "intercom"})
		if err == nil && (r.Granted || r.Reason != access.WrongDoor) {
			t.Errorf("unlock %+v", r)
		}
		return err
	}, events.UnlockAttempted{Key: "i1", Lock: "front", By: "ann", Door: access.Inner, Source: "intercom", Reason: access.WrongDoor})
	// Someone else holding the key ID is refused and recorded.
	if r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "bob"}); err != nil || r.Granted || r.Reason != access.NotHolder {
		t.Fatalf("stranger unlock %+v %v", r, err)
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "i1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"}); err != nil || r.Granted || r.Reason != access.Deleted {
		t.Fatalf("deleted key unlock %+v %v", r, err)
	}
	list, _ := e.proj.KeyList(bg, "front", e.now)
	if len(list) != 1 || list[0].Key != "i2" {
		t.Fatalf("key list after delete %+v", list)
	}
}

// An intercom key can be edited at any time, also after it was revoked: the
// edit is recorded, and the key stays revoked (editing does not bring it
// back: a revoked key opens nothing).
func TestIntercomKeyEditableAfterRevocation(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: events.Settings{Name: "Cleaner"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "i1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.then(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "i1", By: "bill", Settings: commands.SettingsPatch{Name: new("Old cleaner")}})
	}, events.KeyEdited{Key: "i1", Lock: "front", By: "bill", Settings: events.Settings{Name: "Old cleaner", Category: events.CategoryFriend,
		Role: events.RoleUser, Doors: access.Main, Policy: policy.Policy{Zone: "Europe/Berlin"}}})
	r, err := e.proj.Key(bg, "i1")
	if err != nil || r.State != events.StateRevoked || r.Settings.Name != "Old cleaner" {
		t.Fatalf("after the edit: %+v %v", r, err)
	}
	if u, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann", Source: "intercom"}); err != nil || u.Granted || u.Reason != access.Revoked {
		t.Fatalf("a revoked key opened after an edit: %+v %v", u, err)
	}
}

// Single-use and recurring intercom keys need a start and an expiry; an
// unlimited one needs neither. A key that breaks the rule is refused with a
// *ValidationError naming the missing field (ErrNeedsValidity, ErrInvalid)
// on creation and on an edit, and nothing is recorded. Other kinds keep
// their open-ended use limits.
func TestIntercomSingleUseAndRecurringNeedStartAndExpiry(t *testing.T) {
	start, end := time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 18, 0, 0, 0, time.UTC)
	weekly := []policy.Window{{Days: policy.Days(time.Monday), From: 8 * 60, To: 12 * 60}}
	for _, tc := range []struct {
		name    string
		kind    events.Kind
		policy  policy.Policy
		missing string // "" when the key is accepted
	}{
		{"an unlimited intercom key needs no dates", events.KindIntercom, policy.Policy{}, ""},
		{"an unlimited intercom key may have dates", events.KindIntercom, policy.Policy{Start: start, End: end}, ""},
		{"a single-use intercom key without dates", events.KindIntercom, policy.Policy{Uses: policy.SingleUse}, "start"},
		{"a single-use intercom key without expiry", events.KindIntercom, policy.Policy{Start: start, Uses: policy.SingleUse}, "expiry"},
		{"a single-use intercom key without start", events.KindIntercom, policy.Policy{End: end, Uses: policy.SingleUse}, "start"},
		{"a single-use intercom key with both", events.KindIntercom, policy.Policy{Start: start, End: end, Uses: policy.SingleUse}, ""},
		{"a three-use intercom key without expiry", events.KindIntercom, policy.Policy{Start: start, Uses: policy.UsesN(3)}, "expiry"},
		{"a recurring intercom key without dates", events.KindIntercom, policy.Policy{Windows: weekly}, "start"},
		{"a recurring intercom key without expiry", events.KindIntercom, policy.Policy{Start: start, Windows: weekly}, "expiry"},
		{"a recurring intercom key with both", events.KindIntercom, policy.Policy{Start: start, End: end, Windows: weekly}, ""},
		{"a single-use share key may be open-ended", events.KindShare, policy.Policy{Uses: policy.SingleUse}, ""},
		{"a recurring digital key may be open-ended", events.KindDigital, policy.Policy{Windows: weekly}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.given(frontLock()...)
			c := commands.CreateKey{ID: e.id(), Key: "k", Lock: "front", By: "bill", Kind: tc.kind, Settings: events.Settings{Name: "k", Policy: tc.policy}}
			if tc.kind == events.KindDigital {
				c.For = "ann"
			}
			create := func() error { _, err := e.svc.CreateKey(bg, c); return err }
			if tc.missing == "" {
				if err := create(); err != nil {
					t.Fatal(err)
				}
				return
			}
			checkNeedsValidity(t, e.refused(create, commands.ErrNeedsValidity), tc.missing)
			// The same policy given to an unlimited key by an edit.
			if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k", Lock: "front", By: "bill", Kind: tc.kind, Settings: events.Settings{Name: "k"}}); err != nil {
				t.Fatal(err)
			}
			err := e.refused(func() error {
				return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k", By: "bill", Settings: commands.SettingsPatch{Policy: &tc.policy}})
			}, commands.ErrNeedsValidity)
			checkNeedsValidity(t, err, tc.missing)
		})
	}
}

func checkNeedsValidity(t *testing.T, err error, field string) {
	t.Helper()
	var ve *commands.ValidationError
	if !errors.Is(err, commands.ErrInvalid) || !errors.As(err, &ve) || ve.Field != field {
		t.Fatalf("error %v: want a *ValidationError for %q", err, field)
	}
}

// What a digital key's user is e-mailed is two separate choices: the notice
// that a key was made for them, and the PIN. Either, both or neither; the
// PIN travels only sealed, and only when it was asked for.
func TestDigitalKeyEmailAndPINAreSeparateChoices(t *testing.T) {
	for _, tc := range []struct {
		name            string
		email, emailPIN bool
		topic           string // "" when nothing is e-mailed
		sealed          bool
	}{
		{"neither: the manager passes the PIN on", false, false, "", false},
		{"the notice alone, without the PIN", true, false, events.TopicKeyShared, false},
		{"the PIN alone", false, true, events.TopicPIN, true},
		{"the notice with the PIN", true, true, events.TopicKeyShared, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.given(frontLock()...)
			pos := e.l.DurablePosition()
			res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
				For: "ann", Credential: events.CredentialPIN, Settings: settings("d1"), Email: tc.email, EmailPIN: tc.emailPIN})
			if err != nil || res.PIN.IsZero() {
				t.Fatalf("create: %v (PIN given: %v)", err, !res.PIN.IsZero())
			}
			var notes []events.NotificationQueued
			var created events.KeyCreated
			for _, d := range e.eventsSince(pos) {
				switch ev := d.(type) {
				case events.NotificationQueued:
					notes = append(notes, ev)
				case events.KeyCreated:
					created = ev
				}
			}
			if tc.topic == "" {
				if len(notes) != 0 || created.Email != "" {
					t.Fatalf("nothing asked, e-mailed %+v (key e-mail %q)", notes, created.Email)
				}
				return
			}
			if len(notes) != 1 || notes[0].Topic != tc.topic || notes[0].Email != "ann@example.com" || created.Email != "ann@example.com" {
				t.Fatalf("notifications %+v, key e-mail %q; want one %q to ann", notes, created.Email, tc.topic)
			}
			if got := len(notes[0].Secret) > 0; got != tc.sealed {
				t.Fatalf("PIN sealed in the e-mail: %v, want %v", got, tc.sealed)
			}
			if tc.sealed {
				if pin, err := e.svc.RevealNotificationSecret(bg, "d1", notes[0].Secret); err != nil || !pin.Equal(res.PIN) {
					t.Fatalf("sealed PIN: %v", err)
				}
			}
		})
	}
	// The PIN e-mail needs a PIN.
	e := newEnv(t)
	e.given(frontLock()...)
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
			For: "ann", Settings: settings("d1"), EmailPIN: true})
		return err
	}, commands.ErrInvalid)
}
