// Command quickstart is the keyledger product tour: on an embedded ledger in
// a temporary directory (removed at exit) it runs the flow of every product
// document in the specification's seeds and prints what the people using the
// product would see.
//
//   - Share keys: shared To ID and To Code, downloaded as
//     signed offline credentials, an edit after download refused with the
//     typed reason, a reset whose next holder overwrites the old key at the
//     lock, a deactivation requested, applied by the lock and confirmed by
//     its uploaded audit; phones open lockproto's reference lock offline;
//     key list and slots.
//   - Digital keys: PIN, app and keycard keys, USER and ADMIN,
//     and the digital-keys table with ACTIVE / UPCOMING / EXPIRED at chosen
//     instants.
//   - Intercom keys: unlimited, single-use and recurring keys,
//     "also opens inner door", a welcome message, edit and delete.
//   - Online keys: network management, a lock group with one
//     invitation accepted and one declined, a weekly window and a night
//     blackout, the group status.
//   - The front door's own keypad, card reader and intercom: a PIN typed
//     and a card presented at the reference lock, wrong codes locking out
//     the keypad alone, a remote open relayed by an intercom panel, and a
//     reset key shown as exposed until its lock hears of it.
//   - Unlocks granted and denied with their reasons, the "Share key list"
//     and "my keys", histories (offline records at the lock's time), the
//     outbox (codes and PINs stay sealed) and the verified head digest.
//
// Run it from the module root:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -keep /tmp/tour   # keep the ledger for the CLI
//
// It prints where its ledger lives. With -keep DIR it writes the ledger to
// DIR (which must not exist or be empty) and leaves it there, and ends with
// the keyledger CLI commands that inspect it (go run ./cmd/keyledger verify
// DIR, history, keys).
//
// The output is deterministic (a fixed clock, fixed command IDs and seeded
// random sources for the vault, the issuer, the lock and the phones), so the
// head digest is the same on every run;
// main_test.go pins it in testdata/quickstart.golden
// (go test ./examples/quickstart -update rewrites it).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

func main() {
	keep := flag.String("keep", "", "write the ledger to `DIR` (new or empty) and keep it for the keyledger CLI")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: quickstart [-keep DIR]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, *keep); err != nil {
		log.Fatal(err)
	}
}

// The tour's locks, all in Berlin.
const (
	zone     = "Europe/Berlin"
	front    = "front"    // share keys
	office   = "office"   // digital keys
	building = "building" // intercom with an inner door
	garage   = "garage"   // online keys
)

// Door numbers at the lock (lockproto: bit i of a credential's doors is door i).
const (
	lockDoorMain  uint8 = 0
	lockDoorInner uint8 = 1
)

// tour holds what every section uses.
type tour struct {
	ctx   context.Context
	w     io.Writer
	l     ledger.Backend
	proj  *projections.Projections
	svc   *commands.Service
	clock *clock
	loc   *time.Location
	n     int // command IDs issued so far

	issuer *lockproto.Issuer
	door   *lockproto.Lock // the front door: lockproto's reference lock
	phones map[string]*phone
	pins   map[string]secret.Secret // the PINs the tour's users were told, by key
}

