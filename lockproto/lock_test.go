package lockproto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

func TestUnlockGrantedThenCachedWithoutPublicKeyWork(t *testing.T) {
	w := newWorld(t)
	w.syncTime(3600)
	h, _ := w.holder(baseCredential(w.key))
	d, resp := w.unlock(h, 0)
	if !d.Granted || !resp.Authenticated {
		t.Fatalf("first unlock: %+v %+v", d, resp)
	}
	c := w.challenge()
	req, err := h.UnlockCached(c, 0)
	w.must(err)
	if len(req) != UnlockCachedSize {
		t.Fatalf("cached request is %d bytes, want %d", len(req), UnlockCachedSize)
	}
	d = w.lock.HandleUnlock(req)
	resp, err = h.ReadResponse(c, d.Response)
	w.must(err)
	if !d.Granted || !resp.Authenticated || resp.LockTime != uint32(w.serverT.Unix()) {
		t.Fatalf("cached unlock: %+v %+v", d, resp)
	}
}

// refusal is one attack or rule: set up the world, then the attempt's
// expected reason.
func TestUnlockRefusals(t *testing.T) {
	type setup func(w *world) (req []byte, ch Challenge, h *Holder)
	full := func(mod func(*Credential), door uint8, before func(w *world, h *Holder)) setup {
		return func(w *world) ([]byte, Challenge, *Holder) {
			c := baseCredential(w.key)
			if mod != nil {
				mod(&c)
			}
			h, _ := w.holder(c)
			if before != nil {
				before(w, h)
			}
			ch := w.challenge()
			req, err := h.Unlock(ch, door)
			w.must(err)
			return req, ch, h
		}
	}
	window := func(days policy.Weekdays, from, to uint16) func(*Credential) {
		return func(c *Credential) {
			c.Policy.NumWindows = 1
			c.Policy.Windows[0] = policy.CompactWindow{Days: days, From: from, To: to}
		}
	}
	cases := []struct {
		name   string
		noSync bool
		setup  setup
		want   access.Reason
		authed bool // the response carries a valid MAC
	}{
		{name: "granted", setup: full(nil, 0, nil), want: access.Granted, authed: true},
		{name: "forged signature", setup: func(w *world) ([]byte, Challenge, *Holder) {
			other, _ := GenerateEd25519Signer(newDetRand(9))
			raw, err := NewIssuer(other).IssueCredential(baseCredential(w.key))
			w.must(err)
			h, err := NewHolder(w.key, raw, w.lock.PublicKey())
			w.must(err)
			ch := w.challenge()
			req, _ := h.Unlock(ch, 0)
			return req, ch, h
		}, want: access.BadSignature},
		{name: "someone else's proof", setup: func(w *world) ([]byte, Challenge, *Holder) {
			// The thief has the credential bytes but not the holder's private key.
			_, raw := w.holder(baseCredential(w.key))
			thief, _ := GenerateHolderKey(newDetRand(7))
			traw, err := w.issuer.IssueCredential(baseCredential(thief))
			w.must(err)
			h, err := NewHolder(thief, traw, w.lock.PublicKey()) // a proof under the thief's key ...
			w.must(err)
			ch := w.challenge()
			req, _ := h.Unlock(ch, 0)
			// ... spliced onto the victim's credential.
			spliced := append(append(append([]byte{}, req[:5]...), raw...), req[len(req)-ProofSize:]...)
			return spliced, ch, h
		}, want: access.BadProof},
		{name: "wrong lock", setup: func(w *world) ([]byte, Challenge, *Holder) {
			c := baseCredential(w.key)
			c.Lock = otherLock
			h, _ := w.holder(c)
			ch := w.challenge()
			other := ch
			other.Lock = otherLock // the phone thinks it talks to the other lock
			req, err := h.Unlock(other, 0)
			w.must(err)
			return req, ch, h
		}, want: access.WrongLock},
		{name: "expired", setup: full(func(c *Credential) { c.Policy.NotAfter = uint32(t0.Unix()) }, 0, nil), want: access.Expired, authed: true},
		{name: "not yet valid", setup: full(func(c *Credential) { c.Policy.NotBefore = uint32(t0.Add(time.Minute).Unix()) }, 0, nil), want: access.NotYetValid, authed: true},
		// t0 is Monday 10:00 UTC; the lock is at UTC+1, so 11:00 local.
		{name: "out of window (wrong day)", setup: full(window(1<<time.Tuesday, 0, 1440), 0, nil), want: access.OutsideWindow, authed: true},
		{name: "out of window (wrong hour)", setup: full(window(1<<time.Monday, 9*60, 11*60), 0, nil), want: access.OutsideWindow, authed: true},
		{name: "in window (local time)", setup: full(window(1<<time.Monday, 11*60, 12*60), 0, nil), want: access.Granted, authed: true},
		{name: "exhausted", setup: full(func(c *Credential) { c.Policy.UseLimit = 2 }, 0, func(w *world, h *Holder) {
			for range 2 {
				if d, _ := w.unlock(h, 0); !d.Granted {
					w.t.Fatalf("use refused: %v", d.Reason)
				}
			}
		}), want: access.Exhausted, authed: true},
		{name: "lower generation after reset", setup: full(nil, 0, func(w *world, h *Holder) {
			if d, _ := w.unlock(h, 0); !d.Granted { // cached now
				w.t.Fatal(d.Reason)
			}
			w.seq++
			m, err := w.issuer.ResetSlot(testLock, w.seq, 3, 2)
			w.must(err)
			w.must(w.lock.HandleAdmin(m))
		}), want: access.Superseded},
		{name: "revoked", setup: full(nil, 0, func(w *world, h *Holder) {
			if d, _ := w.unlock(h, 0); !d.Granted {
				w.t.Fatal(d.Reason)
			}
			w.seq++
			m, err := w.issuer.RevokeCredential(testLock, w.seq, h.Credential())
			w.must(err)
			w.must(w.lock.HandleAdmin(m))
		}), want: access.Revoked},
		{name: "clock unknown", noSync: true, setup: full(nil, 0, nil), want: access.ClockUnknown, authed: true},
		{name: "clock too old", setup: full(nil, 0, func(w *world, h *Holder) { w.advance(31 * 24 * time.Hour) }),
			want: access.ClockUnknown, authed: true},
		{name: "wrong door", setup: full(nil, 1, nil), want: access.WrongDoor, authed: true},
		{name: "replayed request", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			if d := w.lock.HandleUnlock(req); !d.Granted {
				w.t.Fatal(d.Reason)
			}
			return req, ch, h
		}, want: access.BadNonce},
		{name: "reused nonce", setup: func(w *world) ([]byte, Challenge, *Holder) {
			c := baseCredential(w.key)
			c.Doors = 0b11
			h, _ := w.holder(c)
			ch := w.challenge()
			first, _ := h.Unlock(ch, 0)
			if d := w.lock.HandleUnlock(first); !d.Granted {
				w.t.Fatal(d.Reason)
			}
			second, _ := h.Unlock(ch, 1)
			return second, ch, h
		}, want: access.BadNonce},
		{name: "expired nonce", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			w.advance(31 * time.Second)
			return req, ch, h
		}, want: access.BadNonce},
		{name: "evicted nonce", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			for range MaxOutstandingNonces {
				w.advance(time.Second)
				w.challenge()
			}
			return req, ch, h
		}, want: access.BadNonce},
		{name: "not cached", setup: func(w *world) ([]byte, Challenge, *Holder) {
			h, _ := w.holder(baseCredential(w.key))
			ch := w.challenge()
			req, _ := h.UnlockCached(ch, 0)
			return req, ch, h
		}, want: access.NotCached},
		{name: "downgrade: version 0", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			req[0] = 0
			return req, ch, h
		}, want: access.BadVersion},
		{name: "downgrade: inner credential version", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			req[5] = 2 // the credential relabelled as another protocol version
			return req, ch, h
		}, want: access.BadVersion},
		{name: "oversized", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			return append(req, 0), ch, h
		}, want: access.Malformed}, // one more byte is read as part of the credential
		{name: "oversized past the limit", setup: func(w *world) ([]byte, Challenge, *Holder) {
			c := baseCredential(w.key)
			c.Policy.NumWindows = 4
			for i := range 4 {
				c.Policy.Windows[i] = policy.CompactWindow{Days: 0x7f, From: 0, To: 1440}
			}
			c.Policy.NumPeriods = 3
			for i := range 3 {
				c.Policy.Periods[i] = policy.CompactPeriod{From: c.Policy.NotBefore + uint32(i)*10, To: c.Policy.NotBefore + uint32(i)*10 + 5}
			}
			req, ch, h := full(func(x *Credential) { *x = c }, 0, nil)(w)
			if len(req) != MaxUnlockSize {
				w.t.Fatalf("largest request %d bytes, want %d", len(req), MaxUnlockSize)
			}
			return append(req, 0), ch, h
		}, want: access.Malformed},
		{name: "truncated", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			return req[:len(req)-1], ch, h
		}, want: access.Malformed},
		{name: "wrong type", setup: func(w *world) ([]byte, Challenge, *Holder) {
			req, ch, h := full(nil, 0, nil)(w)
			req[1] = byte(TypeChallenge)
			return req, ch, h
		}, want: access.UnexpectedType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if !tc.noSync {
				w.syncTime(3600)
			}
			req, ch, h := tc.setup(w)
			d := w.lock.HandleUnlock(req)
			if d.Reason != tc.want || d.Granted != (tc.want == access.Granted) {
				t.Fatalf("decision %v (granted %v), want %v", d.Reason, d.Granted, tc.want)
			}
			resp, err := h.ReadResponse(ch, d.Response)
			if err != nil {
				t.Fatalf("response: %v", err)
			}
			if resp.Reason != tc.want || resp.Authenticated != tc.authed {
				t.Fatalf("response reason %v authenticated %v, want %v %v", resp.Reason, resp.Authenticated, tc.want, tc.authed)
			}
			if !tc.authed && tc.want != access.Granted {
				// Refused before the proof verified: tallied, not recorded on its own.
				if u := w.lock.State().Unrecorded; d.AuditSeq != 0 || u.Count == 0 || u.Reason != tc.want {
					t.Fatalf("audit seq %d, tally %+v; want none and a tally of %v", d.AuditSeq, u, tc.want)
				}
				return
			}
			rec := lastAudit(t, w)
			if rec.Reason != tc.want || rec.Seq != d.AuditSeq || rec.Kind != AuditUnlock {
				t.Fatalf("audit record %+v, want reason %v seq %d", rec, tc.want, d.AuditSeq)
			}
		})
	}
}

