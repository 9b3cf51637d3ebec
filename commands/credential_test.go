package commands_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// A share key downloaded with the phone's public key carries an offline
// credential signed by the issuer for the key's slot and generation; after a
// reset the slot's next key is issued at the next generation.
func TestDownloadIssuesCredential(t *testing.T) {
	e := newEnv(t)
	signer, err := lockproto.GenerateEd25519Signer(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer := lockproto.NewIssuer(signer)
	svc, err := commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Projections: e.proj, Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	pairing, err := lockproto.NewPairing(commands.LockUUID("front"), issuer.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lockPub, err := pairing.LockPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	e.given(accounts()...)
	if err := svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "front", Owner: "bill", Name: "Front", Zone: "Europe/Berlin",
		Slots: 2, Doors: access.Main | access.Inner, LockKey: lockPub}); err != nil {
		t.Fatal(err)
	}
	phone, err := lockproto.GenerateHolderKey(nil) // one phone, two keys in turn
	if err != nil {
		t.Fatal(err)
	}
	download := func(key string, slotWant int, genWant uint32) *lockproto.Holder {
		t.Helper()
		st := settings(key)
		st.Doors = access.Main | access.Inner
		st.Role = events.RoleAdmin
		st.Policy.Uses = policy.UsesN(10)
		st.Policy.Windows = []policy.Window{{Days: policy.Workdays, From: 8 * 60, To: 18 * 60}} // the visit is Monday 11:00
		if _, err := svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindShare, Settings: st, Slot: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: key, By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
			t.Fatal(err)
		}
		cmd := commands.DownloadKey{ID: e.id(), Key: key, By: "ann", HolderKey: phone.PublicKey()}
		res, err := svc.DownloadKey(bg, cmd)
		if err != nil {
			t.Fatal(err)
		}
		c, err := lockproto.VerifyCredential(res.Credential, issuer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if c.Lock != commands.LockUUID("front") || int(c.Slot) != slotWant-1 || c.Generation != genWant || c.Doors != 3 ||
			c.Role != lockproto.RoleAdmin || c.HolderKey != phone.PublicKey() || c.Policy.UseLimit != 10 || c.Policy.NumWindows != 1 {
			t.Fatalf("credential %+v", c)
		}
		d, err := lockproto.DecodeDownload(res.Download)
		if err != nil || d.LockKey != lockPub || string(d.Credential) != string(res.Credential) {
			t.Fatalf("download frame %+v %v", d, err)
		}
		h, err := lockproto.NewHolder(phone, res.Credential, d.LockKey)
		if err != nil {
			t.Fatal(err)
		}
		// A retried download returns the same credential.
		again, err := svc.DownloadKey(bg, cmd)
		if err != nil || string(again.Credential) != string(res.Credential) {
			t.Fatalf("retried download: %v", err)
		}
		return h
	}
	lock, err := lockproto.NewLock(pairing, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Installation: the owner's phone sets the lock's clock (signed time for the lock's nonce).
	chb, err := lock.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := lockproto.DecodeChallenge(chb)
	if err != nil {
		t.Fatal(err)
	}
	sync, err := issuer.TimeSync(commands.LockUUID("front"), ch.Nonce, e.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.HandleAdmin(sync); err != nil {
		t.Fatal(err)
	}
	zr := lockproto.ZoneRules{N: 1, ValidUntil: uint32(e.now.AddDate(0, 0, 20).Unix())} // Berlin in winter: UTC+1
	zr.Transitions[0] = lockproto.ZoneTransition{From: uint32(e.now.AddDate(0, 0, -1).Unix()), Offset: 3600}
	tz, err := issuer.TimeZone(commands.LockUUID("front"), 1, zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.HandleAdmin(tz); err != nil {
		t.Fatal(err)
	}
	visit := func(h *lockproto.Holder) lockproto.Decision {
		t.Helper()
		chb, err := lock.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		ch, err := lockproto.DecodeChallenge(chb)
		if err != nil {
			t.Fatal(err)
		}
		req, err := h.Unlock(ch, 0)
		if err != nil {
			t.Fatal(err)
		}
		return lock.HandleUnlock(req)
	}
	alice := download("k1", 1, 0)
	if d := visit(alice); !d.Granted {
		t.Fatalf("downloaded key refused at the lock: %v", d.Reason)
	}
	if err := svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	next := download("k2", 1, 1)
	if d := visit(next); !d.Granted {
		t.Fatalf("next holder refused: %v", d.Reason)
	}
	// The next holder's key overwrote the slot: the reset key loses.
	if d := visit(alice); d.Granted {
		t.Fatal("the reset key still opens after the slot's next key was used")
	}

	// The phone's public key is recorded; no private material is.
	for ev, err := range e.l.ReadStream(bg, "key-k2", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := ev.Data.(events.KeyDownloaded); ok {
			pub := phone.PublicKey()
			if string(d.HolderKey) != string(pub[:]) {
				t.Fatalf("holder key %x", d.HolderKey)
			}
		}
	}
}
