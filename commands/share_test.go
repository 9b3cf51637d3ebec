package commands_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// Seeds 001 and 002: accounts, address book, share keys To ID and To Code,
// download, edit/revoke only before download, reset, deactivation, delete.

func TestAccountsAndAddressBook(t *testing.T) {
	e := newEnv(t)
	e.then(func() error {
		return e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	}, events.AccountRegistered{Account: "bill", Name: "Bill", Email: "bill@example.com"})
	e.refused(func() error {
		return e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: "bill", Name: "B", Email: "b@example.com"})
	}, commands.ErrExists)
	e.refused(func() error {
		return e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: "x", Name: "X", Email: "not an address"})
	}, commands.ErrInvalid)
	e.refused(func() error {
		return e.svc.RegisterAccount(bg, commands.RegisterAccount{Account: "y", Name: "Y", Email: "y@example.com"})
	}, commands.ErrInvalid) // no command ID

	// "This ID account must have been registered."
	e.refused(func() error {
		return e.svc.AddContact(bg, commands.AddContact{ID: e.id(), Account: "bill", Contact: "ann"})
	}, commands.ErrNotFound)
	e.given(accounts()[1:]...)
	e.then(func() error {
		return e.svc.AddContact(bg, commands.AddContact{ID: e.id(), Account: "bill", Contact: "ann"})
	}, events.ContactAdded{Account: "bill", Contact: "ann", Name: "Ann", Email: "ann@example.com"})
	e.then(func() error {
		return e.svc.AddContact(bg, commands.AddContact{ID: e.id(), Account: "bill", Contact: "bob", Name: "Bobby"})
	}, events.ContactAdded{Account: "bill", Contact: "bob", Name: "Bobby", Email: "bob@example.com"})
	cs, err := e.proj.Contacts(bg, "bill")
	if err != nil || len(cs) != 2 || cs[0].Account != "ann" || cs[1].Name != "Bobby" {
		t.Fatalf("contacts %+v, %v", cs, err)
	}
	e.then(func() error {
		return e.svc.DeleteContact(bg, commands.DeleteContact{ID: e.id(), Account: "bill", Contact: "ann"})
	}, events.ContactDeleted{Account: "bill", Contact: "ann"})
	e.refused(func() error {
		return e.svc.DeleteContact(bg, commands.DeleteContact{ID: e.id(), Account: "bill", Contact: "ann"})
	}, commands.ErrNotFound)
	cs, _ = e.proj.Contacts(bg, "bill")
	if len(cs) != 1 || cs[0].Account != "bob" {
		t.Fatalf("contacts after delete %+v", cs)
	}
}

func TestRegisterLock(t *testing.T) {
	e := newEnv(t)
	e.given(accounts()...)
	e.then(func() error {
		return e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 2})
	}, events.LockRegistered{Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 2, Doors: access.Main})
	for _, c := range []commands.RegisterLock{
		{Lock: "l2", Owner: "bill", Zone: "Mars/Olympus", Slots: 1},
		{Lock: "l2", Owner: "bill", Zone: "UTC", Slots: -1},
		{Lock: "l2", Owner: "bill", Zone: "UTC", Doors: access.Inner},
		{Lock: "a/b", Owner: "bill", Zone: "UTC"},
	} {
		c.ID = e.id()
		e.refused(func() error { return e.svc.RegisterLock(bg, c) }, commands.ErrInvalid)
	}
	e.refused(func() error {
		return e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "l3", Owner: "nobody", Zone: "UTC"})
	}, commands.ErrNotFound)
}