func lastAudit(t *testing.T, w *world) AuditRecord {
	t.Helper()
	seq := w.lock.State().AuditSeq
	recs, _, err := VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{}, w.lock.AuditFrom(seq))
	if err != nil && !errors.Is(err, ErrAuditGap) {
		t.Fatal(err)
	}
	return recs[len(recs)-1]
}

// Every single-bit change anywhere in a full request is refused, whether or
// not the lock has the credential cached.
func TestAlteredByteAnywhereIsRefused(t *testing.T) {
	for _, cached := range []bool{false, true} {
		w := newWorldConfig(t, Config{MaxFailures: 1 << 20})
		w.syncTime(3600)
		c := baseCredential(w.key)
		c.Doors = 0xff
		c.Policy.NumWindows = 1
		c.Policy.Windows[0] = policy.CompactWindow{Days: 0x7f, From: 0, To: 1440}

		h, _ := w.holder(c)
		if cached {
			if d, _ := w.unlock(h, 0); !d.Granted {
				t.Fatal(d.Reason)
			}
		}
		n, size := 0, 0
		for i := 0; ; i++ {
			ch := w.challenge()
			req, err := h.Unlock(ch, 2)
			w.must(err)
			if size = len(req); i == size {
				break
			}
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(req)
				bad[i] ^= bit
				if d := w.lock.HandleUnlock(bad); d.Granted {
					t.Fatalf("cached=%v: byte %d ^ 0x%02x granted", cached, i, bit)
				}
				n++
			}
			if d := w.lock.HandleUnlock(req); d.Reason != access.BadNonce && d.Reason != access.Granted {
				// the tampered copy may not have consumed the nonce (bad challenge ID)
				t.Fatalf("byte %d: original refused with %v", i, d.Reason)
			}
		}
		if n != 2*size {
			t.Fatalf("only %d alterations tried", n)
		}
	}
}

