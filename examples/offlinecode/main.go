// Command offlinecode walks through offline door codes: a holiday cabin's
// lock that no phone visits between guests. The owner enables offline
// codes with the key made at pairing, issues a guest's stay code, a
// one-time code for a delivery and a weekly code for the cleaner; the
// codes open the lock with no download; a wrong digit, a second delivery
// and the cleaner out of hours are refused. The stay is cut short: the
// owner revokes the code, which is pending at the lock until an erase
// code typed at the keypad applies it there. Finally a phone carries the
// lock's audit back, and the list and history attribute every keypad use
// to its code by its sequence number — the ledger never held the digits.
//
// Everything is deterministic (fixed clock, seeded keys), so the output is
// pinned by main_test.go: go test ./examples/offlinecode [-update].
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
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
	ctx   context.Context
	w     io.Writer
	now   time.Time
	start time.Time
	loc   *time.Location
	svc   *commands.Service
	proj  *projections.Projections
	lock  *lockproto.Lock
	codes map[string][]byte // what the owner handed out; the ledger keeps none
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func (d *demo) when(t time.Time) string { return t.In(d.loc).Format("Mon 02 15:04") }

func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "keyledger-offlinecode-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	loc, err := policy.LoadZone(zone)
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, w: w, loc: loc, start: time.Date(2026, 3, 2, 9, 0, 0, 0, loc), codes: map[string][]byte{}} // Monday
	d.now = d.start
	signer, err := lockproto.GenerateEd25519Signer(newSeeded("issuer"))
	if err != nil {
		return err
	}
	issuer := lockproto.NewIssuer(signer)
	stack, err := keyledger.Open(dir, &keyledger.Options{Clock: func() time.Time { return d.now }, Issuer: issuer,
		Root: secret.New([]byte("offlinecode example root secret; production roots come from a secret manager"))})
	if err != nil {
		return err
	}
	defer stack.Close()
	d.svc, d.proj = stack.Commands, stack.Projections
	for _, step := range []func(*lockproto.Issuer) error{d.install, d.issue, d.stay, d.revoke, d.upload} {
		if err := step(issuer); err != nil {
			return err
		}
	}
	return nil
}

// install pairs the lock (its code key is made with its audit key),
// registers it, sets its clock and zone from the owner's phone, and hands
// the backend the code key, sealed before it is recorded.
func (d *demo) install(issuer *lockproto.Issuer) error {
	if err := d.svc.RegisterAccount(d.ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "olga", Name: "Olga", Email: "olga@example.com"}); err != nil {
		return err
	}
	pairing, err := lockproto.NewPairing(commands.LockUUID("cabin"), issuer.PublicKey(), newSeeded("pairing"))
	if err != nil {
		return err
	}
	pub, err := pairing.LockPublicKey()
	if err != nil {
		return err
	}
	if err := d.svc.RegisterLock(d.ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "cabin", Owner: "olga", Name: "Cabin", Zone: zone,
		Slots: 2, LockKey: pub, AuditKey: secret.New(pairing.AuditKey[:])}); err != nil {
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
	sync, err := issuer.TimeSync(commands.LockUUID("cabin"), ch.Nonce, d.now)
	if err != nil {
		return err
	}
	if err := d.lock.HandleAdmin(sync); err != nil {
		return err
	}
	if _, err := d.svc.SendZoneRules(d.ctx, commands.SendZoneRules{ID: commands.NewID(), Lock: "cabin", By: "olga", From: d.now, Until: d.now.AddDate(0, 6, 0)}); err != nil {
		return err
	}
	if err := d.deliverPending(); err != nil {
		return err
	}
	if err := d.svc.EnableOfflineCodes(d.ctx, commands.EnableOfflineCodes{ID: commands.NewID(), Lock: "cabin", By: "olga", CodeKey: secret.New(pairing.CodeKey[:])}); err != nil {
		return err
	}
	d.printf("%s installation: lock %q paired, clock and zone set by olga's phone; offline codes enabled\n", d.when(d.now), "cabin")
	d.printf("  from now on no phone comes by until the audit upload at the end\n")
	return nil
}

// deliverPending is the owner's phone handing the lock what the ledger queued.
func (d *demo) deliverPending() error {
	msgs, err := d.svc.PendingAdmin(d.ctx, "cabin")
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := d.lock.HandleAdmin(m); err != nil {
			return err
		}
	}
	return nil
}

// issue: the owner asks for codes; the validity is narrowed to what a code
// can say (never widened) and the digits are returned once.
func (d *demo) issue(*lockproto.Issuer) error {
	for _, c := range []commands.IssueOfflineCode{
		{Code: "stay-smith", Name: "the Smiths", Kind: lockproto.CodePeriod, Unit: lockproto.CodeDay,
			From: d.at(3, 0), To: d.at(7, 0)}, // Tuesday to Saturday, UTC days
		{Code: "delivery", Name: "firewood delivery", Kind: lockproto.CodeOneTime, Unit: lockproto.CodeHour,
			From: d.at(3, 10).Add(-20 * time.Minute), To: d.at(3, 14)},
		{Code: "cleaner", Name: "Cleaning service", Kind: lockproto.CodeWeekly, Days: lockproto.CodeDays(time.Saturday), Window: 3, // 08–18
			From: d.at(2, 0), To: d.at(30, 0)},
	} {
		c.ID, c.Lock, c.By = commands.NewID(), "cabin", "olga"
		r, err := d.svc.IssueOfflineCode(d.ctx, c)
		if err != nil {
			return err
		}
		d.codes[c.Code] = r.Digits.Reveal()
		d.printf("  %-10s %-9v seq %2d  valid %s .. %s  digits %s\n", r.Code, c.Kind, r.Seq, d.when(r.From), d.when(r.To), r.Digits.Reveal())
	}
	return d.list("the owner's list")
}

