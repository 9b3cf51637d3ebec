package commands_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// lockEnv is env with an issuer, a lock "front" paired and registered with
// its public and audit keys, and the reference lock itself, whose clock
// follows the env's.
type lockEnv struct {
	*env
	svc     *commands.Service // with the issuer
	issuer  *lockproto.Issuer
	pairing lockproto.Pairing
	lock    *lockproto.Lock
	rnd     seedRand
	start   time.Time
}

func newLockEnv(t testing.TB) *lockEnv { return newLockEnvOn(t, newEnv(t)) }

// newLockEnvOn builds the lock environment over an env (diskEnv for benchmarks).
func newLockEnvOn(t testing.TB, base *env) *lockEnv {
	t.Helper()
	e := &lockEnv{env: base, rnd: seedRand{rand.NewChaCha8([32]byte{6})}}
	e.start = e.now
	signer, err := lockproto.GenerateEd25519Signer(e.rnd)
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = lockproto.NewIssuer(signer)
	e.svc, err = commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Root: testRoot, Projections: e.proj, Issuer: e.issuer})
	if err != nil {
		t.Fatal(err)
	}
	e.given(accounts()...)
	e.pairing, e.lock = e.pair("front")
	return e
}

// pair registers a lock with its pairing and returns the pairing and the
// reference lock, its clock set by a signed time sync and its zone rules
// delivered through the ledger's pending admin messages.
func (e *lockEnv) pair(lock string) (lockproto.Pairing, *lockproto.Lock) {
	e.t.Helper()
	p, err := lockproto.NewPairing(commands.LockUUID(lock), e.issuer.PublicKey(), e.rnd)
	if err != nil {
		e.t.Fatal(err)
	}
	pub, err := p.LockPublicKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: lock, Owner: "bill", Name: lock, Zone: "Europe/Berlin",
		Slots: 2, Doors: access.Main | access.Inner, LockKey: pub, AuditKey: secret.New(p.AuditKey[:])}); err != nil {
		e.t.Fatal(err)
	}
	l, err := lockproto.NewLock(p, &lockproto.Config{Clock: func() time.Duration { return e.now.Sub(e.start) }, Rand: e.rnd,
		ClockValidity: 10 * 365 * 24 * time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	ch := e.challenge(l)
	sync, err := e.issuer.TimeSync(commands.LockUUID(lock), ch.Nonce, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := l.HandleAdmin(sync); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.SendZoneRules(bg, commands.SendZoneRules{ID: e.id(), Lock: lock, By: "bill",
		From: e.now.AddDate(0, 0, -1), Until: e.now.AddDate(1, 0, 0)}); err != nil {
		e.t.Fatal(err)
	}
	e.deliver(l, e.pending(lock))
	e.upload(l, lock) // records 1 (time sync) and 2 (zone rules): nothing pending
	return p, l
}

// setLockClock sets the front lock's clock to at with a time sync signed
// for its current challenge, as a phone delivers one.
func (e *lockEnv) setLockClock(at time.Time) {
	e.t.Helper()
	ch := e.challenge(e.lock)
	sync, err := e.issuer.TimeSync(commands.LockUUID("front"), ch.Nonce, at)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.lock.HandleAdmin(sync); err != nil {
		e.t.Fatal(err)
	}
}

// startWithNextIssuer restarts the service with a new issuer key (key ID
// 1), the current one retired, as an operator rotating keys does, and
// returns the new issuer.
func (e *lockEnv) startWithNextIssuer() *lockproto.Issuer {
	e.t.Helper()
	signer, err := lockproto.GenerateEd25519Signer(e.rnd)
	if err != nil {
		e.t.Fatal(err)
	}
	next, err := lockproto.NewIssuerKey(signer, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc, err = commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Projections: e.proj,
		Issuer: next, RetiredIssuers: []*lockproto.Issuer{e.issuer}})
	if err != nil {
		e.t.Fatal(err)
	}
	return next
}

func (e *lockEnv) challenge(l *lockproto.Lock) lockproto.Challenge {
	e.t.Helper()
	b, err := l.Challenge()
	if err != nil {
		e.t.Fatal(err)
	}
	ch, err := lockproto.DecodeChallenge(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return ch
}

func (e *lockEnv) pending(lock string) [][]byte {
	e.t.Helper()
	p, err := e.svc.PendingAdmin(bg, lock)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// deliver hands admin messages to a lock as a phone does: stale ones are
// refused harmlessly.
func (e *lockEnv) deliver(l *lockproto.Lock, msgs [][]byte) {
	e.t.Helper()
	for _, m := range msgs {
		if err := l.HandleAdmin(m); err != nil {
			var re *lockproto.RefusalError
			if !errors.As(err, &re) || re.Reason != access.StaleSequence {
				e.t.Fatalf("admin message refused: %v", err)
			}
		}
	}
}

// phone is a holder's phone with what it downloaded.
type phone struct {
	holder *lockproto.Holder
	res    commands.DownloadResult
}

// shareTo creates a share key in slot (0 = any free), shares it To ID with
// account and downloads it on a fresh phone.
func (e *lockEnv) shareTo(key, account string, slot int, st events.Settings) *phone {
	e.t.Helper()
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindShare, Settings: st, Slot: slot}); err != nil {
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
	d, err := lockproto.DecodeDownload(res.Download)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := lockproto.NewHolder(hk, d.Credential, d.LockKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return &phone{holder: h, res: res}
}

// visit: the phone delivers what it carries, then asks to open door.
func (e *lockEnv) visit(l *lockproto.Lock, p *phone, door uint8) lockproto.Decision {
	e.t.Helper()
	e.deliver(l, p.res.Admin)
	ch := e.challenge(l)
	req, err := p.holder.Unlock(ch, door)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.HandleUnlock(req)
}

// upload drains the lock's audit records into the ledger.
func (e *lockEnv) upload(l *lockproto.Lock, lock string) commands.AuditResult {
	e.t.Helper()
	var total commands.AuditResult
	for b := l.DrainAudit(); b != nil; b = l.DrainAudit() {
		r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: lock, By: "ann", Batch: b})
		if err != nil {
			e.t.Fatal(err)
		}
		total.New += r.New
		total.Duplicates += r.Duplicates
		total.Cursor = r.Cursor
		total.Confirmed = append(total.Confirmed, r.Confirmed...)
		total.Applied = append(total.Applied, r.Applied...)
		total.Reissued = append(total.Reissued, r.Reissued...)
		total.SuspensionsRefused = append(total.SuspensionsRefused, r.SuspensionsRefused...)
		if r.Gap != nil {
			total.Gap = r.Gap
		}
		if r.Ack != nil { // the phone brings the acknowledgement back
			if err := l.HandleAuditAck(r.Ack); err != nil {
				var re *lockproto.RefusalError
				if !errors.As(err, &re) || re.Reason != access.StaleSequence {
					e.t.Fatalf("audit acknowledgement refused: %v", err)
				}
			}
			total.Ack = r.Ack
		}
	}
	return total
}
