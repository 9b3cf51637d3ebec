// Command intercom walks through intercom keys: keys with a category
// (Friend by default), unlimited, single-use and recurring, "also opens inner
// door" and a welcome message; keys are shared, edited at any time, used at
// the main and inner doors, and deleted.
//
// Run it from the module root:
//
//	go run ./examples/intercom
//
// The output is deterministic (a fixed clock; command IDs are fresh but
// never printed), and run fails if an unlock that must be refused is
// granted, or the other way round. main_test.go pins the output in testdata/intercom.golden
// (go test ./examples/intercom -update rewrites it).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
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
	// The root secret comes from the backend's secret manager; never from code.
	stack, err := keyledger.Open(dir, &keyledger.Options{Clock: clock, Root: secret.New([]byte("example root secret: use your secret manager!"))})
	if err != nil {
		return err
	}
	defer stack.Close()
	svc, proj := stack.Commands, stack.Projections
	id := commands.NewID // one per user request; a retry reuses it

	for _, a := range []string{"owner", "cleaner", "courier", "me"} {
		if err := svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}); err != nil {
			return err
		}
	}
	if err := svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "building", Owner: "owner", Name: "Phonein Intercom",
		Zone: "America/New_York", Doors: access.Main | access.Inner}); err != nil {
		return err
	}

	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, zone) }
	keys := []struct {
		key, holder string
		st          events.Settings
	}{
		{"mine", "me", events.Settings{Name: "My key"}}, // unlimited, Friend
		{"delivery", "courier", events.Settings{Name: "Parcel drop", Category: events.CategoryDelivery,
			Policy: policy.Policy{Start: day(2, 8), End: day(2, 18), Uses: policy.SingleUse}}},
		{"cleaning", "cleaner", events.Settings{Name: "House cleaner", Category: events.CategoryServices,
			Doors: access.Main | access.Inner, Welcome: "Welcome! Inner door is the second on the left.",
			Policy: policy.Policy{Start: day(1, 0), End: day(31, 0), // recurring: Mondays and Wednesdays 08-12
				Windows: []policy.Window{{Days: policy.Days(time.Monday, time.Wednesday), From: 8 * 60, To: 12 * 60}}}}},
	}
	for _, k := range keys {
		if _, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k.key, Lock: "building", By: "owner", Kind: events.KindIntercom, Settings: k.st}); err != nil {
			return err
		}
		if _, err := svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: k.key, By: "owner", Method: events.ShareToID, Account: k.holder}); err != nil {
			return err
		}
		if _, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: k.key, By: k.holder}); err != nil {
			return err
		}
		fmt.Fprintf(w, "✓ key %q (%v) shared with %s and in their app\n", k.st.Name, category(k.st), k.holder)
	}

	// try unlocks at the intercom and checks the decision: want is the
	// refusal's reason, "" for granted.
	try := func(at time.Time, key, by string, door access.Door, want access.Reason) error {
		now = at
		r, err := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: key, By: by, Door: door, Source: "intercom"})
		if err != nil {
			return err
		}
		res := "granted"
		if !r.Granted {
			res = "denied: " + r.Reason.Name()
		}
		fmt.Fprintf(w, "  %s %-8s %-9s %-5v door → %s\n", at.Format("Mon 15:04"), by, key, door, res)
		if r.Granted != (want == access.Granted) || r.Reason != want {
			return fmt.Errorf("%s opens with %s (%v door) at %s: %s, want %q", by, key, door, at.Format("Mon 15:04"), res, want)
		}
		return nil
	}
	fmt.Fprintln(w, "\nUnlocks")
	for _, u := range []struct {
		at      time.Time
		key, by string
		door    access.Door
		want    access.Reason
	}{
		{day(2, 9), "delivery", "courier", access.MainDoor, access.Granted},
		{day(2, 9), "cleaning", "cleaner", access.InnerDoor, access.Granted},
		{day(2, 10), "delivery", "courier", access.MainDoor, access.Exhausted},     // single use: already used
		{day(3, 9), "cleaning", "cleaner", access.MainDoor, access.OutsideWindow},  // Tuesday: not a cleaning day
		{day(4, 13), "cleaning", "cleaner", access.MainDoor, access.OutsideWindow}, // Wednesday after 12
		{day(4, 11), "mine", "me", access.InnerDoor, access.WrongDoor},             // my key: main door only
		{day(4, 11), "mine", "courier", access.MainDoor, access.NotHolder},         // not the holder
	} {
		if err := try(u.at, u.key, u.by, u.door, u.want); err != nil {
			return err
		}
	}

	// "A key can be edited at any time."
	both := access.Main | access.Inner
	if err := svc.EditKey(ctx, commands.EditKey{ID: id(), Key: "mine", By: "owner", Settings: commands.SettingsPatch{Doors: &both}}); err != nil {
		return err
	}
	fmt.Fprintln(w, "✓ edited 'My key': also opens inner door")
	if err := try(day(4, 11), "mine", "me", access.InnerDoor, access.Granted); err != nil {
		return err
	}
	if err := svc.DeleteKey(ctx, commands.KeyCommand{ID: id(), Key: "cleaning", By: "owner"}); err != nil {
		return err
	}
	fmt.Fprintln(w, "✓ deleted 'House cleaner'")
	if err := try(day(4, 12), "cleaning", "cleaner", access.MainDoor, access.Deleted); err != nil {
		return err
	}

	list, err := proj.KeyList(ctx, "building", now)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nKeys at %s\n", now.Format("Mon 2 Jan 15:04"))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCATEGORY\tDOORS\tSTATUS\tUSES\tHOLDER")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%v\t%v\t%s\t%d\t%s\n", k.Settings.Name, k.Settings.Category, k.Settings.Doors, k.Status.Status, k.Uses, k.Holder)
	}
	tw.Flush()

	out, err := proj.Pending(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nOutbox")
	for _, m := range out {
		msg := m.Message
		if msg == "" {
			msg = "a key was shared with you"
		}
		fmt.Fprintf(w, "  %-8s to %s: %s\n", m.Topic, m.To, msg)
		if err := svc.AckNotification(ctx, m.ID); err != nil {
			return err
		}
	}
	return nil
}

func category(st events.Settings) events.Category {
	if st.Category == 0 {
		return events.CategoryFriend
	}
	return st.Category
}
