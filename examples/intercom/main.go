// Command intercom walks through seed 004: intercom keys with a category
// (Friend by default), unlimited, single-use and recurring, "also opens inner
// door" and a welcome message; keys are shared, edited at any time, used at
// the main and inner doors, and deleted.
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
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keyledger-intercom-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	zone, err := time.LoadLocation("America/New_York")
	if err != nil {
		return err
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, zone) // a Monday
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
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "intercom-%d", n)) }
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}

	for _, a := range []string{"owner", "cleaner", "courier", "me"} {
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "building", Owner: "owner", Name: "Phonein Intercom",
		Zone: "America/New_York", Doors: commands.DoorMain | commands.DoorInner}))

	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, zone) }
	keys := []struct {
		key, holder string
		st          commands.Settings
	}{
		{"mine", "me", commands.Settings{Name: "My key"}}, // unlimited, Friend
		{"delivery", "courier", commands.Settings{Name: "Parcel drop", Category: commands.CategoryDelivery,
			Policy: commands.Policy{Start: day(2, 8), End: day(2, 18), Uses: policy.SingleUse}}},
		{"cleaning", "cleaner", commands.Settings{Name: "House cleaner", Category: commands.CategoryServices,
			Doors: commands.DoorMain | commands.DoorInner, Welcome: "Welcome! Inner door is the second on the left.",
			Policy: commands.Policy{Start: day(1, 0), End: day(31, 0), // recurring: Mondays and Wednesdays 08-12
				Windows: []policy.Window{{Days: policy.Days(time.Monday, time.Wednesday), From: 8 * 60, To: 12 * 60}}}}},
	}
	for _, k := range keys {
		_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k.key, Lock: "building", By: "owner", Kind: commands.KindIntercom, Settings: k.st})
		must(err)
		_, err = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: k.key, By: "owner", Method: commands.ShareToID, Account: k.holder})
		must(err)
		_, err = svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: k.key, By: k.holder})
		must(err)
		fmt.Printf("✓ key %q (%v) shared with %s and in their app\n", k.st.Name, category(k.st), k.holder)
	}

	try := func(at time.Time, key, by string, door commands.Door) {
		now = at
		r, err := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: key, By: by, Door: door, Source: "intercom"})
		must(err)
		res := "granted"
		if !r.Granted {
			res = "denied: " + r.Reason
		}
		fmt.Printf("  %s %-8s %-9s %-5v door → %s\n", at.Format("Mon 15:04"), by, key, door, res)
	}
	fmt.Println("\nUnlocks")
	try(day(2, 9), "delivery", "courier", commands.DoorMain)
	try(day(2, 9), "cleaning", "cleaner", commands.DoorInner)
	try(day(2, 10), "delivery", "courier", commands.DoorMain) // single use: already used
	try(day(3, 9), "cleaning", "cleaner", commands.DoorMain)  // Tuesday: not a cleaning day
	try(day(4, 13), "cleaning", "cleaner", commands.DoorMain) // Wednesday after 12
	try(day(4, 11), "mine", "me", commands.DoorInner)         // my key: main door only
	try(day(4, 11), "mine", "courier", commands.DoorMain)     // not the holder

	// "A key can be edited at any time."
	st := keys[0].st
	st.Doors = commands.DoorMain | commands.DoorInner
	must(svc.EditKey(ctx, commands.EditKey{ID: id(), Key: "mine", By: "owner", Settings: st}))
	fmt.Println("✓ edited 'My key': also opens inner door")
	try(day(4, 11), "mine", "me", commands.DoorInner)
	must(svc.DeleteKey(ctx, commands.KeyCommand{ID: id(), Key: "cleaning", By: "owner"}))
	fmt.Println("✓ deleted 'House cleaner'")
	try(day(4, 12), "cleaning", "cleaner", commands.DoorMain)

	list, err := proj.KeyList(ctx, "building", now)
	must(err)
	fmt.Printf("\nKeys at %s\n", now.Format("Mon 2 Jan 15:04"))
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tCATEGORY\tDOORS\tSTATUS\tUSES\tHOLDER")
	for _, k := range list {
		fmt.Fprintf(w, "%s\t%v\t%v\t%s\t%d\t%s\n", k.Settings.Name, k.Settings.Category, k.Settings.Doors, k.Status.Status, k.Uses, k.Holder)
	}
	w.Flush()

	out, err := proj.Pending(ctx, 10)
	must(err)
	fmt.Println("\nOutbox")
	for _, m := range out {
		msg := m.Message
		if msg == "" {
			msg = "a key was shared with you"
		}
		fmt.Printf("  %-8s to %s: %s\n", m.Topic, m.To, msg)
		must(svc.AckNotification(ctx, m.ID))
	}
	return nil
}

func category(st commands.Settings) commands.Category {
	if st.Category == 0 {
		return commands.CategoryFriend
	}
	return st.Category
}
