// Command lifecycle walks through a key's life beyond grant and revoke, at a
// small office's reference lock that decides alone: the front door is free
// to anyone during office hours (passage mode); the cleaner's PIN opens only
// on three dated evenings; a visitor's PIN expires two hours after its first
// use; the cleaner's key is suspended for an evening and resumed with its
// settings intact; and finally one command resets every key of the lock,
// after which a new key works. Each rule reaches the lock as a signed admin
// message the owner's phone delivers, and the lock's audit, carried back at
// the end, puts every decision into the history.
//
// Everything is deterministic (fixed clock, seeded keys), so the output is
// pinned by main_test.go: go test ./examples/lifecycle [-update].
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
	"github.com/keyledger/keyledger/secret"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

const (
	zone = "Europe/Berlin"
	lock = "office"
)

// seeded is a deterministic random source (a real backend and lock use
// crypto/rand).
type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func newSeeded(label string) seeded {
	var seed [32]byte
	copy(seed[:], label)
	return seeded{rand.NewChaCha8(seed)}
}

type demo struct {
	ctx    context.Context
	w      io.Writer
	now    time.Time
	start  time.Time
	loc    *time.Location
	stack  *keyledger.Stack
	svc    *commands.Service
	issuer *lockproto.Issuer
	lock   *lockproto.Lock
	pins   map[string][]byte // what each person was told; the ledger keeps keyed hashes
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func (d *demo) when(t time.Time) string { return t.In(d.loc).Format("Mon 02 15:04") }

// at is day-of-March 2026 at hour:minute, the office's local time.
func (d *demo) at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, d.loc)
}

func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "keyledger-lifecycle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	loc, err := policy.LoadZone(zone)
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, w: w, loc: loc, pins: map[string][]byte{}}
	d.start = d.at(2, 8, 0) // Monday
	d.now = d.start
	signer, err := lockproto.GenerateEd25519Signer(newSeeded("issuer"))
	if err != nil {
		return err
	}
	d.issuer = lockproto.NewIssuer(signer)
	d.stack, err = keyledger.Open(dir, &keyledger.Options{Clock: func() time.Time { return d.now }, Issuer: d.issuer, AsOf: true,
		Rand: newSeeded("backend"), Root: secret.New([]byte("lifecycle example root secret; production roots come from a secret manager"))})
	if err != nil {
		return err
	}
	defer d.stack.Close()
	d.svc = d.stack.Commands
	for _, step := range []func() error{d.install, d.passage, d.keys, d.week, d.reset, d.upload} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// install pairs and registers the lock, sets its clock and zone.
func (d *demo) install() error {
	for _, a := range []string{"olga", "cleo", "vic", "max"} {
		if err := d.svc.RegisterAccount(d.ctx, commands.RegisterAccount{ID: commands.NewID(), Account: a, Name: a, Email: a + "@example.com"}); err != nil {
			return err
		}
	}
	pairing, err := lockproto.NewPairing(commands.LockUUID(lock), d.issuer.PublicKey(), newSeeded("pairing"))
	if err != nil {
		return err
	}
	pub, err := pairing.LockPublicKey()
	if err != nil {
		return err
	}
	if err := d.svc.RegisterLock(d.ctx, commands.RegisterLock{ID: commands.NewID(), Lock: lock, Owner: "olga", Name: "Office", Zone: zone,
		Slots: 4, LockKey: pub, AuditKey: secret.New(pairing.AuditKey[:])}); err != nil {
		return err
	}
	d.lock, err = lockproto.NewLock(pairing, &lockproto.Config{Clock: func() time.Duration { return d.now.Sub(d.start) }, Rand: newSeeded("lock")})
	if err != nil {
		return err
	}
	b, err := d.lock.Challenge()
	if err != nil {
		return err
	}
	ch, err := lockproto.DecodeChallenge(b)
	if err != nil {
		return err
	}
	sync, err := d.issuer.TimeSync(commands.LockUUID(lock), ch.Nonce, d.now)
	if err != nil {
		return err
	}
	if err := d.lock.HandleAdmin(sync); err != nil {
		return err
	}
	if _, err := d.svc.SendZoneRules(d.ctx, commands.SendZoneRules{ID: commands.NewID(), Lock: lock, By: "olga", From: d.now.AddDate(0, 0, -1), Until: d.now.AddDate(0, 6, 0)}); err != nil {
		return err
	}
	d.printf("%s olga installs the office lock: clock and zone set by her phone\n", d.when(d.now))
	return d.deliver()
}

