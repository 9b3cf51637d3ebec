package commands_test

import (
	"bytes"
	"testing"

	"github.com/keyledger/keyledger/commands"
)

// Seed 003: digital keys for a user, with a PIN unique on the lock, role and
// an optional e-mail carrying the PIN (sealed).
func TestDigitalKeyPIN(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	st := settings("technician, Friday business hours")
	st.Role = commands.RoleAdmin
	pos := e.l.DurablePosition()
	res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: commands.KindDigital,
		For: "ann", Credential: commands.CredentialPIN, Settings: st, Email: true})
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
	kc := got[0].(commands.KeyCreated)
	if kc.Holder != "ann" || kc.Email != "ann@example.com" || !bytes.Equal(kc.PINHash, h[:]) || kc.Settings.Role != commands.RoleAdmin {
		t.Fatalf("created %#v", kc)
	}
	n := got[1].(commands.NotificationQueued)
	if n.To != "ann" || n.Email != "ann@example.com" || len(n.Secret) == 0 {
		t.Fatalf("notification %#v", n)
	}
	if pin, err := e.svc.RevealNotificationSecret(bg, "d1", n.Secret); err != nil || !pin.Equal(res.PIN) {
		t.Fatalf("sealed PIN: %v", err)
	}
	if pc := got[2].(commands.PINClaimed); !bytes.Equal(pc.Hash, h[:]) {
		t.Fatalf("claim %#v", pc)
	}

	// PINs are unique per lock.
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d2", Lock: "front", By: "bill", Kind: commands.KindDigital,
			For: "bob", Credential: commands.CredentialPIN, PIN: res.PIN})
		return err
	}, commands.ErrPINTaken)
	// Delivered at once: the user has it; deleting frees the PIN.
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d2", Lock: "front", By: "bill", Kind: commands.KindDigital,
		For: "bob", Credential: commands.CredentialPIN, PIN: res.PIN}); err != nil {
		t.Fatalf("PIN not released by delete: %v", err)
	}
	keys, err := e.proj.HolderKeys(bg, "bob", e.now)
	if err != nil || len(keys) != 1 || keys[0].Key != "d2" || keys[0].Sharing() != commands.InSharing {
		t.Fatalf("bob's keys %+v %v", keys, err)
	}
}

func TestDigitalKeyApp(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	e.then(func() error {
		res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: commands.KindDigital, For: "ann", Settings: settings("d1")})
		if err == nil && !res.PIN.IsZero() {
			t.Error("an app key has no PIN")
		}
		return err
	}, commands.KeyCreated{Key: "d1", Lock: "front", Owner: "bill", Kind: commands.KindDigital, Credential: commands.CredentialApp, Settings: settings("d1"), Holder: "ann"})
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d2", Lock: "front", By: "bill", Kind: commands.KindDigital, For: "nobody"})
		return err
	}, commands.ErrNotFound)
	// Digital keys are made for their user; they are not shared again.
	e.refused(func() error {
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "d1", By: "bill", Method: commands.ShareToID, Account: "bob"})
		return err
	}, commands.ErrForbidden)
	e.then(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "d1", By: "ann"})
		return err
	}, commands.KeyDownloaded{Key: "d1", Lock: "front", Holder: "ann", Method: commands.ShareToID})
	// Managed online: edited after download.
	e.then(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "d1", By: "bill", Settings: settings("d1 v2")})
	}, commands.KeyEdited{Key: "d1", Lock: "front", By: "bill", Settings: settings("d1 v2")})
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
	st := commands.Settings{Name: "Cleaner", Category: commands.CategoryServices, Doors: commands.DoorMain | commands.DoorInner, Welcome: "Hi! Code is on the fridge."}
	e.then(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: commands.KindIntercom, Settings: st})
		return err
	}, commands.KeyCreated{Key: "i1", Lock: "front", Owner: "bill", Kind: commands.KindIntercom, Credential: commands.CredentialApp,
		Settings: commands.Settings{Name: "Cleaner", Category: commands.CategoryServices, Role: commands.RoleUser, Doors: commands.DoorMain | commands.DoorInner, Welcome: "Hi! Code is on the fridge.",
			Policy: commands.Policy{Zone: "Europe/Berlin"}}})
	// Defaults: Friend, main door only.
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i2", Lock: "front", By: "bill", Kind: commands.KindIntercom, Settings: commands.Settings{Name: "Me"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.proj.Key(bg, "i2"); r.Settings.Category != commands.CategoryFriend || r.Settings.Doors != commands.DoorMain {
		t.Fatalf("defaults %+v", r.Settings)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: commands.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	// The welcome message reaches the recipient when the key is downloaded.
	e.then(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"})
		return err
	}, commands.KeyDownloaded{Key: "i1", Lock: "front", Holder: "ann", Method: commands.ShareToID},
		commands.NotificationQueued{Topic: commands.TopicWelcome, To: "ann", Email: "ann@example.com", Lock: "front", Key: "i1", Message: "Hi! Code is on the fridge."})
	// "A key can be edited at any time."
	st.Doors = commands.DoorMain
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "i1", By: "bill", Settings: st}); err != nil {
		t.Fatal(err)
	}
	// Inner door no longer allowed: denied with a reason and recorded.
	e.then(func() error {
		r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann", Door: commands.DoorInner, Source: "intercom"})
		if err == nil && (r.Granted || r.Reason != commands.ReasonDoor) {
			t.Errorf("unlock %+v", r)
		}
		return err
	}, commands.UnlockAttempted{Key: "i1", Lock: "front", By: "ann", Door: commands.DoorInner, Source: "intercom", Reason: commands.ReasonDoor})
	// Someone else holding the key ID is refused and recorded.
	if r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "bob"}); err != nil || r.Granted || r.Reason != commands.ReasonNotHolder {
		t.Fatalf("stranger unlock %+v %v", r, err)
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "i1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"}); err != nil || r.Granted || r.Reason != commands.ReasonDeleted {
		t.Fatalf("deleted key unlock %+v %v", r, err)
	}
	list, _ := e.proj.KeyList(bg, "front", e.now)
	if len(list) != 1 || list[0].Key != "i2" {
		t.Fatalf("key list after delete %+v", list)
	}
}
