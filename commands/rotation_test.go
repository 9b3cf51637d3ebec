package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
)

// keyPhone is a phone holding one offline credential, with its holder key
// (to take a refreshed credential).
type keyPhone struct {
	key    *lockproto.HolderKey
	holder *lockproto.Holder
	admin  [][]byte // what its last download carried
}

// shareAt shares a new share key of lock with account and downloads it on
// a fresh phone.
func (e *lockEnv) shareAt(lock, key, account string) *keyPhone {
	e.t.Helper()
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: lock, By: "bill", Kind: events.KindShare, Settings: settings(key)}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: key, By: "bill", Method: events.ShareToID, Account: account}); err != nil {
		e.t.Fatal(err)
	}
	hk, err := lockproto.GenerateHolderKey(e.rnd)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: key, By: account, HolderKey: hk.PublicKey()})
	if err != nil {
		e.t.Fatal(err)
	}
	p := &keyPhone{key: hk}
	p.take(e, res)
	return p
}

// take installs a download or refresh on the phone.
func (p *keyPhone) take(e *lockEnv, res commands.DownloadResult) {
	e.t.Helper()
	d, err := lockproto.DecodeDownload(res.Download)
	if err != nil {
		e.t.Fatal(err)
	}
	if p.holder, err = lockproto.NewHolder(p.key, d.Credential, d.LockKey); err != nil {
		e.t.Fatal(err)
	}
	p.admin = res.Admin
}