// run is the whole tour, written to w, on a ledger in keep (kept) or, if
// keep is "", in a temporary directory removed at the end.
func run(ctx context.Context, w io.Writer, keep string) error {
	dir, err := ledgerDir(keep)
	if err != nil {
		return err
	}
	if keep == "" {
		defer os.RemoveAll(dir)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return err
	}
	// Monday 2 March 2026, 09:00 in Berlin. Every command and event takes its
	// time from this clock; the tour moves it forward.
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, loc)}

	// The issuer signs offline credentials and admin messages for locks; its
	// key belongs to the backend (an HSM or KMS: any lockproto.Signer).
	signer, err := lockproto.GenerateEd25519Signer(newSeeded("issuer"))
	if err != nil {
		return err
	}
	issuer := lockproto.NewIssuer(signer)
	// One call opens the ledger in dir, the read models and the command
	// service. The root secret comes from the backend's secret manager. Rand
	// is seeded so that the share codes, PINs, salts and data keys — and with
	// them the head digest — are the same on every run of the tour; a backend
	// leaves it nil and the library draws everything from crypto/rand.
	stack, err := keyledger.Open(dir, &keyledger.Options{
		Clock:  clk.Now,
		Root:   secret.New([]byte("quickstart root secret: production roots come from a secret manager")),
		Rand:   newSeeded("vault"),
		Issuer: issuer,
	})
	if err != nil {
		return err
	}
	defer stack.Close()

	t := &tour{ctx: ctx, w: w, l: stack.Ledger, proj: stack.Projections, svc: stack.Commands, clock: clk, loc: loc, issuer: issuer}
	t.say("keyledger quickstart: the product tour on an embedded ledger")
	if keep == "" {
		t.say("  ledger directory: %s (temporary, removed at exit; -keep DIR keeps one)", dir)
	} else {
		t.say("  ledger directory: %s (kept)", dir)
	}
	for _, section := range []func() error{
		t.setup, t.shareKeys, t.digitalKeys, t.intercomKeys, t.frontDoor, t.onlineKeys,
		t.keyLists, t.histories, t.outbox, t.verify,
	} {
		if err := section(); err != nil {
			return err
		}
	}
	if keep != "" {
		q := shellQuote(dir)
		t.heading("The ledger stays in " + dir)
		t.say("  Inspect it with the keyledger CLI, from the module root:")
		t.say("    go run ./cmd/keyledger verify %s", q)
		t.say("    go run ./cmd/keyledger history -lock %s %s", front, q)
		t.say("    go run ./cmd/keyledger keys -lock %s -at 2026-03-02T10:00:00Z %s", front, q)
	}
	return nil
}

// ledgerDir returns the directory the tour writes its ledger to: keep,
// created if missing and refused unless empty (the tour writes a new
// ledger, with fixed command IDs), or a new temporary directory.
func ledgerDir(keep string) (string, error) {
	if keep == "" {
		return os.MkdirTemp("", "keyledger-quickstart-")
	}
	if err := os.MkdirAll(keep, 0o755); err != nil {
		return "", fmt.Errorf("-keep: %w", err)
	}
	entries, err := os.ReadDir(keep)
	if err != nil {
		return "", fmt.Errorf("-keep: %w", err)
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("-keep %s: the directory is not empty; the tour writes a new ledger (choose a new directory)", keep)
	}
	return keep, nil
}

// shellQuote quotes a path for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"$`\\;&|<>()*?[]{}~#!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// seeded is a deterministic io.Reader, safe for concurrent use.
type seeded struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newSeeded(label string) *seeded {
	var seed [32]byte
	copy(seed[:], label)
	return &seeded{r: rand.NewChaCha8(seed)}
}

func (s *seeded) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// clock is the tour's settable clock (read by the ledger and the service).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// id is the next command ID: fixed, because event IDs derive from command IDs
// and the head digest covers them. A backend makes one per user request with
// commands.NewID and reuses it when the request is retried.
func (t *tour) id() uuid.UUID {
	t.n++
	return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "https://example.com/keyledger/quickstart/%d", t.n))
}

// at is an instant in Berlin in March 2026.
func (t *tour) at(day, hour, min int) time.Time {
	return time.Date(2026, 3, day, hour, min, 0, 0, t.loc)
}