// deliver is the owner's phone handing the lock every message the ledger
// queued. A message the lock applied already is refused as stale: harmless.
func (d *demo) deliver() error {
	msgs, err := d.svc.PendingAdmin(d.ctx, lock)
	if err != nil {
		return err
	}
	n := 0
	for _, m := range msgs {
		err := d.lock.HandleAdmin(m)
		var re *lockproto.RefusalError
		switch {
		case err == nil:
			n++
		case errors.As(err, &re) && re.Reason == access.StaleSequence:
		default:
			return err
		}
	}
	d.printf("%s olga's phone delivers %d new message(s) to the lock\n", d.when(d.now), n)
	return nil
}

// passage frees the front door to anyone on weekday mornings.
func (d *demo) passage() error {
	hours := policy.Policy{Zone: zone, Windows: []policy.Window{{Days: policy.Weekdays(0b0111110), From: 9 * 60, To: 12 * 60}}}
	if _, err := d.svc.SetPassageMode(d.ctx, commands.SetPassageMode{ID: commands.NewID(), Lock: lock, By: "olga",
		Doors: access.Main, Periods: []policy.Policy{hours}}); err != nil {
		return err
	}
	d.printf("%s olga sets passage mode: the front door is free to anyone Mon-Fri 09:00-12:00\n", d.when(d.now))
	return nil
}

// keys makes the cleaner's and the visitor's PIN keys.
func (d *demo) keys() error {
	evening := func(day int) policy.Period { return policy.Period{Start: d.at(day, 18, 0), End: d.at(day, 22, 0)} }
	for _, k := range []struct {
		key, user, what string
		p               policy.Policy
	}{
		{"cleaner", "cleo", "opens only Mon, Wed and Fri 18:00-22:00",
			policy.Policy{Zone: zone, Periods: []policy.Period{evening(2), evening(4), evening(6)}}},
		{"visitor", "vic", "valid from Mon 09:00 this week, expires 2 h after its first use",
			policy.Policy{Zone: zone, Start: d.at(2, 9, 0), End: d.at(7, 0, 0), AfterFirstUse: 2 * time.Hour}},
	} {
		res, err := d.svc.CreateKey(d.ctx, commands.CreateKey{ID: commands.NewID(), Key: k.key, Lock: lock, By: "olga", Kind: events.KindDigital,
			For: k.user, Credential: events.CredentialPIN, Settings: events.Settings{Name: k.key, Doors: access.Main, Policy: k.p}})
		if err != nil {
			return err
		}
		d.pins[k.user] = res.PIN.Reveal()
		d.printf("%s olga makes %s's PIN key %q: %s\n", d.when(d.now), k.user, k.key, k.what)
	}
	return d.deliver()
}

// typePIN is someone typing their PIN at the front door's keypad.
func (d *demo) typePIN(who string) {
	c := d.lock.EnterCode(0, append([]byte(nil), d.pins[who]...))
	d.printf("  %s %s  %-5s types a PIN → %s\n", mark(c.Granted), d.when(d.now), who, verdict(c.Granted, c.Reason))
}

// handle is someone pushing the front door's handle without a key.
func (d *demo) handle(who string) {
	p := d.lock.OpenFree(0)
	d.printf("  %s %s  %-5s pushes the handle → %s\n", mark(p.Granted), d.when(d.now), who, verdict(p.Granted, p.Reason))
}

