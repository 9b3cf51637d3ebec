package lockproto

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedGolden adds every golden frame to a fuzz target's corpus.
func seedGolden(f *testing.F) {
	file, err := os.Open(filepath.Join("testdata", "golden.txt"))
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0][0] != '#' {
			b, _ := hex.DecodeString(fields[2])
			f.Add(b)
		}
	}
}

// exact gives the decoder a slice with no spare capacity, so reading past
// the input would fault rather than see stale bytes.
func exact(b []byte) []byte { return bytes.Clone(b)[:len(b):len(b)] }

func FuzzDecodeCredential(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCredential(exact(b))
		if err != nil {
			return
		}
		out, err := AppendCredential(nil, &c)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted frame does not re-encode: %v\n in %x\nout %x", err, b, out)
		}
	})
}

func FuzzDecodeChallenge(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChallenge(exact(b))
		if err == nil && !bytes.Equal(AppendChallenge(nil, &c), b) {
			t.Fatalf("accepted challenge does not re-encode: %x", b)
		}
	})
}

func FuzzDecodeUnlock(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeUnlock(exact(b))
		if err != nil {
			return
		}
		if u.Type == TypeUnlock && !bytes.Equal(u.Credential, b[5:len(b)-ProofSize]) {
			t.Fatalf("credential slice %x is not the middle of %x", u.Credential, b)
		}
		if u.Door > 7 {
			t.Fatalf("door %d accepted", u.Door)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeResponse(exact(b))
		if err == nil && !bytes.Equal(AppendResponse(nil, &p), b) {
			t.Fatalf("accepted response does not re-encode: %x", b)
		}
	})
}

func FuzzDecodeAdmin(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAdmin(exact(b))
		if err != nil {
			return
		}
		out, err := AppendAdmin(nil, &a)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted admin does not re-encode: %v\n in %x\nout %x", err, b, out)
		}
	})
}

func FuzzDecodeAuditBatch(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAuditBatch(exact(b))
		if err != nil {
			return
		}
		out, err := AppendAuditBatch(nil, &a)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted batch does not re-encode: %v", err)
		}
		var key [32]byte
		_, _, _ = VerifyAudit(key, a.Lock, AuditCursor{Seq: 3}, exact(b))
	})
}

func FuzzDecodeAuditAck(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAuditAck(exact(b))
		if err == nil && !bytes.Equal(AppendAuditAck(nil, &a), b) {
			t.Fatalf("accepted acknowledgement does not re-encode: %x", b)
		}
	})
}

func FuzzDecodeDownload(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDownload(exact(b))
		if err != nil {
			return
		}
		out, err := AppendDownload(nil, &d)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted download does not re-encode: %v", err)
		}
	})
}

func FuzzReassembler(f *testing.F) {
	seedGolden(f)
	f.Add([]byte{0, 2, 1, 2, 3, 0xff, 1, 2, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The input is a sequence of fragments, each prefixed by its length.
		var r Reassembler
		for len(b) > 0 {
			n := min(int(b[0]), len(b)-1)
			msg, err := r.Add(exact(b[1 : 1+n]))
			if err == nil && len(msg) > MaxMessageSize {
				t.Fatalf("reassembled %d bytes", len(msg))
			}
			b = b[1+n:]
		}
	})
}

// fuzzLock is a synced lock with one live challenge.
func fuzzLock(t testing.TB) (*world, Challenge) {
	w := newWorldConfig(t, Config{MaxFailures: 1 << 20})
	w.syncTime(0)
	return w, w.challenge()
}

func FuzzLockHandleUnlock(f *testing.F) {
	seedGolden(f)
	w, ch := fuzzLock(f)
	h, _ := w.holder(baseCredential(w.key))
	valid, _ := h.Unlock(ch, 0)
	f.Add(valid)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, ch := fuzzLock(t)
		d := w.lock.HandleUnlock(exact(b))
		if _, err := DecodeResponse(d.Response); err != nil {
			t.Fatalf("lock produced a bad response: %v", err)
		}
		if !d.Granted {
			return
		}
		// Granted only if it is exactly what the holder would send for an
		// issuer-signed credential bound to the holder's key.
		u, err := DecodeUnlock(b)
		if err != nil || u.Type != TypeUnlock {
			t.Fatalf("granted %x: %v", b, err)
		}
		if _, err := VerifyCredential(u.Credential, w.signer.PublicKey()); err != nil {
			t.Fatalf("granted an unsigned credential: %v", err)
		}
		h, err := NewHolder(w.key, u.Credential, w.lock.PublicKey())
		if err != nil {
			t.Fatalf("granted a credential of another holder: %v", err)
		}
		if want, _ := h.Request(ch, u.Door, u.Action, false); !bytes.Equal(want, b) {
			t.Fatalf("granted a request the holder did not make: %x", b)
		}
	})
}

