// Command phone-lock walks a phone through the lock wire protocol against the
// reference lock, with an embedded keyledger as the backend: the owner
// creates and shares a key, the guest's phone downloads its signed
// credential once, then opens the lock offline over 20-byte BLE writes; the
// owner resets the key and shares the slot with someone else, whose download
// carries the signed reset message to the lock, so the old key loses there;
// finally a phone carries the lock's audit records back, the ledger verifies
// them, records each once, counts the offline uses, and shows them in the
// lock's history with the lock's own time.
//
// Everything is deterministic (fixed clock, seeded keys), so the output is
// pinned by main_test.go: go test ./examples/phone-lock [-update].
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

const zone = "Europe/Paris"

// seeded is a deterministic random source: keys and nonces are the same on
// every run (a real backend, phone and lock use crypto/rand).
type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func newSeeded(label string) seeded {
	var seed [32]byte
	copy(seed[:], label)
	return seeded{rand.NewChaCha8(seed)}
}

// demo is the backend (ledger, read models, commands), the lock and the
// clock they share.
type demo struct {
	ctx   context.Context
	w     io.Writer
	now   time.Time
	start time.Time
	loc   *time.Location
	svc   *commands.Service
	proj  *projections.Projections
	lock  *lockproto.Lock
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func (d *demo) when(t time.Time) string { return t.In(d.loc).Format("Mon 15:04") }

func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "keyledger-phone-lock-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	loc, err := policy.LoadZone(zone)
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, w: w, loc: loc, start: time.Date(2026, 3, 2, 10, 0, 0, 0, loc)} // Monday
	d.now = d.start
	clock := func() time.Time { return d.now }

	// The issuer's signing key belongs to the backend (an HSM or KMS in
	// production: anything implementing lockproto.Signer).
	signer, err := lockproto.GenerateEd25519Signer(newSeeded("issuer"))
	if err != nil {
		return err
	}
	issuer := lockproto.NewIssuer(signer)
	stack, err := keyledger.Open(dir, &keyledger.Options{Clock: clock, Issuer: issuer,
		Root: secret.New([]byte("phone-lock example root secret; production roots come from a secret manager"))})
	if err != nil {
		return err
	}
	defer stack.Close()
	d.svc, d.proj = stack.Commands, stack.Projections
	for _, step := range []func(*lockproto.Issuer) error{d.install, d.visits, d.reset, d.audit} {
		if err := step(issuer); err != nil {
			return err
		}
	}
	return nil
}

var alice, bob *phone

// install pairs the lock and registers it with its public and audit keys
// (the audit key is sealed before it is recorded); the owner's phone sets
// the lock's clock with a signed time sync bound to the lock's nonce; the
// lock's time-zone rules become a pending admin message.
func (d *demo) install(issuer *lockproto.Issuer) error {
	for _, a := range []string{"bill", "alice", "bob"} {
		if err := d.svc.RegisterAccount(d.ctx, commands.RegisterAccount{ID: commands.NewID(), Account: a, Name: a, Email: a + "@example.com"}); err != nil {
			return err
		}
	}
	pairing, err := lockproto.NewPairing(commands.LockUUID("front"), issuer.PublicKey(), newSeeded("pairing"))
	if err != nil {
		return err
	}
	pub, err := pairing.LockPublicKey()
	if err != nil {
		return err
	}
	if err := d.svc.RegisterLock(d.ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front door", Zone: zone,
		Slots: 4, Doors: access.Main | access.Inner, LockKey: pub, AuditKey: secret.New(pairing.AuditKey[:])}); err != nil {
		return err
	}
	d.lock, err = lockproto.NewLock(pairing, &lockproto.Config{Clock: func() time.Duration { return d.now.Sub(d.start) }, Rand: newSeeded("lock")})
	if err != nil {
		return err
	}
	ch, err := challenge(d.lock)
	if err != nil {
		return err
	}
	sync, err := issuer.TimeSync(commands.LockUUID("front"), ch.Nonce, d.now)
	if err != nil {
		return err
	}
	d.printf("%s installation: lock %q (%s, 4 slots) paired; bill's phone sets its clock: %s\n", d.when(d.now), "front", zone, outcome(d.lock.HandleAdmin(sync)))
	if _, err := d.svc.SendZoneRules(d.ctx, commands.SendZoneRules{ID: commands.NewID(), Lock: "front", By: "bill", From: d.now, Until: d.now.AddDate(0, 6, 0)}); err != nil {
		return err
	}
	p, err := d.svc.PendingAdmin(d.ctx, "front")
	if err != nil {
		return err
	}
	d.printf("  the ledger issued the lock's time-zone rules: %d admin message(s) pending\n", len(p))

	// Alice's key: workdays 08:00-18:00 Paris time, 10 uses, main door.
	st := events.Settings{Name: "Alice", Doors: access.Main, Policy: policy.Policy{Uses: policy.UsesN(10),
		Windows: []policy.Window{{Days: policy.Workdays, From: 8 * 60, To: 18 * 60}}}}
	if alice, err = d.shareAndDownload("k-alice", "alice", st); err != nil {
		return err
	}
	return nil
}