func TestHolderRefusesChallengeFromAnotherLock(t *testing.T) {
	w := newWorld(t)
	h, _ := w.holder(baseCredential(w.key))
	ch := w.challenge()
	ch.Lock = otherLock
	if _, err := h.Unlock(ch, 0); !errors.Is(err, ErrWrongLock) {
		t.Fatalf("err = %v, want ErrWrongLock", err)
	}
}

func TestTamperedGrantResponseIsRejectedByPhone(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	ch := w.challenge()
	req, _ := h.Unlock(ch, 0)
	d := w.lock.HandleUnlock(req)
	for i := range d.Response {
		bad := bytes.Clone(d.Response)
		bad[i] ^= 1
		if p, err := h.ReadResponse(ch, bad); err == nil && p.Granted {
			t.Fatalf("byte %d altered, response still accepted as a grant", i)
		}
	}
	// A relay cannot turn a grant into an unauthenticated-looking refusal either:
	// a denial with a wrong MAC is an error.
	bad := bytes.Clone(d.Response)
	bad[4], bad[5] = 0, byte(access.Expired)
	if _, err := h.ReadResponse(ch, bad); !errors.Is(err, ErrMAC) {
		t.Fatalf("err = %v, want ErrMAC", err)
	}
}

// The backoff follows the source of failed verifications (these exact
// forged bytes), not the lock: the forger backs off, a different forgery
// and the honest holder do not.
func TestBackoffFollowsTheFailingSource(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	other, _ := GenerateEd25519Signer(newDetRand(9))
	forged, err := NewIssuer(other).IssueCredential(baseCredential(w.key))
	w.must(err)
	fh, err := NewHolder(w.key, forged, w.lock.PublicKey())
	w.must(err)
	for i := range 5 {
		if d, _ := w.unlock(fh, 0); d.Reason != access.BadSignature {
			t.Fatalf("forgery %d: %v", i, d.Reason)
		}
	}
	if d, _ := w.unlock(fh, 0); d.Reason != access.RateLimited {
		t.Fatalf("sixth forgery of the same bytes: %v, want rate limited", d.Reason)
	}
	c := baseCredential(w.key)
	c.Generation = 9 // other bytes, another source
	forged2, _ := NewIssuer(other).IssueCredential(c)
	fh2, _ := NewHolder(w.key, forged2, w.lock.PublicKey())
	if d, _ := w.unlock(fh2, 0); d.Reason != access.BadSignature {
		t.Fatalf("another forgery: %v, want bad signature", d.Reason)
	}
	h, _ := w.holder(baseCredential(w.key))
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("honest holder while a forger backs off: %v", d.Reason)
	}
	w.advance(time.Second)
	if d, _ := w.unlock(fh, 0); d.Reason != access.BadSignature {
		t.Fatalf("forgery after its backoff: %v", d.Reason)
	}
	w.advance(time.Second) // the next failure doubled the wait
	if d, _ := w.unlock(fh, 0); d.Reason != access.RateLimited {
		t.Fatalf("forgery one second into a two-second backoff: %v", d.Reason)
	}
	// Schedule refusals of an authentic holder do not count.
	c = baseCredential(w.key)
	c.ID[0] = 9
	c.Doors = 0b10
	h2, _ := w.holder(c)
	for range 10 {
		if d, _ := w.unlock(h2, 0); d.Reason != access.WrongDoor {
			t.Fatal(d.Reason)
		}
	}
}