// open: the phone delivers what it carries, then opens the main door.
func (e *lockEnv) open(l *lockproto.Lock, p *keyPhone) access.Reason {
	e.t.Helper()
	e.deliver(l, p.admin)
	req, err := p.holder.Unlock(e.challenge(l), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.HandleUnlock(req).Reason
}

// A full rotation of the issuer key across a fleet of reference locks while
// phones hold credentials of the old key: the service moves to the new key
// and sends every lock a rotation signed by the key it trusts; each lock
// switches when a phone delivers it (it rides with downloads, ahead of
// everything signed by the new key); old credentials open until the grace
// ends, then stop, and their holders refresh them under the new key. Admin
// messages after the rotation are signed by the new key and apply; the old
// key signs nothing a rotated lock accepts.
func TestIssuerKeyRotationAcrossAFleet(t *testing.T) {
	e := newLockEnv(t)
	_, back := e.pair("back")
	_, side := e.pair("side")
	fleet := map[string]*lockproto.Lock{"front": e.lock, "back": back, "side": side}
	old := map[string]*keyPhone{}
	for name := range fleet {
		old[name] = e.shareAt(name, "old-"+name, "ann")
		if r := e.open(fleet[name], old[name]); r != access.Granted {
			t.Fatalf("%s before the rotation: %v", name, r)
		}
	}

	// The operator starts the service with the new key, the old one retired.
	next := e.startWithNextIssuer()
	const grace = 7 * 24 * time.Hour
	for name := range fleet {
		id := e.id()
		msg, err := e.svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: id, Lock: name, By: "ops", Grace: grace})
		if err != nil {
			t.Fatal(err)
		}
		a, err := lockproto.VerifyAdmin(msg, e.issuer.PublicKey()) // signed by the key the lock trusts
		if err != nil || a.Type != lockproto.TypeRotateKey || a.NewKeyID != 1 ||
			a.Until != uint32(e.now.Add(grace).Unix()) || [32]byte(next.PublicKey()) != a.NewKey {
			t.Fatalf("%s: rotation %+v %v", name, a, err)
		}
		again, err := e.svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: id, Lock: name, By: "ops", Grace: grace}) // a retry
		if err != nil || string(again) != string(msg) {
			t.Fatalf("%s: retried rotation differs: %v", name, err)
		}
		if none, err := e.svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: e.id(), Lock: name, By: "ops", Grace: grace}); err != nil || none != nil {
			t.Fatalf("%s: a second rotation to the same key: %x %v", name, none, err)
		}
	}

	// Back: a new key is downloaded; its download carries the rotation.
	fresh := e.shareAt("back", "new-back", "bob")
	if r := e.open(back, fresh); r != access.Granted {
		t.Fatalf("credential of the new key at back: %v", r)
	}
	// Front: a reset signed by the new key, delivered with the rotation before it.
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "old-front", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if r := e.open(e.lock, old["front"]); r != access.Superseded {
		t.Fatalf("reset key at front: %v", r)
	}
	// Old credentials open during the grace, rotated or not.
	for _, name := range []string{"back", "side"} {
		if r := e.open(fleet[name], old[name]); r != access.Granted {
			t.Fatalf("%s: old credential in its grace: %v", name, r)
		}
	}
	for name, l := range fleet {
		if res := e.upload(l, name); name != "side" && len(res.Applied) == 0 {
			t.Fatalf("%s: upload %+v", name, res)
		}
	}
	if p := e.pending("front"); len(p) != 0 {
		t.Fatalf("front: %d admin messages still pending", len(p))
	}

	e.now = e.now.Add(grace + time.Hour)
	if r := e.open(back, old["back"]); r != access.KeyRetired {
		t.Fatalf("back: old credential after the grace: %v", r)
	}
	// Side never got the rotation: its old credential still opens there
	// until a phone brings it. The holder refreshes the credential: the
	// refresh carries the rotation, and the lock switches.
	if r := e.open(side, old["side"]); r != access.Granted {
		t.Fatalf("side, not rotated yet: %v", r)
	}
	for name, p := range map[string]*keyPhone{"back": old["back"], "side": old["side"]} {
		res, err := e.svc.RefreshCredential(bg, commands.RefreshCredential{Key: "old-" + name, By: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := lockproto.VerifyCredential(res.Credential, next.PublicKey()); err != nil || c.KeyID != 1 {
			t.Fatalf("%s: refreshed credential %+v %v", name, c, err)
		}
		p.take(e, res)
		if r := e.open(fleet[name], p); r != access.Granted {
			t.Fatalf("%s: refreshed credential: %v", name, r)
		}
	}
	// An admin message the old key signs is refused wherever the rotation arrived.
	forged, err := e.issuer.ResetSlot(commands.LockUUID("side"), 99, 0, 9)
	if err != nil {
		t.Fatal(err)
	}
	var re *lockproto.RefusalError
	if err := side.HandleAdmin(forged); !errors.As(err, &re) || re.Reason != access.BadSignature {
		t.Fatalf("old key's admin message after the rotation: %v", err)
	}
	for name, l := range fleet {
		e.upload(l, name)
		if p := e.pending(name); len(p) != 0 {
			t.Fatalf("%s: %d admin messages still pending", name, len(p))
		}
	}

	// A lock registered now is paired with the new key: nothing to rotate.
	if err := e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "late", Owner: "bill", Name: "late", Zone: "UTC", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	if msg, err := e.svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: e.id(), Lock: "late", By: "ops"}); err != nil || msg != nil {
		t.Fatalf("late lock: %x %v", msg, err)
	}
}

// Who may refresh a credential, and what a rotation needs.
func TestRotationRefusals(t *testing.T) {
	e := newLockEnv(t)
	e.shareAt("front", "k1", "ann")
	e.refused(func() error {
		_, err := e.svc.RefreshCredential(bg, commands.RefreshCredential{Key: "k1", By: "bob"})
		return err
	}, commands.ErrNotPermitted)
	other, _ := lockproto.GenerateEd25519Signer(e.rnd)
	stranger, _ := lockproto.NewIssuerKey(other, 2)
	svc, err := commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Issuer: stranger})
	if err != nil {
		t.Fatal(err)
	}
	e.refused(func() error { // the lock trusts key 0, which this service does not hold
		_, err := svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: e.id(), Lock: "front", By: "ops"})
		return err
	}, commands.ErrInvalid)
	e.refused(func() error {
		_, err := e.svc.RotateIssuerKey(bg, commands.RotateIssuerKey{ID: e.id(), Lock: "nowhere", By: "ops"})
		return err
	}, commands.ErrNotFound)
}