func TestShareToIDFlow(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	e.then(func() error {
		res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings("k1")})
		if err == nil && (res.Slot != 1 || res.Generation != 0) {
			t.Errorf("slot %d gen %d", res.Slot, res.Generation)
		}
		return err
	}, shareKeyCreated("k1", 1, 0)[0].data, shareKeyCreated("k1", 1, 0)[1].data)

	// Only the lock's owner manages its keys; To ID needs a registered account.
	e.refused(func() error {
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "ann", Method: events.ShareToID, Account: "bob"})
		return err
	}, commands.ErrNotPermitted)
	e.refused(func() error {
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "nobody"})
		return err
	}, commands.ErrNotFound)

	e.then(func() error {
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"})
		return err
	}, sharedToID("k1", "ann").data,
		events.NotificationQueued{Topic: events.TopicKeyShared, To: "ann", Email: "ann@example.com", Lock: "front", Key: "k1"})

	// Sharing: the owner may still edit.
	edited := settings("k1 edited")
	edited.Doors = access.Main | access.Inner
	e.then(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k1", By: "bill", Settings: commands.AllSettings(edited)})
	}, events.KeyEdited{Key: "k1", Lock: "front", By: "bill", Settings: edited})

	// Only the account it was shared with downloads it.
	e.refused(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "bob"})
		return err
	}, commands.ErrNotPermitted)
	e.then(func() error {
		d, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "ann"})
		if err == nil && (d.Slot != 1 || d.Settings.Name != "k1 edited") {
			t.Errorf("download result %+v", d)
		}
		return err
	}, downloaded("k1", "ann").data)

	// Downloaded: only reset (or deactivation). Each refusal names the state.
	for _, f := range []func() error{
		func() error {
			return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k1", By: "bill", Settings: commands.AllSettings(settings("x"))})
		},
		func() error { return e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}) },
		func() error { return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}) },
		func() error {
			_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "bob"})
			return err
		},
	} {
		err := e.refused(f, commands.ErrForbidden)
		var se *commands.StateError
		if !errors.As(err, &se) || se.State != events.StateDownloaded || se.Key != "k1" {
			t.Fatalf("error %v does not name the downloaded state", err)
		}
	}

	e.then(func() error {
		return e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, events.KeyReset{Key: "k1", Lock: "front", By: "bill", Slot: 1, Generation: 1},
		events.SlotReleased{Lock: "front", Key: "k1", Slot: 1, Generation: 1})

	// The slot is free again at the new generation: the next holder overwrites.
	e.then(func() error {
		res, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k2", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings("k2")})
		if err == nil && (res.Slot != 1 || res.Generation != 1) {
			t.Errorf("slot %d gen %d", res.Slot, res.Generation)
		}
		return err
	}, shareKeyCreated("k2", 1, 1)[0].data, shareKeyCreated("k2", 1, 1)[1].data)
}

func TestShareToCodeFlow(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0))...)
	cmd := commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToCode}
	pos := e.l.DurablePosition()
	res, err := e.svc.ShareKey(bg, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code.Len() != 14 {
		t.Fatalf("code of %d characters", res.Code.Len())
	}
	h, err := e.vault.HashCode(res.Code)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.eventsSince(pos), []any{events.KeyShared{Key: "k1", Lock: "front", Owner: "bill", Method: events.ShareToCode, CodeHash: h[:]},
		events.ShareCodeIssued{Key: "k1", Lock: "front"}}; !equal(got, want) {
		t.Fatalf("events %#v, want %#v", got, want)
	}
	// A retried command returns the original outcome and writes nothing; the
	// code was shown once and is not stored, so the retry cannot show it.
	pos = e.l.DurablePosition()
	again, err := e.svc.ShareKey(bg, cmd)
	if err != nil || again.Method != events.ShareToCode || !again.Code.IsZero() || e.l.DurablePosition() != pos {
		t.Fatalf("retry: %+v %v (position %d -> %d)", again, err, pos, e.l.DurablePosition())
	}

	e.refused(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "guest-phone", Code: secret.FromString("0000-0000-0000")})
		return err
	}, commands.ErrNotPermitted)
	e.refused(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "guest-phone"})
		return err
	}, commands.ErrNotPermitted)
	// The bearer may know only the code; codes are read leniently: lower
	// case, no hyphens.
	typed := bytes.ToLower(bytes.ReplaceAll(res.Code.Reveal(), []byte("-"), nil))
	e.refused(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), By: "guest-phone", Code: secret.FromString("0000-0000-0001")})
		return err
	}, commands.ErrNotPermitted)
	e.then(func() error {
		d, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), By: "guest-phone", Code: secret.FromString(string(typed))})
		if err == nil && d.Key != "k1" {
			t.Errorf("downloaded %q", d.Key)
		}
		return err
	}, events.KeyDownloaded{Key: "k1", Lock: "front", Holder: "guest-phone", Method: events.ShareToCode})
	// Downloaded once: a second download is refused.
	e.refused(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "guest-phone", Code: res.Code})
		return err
	}, commands.ErrForbidden)
}