func TestNewGenerationOverwritesOldKeyWithoutAdminMessage(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	old, _ := w.holder(baseCredential(w.key))
	if d, _ := w.unlock(old, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	newKey, _ := GenerateHolderKey(newDetRand(5))
	c := baseCredential(newKey)
	c.ID = CredentialID{9}
	c.Generation = 2
	raw, err := w.issuer.IssueCredential(c)
	w.must(err)
	next, err := NewHolder(newKey, raw, w.lock.PublicKey())
	w.must(err)
	if d, _ := w.unlock(next, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	if d, _ := w.unlock(old, 0); d.Reason != access.Superseded {
		t.Fatalf("old key after the new one opened: %v", d.Reason)
	}
}

func TestAdminRefusals(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0) // seq 1 used
	reset := func(seq uint32, slot uint8) []byte {
		m, err := w.issuer.ResetSlot(testLock, seq, slot, 5)
		w.must(err)
		return m
	}
	reason := func(err error) access.Reason {
		var re *RefusalError
		if err == nil {
			return access.Granted
		}
		if !errors.As(err, &re) {
			t.Fatalf("%v is not a RefusalError", err)
		}
		return re.Reason
	}
	m2 := reset(2, 1)
	if r := reason(w.lock.HandleAdmin(m2)); r != access.Granted {
		t.Fatal(r)
	}
	if r := reason(w.lock.HandleAdmin(m2)); r != access.StaleSequence {
		t.Fatalf("replayed admin: %v", r)
	}
	if r := reason(w.lock.HandleAdmin(reset(2, 2))); r != access.StaleSequence {
		t.Fatalf("equal sequence: %v", r)
	}
	forged := reset(3, 1)
	forged[len(forged)-1] ^= 1
	if r := reason(w.lock.HandleAdmin(forged)); r != access.BadSignature {
		t.Fatalf("forged: %v", r)
	}
	other, err := w.issuer.ResetSlot(otherLock, 3, 1, 5)
	w.must(err)
	if r := reason(w.lock.HandleAdmin(other)); r != access.WrongLock {
		t.Fatalf("other lock: %v", r)
	}
	if r := reason(w.lock.HandleAdmin(reset(3, MaxSlots))); r != access.BadSlot {
		t.Fatalf("bad slot: %v", r)
	}
	if s := w.lock.State().AdminSeq; s != 3 {
		t.Fatalf("admin seq after a signed but inapplicable message = %d, want 3", s)
	}
	// Time sync: bound to a live nonce of this lock, once.
	ch := w.challenge()
	ts, err := w.issuer.TimeSync(testLock, ch.Nonce, t0)
	w.must(err)
	w.must(w.lock.HandleAdmin(ts))
	if r := reason(w.lock.HandleAdmin(ts)); r != access.BadNonce {
		t.Fatalf("replayed time sync: %v", r)
	}
	ts2, err := w.issuer.TimeSync(testLock, [16]byte{1}, t0)
	w.must(err)
	if r := reason(w.lock.HandleAdmin(ts2)); r != access.BadNonce {
		t.Fatalf("time sync with an invented nonce: %v", r)
	}
	for _, version := range []byte{0, 2} {
		v := reset(9, 1)
		v[0] = version
		if r := reason(w.lock.HandleAdmin(v)); r != access.BadVersion {
			t.Fatalf("version %d: %v", version, r)
		}
	}
}

// Revocations of credentials with an end date fill the bounded list; a
// full list refuses one more, and a reset that makes entries moot frees room.
func TestRevocationListBoundedAndCleaned(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	seq := w.seq
	end := uint32(t0.Add(24 * time.Hour).Unix())
	revoke := func(id byte, slot uint8, gen uint32) error {
		seq++
		c := Credential{ID: CredentialID{id}, Slot: slot, Generation: gen}
		c.Policy.NotAfter = end
		m, err := w.issuer.RevokeCredential(testLock, seq, c)
		w.must(err)
		return w.lock.HandleAdmin(m)
	}
	for i := range MaxRevocations {
		w.must(revoke(byte(i+1), 2, 1))
	}
	var re *RefusalError
	if err := revoke(200, 4, 1); !errors.As(err, &re) || re.Reason != access.RevocationsFull {
		t.Fatalf("revocation into a full list: %v", err)
	}
	// A reset of slot 2 makes those entries moot, so there is room again.
	seq++
	m, _ := w.issuer.ResetSlot(testLock, seq, 2, 2)
	w.must(w.lock.HandleAdmin(m))
	w.must(revoke(201, 4, 1))
	if n := revocations(w.lock.State()); n != 1 {
		t.Fatalf("%d entries after the reset, want 1", n)
	}
}

func revocations(st State) int {
	n := 0
	for _, r := range st.Revoked {
		if r.InUse {
			n++
		}
	}
	return n
}

// A revocation list full of credentials with no end date never refuses the
// next revocation: the lock compacts those entries by generation (the
// revoked credential's slot minimum rises past it), so the 33rd revoked
// credential stops opening like the other 32.
func TestRevocationBeyondTheListStillRevokes(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	seq := w.seq
	for i := range MaxRevocations {
		seq++
		m, err := w.issuer.RevokeCredential(testLock, seq, Credential{ID: CredentialID{byte(i + 1), 0xee}, Slot: uint8(i % 3), Generation: 1})
		w.must(err)
		w.must(w.lock.HandleAdmin(m))
	}
	c := baseCredential(w.key)
	h, _ := w.holder(c)
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("before its revocation: %v", d.Reason)
	}
	seq++
	m, err := w.issuer.RevokeCredential(testLock, seq, Credential{ID: c.ID, Slot: c.Slot, Generation: c.Generation})
	w.must(err)
	if err := w.lock.HandleAdmin(m); err != nil {
		t.Fatalf("33rd revocation: %v", err)
	}
	if d, _ := w.unlock(h, 0); d.Granted {
		t.Fatal("the 33rd revoked credential still opens")
	}
	st := w.lock.State()
	if st.MinGen[0] != 2 || st.MinGen[1] != 2 || st.MinGen[2] != 2 || st.MinGen[c.Slot] != c.Generation+1 {
		t.Fatalf("slot minimums %v after compaction", st.MinGen[:4])
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy.UseLimit = 1
	h, _ := w.holder(c)
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	l2, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(4)})
	w.must(err)
	w.lock = l2
	w.resync()
	if d, _ := w.unlock(h, 0); d.Reason != access.Exhausted {
		t.Fatalf("single-use key after a restart: %v", d.Reason)
	}
}

