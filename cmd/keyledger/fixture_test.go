package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// t0 is the fixture's first instant (a Monday).
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// How far the stored read models of a fixture got.
type fixtureMode int

const (
	projCurrent fixtureMode = iota // applied up to the head
	projBehind                     // stopped before the last phase's events
	projNone                       // never ran: no rows, no checkpoint
)

var fixtures struct {
	once sync.Once
	dirs [3]string
	err  error
}

// fixture returns a ledger directory built through the commands API with a
// fixed clock, shared by the tests that only read it. Callers that write
// (or hold its lock) take a copyFixture instead.
//
//	accounts bill, ann, bob; locks front (Europe/Berlin, 3 slots), garage (UTC, 2 slots),
//	back (UTC, 1 slot, paired with a reference lock)
//	front:  ann-week    share, t0..t0+7d, 3 uses, To ID ann, downloaded; 1 unlock granted,
//	                    bob denied (not_holder), ann denied at t0+8d (expired)
//	        guest-code  share To Code, downloaded by guest-phone, deactivation requested
//	        bob-later   share from t0+30d, To ID bob, not downloaded (UPCOMING)
//	garage: once        intercom, single use, t0-7d..t0+30d, To ID ann, downloaded; granted,
//	                    then exhausted
//	        revoked-one intercom To ID bob, revoked
//	        bob-digital digital for bob, until t0+2d; bob denied at t0+8d (expired)
//	back:   ann-back    share To ID ann with an offline credential; at the reference
//	                    lock, main door granted and inner door denied; the lock's
//	                    audit records uploaded at t0+3h05
func fixture(t *testing.T, mode fixtureMode) string {
	t.Helper()
	fixtures.once.Do(func() {
		root, err := os.MkdirTemp("", "keyledger-fixture")
		if err != nil {
			fixtures.err = err
			return
		}
		fixtureRoot = root
		for m := range fixtures.dirs {
			dir := filepath.Join(root, fmt.Sprint(m), "db")
			if err := buildFixture(dir, fixtureMode(m)); err != nil {
				fixtures.err = fmt.Errorf("fixture %d: %w", m, err)
				return
			}
			fixtures.dirs[m] = dir
		}
	})
	if fixtures.err != nil {
		t.Fatal(fixtures.err)
	}
	return fixtures.dirs[mode]
}

// fixtureRoot is removed by TestMain.
var fixtureRoot string

// copyFixture copies a fixture (a closed ledger) into a directory of t's own.
func copyFixture(t *testing.T, mode fixtureMode) string {
	t.Helper()
	src := fixture(t, mode)
	dst := filepath.Join(t.TempDir(), "db")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func buildFixture(dir string, mode fixtureMode) (err error) {
	return buildFixtureOn(func(o *keyledger.Options) (*keyledger.Stack, error) { return keyledger.Open(dir, o) }, mode)
}

// buildFixtureOn builds the fixture on the stack open opens with the
// options it is given.
func buildFixtureOn(open func(*keyledger.Options) (*keyledger.Stack, error), mode fixtureMode) (err error) {
	ctx := context.Background()
	now := t0
	clock := func() time.Time { return now }
	issuerRand := rand.NewChaCha8([32]byte{7})
	signer, err := lockproto.GenerateEd25519Signer(issuerRand)
	if err != nil {
		return err
	}
	issuer := lockproto.NewIssuer(signer)
	st, err := open(&keyledger.Options{Clock: clock, Issuer: issuer,
		Root: secret.New([]byte("keyledger cli fixture root secret, 32+ bytes"))})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	svc := st.Commands
	// stopProjections stops the read models, as if their process died; the
	// commands after it come from a process without them.
	stopProjections := func() error {
		if err := st.Projections.Close(); err != nil {
			return err
		}
		noWait, err := commands.New(st.Ledger, &commands.Options{Clock: clock, Vault: st.Commands.Vault(), Issuer: issuer})
		svc = noWait
		return err
	}
	if mode == projNone { // before the first event: no rows, no checkpoint
		if err := stopProjections(); err != nil {
			return err
		}
	}
	n := 0
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "cli-fixture-%d", n)) }
	var first error
	must := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	must2 := func(_ any, err error) { must(err) }
	unlock := func(key, by string, granted bool) {
		r, err := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: key, By: by})
		must(err)
		if err == nil && r.Granted != granted {
			must(fmt.Errorf("unlock %s by %s: granted %v (%s), want %v", key, by, r.Granted, r.Reason, granted))
		}
	}

	for _, a := range []string{"bill", "ann", "bob"} {
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 3}))
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "garage", Owner: "bill", Name: "Garage", Zone: "UTC", Slots: 2}))
	create := func(key, lock string, kind events.Kind, name string, p policy.Policy, forAccount string) {
		must2(svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: key, Lock: lock, By: "bill", Kind: kind, For: forAccount,
			Settings: events.Settings{Name: name, Policy: p}}))
	}
	share := func(key, account string) {
		must2(svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: key, By: "bill", Method: events.ShareToID, Account: account}))
	}
	create("ann-week", "front", events.KindShare, "Ann's week", policy.Policy{Start: t0, End: t0.AddDate(0, 0, 7), Uses: policy.UsesN(3)}, "")
	share("ann-week", "ann")
	create("guest-code", "front", events.KindShare, "Guest", policy.Policy{}, "")
	res, err := svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "guest-code", By: "bill", Method: events.ShareToCode})
	must(err)
	create("bob-later", "front", events.KindShare, "Bob next month", policy.Policy{Start: t0.AddDate(0, 0, 30)}, "")
	share("bob-later", "bob")
	create("once", "garage", events.KindIntercom, "Parcel", policy.Policy{Start: t0.AddDate(0, 0, -7), End: t0.AddDate(0, 0, 30), Uses: policy.SingleUse}, "")
	share("once", "ann")
	create("revoked-one", "garage", events.KindIntercom, "Old", policy.Policy{}, "")
	share("revoked-one", "bob")
	create("bob-digital", "garage", events.KindDigital, "Bob's app key", policy.Policy{End: t0.AddDate(0, 0, 2)}, "bob")

	now = t0.Add(30 * time.Minute)
	must2(svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "ann-week", By: "ann"}))
	must2(svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), By: "guest-phone", Code: secret.FromString(string(res.Code.Reveal()))}))
	must2(svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "once", By: "ann"}))

	now = t0.Add(time.Hour)
	unlock("ann-week", "ann", true)
	unlock("ann-week", "bob", false) // not_holder

	now = t0.Add(2 * time.Hour)
	unlock("once", "ann", true)
	unlock("once", "ann", false) // exhausted
	must(svc.RevokeKey(ctx, commands.KeyCommand{ID: id(), Key: "revoked-one", By: "bill"}))
	must(svc.RequestDeactivation(ctx, commands.KeyCommand{ID: id(), Key: "guest-code", By: "bill"}))
	if first != nil {
		return first
	}
	if err := pairedLock(ctx, svc, issuer, id, &now, issuerRand); err != nil {
		return fmt.Errorf("lock back: %w", err)
	}

	if mode == projBehind { // the last commands come after the read models stopped
		if err := stopProjections(); err != nil {
			return err
		}
	}
	now = t0.AddDate(0, 0, 8)
	unlock("ann-week", "ann", false)    // expired
	unlock("bob-digital", "bob", false) // expired
	return first
}