// week is the office's week at the lock, with a suspension in the middle.
func (d *demo) week() error {
	d.printf("\nThe week at the front door (the lock decides alone, on its own clock)\n")
	steps := []struct {
		at  time.Time
		act func() error
	}{
		{d.at(2, 9, 30), func() error { d.handle("a courier"); return nil }},
		{d.at(2, 9, 40), func() error { d.typePIN("vic"); return nil }},
		{d.at(2, 10, 50), func() error { d.typePIN("vic"); return nil }},
		{d.at(2, 11, 30), func() error { d.typePIN("vic"); return nil }},
		{d.at(2, 13, 0), func() error { d.handle("a courier"); return nil }},
		{d.at(2, 18, 30), func() error { d.typePIN("cleo"); return nil }},
		{d.at(3, 18, 30), func() error { d.typePIN("cleo"); return nil }},
		{d.at(4, 12, 0), func() error {
			if err := d.svc.SuspendKey(d.ctx, commands.KeyCommand{ID: commands.NewID(), Key: "cleaner", By: "olga"}); err != nil {
				return err
			}
			d.printf("%s olga suspends the cleaner's key for this evening (its periods and PIN are kept)\n", d.when(d.now))
			if err := d.status("cleaner"); err != nil {
				return err
			}
			if err := d.deliver(); err != nil {
				return err
			}
			return d.status("cleaner")
		}},
		{d.at(4, 18, 30), func() error { d.typePIN("cleo"); return nil }},
		{d.at(5, 9, 0), func() error {
			if err := d.svc.ResumeKey(d.ctx, commands.KeyCommand{ID: commands.NewID(), Key: "cleaner", By: "olga"}); err != nil {
				return err
			}
			d.printf("%s olga resumes the cleaner's key\n", d.when(d.now))
			return d.deliver()
		}},
		{d.at(6, 18, 30), func() error { d.typePIN("cleo"); return nil }},
	}
	for _, s := range steps {
		d.now = s.at
		if err := s.act(); err != nil {
			return err
		}
	}
	return nil
}

// reset ends every key of the lock at once; a key made afterwards works.
func (d *demo) reset() error {
	d.now = d.at(6, 20, 0)
	res, err := d.svc.ResetLock(d.ctx, commands.ResetLock{ID: commands.NewID(), Lock: lock, By: "olga"})
	if err != nil {
		return err
	}
	d.printf("\n%s olga resets every key of the lock (epoch %d): %v\n", d.when(d.now), res.Epoch, res.Keys)
	mk, err := d.svc.CreateKey(d.ctx, commands.CreateKey{ID: commands.NewID(), Key: "new-hire", Lock: lock, By: "olga", Kind: events.KindDigital,
		For: "max", Credential: events.CredentialPIN, Settings: events.Settings{Name: "new-hire", Doors: access.Main, Policy: policy.Policy{Zone: zone}}})
	if err != nil {
		return err
	}
	d.pins["max"] = mk.PIN.Reveal()
	d.printf("%s olga makes max's PIN key \"new-hire\"\n", d.when(d.now))
	if err := d.deliver(); err != nil {
		return err
	}
	d.now = d.at(6, 20, 30)
	d.typePIN("cleo")
	d.typePIN("max")
	return nil
}

// upload carries the lock's audit back; then the statuses and the as-of
// answer for Monday morning.
func (d *demo) upload() error {
	d.now = d.at(6, 21, 0)
	n := 0
	for b := d.lock.DrainAudit(); b != nil; b = d.lock.DrainAudit() {
		res, err := d.svc.IngestAudit(d.ctx, commands.UploadAudit{Lock: lock, By: "olga", Batch: b, ReadAt: d.now})
		if err != nil {
			return err
		}
		n += res.New
		if res.Ack != nil {
			if err := d.lock.HandleAuditAck(res.Ack); err != nil {
				return err
			}
		}
	}
	d.printf("\n%s olga's phone uploads the lock's audit: %d record(s)\n", d.when(d.now), n)
	d.printf("\nKeys now\n")
	for _, key := range []string{"cleaner", "visitor", "new-hire"} {
		if err := d.status(key); err != nil {
			return err
		}
	}
	at := d.at(2, 9, 45)
	ans, err := d.stack.AsOf.WhoCouldOpen(d.ctx, lock, access.MainDoor, at)
	if err != nil {
		return err
	}
	d.printf("\nWho could open the front door on %s (from the log)\n", d.when(at))
	if ans.Passage != nil {
		d.printf("  anyone: passage mode\n")
	}
	for _, o := range ans.Openings {
		d.printf("  %-5s through %s\n", o.Account, o.Key)
	}
	return nil
}

// status prints what the app shows for a key now.
func (d *demo) status(key string) error {
	st, err := d.stack.Projections.KeyStatus(d.ctx, key, d.now)
	if err != nil {
		return err
	}
	d.printf("    %-9s %s\n", key, st.Summary())
	return nil
}

func mark(granted bool) string {
	if granted {
		return "✓"
	}
	return "✗"
}

func verdict(granted bool, r access.Reason) string {
	if granted {
		return "granted"
	}
	return "refused: " + r.String()
}