// setup registers the people and the locks of the tour.
func (t *tour) setup() error {
	t.heading("Accounts and locks")
	people := [][3]string{
		{"bill", "Bill", "bill@example.com"}, // owns the locks
		{"ann", "Ann", "ann@example.com"},
		{"bob", "Bob", "bob@example.com"},
		{"cid", "Cid", "cid@example.com"},
		{"mia", "Mia", "mia@example.com"}, // account manager (digital keys)
		{"tech", "Technician", "tech@example.com"},
		{"sam", "Site Admin", "sam@example.com"},
		{"courier", "Courier", "courier@example.com"},
		{"cleaner", "Cleaner", "cleaner@example.com"},
	}
	var rows [][]string
	for _, p := range people {
		if err := t.svc.RegisterAccount(t.ctx, commands.RegisterAccount{ID: t.id(), Account: p[0], Name: p[1], Email: p[2]}); err != nil {
			return err
		}
		rows = append(rows, p[:])
	}
	t.table(strings.Fields("ACCOUNT NAME EMAIL"), rows)
	t.say("")

	// The front door is paired at installation: the backend keeps its
	// public key and its audit key (sealed in the log).
	pairing, err := lockproto.NewPairing(commands.LockUUID(front), t.issuer.PublicKey(), newSeeded("pairing"))
	if err != nil {
		return err
	}
	lockKey, err := pairing.LockPublicKey()
	if err != nil {
		return err
	}
	locks := []commands.RegisterLock{
		{Lock: front, Owner: "bill", Name: "Front door", Slots: 3, LockKey: lockKey, AuditKey: secret.New(pairing.AuditKey[:])},
		{Lock: office, Owner: "mia", Name: "Office"},
		{Lock: building, Owner: "bill", Name: "Phonein Intercom", Doors: access.Main | access.Inner},
		{Lock: garage, Owner: "bill", Name: "Garage", Doors: access.Main | access.Inner},
	}
	rows = nil
	for _, c := range locks {
		c.ID, c.Zone = t.id(), zone
		if err := t.svc.RegisterLock(t.ctx, c); err != nil {
			return err
		}
		r, err := t.proj.Lock(t.ctx, c.Lock)
		if err != nil {
			return err
		}
		rows = append(rows, []string{r.Lock, r.Name, r.Owner, r.Zone, fmt.Sprint(r.Slots), r.Doors.String()})
	}
	t.table(strings.Fields("LOCK NAME OWNER ZONE SLOTS DOORS"), rows)
	if err := t.install(pairing); err != nil {
		return err
	}
	t.say("")

	// The address book: Ann and Bob are a tap away for Bill.
	for _, c := range []string{"ann", "bob"} {
		if err := t.svc.AddContact(t.ctx, commands.AddContact{ID: t.id(), Account: "bill", Contact: c}); err != nil {
			return err
		}
	}
	contacts, err := t.proj.Contacts(t.ctx, "bill")
	if err != nil {
		return err
	}
	rows = nil
	for _, c := range contacts {
		rows = append(rows, []string{c.Account, c.Name, c.Email})
	}
	t.say("Bill's address book")
	t.table(strings.Fields("ID NAME EMAIL"), rows)
	return nil
}