func TestUseTableFullFailsClosed(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	for i := range MaxUseCounters + 1 {
		c := baseCredential(w.key)
		c.ID = CredentialID{byte(i), byte(i >> 8), 1}
		c.Policy.UseLimit = 3
		h, _ := w.holder(c)
		d, _ := w.unlock(h, 0)
		want := access.Granted
		if i == MaxUseCounters {
			want = access.UseTableFull
		}
		if d.Reason != want {
			t.Fatalf("credential %d: %v, want %v", i, d.Reason, want)
		}
	}
}

func TestZoneUnknownOnlyMattersForWindows(t *testing.T) {
	w := newWorld(t)
	ch := w.challenge()
	m, _ := w.issuer.TimeSync(testLock, ch.Nonce, t0)
	w.must(w.lock.HandleAdmin(m))
	h, _ := w.holder(baseCredential(w.key))
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("no windows, no zone: %v", d.Reason)
	}
	c := baseCredential(w.key)
	c.ID[0] = 7
	c.Policy.NumWindows = 1
	c.Policy.Windows[0] = policy.CompactWindow{Days: 0x7f, From: 0, To: 1440}
	h2, _ := w.holder(c)
	if d, _ := w.unlock(h2, 0); d.Reason != access.ZoneUnknown {
		t.Fatalf("windows without a zone: %v", d.Reason)
	}
}