// pairedLock registers lock "back" paired with a reference lock, gives Ann
// an offline key, opens the lock with it (granted at the main door, denied
// at the inner one) and uploads the lock's audit records at t0+3h05.
func pairedLock(ctx context.Context, svc *commands.Service, issuer *lockproto.Issuer, id func() uuid.UUID, now *time.Time, rnd io.Reader) error {
	*now = t0.Add(3 * time.Hour)
	installed := *now
	lockID := commands.LockUUID("back")
	pairing, err := lockproto.NewPairing(lockID, issuer.PublicKey(), rnd)
	if err != nil {
		return err
	}
	pub, err := pairing.LockPublicKey()
	if err != nil {
		return err
	}
	if err := svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "back", Owner: "bill", Name: "Back door", Zone: "UTC",
		Slots: 1, LockKey: pub, AuditKey: secret.New(pairing.AuditKey[:])}); err != nil {
		return err
	}
	lock, err := lockproto.NewLock(pairing, &lockproto.Config{Clock: func() time.Duration { return now.Sub(installed) },
		Rand: rnd, ClockValidity: 10 * 365 * 24 * time.Hour})
	if err != nil {
		return err
	}
	challenge := func() (lockproto.Challenge, error) {
		b, err := lock.Challenge()
		if err != nil {
			return lockproto.Challenge{}, err
		}
		return lockproto.DecodeChallenge(b)
	}
	ch, err := challenge()
	if err != nil {
		return err
	}
	sync, err := issuer.TimeSync(lockID, ch.Nonce, *now)
	if err != nil {
		return err
	}
	if err := lock.HandleAdmin(sync); err != nil {
		return err
	}
	if _, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "ann-back", Lock: "back", By: "bill", Kind: events.KindShare,
		Settings: events.Settings{Name: "Ann offline"}}); err != nil {
		return err
	}
	if _, err := svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "ann-back", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		return err
	}
	hk, err := lockproto.GenerateHolderKey(rnd)
	if err != nil {
		return err
	}
	res, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "ann-back", By: "ann", HolderKey: hk.PublicKey()})
	if err != nil {
		return err
	}
	d, err := lockproto.DecodeDownload(res.Download)
	if err != nil {
		return err
	}
	phone, err := lockproto.NewHolder(hk, d.Credential, d.LockKey)
	if err != nil {
		return err
	}
	for _, m := range d.Admin { // what the download carries for the lock
		_ = lock.HandleAdmin(m)
	}
	*now = now.Add(time.Minute)
	for door, want := range []bool{true, false} { // main: granted; inner: not on this key
		ch, err := challenge()
		if err != nil {
			return err
		}
		req, err := phone.Unlock(ch, uint8(door))
		if err != nil {
			return err
		}
		if got := lock.HandleUnlock(req); got.Granted != want {
			return fmt.Errorf("offline unlock of door %d: granted %v (%v)", door, got.Granted, got.Reason)
		}
	}
	*now = t0.Add(3*time.Hour + 5*time.Minute)
	// AuditFrom rather than DrainAudit: a drain would add the lock's clock
	// reading, and the tests pin the fixture's event positions.
	for seq := uint32(1); ; {
		b := lock.AuditFrom(seq)
		if b == nil {
			return nil
		}
		batch, err := lockproto.DecodeAuditBatch(b)
		if err != nil {
			return err
		}
		if _, err := svc.IngestAudit(ctx, commands.UploadAudit{Lock: "back", By: "ann", Batch: b}); err != nil {
			return err
		}
		seq = batch.Records[batch.N-1].Seq + 1
	}
}