// shareAndDownload: bill creates a share key and shares it To ID; the
// holder's phone downloads it with its public key.
func (d *demo) shareAndDownload(key, to string, st events.Settings) (*phone, error) {
	cr, err := d.svc.CreateKey(d.ctx, commands.CreateKey{ID: commands.NewID(), Key: key, Lock: "front", By: "bill", Kind: events.KindShare, Settings: st, Slot: 1})
	if err != nil {
		return nil, err
	}
	if _, err := d.svc.ShareKey(d.ctx, commands.ShareKey{ID: commands.NewID(), Key: key, By: "bill", Method: events.ShareToID, Account: to}); err != nil {
		return nil, err
	}
	hk, err := lockproto.GenerateHolderKey(newSeeded("phone of " + to))
	if err != nil {
		return nil, err
	}
	res, err := d.svc.DownloadKey(d.ctx, commands.DownloadKey{ID: commands.NewID(), Key: key, By: to, HolderKey: hk.PublicKey()})
	if err != nil {
		return nil, err
	}
	dl, err := lockproto.DecodeDownload(res.Download)
	if err != nil {
		return nil, err
	}
	h, err := lockproto.NewHolder(hk, dl.Credential, dl.LockKey)
	if err != nil {
		return nil, err
	}
	d.printf("%s bill shares %s (slot %d, generation %d) with %s; %s's phone downloads it online:\n", d.when(d.now), key, cr.Slot, cr.Generation, to, to)
	d.printf("  credential %v, %d bytes, signed by the issuer; download frame %d bytes with %d pending admin message(s)", h.Credential().ID, len(dl.Credential), len(res.Download), len(dl.Admin))
	for i, m := range dl.Admin {
		a, _ := lockproto.DecodeAdmin(m)
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		d.printf("%s%v seq %d", sep, a.Type, a.Seq)
	}
	d.printf("\n")
	return &phone{name: to, holder: h, admin: dl.Admin}, nil
}

// visits: Alice at the door, offline.
func (d *demo) visits(*lockproto.Issuer) error {
	d.printf("%s alice at the door, offline:\n", d.when(d.now))
	if err := alice.visit(d, 0); err != nil {
		return err
	}
	d.now = d.now.Add(time.Minute)
	if err := alice.visit(d, 1); err != nil { // a door her key does not open
		return err
	}
	d.now = d.now.Add(3 * time.Hour)
	if err := alice.visit(d, 0); err != nil {
		return err
	}
	d.now = time.Date(2026, 3, 2, 20, 1, 0, 0, d.loc)
	d.printf("%s alice again, after hours:\n", d.when(d.now))
	return alice.visit(d, 0)
}

// reset: bill resets Alice's key and shares the slot with Bob; the
// signed reset message rides with Bob's download, Bob's phone delivers it,
// and Alice's key loses at the lock.
func (d *demo) reset(*lockproto.Issuer) error {
	d.now = time.Date(2026, 3, 3, 9, 30, 0, 0, d.loc)
	if err := d.svc.ResetKey(d.ctx, commands.KeyCommand{ID: commands.NewID(), Key: "k-alice", By: "bill"}); err != nil {
		return err
	}
	p, err := d.svc.PendingAdmin(d.ctx, "front")
	if err != nil {
		return err
	}
	d.printf("%s bill resets k-alice: the ledger issues a signed reset; %d admin message(s) pending\n", d.when(d.now), len(p))
	d.now = d.now.Add(15 * time.Minute)
	st := events.Settings{Name: "Bob", Doors: access.Main | access.Inner}
	if bob, err = d.shareAndDownload("k-bob", "bob", st); err != nil {
		return err
	}
	d.now = d.now.Add(30 * time.Minute)
	d.printf("%s at the door, offline:\n", d.when(d.now))
	if err := bob.visit(d, 1); err != nil {
		return err
	}
	d.now = d.now.Add(time.Minute)
	return alice.visit(d, 0)
}