func TestIssuerRefusesWhatLockWouldRefuse(t *testing.T) {
	w := newWorld(t)
	bad := []func(*Credential){
		func(c *Credential) { c.Doors = 0 },
		func(c *Credential) { c.Role = 2 },
		func(c *Credential) { c.Policy.NumWindows = policy.MaxCompactWindows + 1 },
		func(c *Credential) { c.Policy.NotBefore, c.Policy.NotAfter = 10, 10 },
		func(c *Credential) {
			c.Policy.NumWindows = 1
			c.Policy.Windows[0] = policy.CompactWindow{Days: 0x80, From: 0, To: 1}
		},
		func(c *Credential) {
			c.Policy.NumWindows = 1
			c.Policy.Windows[0] = policy.CompactWindow{Days: 1, From: 60, To: 60}
		},
		func(c *Credential) {
			c.Policy.NumWindows = 1
			c.Policy.Windows[0] = policy.CompactWindow{Days: 1, From: 1440, To: 60}
		},
		func(c *Credential) {
			c.Policy.NumWindows = 1
			c.Policy.Windows[0] = policy.CompactWindow{Days: 1, From: 0, To: 1441}
		},
	}
	for i, mod := range bad {
		c := baseCredential(w.key)
		mod(&c)
		if _, err := w.issuer.IssueCredential(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: err = %v, want ErrInvalid", i, err)
		}
	}
	if _, err := VerifyCredential([]byte{Version, 1}, ed25519.PublicKey(make([]byte, 32))); !errors.Is(err, ErrMalformed) {
		t.Errorf("short credential: %v", err)
	}
}

func TestCredentialCacheEvictsLeastRecentlyUsed(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	hs := make([]*Holder, MaxCachedCredentials+1)
	for i := range hs {
		c := baseCredential(w.key)
		c.ID = CredentialID{byte(i), 0xcc}
		hs[i], _ = w.holder(c)
	}
	for _, h := range hs[:MaxCachedCredentials] {
		w.unlock(h, 0)
	}
	w.unlock(hs[0], 0)                    // 0 is now the most recent; 1 the least
	w.unlock(hs[MaxCachedCredentials], 0) // evicts 1
	for i, want := range map[int]access.Reason{0: access.Granted, 1: access.NotCached, 2: access.Granted} {
		ch := w.challenge()
		req, _ := hs[i].UnlockCached(ch, 0)
		if d := w.lock.HandleUnlock(req); d.Reason != want {
			t.Errorf("credential %d: %v, want %v", i, d.Reason, want)
		}
	}
}