// shareKeys shares keys of the front door, with phones that take
// their keys to the (reference) lock offline.
func (t *tour) shareKeys() error {
	t.heading("Share keys: the front door")
	week := policy.Policy{Start: t.at(2, 9, 0), End: t.at(9, 9, 0), Uses: policy.UsesN(3)}
	// Start date AND end date AND available times.
	for _, k := range []struct{ key, name string }{
		{"guest-ann", "Ann's week"}, {"guest-code", "Guest (code)"}, {"guest-cid", "Cid's week"},
	} {
		_, err := t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: k.key, Lock: front, By: "bill", Kind: events.KindShare,
			Settings: events.Settings{Name: k.name, Policy: week}})
		if err := t.ok("Bill creates "+k.key+": 7 days AND 3 times", err); err != nil {
			return err
		}
	}
	_, err := t.svc.ShareKey(t.ctx, commands.ShareKey{ID: t.id(), Key: "guest-ann", By: "bill", Method: events.ShareToID, Account: "ann"})
	if err := t.ok("Bill shares guest-ann To ID ann", err); err != nil {
		return err
	}
	res, err := t.svc.ShareKey(t.ctx, commands.ShareKey{ID: t.id(), Key: "guest-code", By: "bill", Method: events.ShareToCode,
		Email: "guest@example.net"})
	if err := t.ok("Bill shares guest-code To Code, e-mailed to guest@example.net", err); err != nil {
		return err
	}
	code := res.Code // shown to Bill once; the log keeps only a keyed hash
	t.say("    the server-generated code: %v (%d characters, shown to Bill once)", code, code.Len())
	_, err = t.svc.ShareKey(t.ctx, commands.ShareKey{ID: t.id(), Key: "guest-cid", By: "bill", Method: events.ShareToID, Account: "cid"})
	if err := t.ok("Bill shares guest-cid To ID cid", err); err != nil {
		return err
	}
	// Not downloaded yet: the owner may still edit or cancel.
	err = t.svc.EditKey(t.ctx, commands.EditKey{ID: t.id(), Key: "guest-code", By: "bill", Settings: commands.SettingsPatch{
		Name: new("Guest (code), 2 times"), Policy: new(policy.Policy{Start: week.Start, End: week.End, Uses: policy.UsesN(2)})}})
	if err := t.ok("Bill edits guest-code before download: 2 times", err); err != nil {
		return err
	}
	if err := t.ok("Bill revokes guest-cid before download", t.svc.RevokeKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "guest-cid", By: "bill"})); err != nil {
		return err
	}
	if err := t.keyList(front, "Key list of the front door (Mon 09:00)"); err != nil {
		return err
	}

	t.clock.Set(t.at(2, 9, 30))
	t.say("")
	_, err = t.svc.DownloadKey(t.ctx, commands.DownloadKey{ID: t.id(), Key: "guest-ann", By: "bob"})
	if err := t.refused("Bob tries to download guest-ann, shared with Ann", err); err != nil {
		return err
	}
	// Downloading needs internet and the lock in reach; afterwards the key
	// works offline (a signed credential bound to the phone's key).
	if err := t.download("guest-ann", "ann", secret.Secret{}); err != nil {
		return err
	}
	if err := t.download("", "guest", code); err != nil { // the code alone finds the key
		return err
	}

	t.clock.Set(t.at(2, 10, 0))
	if err := t.visit("ann", lockDoorMain); err != nil {
		return err
	}
	// Downloaded: the owner can no longer edit or revoke, only reset.
	err = t.svc.EditKey(t.ctx, commands.EditKey{ID: t.id(), Key: "guest-ann", By: "bill", Settings: commands.SettingsPatch{Name: new("Ann's month")}})
	if err := t.refused("Bill edits guest-ann after download", err); err != nil {
		return err
	}
	err = t.svc.RevokeKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "guest-ann", By: "bill"})
	if err := t.refused("Bill revokes guest-ann after download", err); err != nil {
		return err
	}

	t.clock.Set(t.at(2, 11, 0))
	if err := t.ok("Bill resets guest-ann: slot 1 gets a new generation", t.svc.ResetKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "guest-ann", By: "bill"})); err != nil {
		return err
	}
	if err := t.pendingAdmin(); err != nil {
		return err
	}
	cr, err := t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: "guest-bob", Lock: front, By: "bill", Kind: events.KindShare, Slot: 1,
		Settings: events.Settings{Name: "Bob's week", Policy: policy.Policy{Start: t.at(2, 11, 0), End: t.at(9, 11, 0)}}})
	if err := t.ok(fmt.Sprintf("Bill creates guest-bob in slot %d at generation %d", cr.Slot, cr.Generation), err); err != nil {
		return err
	}
	_, err = t.svc.ShareKey(t.ctx, commands.ShareKey{ID: t.id(), Key: "guest-bob", By: "bill", Method: events.ShareToID, Account: "bob"})
	if err := t.ok("Bill shares guest-bob To ID bob", err); err != nil {
		return err
	}
	if err := t.download("guest-bob", "bob", secret.Secret{}); err != nil {
		return err
	}
	t.clock.Set(t.at(2, 11, 15))
	if err := t.visit("bob", lockDoorMain); err != nil { // overwrites Ann's key at the lock
		return err
	}
	if err := t.visit("ann", lockDoorMain); err != nil {
		return err
	}

	// Deleting a downloaded key at once: deactivate its slot at the lock.
	t.clock.Set(t.at(2, 11, 30))
	if err := t.ok("Bill requests deactivation of guest-code", t.svc.RequestDeactivation(t.ctx, commands.KeyCommand{ID: t.id(), Key: "guest-code", By: "bill"})); err != nil {
		return err
	}
	pend, err := t.proj.PendingDeactivations(t.ctx, front, t.clock.Now())
	if err != nil {
		return err
	}
	for _, k := range pend {
		t.say("    pending at the lock: %s in slot %d — its offline key opens until the lock applies it", k.Key, k.Slot)
	}
	if err := t.unlock("guest-code", "guest", access.MainDoor); err != nil { // online: refused at once
		return err
	}
	if err := t.visit("guest", lockDoorMain); err != nil { // offline: the lock does not know yet
		return err
	}
	t.clock.Set(t.at(2, 11, 45))
	if err := t.atTheLock(); err != nil {
		return err
	}
	if err := t.visit("guest", lockDoorMain); err != nil {
		return err
	}
	if err := t.uploadAudit(); err != nil {
		return err
	}
	if err := t.ok("Bill deletes guest-cid (cancelled, never downloaded)", t.svc.DeleteKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "guest-cid", By: "bill"})); err != nil {
		return err
	}

	if err := t.keyList(front, "Key list of the front door (Mon 11:45)"); err != nil {
		return err
	}
	slots, err := t.proj.Slots(t.ctx, front)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, s := range slots {
		rows = append(rows, []string{fmt.Sprint(s.Slot), string(s.State), fmt.Sprint(s.Generation), s.Key})
	}
	t.say("\nShare Key Management: locations of the front door")
	t.table(strings.Fields("SLOT STATE GENERATION KEY"), rows)
	return nil
}

