package commands_test

import (
	"bytes"
	"testing"

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
		For: "ann", Credential: events.CredentialPIN, Settings: st, Email: true})
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
