package lockproto

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
)

var testUID = []byte{0x04, 0xA2, 0x2B, 0x9C, 0x51, 0x6E, 0x80}

func (w *world) setCard(id byte, uid []byte, doors uint8) error {
	w.t.Helper()
	d, err := CardDigest(w.pairing.AuditKey, testLock, uid)
	w.must(err)
	e := w.pinEntry(id, "0000")
	e.Length, e.Digest, e.Doors = uint8(len(uid)), d, doors
	w.seq++
	m, err := w.issuer.SetCard(testLock, w.seq, e)
	w.must(err)
	return w.lock.HandleAdmin(m)
}

func TestCardIsMatchedAndCleared(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.must(w.setCard(1, testUID, 0b01))
	if d := w.lock.PresentCard(0, testUID); !d.Granted || d.ID != (CredentialID{0xC0, 1}) {
		t.Fatalf("card: %+v", d)
	}
	if d := w.lock.PresentCard(1, testUID); d.Reason != access.WrongDoor {
		t.Fatalf("other door: %+v", d)
	}
	other := append([]byte(nil), testUID...)
	other[6] ^= 1
	if d := w.lock.PresentCard(0, other); d.Reason != access.UnknownCard {
		t.Fatalf("unknown card: %+v", d)
	}
	if r := refusal(w.setCard(2, testUID, 0b01)); r != access.CodeInUse {
		t.Fatalf("the same card for another key: %v", r)
	}
	w.seq++
	m, err := w.issuer.ClearCard(testLock, w.seq, CredentialID{0xC0, 1}, 2)
	w.must(err)
	w.must(w.lock.HandleAdmin(m))
	if d := w.lock.PresentCard(0, testUID); d.Reason != access.UnknownCard {
		t.Fatalf("cleared card: %+v", d)
	}
	w.upload()
}

func TestCardRefusalsChangeNothing(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	for _, uid := range [][]byte{testUID[:3], make([]byte, 11)} {
		before := w.lock.State()
		if d := w.lock.PresentCard(0, uid); d.Reason != access.Malformed {
			t.Fatalf("identifier of %d bytes: %+v", len(uid), d)
		}
		if w.lock.State() != before {
			t.Fatal("a malformed card changed the lock's state")
		}
		if _, err := CardDigest(w.pairing.AuditKey, testLock, uid); !errors.Is(err, ErrInvalid) {
			t.Fatalf("CardDigest of %d bytes: %v", len(uid), err)
		}
	}
	// Wrong cards never lock out the keypad, nor wrong codes the cards.
	w.must(w.setCard(1, testUID, 0b01))
	w.must(w.setPIN(w.pinEntry(2, "4829")))
	for range 10 {
		w.lock.PresentCard(0, []byte{1, 2, 3, 4})
	}
	if d := w.lock.EnterCode(0, []byte("4829")); !d.Granted {
		t.Fatalf("PIN after wrong cards: %+v", d)
	}
	for range 6 {
		w.lock.EnterCode(0, []byte("0000"))
	}
	if d := w.lock.PresentCard(0, testUID); !d.Granted {
		t.Fatalf("card during a keypad lockout: %+v", d)
	}
}

// remoteOpen signs an open of door for a key with no slot, bound to a
// fresh challenge.
func (w *world) remoteOpen(door uint8, mod func(*RemoteOpen)) []byte {
	w.t.Helper()
	c := w.challenge()
	o := RemoteOpen{Lock: testLock, Nonce: c.Nonce, Key: CredentialID{0xD0, 1}, Slot: NoSlot, Door: door, Doors: 0b01,
		NotAfter: uint32(w.serverT.Add(time.Minute).Unix()), Relay: RelayIntercom}
	if mod != nil {
		mod(&o)
	}
	b, err := w.issuer.RemoteOpen(o, w.serverT)
	w.must(err)
	return b
}

func TestRemoteOpen(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	b := w.remoteOpen(0, nil)
	d := w.lock.HandleRemoteOpen(b)
	if !d.Granted || d.Relay != RelayIntercom || d.AuditSeq == 0 {
		t.Fatalf("remote open: %+v", d)
	}
	rec := w.lock.State().AuditRing[(d.AuditSeq-1)%AuditRingSize].Record
	if rec.Kind != AuditRemoteOpen || rec.Credential != d.Key || rec.Value != uint32(RelayIntercom) {
		t.Fatalf("record %+v", rec)
	}
	if d := w.lock.HandleRemoteOpen(b); d.Reason != access.BadNonce {
		t.Fatalf("replayed: %+v", d)
	}
	w.upload()
}

func TestRemoteOpenRefusals(t *testing.T) {
	sign := func(w *world, o *RemoteOpen) []byte { // the issuer would refuse these
		b := o.appendUnsigned(nil)
		return append(b, ed25519.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)), b)...)
	}
	for _, tc := range []struct {
		name  string
		frame func(w *world) []byte
		want  access.Reason
	}{
		{"another lock", func(w *world) []byte { return w.remoteOpen(0, func(o *RemoteOpen) { o.Lock = otherLock }) }, access.WrongLock},
		{"no challenge", func(w *world) []byte {
			b := w.remoteOpen(0, nil)
			w.challenge()
			w.challenge()
			w.challenge()
			w.challenge() // evicts the one it answers
			return b
		}, access.BadNonce},
		{"late", func(w *world) []byte {
			b := w.remoteOpen(0, func(o *RemoteOpen) { o.NotAfter = uint32(w.serverT.Add(10 * time.Second).Unix()) })
			w.advance(20 * time.Second)
			return b
		}, access.RemoteOpenLate},
		{"door the key lacks", func(w *world) []byte {
			c := w.challenge()
			o := RemoteOpen{Lock: testLock, Nonce: c.Nonce, Key: CredentialID{0xD0, 1}, Slot: NoSlot, Door: 1, Doors: 0b01,
				NotAfter: uint32(w.serverT.Add(time.Minute).Unix())}
			return sign(w, &o)
		}, access.WrongDoor},
		{"superseded slot", func(w *world) []byte {
			w.seq++
			m, err := w.issuer.ResetSlot(testLock, w.seq, 3, 5)
			w.must(err)
			w.must(w.lock.HandleAdmin(m))
			return w.remoteOpen(0, func(o *RemoteOpen) { o.Slot, o.Generation = 3, 4 })
		}, access.Superseded},
		{"forged", func(w *world) []byte {
			b := w.remoteOpen(0, nil)
			b[len(b)-1] ^= 1
			return b
		}, access.BadSignature},
		{"truncated", func(w *world) []byte { return w.remoteOpen(0, nil)[:RemoteOpenSize-1] }, access.Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.syncTime(0)
			if d := w.lock.HandleRemoteOpen(tc.frame(w)); d.Granted || d.Reason != tc.want {
				t.Fatalf("got %+v, want %v", d, tc.want)
			}
		})
	}
}

func TestIssuerRefusesBadRemoteOpens(t *testing.T) {
	w := newWorld(t)
	o := RemoteOpen{Lock: testLock, Key: CredentialID{1}, Slot: NoSlot, Door: 1, Doors: 0b01, NotAfter: uint32(t0.Add(time.Minute).Unix())}
	if _, err := w.issuer.RemoteOpen(o, t0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "door 1") {
		t.Fatalf("door the key lacks: %v", err)
	}
	o.Door, o.NotAfter = 0, uint32(t0.Add(time.Hour).Unix())
	if _, err := w.issuer.RemoteOpen(o, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("validity of an hour: %v", err)
	}
}