// digitalKeys makes digital keys for the office.
func (t *tour) digitalKeys() error {
	t.heading("Digital keys: the office")
	t.clock.Set(t.at(2, 12, 0))
	keys := []struct {
		key, desc, user string
		cred            events.Credential
		role            events.Role
		from, to        time.Time
	}{
		{"dk-clean", "cleaning crew, this morning", "cid", events.CredentialApp, events.RoleUser, t.at(2, 7, 0), t.at(2, 13, 0)},
		{"dk-tech", "technician, Friday business hours", "tech", events.CredentialPIN, events.RoleUser, t.at(6, 9, 0), t.at(6, 17, 0)},
		{"dk-admin", "site admin, next week", "sam", events.CredentialKeycard, events.RoleAdmin, t.at(9, 0, 0), t.at(14, 0, 0)},
	}
	for _, k := range keys {
		res, err := t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: k.key, Lock: office, By: "mia", Kind: events.KindDigital,
			For: k.user, Credential: k.cred, Email: k.cred == events.CredentialPIN, EmailPIN: k.cred == events.CredentialPIN, Card: cardOf(k.cred),
			Settings: events.Settings{Name: k.desc, Role: k.role, Policy: policy.Policy{Start: k.from, End: k.to}}})
		if err := t.ok(fmt.Sprintf("Mia creates %s for %s (%v, ROLE-%v)", k.key, k.user, k.cred, k.role), err); err != nil {
			return err
		}
		if !res.PIN.IsZero() {
			t.say("    PIN %v (%d digits, shown to Mia once; e-mailed to %s sealed)", res.PIN, res.PIN.Len(), k.user)
			if t.pins == nil {
				t.pins = map[string]secret.Secret{}
			}
			t.pins[k.key] = res.PIN
		}
	}

	instants := []time.Time{t.at(2, 12, 0), t.at(6, 12, 0), t.at(10, 12, 0), t.at(16, 12, 0)}
	header := strings.Fields("KEY USER TYPE ROLE FROM TO")
	status := map[string][]string{}
	for _, at := range instants {
		header = append(header, at.Format("Mon 02 Jan"))
		table, err := t.proj.DigitalKeys(t.ctx, "mia", at)
		if err != nil {
			return err
		}
		for _, k := range table {
			status[k.Key] = append(status[k.Key], string(k.Status.Status))
		}
	}
	table, err := t.proj.DigitalKeys(t.ctx, "mia", t.clock.Now())
	if err != nil {
		return err
	}
	var rows [][]string
	for _, k := range table {
		p := k.Settings.Policy
		rows = append(rows, append([]string{k.Key, k.Recipient, k.Credential.String(), "ROLE-" + k.Settings.Role.String(),
			t.when(p.Start), t.when(p.End)}, status[k.Key]...))
	}
	t.say("\nDigital keys table, status at noon on four days")
	t.table(header, rows)

	t.say("")
	if err := t.unlockFrom("dk-clean", "cid", access.MainDoor, "app"); err != nil {
		return err
	}
	if err := t.typePIN("dk-tech", "tech", office, "office-keypad", access.MainDoor); err != nil { // the keypad sends the digits
		return err
	}
	return nil
}