// audit: Bob's phone carries the lock's audit records back; Alice's phone
// uploads the same records again later. The ledger records each once.
func (d *demo) audit(*lockproto.Issuer) error {
	d.now = d.now.Add(2 * time.Hour)
	d.printf("%s bob's phone uploads the lock's audit records:\n", d.when(d.now))
	var batches [][]byte
	for b := d.lock.DrainAudit(); b != nil; b = d.lock.DrainAudit() {
		batches = append(batches, b)
	}
	for _, b := range batches {
		res, err := d.svc.IngestAudit(d.ctx, commands.UploadAudit{Lock: "front", By: "bob", Batch: b})
		if err != nil {
			return err
		}
		d.printf("  batch of %d bytes: %d new record(s), %d already known, admin messages applied %v, up to record %d\n",
			len(b), res.New, res.Duplicates, res.Applied, res.Cursor)
	}
	again, err := d.svc.IngestAudit(d.ctx, commands.UploadAudit{Lock: "front", By: "alice", Batch: d.lock.AuditFrom(1)})
	if err != nil {
		return err
	}
	d.printf("  alice's phone uploads the same records: %d new, %d already known\n", again.New, again.Duplicates)
	p, err := d.svc.PendingAdmin(d.ctx, "front")
	if err != nil {
		return err
	}
	d.printf("  admin messages still pending: %d\n", len(p))
	for _, key := range []string{"k-alice", "k-bob"} {
		st, err := d.proj.KeyStatus(d.ctx, key, d.now)
		if err != nil {
			return err
		}
		d.printf("  %s: %s, %s, %d use(s) counted\n", key, st.State, st.Status, st.Uses)
	}

	page, err := d.proj.History(d.ctx, projections.HistoryQuery{Lock: "front", Limit: 100})
	if err != nil {
		return err
	}
	d.printf("history of the front door (offline records at the lock's time, with its record number):\n")
	for _, h := range page.Entries {
		what := h.Type
		if h.Key != "" {
			what += " " + h.Key
		} else if h.Presented != "" {
			what += " (presented " + h.Presented + ")"
		}
		if h.Account != "" {
			what += " by " + h.Account
		}
		line := fmt.Sprintf("  %s %s", d.when(h.Time), what)
		if h.Offline {
			outcome := h.Admin + " applied"
			if h.Door != 0 {
				outcome = fmt.Sprintf("%v door granted", h.Door)
			}
			if !h.Granted {
				outcome = fmt.Sprintf("%v door refused: %s", h.Door, h.Reason.Name())
				if h.Door == 0 {
					outcome = h.Admin + " refused: " + h.Reason.Name()
				}
			}
			line += fmt.Sprintf(" — %s (lock record #%d, uploaded %s)", outcome, h.AuditSeq, d.when(h.Uploaded))
		}
		d.printf("%s\n", line)
	}
	return nil
}

// phone is a holder's app: its key, its credential and the admin messages
// it carries for the lock.
type phone struct {
	name   string
	holder *lockproto.Holder
	admin  [][]byte
}

func challenge(l *lockproto.Lock) (lockproto.Challenge, error) {
	b, err := l.Challenge()
	if err != nil {
		return lockproto.Challenge{}, err
	}
	return lockproto.DecodeChallenge(b)
}

// visit is the offline step at the door: deliver what the lock has not
// applied yet, then unlock, the request sent in 20-byte BLE writes.
func (p *phone) visit(d *demo, door uint8) error {
	ch, err := challenge(d.lock)
	if err != nil {
		return err
	}
	for _, m := range p.admin {
		a, err := lockproto.DecodeAdmin(m)
		if err != nil || a.Seq <= ch.AdminSeq { // the challenge says what the lock has
			continue
		}
		d.printf("  %s's phone delivers %v seq %d: %s\n", p.name, a.Type, a.Seq, outcome(d.lock.HandleAdmin(m)))
	}
	req, err := p.holder.Unlock(ch, door)
	if err != nil {
		return err
	}
	frags, err := lockproto.Fragment(req, lockproto.FragmentMTU)
	if err != nil {
		return err
	}
	var r lockproto.Reassembler
	var got []byte
	for _, f := range frags {
		if got, err = r.Add(f); err != nil {
			return err
		}
	}
	dec := d.lock.HandleUnlock(got)
	resp, err := p.holder.ReadResponse(ch, dec.Response)
	if err != nil {
		return err
	}
	result := "granted"
	if !resp.Granted {
		result = "refused: " + resp.Reason.String()
	}
	d.printf("  %s %s: %s door %d, %d bytes in %d BLE writes: %s (authenticated response: %v)\n",
		d.when(d.now), p.name, "unlock", door, len(req), len(frags), result, resp.Authenticated)
	return nil
}

func outcome(err error) string {
	if err == nil {
		return "applied"
	}
	var re *lockproto.RefusalError
	if errors.As(err, &re) {
		return "refused: " + re.Reason.String()
	}
	return err.Error()
}