func TestShareToCodeEmailedSealed(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0))...)
	res, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToCode, Email: "guest@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := e.proj.Pending(bg, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %+v %v", pending, err)
	}
	n := pending[0]
	if n.Email != "guest@example.com" || n.Topic != events.TopicKeyShared || len(n.Secret) == 0 {
		t.Fatalf("notification %+v", n)
	}
	code, err := e.svc.RevealNotificationSecret(bg, n.Key, n.Secret)
	if err != nil || !code.Equal(res.Code) {
		t.Fatalf("sealed code does not open to the code: %v", err)
	}
	if err := e.svc.AckNotification(bg, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AckNotification(bg, n.ID); err != nil { // at-least-once delivery: acking twice is fine
		t.Fatal(err)
	}
	if p, _ := e.proj.Pending(bg, 10); len(p) != 0 {
		t.Fatalf("still pending after ack: %+v", p)
	}
	// A rebuild replays the ack too.
	if err := e.proj.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.proj.Pending(bg, 10); len(p) != 0 {
		t.Fatalf("pending after rebuild: %+v", p)
	}
}

func TestRevokeBeforeDownloadFreesSlot(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0), []given{sharedToID("k1", "ann")})...)
	e.then(func() error {
		return e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, events.KeyRevoked{Key: "k1", Lock: "front", By: "bill"},
		events.SlotReleased{Lock: "front", Key: "k1", Slot: 1, Generation: 0})
	e.refused(func() error {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "ann"})
		return err
	}, commands.ErrForbidden)
	e.then(func() error {
		return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, events.KeyDeleted{Key: "k1", Lock: "front", By: "bill"})
}

func TestDeactivationFlow(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 2, 3), []given{sharedToID("k1", "ann"), downloaded("k1", "ann")})...)
	e.then(func() error {
		return e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, events.DeactivationRequested{Key: "k1", Lock: "front", By: "bill", Slot: 2})
	pend, err := e.proj.PendingDeactivations(bg, "front", e.now)
	if err != nil || len(pend) != 1 || pend[0].Key != "k1" {
		t.Fatalf("pending %+v %v", pend, err)
	}
	// Until the lock confirms, nothing else happens to the key.
	e.refused(func() error { return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}) }, commands.ErrForbidden)
	e.refused(func() error { return e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}) }, commands.ErrForbidden)
	e.then(func() error {
		return e.svc.ConfirmDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, events.DeactivationConfirmed{Key: "k1", Lock: "front", By: "bill", Slot: 2, Generation: 4},
		events.SlotReleased{Lock: "front", Key: "k1", Slot: 2, Generation: 4})
	if pend, _ := e.proj.PendingDeactivations(bg, "front", e.now); len(pend) != 0 {
		t.Fatalf("still pending %+v", pend)
	}
	e.refused(func() error {
		return e.svc.ConfirmDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, commands.ErrForbidden)
	e.then(func() error {
		return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"})
	}, events.KeyDeleted{Key: "k1", Lock: "front", By: "bill"})
}

func TestSlots(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0), shareKeyCreated("k2", 2, 0))...)
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k3", Lock: "front", By: "bill", Kind: events.KindShare})
		return err
	}, commands.ErrNoSlot)
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k3", Lock: "front", By: "bill", Kind: events.KindShare, Slot: 3})
		return err
	}, commands.ErrInvalid)
	e.refused(func() error {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindIntercom})
		return err
	}, commands.ErrExists)
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k2", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	slots, err := e.proj.Slots(bg, "front")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1:Not Shared:", "2:Sharing:k2"}
	for i, s := range slots {
		if got := itoa(s.Slot) + ":" + string(s.State) + ":" + s.Key; i >= len(want) || got != want[i] {
			t.Fatalf("slot %d = %s, want %v", i, got, want)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func equal(a, b []any) bool { return len(a) == len(b) && deepEqual(a, b) }

func TestAckUnknownNotification(t *testing.T) {
	e := newEnv(t)
	e.given(accounts()...)
	e.refused(func() error { return e.svc.AckNotification(bg, e.id()) }, commands.ErrNotFound)
}