// A credential reissued under the same ID (an edit) replaces the cached one:
// the short request then follows the new policy, not the old.
func TestReissuedCredentialReplacesCacheEntry(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Doors = 0b11
	old, _ := w.holder(c)
	if d, _ := w.unlock(old, 1); !d.Granted {
		t.Fatal(d.Reason)
	}
	c.Doors = 0b01 // narrowed
	edited, _ := w.holder(c)
	if d, _ := w.unlock(edited, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	ch := w.challenge()
	req, _ := old.UnlockCached(ch, 1)
	if d := w.lock.HandleUnlock(req); d.Reason != access.WrongDoor {
		t.Fatalf("cached request after the edit: %v, want wrong door", d.Reason)
	}
}

func TestChallengeFlagsAndFreshNonces(t *testing.T) {
	w := newWorld(t)
	if c := w.challenge(); c.Flags != 0 || c.Lock != testLock {
		t.Fatalf("unsynced lock: flags %b", c.Flags)
	}
	w.syncTime(3600)
	c1, c2 := w.challenge(), w.challenge()
	if c1.Flags != FlagClockKnown|FlagZoneKnown || c1.AdminSeq != 1 {
		t.Fatalf("synced lock: flags %b admin seq %d", c1.Flags, c1.AdminSeq)
	}
	if c1.Nonce == c2.Nonce || c1.ID == c2.ID {
		t.Fatal("two challenges share a nonce or an ID")
	}
	// The default random source is crypto/rand.
	l, err := NewLock(w.pairing, nil)
	w.must(err)
	a, _ := l.Challenge()
	b, _ := l.Challenge()
	if bytes.Equal(a[20:36], b[20:36]) || bytes.Equal(a[20:36], make([]byte, 16)) {
		t.Fatal("default nonces are not random")
	}
}

// Windows follow the lock's wall clock across a DST change: a window at
// 08:00-09:00 local opens at 07:00 UTC in winter (UTC+1) and 06:00 UTC in
// summer (UTC+2).
func TestWindowFollowsZoneTransitions(t *testing.T) {
	w := newWorld(t)
	w.serverT = time.Date(2026, 3, 23, 6, 30, 0, 0, time.UTC) // Monday, 07:30 local (UTC+1)
	ch := w.challenge()
	m, _ := w.issuer.TimeSync(testLock, ch.Nonce, w.serverT)
	w.must(w.lock.HandleAdmin(m))
	z := ZoneRules{N: 2}
	z.Transitions[0] = ZoneTransition{From: uint32(time.Date(2025, 10, 26, 1, 0, 0, 0, time.UTC).Unix()), Offset: 3600}
	z.Transitions[1] = ZoneTransition{From: uint32(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).Unix()), Offset: 7200}
	m, _ = w.issuer.TimeZone(testLock, 1, z)
	w.must(w.lock.HandleAdmin(m))
	c := baseCredential(w.key)
	c.Policy = policy.Compact{NumWindows: 1}
	c.Policy.Windows[0] = policy.CompactWindow{Days: 1 << time.Monday, From: 8 * 60, To: 9 * 60}
	h, _ := w.holder(c)
	steps := []struct {
		advance time.Duration
		want    access.Reason
	}{
		{0, access.OutsideWindow},                  // Mon 23rd 06:30 UTC = 07:30 local
		{time.Hour, access.Granted},                // 07:30 UTC = 08:30 local
		{7 * 24 * time.Hour, access.OutsideWindow}, // Mon 30th 07:30 UTC = 09:30 local (summer)
		{-time.Hour, access.Granted},               // 06:30 UTC = 08:30 local
	}
	for i, s := range steps {
		if s.advance < 0 {
			// Only forward on the lock's RTC; re-sync to go back.
			w.serverT = w.serverT.Add(s.advance)
			ch := w.challenge()
			m, _ := w.issuer.TimeSync(testLock, ch.Nonce, w.serverT)
			w.must(w.lock.HandleAdmin(m))
		} else {
			w.advance(s.advance)
		}
		if d, _ := w.unlock(h, 0); d.Reason != s.want {
			t.Errorf("step %d at %v: %v, want %v", i, w.serverT, d.Reason, s.want)
		}
	}
}