// intercomKeys makes intercom keys for the intercom of a building with an inner door.
func (t *tour) intercomKeys() error {
	t.heading("Intercom keys: Phonein Intercom")
	t.clock.Set(t.at(2, 13, 0))
	keys := []struct {
		key, holder string
		st          events.Settings
	}{
		{"mine", "bill", events.Settings{Name: "My key"}}, // unlimited, Friend (the defaults)
		{"parcel", "courier", events.Settings{Name: "Parcel drop", Category: events.CategoryDelivery,
			Policy: policy.Policy{Start: t.at(3, 8, 0), End: t.at(3, 18, 0), Uses: policy.SingleUse}}},
		{"cleaning", "cleaner", events.Settings{Name: "House cleaner", Category: events.CategoryServices,
			Doors: access.Main | access.Inner, Welcome: "Welcome! The inner door is the second on the left.",
			Policy: policy.Policy{Start: t.at(1, 0, 0), End: t.at(31, 0, 0),
				Windows: []policy.Window{{Days: policy.Days(time.Monday, time.Wednesday), From: 8 * 60, To: 12 * 60}}}}},
	}
	for _, k := range keys {
		_, err := t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: k.key, Lock: building, By: "bill", Kind: events.KindIntercom, Settings: k.st})
		if err != nil {
			return err
		}
		_, err = t.svc.ShareKey(t.ctx, commands.ShareKey{ID: t.id(), Key: k.key, By: "bill", Method: events.ShareToID, Account: k.holder})
		if err != nil {
			return err
		}
		_, err = t.svc.DownloadKey(t.ctx, commands.DownloadKey{ID: t.id(), Key: k.key, By: k.holder})
		if err := t.ok(fmt.Sprintf("Bill creates %q and shares it with %s, who opens it in the app", k.st.Name, k.holder), err); err != nil {
			return err
		}
	}
	if err := t.keyList(building, "Keys of the intercom (Mon 13:00)"); err != nil {
		return err
	}

	t.say("")
	for _, u := range []struct {
		at      time.Time
		key, by string
		door    access.Door
	}{
		{t.at(3, 9, 0), "parcel", "courier", access.MainDoor},
		{t.at(3, 9, 30), "cleaning", "cleaner", access.MainDoor},
		{t.at(3, 10, 0), "parcel", "courier", access.MainDoor},
		{t.at(4, 9, 0), "cleaning", "cleaner", access.InnerDoor},
		{t.at(4, 13, 0), "cleaning", "cleaner", access.MainDoor},
		{t.at(4, 13, 5), "mine", "bill", access.InnerDoor},
		{t.at(4, 13, 10), "mine", "courier", access.MainDoor},
	} {
		t.clock.Set(u.at)
		if err := t.unlockFrom(u.key, u.by, u.door, "intercom"); err != nil {
			return err
		}
	}
	// "A key can be edited at any time."
	t.clock.Set(t.at(4, 13, 15))
	both := access.Main | access.Inner
	if err := t.ok(`Bill edits "My key": also opens inner door`, t.svc.EditKey(t.ctx, commands.EditKey{ID: t.id(), Key: "mine", By: "bill", Settings: commands.SettingsPatch{Doors: &both}})); err != nil {
		return err
	}
	t.clock.Set(t.at(4, 13, 20))
	if err := t.unlockFrom("mine", "bill", access.InnerDoor, "intercom"); err != nil {
		return err
	}
	t.clock.Set(t.at(4, 13, 30))
	if err := t.ok(`Bill deletes "House cleaner"`, t.svc.DeleteKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "cleaning", By: "bill"})); err != nil {
		return err
	}
	t.clock.Set(t.at(4, 13, 35))
	if err := t.unlockFrom("cleaning", "cleaner", access.MainDoor, "intercom"); err != nil {
		return err
	}
	return t.keyList(building, "Keys of the intercom (Wed 13:35)")
}

