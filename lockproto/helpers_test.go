package lockproto

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/policy"
)

// detRand is a deterministic byte source for keys and nonces in tests.
type detRand struct{ r *rand.ChaCha8 }

func newDetRand(seed byte) *detRand {
	var s [32]byte
	s[0] = seed
	return &detRand{r: rand.NewChaCha8(s)}
}

func (d *detRand) Read(p []byte) (int, error) { return d.r.Read(p) }

// fakeClock is the lock's RTC in tests.
type fakeClock struct{ t time.Duration }

func (c *fakeClock) now() time.Duration      { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t += d }

var (
	testLock  = uuid.MustParse("6f1c2a4e-5b7d-4c3e-9a8b-1d2e3f405162")
	otherLock = uuid.MustParse("00000000-0000-4000-8000-000000000001")
	// t0 is Monday 2026-03-02 10:00 UTC.
	t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
)

// world is an issuer, a lock and a phone, all deterministic.
type world struct {
	t       testing.TB
	clock   *fakeClock
	signer  *Ed25519Signer
	issuer  *Issuer
	pairing Pairing
	lock    *Lock
	key     *HolderKey
	seq     uint32
	serverT time.Time   // the issuer's clock
	cursor  AuditCursor // what upload has verified
}

func newWorld(t testing.TB) *world { return newWorldConfig(t, Config{}) }

// newWorldConfig uses cfg with the test clock and random source filled in.
func newWorldConfig(t testing.TB, cfg Config) *world {
	t.Helper()
	w := &world{t: t, clock: &fakeClock{t: time.Hour}, serverT: t0}
	cfg.Clock, cfg.Rand = w.clock.now, newDetRand(2)
	var err error
	w.signer, err = NewEd25519Signer(ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	w.issuer = NewIssuer(w.signer)
	if w.pairing, err = NewPairing(testLock, w.signer.PublicKey(), newDetRand(1)); err != nil {
		t.Fatal(err)
	}
	if w.lock, err = NewLock(w.pairing, &cfg); err != nil {
		t.Fatal(err)
	}
	if w.key, err = GenerateHolderKey(newDetRand(3)); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// challenge asks the lock for a challenge and decodes it.
func (w *world) challenge() Challenge {
	w.t.Helper()
	b, err := w.lock.Challenge()
	w.must(err)
	c, err := DecodeChallenge(b)
	w.must(err)
	return c
}

// syncTime runs a time sync at the issuer's clock plus a UTC+offset zone.
func (w *world) syncTime(offset int32) {
	w.t.Helper()
	c := w.challenge()
	m, err := w.issuer.TimeSync(testLock, c.Nonce, w.serverT)
	w.must(err)
	w.must(w.lock.HandleAdmin(m))
	w.seq++
	z := ZoneRules{N: 1}
	z.Transitions[0] = ZoneTransition{From: 0, Offset: offset}
	m, err = w.issuer.TimeZone(testLock, w.seq, z)
	w.must(err)
	w.must(w.lock.HandleAdmin(m))
}

// resync runs a time sync alone at the issuer's clock (a restarted lock
// needs one).
func (w *world) resync() {
	w.t.Helper()
	c := w.challenge()
	m, err := w.issuer.TimeSync(testLock, c.Nonce, w.serverT)
	w.must(err)
	w.must(w.lock.HandleAdmin(m))
}

// upload drains the lock's audit as a phone does, verifies it as the
// backend does, and delivers the acknowledgement.
func (w *world) upload() {
	w.t.Helper()
	for b := w.lock.DrainAudit(); b != nil; b = w.lock.DrainAudit() {
		_, cur, err := VerifyAudit(w.pairing.AuditKey, testLock, w.cursor, b)
		w.must(err)
		w.cursor = cur
	}
	if w.cursor.Seq > w.lock.State().AuditAcked {
		ack := NewAuditAck(w.pairing.AuditKey, testLock, w.cursor)
		w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &ack)))
	}
}

// advance moves both the lock's RTC and the issuer's clock.
func (w *world) advance(d time.Duration) {
	w.clock.advance(d)
	w.serverT = w.serverT.Add(d)
}

func baseCredential(key *HolderKey) Credential {
	return Credential{
		Lock: testLock, ID: CredentialID{1, 2, 3, 4, 5, 6, 7, 8}, Slot: 3, Generation: 1,
		Doors: 0b01, Role: RoleUser, HolderKey: key.PublicKey(),
		Policy: policy.Compact{NotBefore: uint32(t0.Add(-time.Hour).Unix()), NotAfter: uint32(t0.Add(30 * 24 * time.Hour).Unix())},
	}
}

// holder issues c and returns the phone side of it.
func (w *world) holder(c Credential) (*Holder, []byte) {
	w.t.Helper()
	raw, err := w.issuer.IssueCredential(c)
	w.must(err)
	h, err := NewHolder(w.key, raw, w.lock.PublicKey())
	w.must(err)
	return h, raw
}

// unlock runs challenge, full request, decision, and response check.
func (w *world) unlock(h *Holder, door uint8) (Decision, Response) {
	w.t.Helper()
	c := w.challenge()
	req, err := h.Unlock(c, door)
	w.must(err)
	d := w.lock.HandleUnlock(req)
	resp, err := h.ReadResponse(c, d.Response)
	w.must(err)
	if resp.Granted != d.Granted || resp.Reason != d.Reason {
		w.t.Fatalf("response %+v disagrees with decision %+v", resp, d)
	}
	return d, resp
}
