package lockproto

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// Baselines: the primitives the targets are ratios of.

func BenchmarkBaselineEd25519VerifyPlusX25519(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(newDetRand(1))
	msg := make([]byte, MaxCredentialSize-signatureSize)
	sig := ed25519.Sign(priv, msg)
	pub := priv.Public().(ed25519.PublicKey)
	k1, _ := ecdh.X25519().GenerateKey(newDetRand(2))
	k2, _ := ecdh.X25519().GenerateKey(newDetRand(3))
	peer := k2.PublicKey().Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
		p, _ := ecdh.X25519().NewPublicKey(peer)
		if _, err := k1.ECDH(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineEd25519Verify(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(newDetRand(1))
	msg := make([]byte, MaxCredentialSize-signatureSize)
	sig := ed25519.Sign(priv, msg)
	pub := priv.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkBaselineHMACSHA256of100B(b *testing.B) {
	key := make([]byte, 32)
	msg := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		m.Sum(nil)
	}
}

// counterRand makes nonces 0, 1, 2 ...: twin locks given equal readers
// issue the same challenges, so requests can be built outside the timer.
type counterRand struct{ n uint64 }

func (c *counterRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	if len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, c.n)
	}
	c.n++
	return len(p), nil
}

// benchUnlock times Lock.Challenge + Lock.HandleUnlock only; the phone's
// requests are built ahead in chunks with the timer stopped. prepare, if
// any, changes the lock's state first.
func benchUnlock(b *testing.B, ncreds int, cached bool, prepare ...func(*State)) {
	w := newWorld(b)
	w.syncTime(3600)
	lockClock := w.clock.now
	st := w.lock.State()
	for _, p := range prepare {
		p(&st)
	}
	mk := func() *Lock {
		l, err := RestoreLock(st, &Config{Clock: lockClock, Rand: &counterRand{}})
		w.must(err)
		return l
	}
	l, twin := mk(), mk()
	// Restored locks do not know the time: one sync for both (the twins
	// issue the same nonces).
	chb := must1(l.Challenge())
	twin.Challenge()
	ch, _ := DecodeChallenge(chb)
	sync := must1(w.issuer.TimeSync(testLock, ch.Nonce, w.serverT))
	w.must(l.HandleAdmin(sync))
	w.must(twin.HandleAdmin(sync))
	holders := make([]*Holder, ncreds)
	for i := range holders {
		c := baseCredential(w.key)
		c.ID = CredentialID{byte(i), byte(i >> 8), 0xbe}
		c.Policy.NumWindows = 1
		c.Policy.Windows[0] = policy.CompactWindow{Days: 0x7f, From: 0, To: 1440}

		holders[i], _ = w.holder(c)
	}
	if cached { // warm the cache
		for _, h := range holders {
			ch, _ := DecodeChallenge(must1(twin.Challenge()))
			l.Challenge()
			if d := l.HandleUnlock(must1(h.Unlock(ch, 0))); !d.Granted {
				b.Fatal(d.Reason)
			}
		}
	}
	const chunk = 4096
	reqs := make([][]byte, 0, chunk)
	next := 0
	fill := func() {
		reqs = reqs[:0]
		for range chunk {
			ch, _ := DecodeChallenge(must1(twin.Challenge()))
			h := holders[next%len(holders)]
			next++
			if cached {
				reqs = append(reqs, must1(h.UnlockCached(ch, 0)))
			} else {
				reqs = append(reqs, must1(h.Unlock(ch, 0)))
			}
		}
	}
	fill()
	// The lock keeps every record until acknowledged: acknowledge as a
	// backend would, outside the timer.
	ack := func() {
		a := NewAuditAck(w.pairing.AuditKey, testLock, AuditCursor{Seq: l.st.AuditSeq, Tag: l.st.AuditTag})
		if err := l.HandleAuditAck(AppendAuditAck(nil, &a)); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if i == len(reqs) {
			b.StopTimer()
			fill()
			i = 0
			b.StartTimer()
		}
		if i%64 == 63 {
			b.StopTimer()
			ack()
			b.StartTimer()
		}
		if _, err := l.Challenge(); err != nil {
			b.Fatal(err)
		}
		if d := l.HandleUnlock(reqs[i]); !d.Granted {
			b.Fatalf("request %d: %v", i, d.Reason)
		}
		i++
	}
	_ = time.Second
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// First unlock of a credential: more credentials than the cache holds, so
// every request misses (Ed25519 verify + X25519 + HKDF).
func BenchmarkUnlockFirst(b *testing.B) { benchUnlock(b, 2*MaxCachedCredentials, false) }

// Repeat unlock of a cached credential (ID-only request): HMACs only.
func BenchmarkUnlockCached(b *testing.B) { benchUnlock(b, 1, true) }

func benchFrames(b *testing.B) (cred, unlock, admin, audit, chal, resp []byte) {
	w := newWorld(b)
	w.syncTime(3600)
	c := baseCredential(w.key)
	c.Policy.NumWindows = 4
	for i := range 4 {
		c.Policy.Windows[i] = policy.CompactWindow{Days: 0x7f, From: 0, To: 1440}
	}

	h, raw := w.holder(c)
	for range MaxAuditBatch {
		w.unlock(h, 0)
	}
	chb := must1(w.lock.Challenge())
	ch, _ := DecodeChallenge(chb)
	req := must1(h.Unlock(ch, 0))
	d := w.lock.HandleUnlock(req)
	z := ZoneRules{N: MaxZoneTransitions}
	for i := range z.Transitions {
		z.Transitions[i] = ZoneTransition{From: uint32(i * 1000), Offset: 3600}
	}
	adm := must1(w.issuer.TimeZone(testLock, 9, z))
	batch := must1(VerifyAuditBatchBytes(w))
	return raw, req, adm, batch, chb, d.Response
}

// VerifyAuditBatchBytes drains one full batch.
func VerifyAuditBatchBytes(w *world) ([]byte, error) { return w.lock.DrainAudit(), nil }

func BenchmarkCodec(b *testing.B) {
	cred, unlock, admin, audit, chal, resp := benchFrames(b)
	c, _ := DecodeCredential(cred)
	a := NewAuditAck([32]byte{1}, testLock, AuditCursor{Seq: 9})
	ack := AppendAuditAck(nil, &a)
	buf := make([]byte, 0, MaxAuditBatchSize)
	cases := []struct {
		name string
		f    func() error
	}{
		{"DecodeCredential", func() error { _, err := DecodeCredential(cred); return err }},
		{"AppendCredential", func() error { _, err := AppendCredential(buf[:0], &c); return err }},
		{"DecodeUnlock", func() error { _, err := DecodeUnlock(unlock); return err }},
		{"DecodeChallenge", func() error { _, err := DecodeChallenge(chal); return err }},
		{"DecodeResponse", func() error { _, err := DecodeResponse(resp); return err }},
		{"DecodeAdmin", func() error { _, err := DecodeAdmin(admin); return err }},
		{"DecodeAuditAck", func() error { _, err := DecodeAuditAck(ack); return err }},
		{"DecodeAuditBatch", func() error { _, err := DecodeAuditBatch(audit); return err }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Encoding and decoding never allocate.
func TestCodecZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	h, raw := w.holder(c)
	for range 3 {
		w.unlock(h, 0)
	}
	ch := w.challenge()
	req, _ := h.Unlock(ch, 0)
	batch := w.lock.DrainAudit()
	adm, _ := w.issuer.ResetSlot(testLock, 9, 1, 1)
	next, _ := NewIssuerKey(w.signer, 3)
	rot, _ := w.issuer.RotateKey(testLock, 10, next, t0)
	rotA, _ := DecodeAdmin(rot)
	ackA := NewAuditAck(w.pairing.AuditKey, testLock, AuditCursor{Seq: 2})
	ack := AppendAuditAck(nil, &ackA)
	hold, _ := h.Request(ch, 1, ActionHoldOpen, true)
	buf := make([]byte, 0, MaxAuditBatchSize)
	w.must(w.setPIN(w.pinEntry(1, "482915")))
	w.must(w.setCard(2, testUID, 0b01))
	pinM, _ := w.issuer.SetPIN(testLock, 50, w.pinEntry(3, "1111"))
	pinA, _ := DecodeAdmin(pinM)
	ro := w.remoteOpen(0, nil)
	roD, _ := DecodeRemoteOpen(ro)
	code, wrong := []byte("482915"), []byte("000000")
	for name, f := range map[string]func(){
		"DecodeAdmin(set-pin)":    func() { DecodeAdmin(pinM) },
		"AppendAdmin(set-pin)":    func() { AppendAdmin(buf[:0], &pinA) },
		"DecodeRemoteOpen":        func() { DecodeRemoteOpen(ro) },
		"AppendRemoteOpen":        func() { AppendRemoteOpen(buf[:0], &roD) },
		"EnterCode":               func() { w.lock.st.AuditAcked = w.lock.st.AuditSeq; w.lock.EnterCode(0, code) },
		"EnterCode(wrong)":        func() { w.lock.st.Keypad = KeypadState{}; w.lock.EnterCode(0, wrong) },
		"PresentCard":             func() { w.lock.st.AuditAcked = w.lock.st.AuditSeq; w.lock.PresentCard(0, testUID) },
		"DecodeCredential":        func() { DecodeCredential(raw) },
		"AppendCredential":        func() { AppendCredential(buf[:0], &c) },
		"DecodeUnlock":            func() { DecodeUnlock(req) },
		"DecodeAdmin":             func() { DecodeAdmin(adm) },
		"DecodeAuditBatch":        func() { DecodeAuditBatch(batch) },
		"AppendChallenge":         func() { AppendChallenge(buf[:0], &ch) },
		"DecodeAdmin(rotate-key)": func() { DecodeAdmin(rot) },
		"AppendAdmin(rotate-key)": func() { AppendAdmin(buf[:0], &rotA) },
		"DecodeAuditAck":          func() { DecodeAuditAck(ack) },
		"AppendAuditAck":          func() { AppendAuditAck(buf[:0], &ackA) },
		"DecodeUnlock(hold-open)": func() { DecodeUnlock(hold) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
	var opens [MaxOutstandingNonces][]byte
	for i := range opens {
		opens[i] = w.remoteOpen(0, nil)
	}
	i := 0
	if n := testing.AllocsPerRun(len(opens)-1, func() {
		if d := w.lock.HandleRemoteOpen(opens[i]); !d.Granted {
			t.Errorf("remote open %d: %v", i, d.Reason)
		}
		i++
	}); n != 0 {
		t.Errorf("HandleRemoteOpen: %v allocations", n)
	}
}

func BenchmarkBaselineHMACSHA256of32B(b *testing.B) {
	key := make([]byte, 32)
	msg := make([]byte, 32)
	var sum [32]byte
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		m.Sum(sum[:0])
	}
}

// The keypad's check with 100 stored PINs, the match in the last one: one
// HMAC of the typed digits, a constant-time compare with every entry, the
// grant's audit record. Target: at most 5 HMAC-SHA256 of 32 B per slot
// scanned, 0 allocations. Each iteration also times one HMAC-SHA256 of 32 B
// under a key already set up (the cheaper baseline: 2 SHA-256 blocks, not
// the 4 of BaselineHMACSHA256of32B), interleaved so that load on the
// machine hits both alike: x-hmac/slot is the ratio.
func BenchmarkKeypadPIN100(b *testing.B) {
	w := newWorldConfig(b, Config{PINSlots: 100})
	w.syncTime(0)
	for i := range 100 {
		e := w.pinEntry(byte(i), fmt.Sprintf("%06d", 100000+i*7919))
		e.ID = CredentialID{0xC0, byte(i), byte(i >> 8)}
		w.must(w.setPIN(e))
	}
	code := []byte(fmt.Sprintf("%06d", 100000+99*7919))
	m, msg := hmac.New(sha256.New, make([]byte, 32)), make([]byte, 32)
	var sum [32]byte
	var keypad, base time.Duration
	b.ReportAllocs()
	for b.Loop() {
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		t0 := time.Now()
		d := w.lock.EnterCode(0, code)
		t1 := time.Now()
		m.Reset()
		m.Write(msg)
		m.Sum(sum[:0])
		keypad, base = keypad+t1.Sub(t0), base+time.Since(t1)
		if !d.Granted || d.Slot != 99 {
			b.Fatalf("%+v", d)
		}
	}
	b.ReportMetric(float64(keypad)/float64(base)/100, "x-hmac/slot")
}

// A remote open's verification: decode, nonce, revocations, signature,
// record. Target: at most 1.2 Ed25519 verifications. Each iteration also
// times ed25519.Verify of the same frame, interleaved: x-verify is the
// ratio.
func BenchmarkRemoteOpen(b *testing.B) {
	w := newWorld(b)
	w.syncTime(0)
	pub := w.signer.PublicKey()
	var open, base time.Duration
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		f := w.remoteOpen(0, nil)
		b.StartTimer()
		t0 := time.Now()
		d := w.lock.HandleRemoteOpen(f)
		t1 := time.Now()
		ok := ed25519.Verify(pub, f[:len(f)-signatureSize], f[len(f)-signatureSize:])
		open, base = open+t1.Sub(t0), base+time.Since(t1)
		if !d.Granted || !ok {
			b.Fatalf("%+v", d)
		}
	}
	b.ReportMetric(float64(open)/float64(base), "x-verify")
}