// at is day-of-March at hour, UTC.
func (d *demo) at(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }

// stay: people type codes at the keypad; the lock decides alone.
func (d *demo) stay(*lockproto.Issuer) error {
	wrong := append([]byte(nil), d.codes["stay-smith"]...)
	wrong[4] = '0' + (wrong[4]-'0'+1)%10
	for _, s := range []struct {
		at     time.Time
		who    string
		digits []byte
	}{
		{d.at(2, 16), "the Smiths, a day early", d.codes["stay-smith"]},
		{d.at(3, 9), "the delivery driver, early", d.codes["delivery"]},
		{d.at(3, 10), "the delivery driver", d.codes["delivery"]},
		{d.at(3, 12), "the delivery driver again", d.codes["delivery"]},
		{d.at(3, 15), "the Smiths, one digit mistyped", wrong},
		{d.at(3, 15).Add(time.Minute), "the Smiths", d.codes["stay-smith"]},
		{d.at(4, 10), "the cleaner, on a Wednesday", d.codes["cleaner"]},
	} {
		d.now = s.at
		d.printf("%s %s: %s\n", d.when(d.now), s.who, decision(d.lock.EnterCode(0, s.digits)))
	}
	return nil
}

// revoke: the Smiths leave early. The revocation is recorded and queued
// for the lock; the erase code applies it at the keypad at once.
func (d *demo) revoke(*lockproto.Issuer) error {
	d.now = d.at(5, 9)
	r, err := d.svc.RevokeOfflineCode(d.ctx, commands.RevokeOfflineCode{ID: commands.NewID(), Lock: "cabin", By: "olga", Code: "stay-smith"})
	if err != nil {
		return err
	}
	d.printf("%s olga revokes stay-smith: admin message seq %d queued for any phone, erase code %s\n", d.when(d.now), r.AdminSeq, r.EraseCode.Reveal())
	if err := d.list("the owner's list"); err != nil {
		return err
	}
	d.now = d.at(5, 10)
	d.printf("%s the neighbour types the erase code: %s\n", d.when(d.now), decision(d.lock.EnterCode(0, r.EraseCode.Reveal())))
	d.now = d.at(5, 11)
	d.printf("%s the Smiths come back: %s\n", d.when(d.now), decision(d.lock.EnterCode(0, d.codes["stay-smith"])))
	d.now = d.at(7, 9)
	d.printf("%s the cleaner, on Saturday: %s\n", d.when(d.now), decision(d.lock.EnterCode(0, d.codes["cleaner"])))
	return nil
}

// upload: a phone finally comes by and carries the audit back.
func (d *demo) upload(*lockproto.Issuer) error {
	d.now = d.at(7, 12)
	for b := d.lock.DrainAudit(); b != nil; b = d.lock.DrainAudit() {
		res, err := d.svc.IngestAudit(d.ctx, commands.UploadAudit{Lock: "cabin", By: "olga", Batch: b})
		if err != nil {
			return err
		}
		d.printf("%s olga's phone uploads the audit: %d new record(s)\n", d.when(d.now), res.New)
		if err := d.lock.HandleAuditAck(res.Ack); err != nil {
			return err
		}
	}
	if err := d.list("the owner's list after the upload"); err != nil {
		return err
	}
	page, err := d.proj.History(d.ctx, projections.HistoryQuery{Lock: "cabin", Limit: 100})
	if err != nil {
		return err
	}
	d.printf("history of the cabin's keypad (the lock's own time):\n")
	for _, h := range page.Entries {
		if h.Source != "lock keypad" && !(h.Offline && h.Reason == access.CodeInvalid) {
			continue
		}
		who := h.Key
		if who == "" {
			who = "(no code of this lock)"
		}
		v := verdict(h.Granted, h.Reason)
		if h.Admin != "" {
			v = h.Admin + " applied"
		}
		d.printf("  %s %-22s %s\n", d.when(h.Time), who, v)
	}
	return nil
}

func (d *demo) list(title string) error {
	codes, err := d.proj.OfflineCodes(d.ctx, "cabin")
	if err != nil {
		return err
	}
	d.printf("%s:\n", title)
	for _, c := range codes {
		d.printf("  %-10s for %-18s %s\n", c.Code, c.Name, c.Status())
	}
	return nil
}

func decision(c lockproto.CodeDecision) string {
	switch {
	case c.Granted:
		return fmt.Sprintf("opens (%v code, seq %d)", c.Kind, c.Seq)
	case c.Reason == access.Granted:
		return fmt.Sprintf("applied (%v code for seq %d)", c.Kind, c.Seq)
	}
	return "refused: " + c.Reason.String()
}

func verdict(granted bool, r access.Reason) string {
	if granted {
		return "granted"
	}
	return "refused: " + r.String()
}