func FuzzLockHandleAdmin(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _ := fuzzLock(t)
		before := w.lock.State()
		err := w.lock.HandleAdmin(exact(b))
		if a, verr := VerifyAdmin(b, w.signer.PublicKey()); verr == nil && a.Lock == testLock {
			return // genuinely signed for this lock (the golden seeds): may apply
		}
		if err == nil {
			t.Fatalf("applied an admin message nobody signed for this lock: %x", b)
		}
		after := w.lock.State()
		if after.MinGen != before.MinGen || after.Revoked != before.Revoked || after.Zone != before.Zone || after.Clock != before.Clock ||
			after.Issuer != before.Issuer || after.Retired != before.Retired || after.AdminSeq != before.AdminSeq ||
			after.AdminWindow != before.AdminWindow || after.AuditSeq != before.AuditSeq || after.PINs != before.PINs || after.Cards != before.Cards {
			t.Fatal("a refused admin message changed the lock's state")
		}
	})
}

// An acknowledgement nobody made with the audit key changes nothing.
func FuzzLockHandleAuditAck(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _ := fuzzLock(t)
		h, _ := w.holder(baseCredential(w.key))
		w.unlock(h, 0)
		before := w.lock.State()
		err := w.lock.HandleAuditAck(exact(b))
		a, derr := DecodeAuditAck(b)
		if derr == nil && a.MAC == newAuditMAC(w.pairing.AuditKey).ack(a.Lock, a.Seq, &a.Tag) {
			return // genuinely made for this lock's key: may apply
		}
		if err == nil {
			t.Fatalf("applied an acknowledgement nobody made: %x", b)
		}
		if after := w.lock.State(); after.AuditAcked != before.AuditAcked || after.AuditDrained != before.AuditDrained {
			t.Fatal("a refused acknowledgement changed the lock's state")
		}
	})
}

func FuzzDecodeRemoteOpen(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeRemoteOpen(exact(b))
		if err != nil {
			return
		}
		out, err := AppendRemoteOpen(nil, &o)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted remote open does not re-encode: %v\n in %x\nout %x", err, b, out)
		}
	})
}

// No remote open opens unless the issuer signed it for this lock and one
// of its live nonces; a refused one changes no state but the audit tally.
func FuzzLockHandleRemote(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _ := fuzzLock(t)
		before := w.lock.State()
		d := w.lock.HandleRemoteOpen(exact(b))
		if !d.Granted {
			if after := w.lock.State(); after.AuditSeq != before.AuditSeq && d.AuditSeq == 0 {
				t.Fatal("a refused remote open wrote a record without naming it")
			}
			return
		}
		o, err := DecodeRemoteOpen(b)
		if err != nil || o.Lock != testLock || !ed25519.Verify(w.signer.PublicKey(), b[:len(b)-signatureSize], o.Signature[:]) {
			t.Fatalf("granted a remote open nobody signed for this lock: %x", b)
		}
	})
}

// Whatever is typed or presented, the lock never panics and opens only for
// the PIN or card it holds, at the door it opens.
func FuzzLockKeypadAndCard(f *testing.F) {
	f.Add(uint8(0), []byte("482915"), false)
	f.Add(uint8(0), testUID, true)
	f.Add(uint8(9), []byte("48291"), false)
	f.Fuzz(func(t *testing.T, door uint8, code []byte, card bool) {
		w, _ := fuzzLock(t)
		w.must(w.setPIN(w.pinEntry(1, "482915")))
		w.must(w.setCard(2, testUID, 0b01))
		var d CodeDecision
		if card {
			d = w.lock.PresentCard(door, exact(code))
		} else {
			d = w.lock.EnterCode(door, exact(code))
		}
		want := []byte("482915")
		if card {
			want = testUID
		}
		if d.Granted && (door != 0 || !bytes.Equal(code, want)) {
			t.Fatalf("granted door %d for %x (card %v)", door, code, card)
		}
	})
}