// onlineKeys runs the garage as an online lock group.
func (t *tour) onlineKeys() error {
	t.heading("Online keys: the garage's lock group")
	t.clock.Set(t.at(9, 9, 0))
	st, err := t.svc.TurnOnNetwork(t.ctx, commands.TurnOnNetwork{ID: t.id(), Lock: garage, By: "bill",
		MasterCode: secret.FromString("731946"), Duration: 30 * 24 * time.Hour})
	if err := t.ok("Bill turns on network management (master code stored sealed)", err); err != nil {
		return err
	}
	t.say("    operating duration ends %s", t.when(st.Until))
	_, err = t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: "client", Lock: garage, By: "bill", Kind: events.KindOnline,
		Settings: events.Settings{Name: "Client, Tue 10-12", Policy: policy.Policy{
			Windows: []policy.Window{{Days: policy.Days(time.Tuesday), From: 10 * 60, To: 12 * 60}}}}})
	if err := t.ok("Bill creates online key client: every Tuesday 10:00-12:00", err); err != nil {
		return err
	}
	_, err = t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: "staff", Lock: garage, By: "bill", Kind: events.KindOnline,
		Settings: events.Settings{Name: "Staff, not at night", Doors: access.Main | access.Inner, Policy: policy.Policy{
			Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 22 * 60, To: 6 * 60}}}}})
	if err := t.ok("Bill creates online key staff: any day, invalid at night 22:00-06:00", err); err != nil {
		return err
	}
	for _, inv := range []struct{ key, account string }{{"client", "ann"}, {"client", "bob"}, {"staff", "cid"}} {
		err := t.svc.InviteMember(t.ctx, commands.InviteMember{ID: t.id(), Lock: garage, Key: inv.key, Account: inv.account, By: "bill"})
		if err := t.ok(fmt.Sprintf("Bill invites %s to key %s (\"Join Bill's group\")", inv.account, inv.key), err); err != nil {
			return err
		}
	}
	t.clock.Set(t.at(9, 9, 30))
	err = t.svc.AcceptInvitation(t.ctx, commands.AcceptInvitation{ID: t.id(), Lock: garage, Account: "ann",
		Password: secret.FromString("ann's personal password"), LockName: "Bill's garage"})
	if err := t.ok("Ann accepts, sets a personal password and names the lock \"Bill's garage\"", err); err != nil {
		return err
	}
	err = t.svc.DeclineInvitation(t.ctx, commands.InvitationCommand{ID: t.id(), Lock: garage, Account: "bob"})
	if err := t.ok("Bob declines (Bill is notified)", err); err != nil {
		return err
	}
	err = t.svc.AcceptInvitation(t.ctx, commands.AcceptInvitation{ID: t.id(), Lock: garage, Account: "cid",
		Password: secret.FromString("cid's personal password"), LockName: "Workshop"})
	if err := t.ok("Cid accepts and names the lock \"Workshop\"", err); err != nil {
		return err
	}
	err = t.svc.SetMemberPermissions(t.ctx, commands.SetMemberPermissions{ID: t.id(), Lock: garage, Account: "cid", By: "bill",
		Permissions: events.Permissions{Doors: access.Main | access.Inner, Ops: events.OpUnlock}})
	if err := t.ok("Bill lets Cid open both doors (unlock only, no history)", err); err != nil {
		return err
	}
	// An online key can be assigned to at most 5 accounts (members and open
	// invitations; Bob's decline freed his seat).
	for _, a := range []string{"mia", "tech", "sam", "courier"} {
		if err := t.svc.InviteMember(t.ctx, commands.InviteMember{ID: t.id(), Lock: garage, Key: "client", Account: a, By: "bill"}); err != nil {
			return err
		}
	}
	t.say("  ✓ Bill invites mia, tech, sam and courier to key client: 5 accounts")
	err = t.svc.InviteMember(t.ctx, commands.InviteMember{ID: t.id(), Lock: garage, Key: "client", Account: "cleaner", By: "bill"})
	if err := t.refused("Bill invites a 6th account, cleaner, to key client", err); err != nil {
		return err
	}
	if err := t.groupStatus("Online Key group status (Mon 09 Mar 09:30)"); err != nil {
		return err
	}

	t.say("")
	for _, u := range []struct {
		at      time.Time
		key, by string
		pw      string
		door    access.Door
	}{
		{t.at(10, 10, 30), "client", "ann", "ann's personal password", access.MainDoor},
		{t.at(10, 10, 35), "client", "ann", "a wrong password", access.MainDoor},
		{t.at(10, 10, 40), "client", "bob", "bob's guess", access.MainDoor},
		{t.at(10, 13, 0), "client", "ann", "ann's personal password", access.MainDoor},
		{t.at(10, 13, 0), "staff", "cid", "cid's personal password", access.InnerDoor},
		{t.at(10, 23, 0), "staff", "cid", "cid's personal password", access.MainDoor},
		{t.at(11, 10, 30), "client", "ann", "ann's personal password", access.MainDoor},
	} {
		t.clock.Set(u.at)
		r, err := t.svc.UnlockOnline(t.ctx, commands.UnlockOnline{ID: t.id(), Key: u.key, By: u.by, Password: secret.FromString(u.pw), Door: u.door})
		if err != nil {
			return err
		}
		t.decision(u.key, u.by, u.door, "online", r)
	}
	t.clock.Set(t.at(11, 11, 0))
	err = t.svc.TurnOffNetwork(t.ctx, commands.TurnOffNetwork{ID: t.id(), Lock: garage, By: "bill"})
	if err := t.ok("Bill turns network management off: the master code is erased", err); err != nil {
		return err
	}
	_, err = t.svc.RevealMasterCode(t.ctx, garage, "bill")
	if err := t.refused("the service reads the master code", err); err != nil {
		return err
	}
	t.clock.Set(t.at(17, 10, 30))
	r, err := t.svc.UnlockOnline(t.ctx, commands.UnlockOnline{ID: t.id(), Key: "client", By: "ann", Password: secret.FromString("ann's personal password")})
	if err != nil {
		return err
	}
	t.decision("client", "ann", access.MainDoor, "online", r)
	return nil
}

