// Command digitalkey walks through seed 003: an account manager creates
// time-limited digital keys (PIN, app, keycard; role USER or ADMIN) for users,
// with an e-mail carrying the PIN, reads the digital-keys table with
// ACTIVE / UPCOMING / EXPIRED at different instants, and drains the outbox.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
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
	reg := ledger.NewRegistry()
	if err := commands.Register(reg); err != nil {
		return err
	}
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg, Clock: clock})
	if err != nil {
		return err
	}
	defer l.Close()
	proj, err := projections.Open(l, nil)
	if err != nil {
		return err
	}
	defer proj.Close()
	svc, err := commands.New(l, &commands.Options{Clock: clock, Projections: proj, Root: []byte("example root secret: use your secret manager!")})
	if err != nil {
		return err
	}
	n := 0
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "digitalkey-%d", n)) }

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
		cred            commands.Credential
		role            commands.Role
		from, to        time.Time
	}{
		{"dk-1", "technician, Friday business hours", "tech", commands.CredentialPIN, commands.RoleUser, day(6, 9), day(6, 17)},
		{"dk-2", "admin, next week", "admin", commands.CredentialKeycard, commands.RoleAdmin, day(9, 0), day(14, 0)},
		{"dk-3", "technician, this morning", "tech", commands.CredentialApp, commands.RoleUser, day(6, 7), day(6, 10)},
	}
	for _, k := range keys {
		res, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k.key, Lock: "office", By: "manager", Kind: commands.KindDigital,
			For: k.user, Credential: k.cred, Email: k.cred == commands.CredentialPIN,
			Settings: commands.Settings{Name: k.desc, Role: k.role, Policy: validity(k.from, k.to)}})
		if err != nil {
			return err
		}
		fmt.Printf("✓ created %s for %s (%v, ROLE-%v)", k.key, k.user, k.cred, k.role)
		if !res.PIN.IsZero() {
			fmt.Printf(", PIN of %d digits shown to the manager once", res.PIN.Len())
		}
		fmt.Println()
	}

	for _, at := range []time.Time{day(6, 8), day(6, 12), day(10, 12), day(20, 12)} {
		table, err := proj.DigitalKeys(ctx, "manager", at)
		if err != nil {
			return err
		}
		fmt.Printf("\nDigital keys at %s\n", at.Format("Mon 2 Jan 15:04 MST"))
		w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KEY\tUSER\tTYPE\tROLE\tSTATUS\tDESCRIPTION")
		for _, k := range table {
			fmt.Fprintf(w, "%s\t%s\t%v\tROLE-%v\t%s\t%s\n", k.Key, k.Recipient, k.Credential, k.Settings.Role, k.Status.Status, k.Settings.Name)
		}
		w.Flush()
	}

	now = day(6, 12)
	for _, k := range []string{"dk-1", "dk-2", "dk-3"} {
		u := "tech"
		if k == "dk-2" {
			u = "admin"
		}
		r, err := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: k, By: u, Source: "keypad"})
		if err != nil {
			return err
		}
		fmt.Printf("\n%s opens with %s at 12:00 Friday: granted=%v %s", u, k, r.Granted, r.Reason)
		if k == "dk-2" {
			// Seed 003: the manager can revoke a digital key at any time.
			if err := svc.RevokeKey(ctx, commands.KeyCommand{ID: id(), Key: "dk-2", By: "manager"}); err != nil {
				return err
			}
			fmt.Printf("\nthe manager revokes dk-2")
		}
	}
	fmt.Println()

	out, err := proj.Pending(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Println("\nOutbox (the backend e-mails these; the PIN is sealed until then)")
	for _, m := range out {
		pin, err := svc.RevealNotificationSecret(ctx, m.Key, m.Secret)
		if err != nil {
			return err
		}
		fmt.Printf("  to %s <%s>: your digital key %s (PIN of %d digits enclosed)\n", m.To, m.Email, m.Key, pin.Len())
		if err := svc.AckNotification(ctx, m.ID); err != nil {
			return err
		}
	}
	return nil
}

// validity is a key valid in [from, to) (the lock's zone is set by the library).
func validity(from, to time.Time) commands.Policy { return commands.Policy{Start: from, End: to} }
