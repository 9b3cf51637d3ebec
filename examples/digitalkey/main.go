// Command digitalkey walks through digital keys: an account manager creates
// time-limited digital keys (PIN, app, keycard; role USER or ADMIN) for users,
// with an e-mail carrying the PIN, reads the digital-keys table with
// ACTIVE / UPCOMING / EXPIRED at different instants, and drains the outbox.
//
// Run it from the module root:
//
//	go run ./examples/digitalkey
//
// The output is deterministic (a fixed clock; command IDs are fresh but
// never printed; the PIN prints as [REDACTED]), and run fails if a key's
// status or an unlock decision is not the expected one. main_test.go pins the output in
// testdata/digitalkey.golden (go test ./examples/digitalkey -update rewrites
// it).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is the whole walk-through, written to w.
func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "keyledger-digitalkey-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return err
	}
	now := time.Date(2026, 3, 6, 8, 0, 0, 0, berlin) // a Friday morning
	clock := func() time.Time { return now }
	// The root secret comes from the backend's secret manager; never from code.
	stack, err := keyledger.Open(dir, &keyledger.Options{Clock: clock, Root: secret.New([]byte("example root secret: use your secret manager!"))})
	if err != nil {
		return err
	}
	defer stack.Close()
	svc, proj := stack.Commands, stack.Projections
	id := commands.NewID // one per user request; a retry reuses it

	for _, a := range [][3]string{{"manager", "Account Manager", "manager@example.com"}, {"tech", "Technician", "tech@example.com"}, {"admin", "Site Admin", "admin@example.com"}} {
		if err := svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a[0], Name: a[1], Email: a[2]}); err != nil {
			return err
		}
	}
	if err := svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "office", Owner: "manager", Name: "Office", Zone: "Europe/Berlin"}); err != nil {
		return err
	}
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, berlin) }
	keys := []struct {
		key, desc, user string
		cred            events.Credential
		role            events.Role
		from, to        time.Time
	}{
		{"dk-1", "technician, Friday business hours", "tech", events.CredentialPIN, events.RoleUser, day(6, 9), day(6, 17)},
		{"dk-2", "admin, next week", "admin", events.CredentialKeycard, events.RoleAdmin, day(9, 0), day(14, 0)},
		{"dk-3", "technician, this morning", "tech", events.CredentialApp, events.RoleUser, day(6, 7), day(6, 10)},
	}
	pins := map[string]secret.Secret{} // what the users were told (the e-mail below)
	for _, k := range keys {
		res, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k.key, Lock: "office", By: "manager", Kind: events.KindDigital,
			For: k.user, Credential: k.cred, Email: k.cred == events.CredentialPIN, EmailPIN: k.cred == events.CredentialPIN, Card: cardOf(k.cred),
			Settings: events.Settings{Name: k.desc, Role: k.role, Policy: validity(k.from, k.to)}})
		if err != nil {
			return err
		}
		if res.PIN.IsZero() != (k.cred != events.CredentialPIN) {
			return fmt.Errorf("created %s (%v): PIN generated = %v", k.key, k.cred, !res.PIN.IsZero())
		}
		fmt.Fprintf(w, "✓ created %s for %s (%v, ROLE-%v)", k.key, k.user, k.cred, k.role)
		if !res.PIN.IsZero() {
			pins[k.key] = res.PIN
			fmt.Fprintf(w, ", PIN %v (%d digits) shown to the manager once", res.PIN, res.PIN.Len())
		}
		fmt.Fprintln(w)
	}

	// The table at four instants, with the status each key must have
	// (dk-1, dk-2, dk-3).
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{day(6, 8), []string{"UPCOMING", "UPCOMING", "ACTIVE"}},
		{day(6, 12), []string{"ACTIVE", "UPCOMING", "EXPIRED"}},
		{day(10, 12), []string{"EXPIRED", "ACTIVE", "EXPIRED"}},
		{day(20, 12), []string{"EXPIRED", "EXPIRED", "EXPIRED"}},
	} {
		table, err := proj.DigitalKeys(ctx, "manager", c.at)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nDigital keys at %s\n", c.at.Format("Mon 2 Jan 15:04 MST"))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tUSER\tTYPE\tROLE\tSTATUS\tDESCRIPTION")
		var got []string
		for _, k := range table {
			fmt.Fprintf(tw, "%s\t%s\t%v\tROLE-%v\t%s\t%s\n", k.Key, k.Recipient, k.Credential, k.Settings.Role, k.Status.Status, k.Settings.Name)
			got = append(got, string(k.Status.Status))
		}
		tw.Flush()
		if !slices.Equal(got, c.want) {
			return fmt.Errorf("digital keys at %s: statuses %v, want %v", c.at.Format("Mon 2 Jan 15:04"), got, c.want)
		}
	}

	now = day(6, 12)
	fmt.Fprintln(w)
	for _, u := range []struct {
		key, by string
		reason  access.Reason // access.Granted for granted
	}{
		{"dk-1", "tech", access.Granted},
		{"dk-2", "admin", access.NotYetValid},
		{"dk-3", "tech", access.Expired},
	} {
		// A PIN is typed at the office's keypad, which sends the digits:
		// they find the key. The others open from their users' app.
		var r commands.UnlockResult
		if pin, ok := pins[u.key]; ok {
			p, err := svc.UnlockByPIN(ctx, commands.UnlockByPIN{ID: id(), Lock: "office", Panel: "office-keypad", PIN: pin})
			if err != nil {
				return err
			}
			if p.Key != u.key {
				return fmt.Errorf("the PIN of %s found key %q", u.key, p.Key)
			}
			r = commands.UnlockResult{Key: p.Key, Granted: p.Granted, Reason: p.Reason, Uses: p.Uses}
		} else if r, err = svc.Unlock(ctx, commands.Unlock{ID: id(), Key: u.key, By: u.by}); err != nil {
			return err
		}
		if r.Granted != (u.reason == access.Granted) || r.Reason != u.reason {
			return fmt.Errorf("%s opens with %s: granted=%v %q, want granted=%v %q", u.by, u.key, r.Granted, r.Reason, u.reason == access.Granted, u.reason)
		}
		verdict := "granted"
		if !r.Granted {
			verdict = "denied: " + r.Reason.Name()
		}
		fmt.Fprintf(w, "%s opens with %s at 12:00 Friday: %s\n", u.by, u.key, verdict)
		if u.key == "dk-2" {
			// The manager can revoke a digital key at any time.
			if err := svc.RevokeKey(ctx, commands.KeyCommand{ID: id(), Key: "dk-2", By: "manager"}); err != nil {
				return err
			}
			fmt.Fprintln(w, "the manager revokes dk-2")
		}
	}

	out, err := proj.Pending(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nOutbox (the backend e-mails these; the PIN is sealed until then)")
	if len(out) != 1 || out[0].Key != "dk-1" {
		return fmt.Errorf("outbox: want one e-mail, for dk-1's PIN; got %d", len(out))
	}
	for _, m := range out {
		pin, err := svc.RevealNotificationSecret(ctx, m.Key, m.Secret)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  to %s <%s>: your digital key %s (PIN %v, %d digits, enclosed)\n", m.To, m.Email, m.Key, pin, pin.Len())
		if err := svc.AckNotification(ctx, m.ID); err != nil {
			return err
		}
	}
	return nil
}

// validity is a key valid in [from, to) (the lock's zone is set by the library).
func validity(from, to time.Time) policy.Policy { return policy.Policy{Start: from, End: to} }

// cardOf is the card a keycard key names: its identifier (UID) as the
// reader reads it, 7 bytes here. The ledger keeps only its keyed hash.
func cardOf(c events.Credential) secret.Secret {
	if c != events.CredentialKeycard {
		return secret.Secret{}
	}
	return secret.New([]byte{0x04, 0x5f, 0x21, 0xa2, 0x6c, 0x3d, 0x80})
}