// keyLists prints the lists across locks: the owner's "Share key list"
// and a holder's "my keys", with status at the clock's time.
func (t *tour) keyLists() error {
	now := t.clock.Now()
	t.heading("Key lists across locks at " + t.when(now))
	for _, q := range []struct {
		title string
		list  func(context.Context, string, time.Time) ([]projections.KeyView, error)
		who   string
	}{
		{"Bill's share key list (every key he made, all locks)", t.proj.ShareKeyList, "bill"},
		{"Ann's keys", t.proj.HolderKeys, "ann"},
	} {
		if q.who != "bill" {
			t.say("")
		}
		keys, err := q.list(t.ctx, q.who, now)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, k := range keys {
			next := ""
			switch {
			case k.Status.NetworkOff: // an online key opens only with network management on
				next = "network off"
			case !k.Status.NextOpen.IsZero():
				next = t.when(k.Status.NextOpen)
			}
			holder := k.Holder
			if len(k.Members) > 0 { // an online key's accepted members
				holder = strings.Join(k.Members, ",")
			}
			rows = append(rows, []string{k.LockName, k.Key, k.Kind.String(), sharing(k), string(k.Status.Status), yesNo(k.Status.InWindow), next, holder})
		}
		t.say("%s", q.title)
		t.table(strings.Fields("LOCK KEY KIND SHARING STATUS OPEN-NOW NEXT-OPEN HOLDER"), rows)
	}
	return nil
}

// histories prints the front door's history and Ann's across locks.
func (t *tour) histories() error {
	t.heading("History")
	for _, q := range []struct {
		title string
		q     projections.HistoryQuery
	}{
		{"Front door", projections.HistoryQuery{Lock: front}},
		{"Ann, across all locks", projections.HistoryQuery{Account: "ann"}},
	} {
		if q.q.Lock == "" {
			t.say("")
		}
		q.q.Limit = 100
		page, err := t.proj.History(t.ctx, q.q)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, h := range page.Entries {
			key, result := h.Key, detail(h)
			if key == "" && h.Presented != "" { // a credential the lock refused before verifying it
				key, result = h.Presented, result+", unverified"
			}
			rows = append(rows, []string{t.when(h.Time), h.Lock, h.Type, key, h.Account, h.Subject, result})
		}
		t.say("%s", q.title)
		t.table(strings.Fields("TIME LOCK EVENT KEY BY SUBJECT RESULT"), rows)
	}
	return nil
}

// outbox shows what the backend must tell people, then delivers and
// acknowledges it.
func (t *tour) outbox() error {
	t.heading("Outbox: what the backend must send (drained, acknowledged)")
	pending, err := t.proj.Pending(t.ctx, 100)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, m := range pending {
		sealed := ""
		if len(m.Secret) > 0 {
			// The backend opens it (RevealNotificationSecret) only to put it
			// in the message it sends; the tour shows just that it is sealed.
			sealed = fmt.Sprintf("sealed, %d bytes", len(m.Secret))
		}
		rows = append(rows, []string{m.Topic, m.To, m.Email, m.Key, m.Message, sealed})
	}
	t.table(strings.Fields("TOPIC TO EMAIL KEY MESSAGE SECRET"), rows)
	for _, m := range pending {
		if err := t.svc.AckNotification(t.ctx, m.ID); err != nil {
			return err
		}
	}
	left, err := t.proj.Pending(t.ctx, 100)
	if err != nil {
		return err
	}
	t.say("\n  %d delivered and acknowledged; %d pending", len(pending), len(left))
	return nil
}

// verify checks the hash chain of the whole log and prints its head digest.
func (t *tour) verify() error {
	t.heading("Tamper evidence")
	head, err := t.l.Verify(t.ctx)
	if err != nil {
		return err
	}
	if err := t.l.CheckDigest(t.ctx, head); err != nil {
		return err
	}
	t.say("  verified %d events, chain intact", head.Position)
	t.say("  head digest %s", head)
	t.say("  (export it: an auditor's CheckDigest later proves the history was not rewritten)")
	return nil
}

// cardOf is the card a keycard key names: its identifier (UID) as the
// reader reads it, 7 bytes here. The ledger keeps only its keyed hash.
func cardOf(c events.Credential) secret.Secret {
	if c != events.CredentialKeycard {
		return secret.Secret{}
	}
	return secret.New([]byte{0x04, 0x5f, 0x21, 0xa2, 0x6c, 0x3d, 0x80})
}
