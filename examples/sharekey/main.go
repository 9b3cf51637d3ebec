// Command sharekey walks through share keys: an owner shares offline
// keys of a lock To ID and To Code, guests download them, the owner tries to
// edit a downloaded key (refused), resets one slot, deactivates another at
// the lock, and looks at the key list, the slots, the history and the outbox.
//
// Run it from the module root:
//
//	go run ./examples/sharekey
//
// The output is deterministic (a fixed clock; command IDs are fresh but
// never printed; the share code prints as [REDACTED]), and run fails if a step that must be refused is
// granted or the other way round. main_test.go pins the output in
// testdata/sharekey.golden (go test ./examples/sharekey -update rewrites it).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is the whole walk-through, written to w.
func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "keyledger-sharekey-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	// The root secret comes from the backend's secret manager; never from code.
	stack, err := keyledger.Open(dir, &keyledger.Options{Clock: clock, Root: secret.New([]byte("example root secret: use your secret manager!"))})
	if err != nil {
		return err
	}
	defer stack.Close()
	svc, proj := stack.Commands, stack.Projections
	id := commands.NewID // one per user request; a retry reuses it
	step := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fmt.Fprintln(w, "✓", what)
		return nil
	}

	for _, a := range [][3]string{{"bill", "Bill", "bill@example.com"}, {"ann", "Ann", "ann@example.com"}} {
		if err := step("register account "+a[0], svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a[0], Name: a[1], Email: a[2]})); err != nil {
			return err
		}
	}
	if err := step("add Ann to Bill's address book", svc.AddContact(ctx, commands.AddContact{ID: id(), Account: "bill", Contact: "ann"})); err != nil {
		return err
	}
	if err := step("register lock 'Front door' (3 locations)", svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 3})); err != nil {
		return err
	}
	for _, k := range []string{"guest-ann", "guest-code"} {
		// Start date AND end date AND available times.
		st := events.Settings{Name: k, Policy: policy.Policy{Start: now, End: now.AddDate(0, 0, 7), Uses: policy.UsesN(3)}}
		_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k, Lock: "front", By: "bill", Kind: events.KindShare, Settings: st})
		if err := step("create share key "+k+" (7 days, 3 times)", err); err != nil {
			return err
		}
	}
	_, err = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "guest-ann", By: "bill", Method: events.ShareToID, Account: "ann"})
	if err := step("share guest-ann To ID ann", err); err != nil {
		return err
	}
	res, err := svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "guest-code", By: "bill", Method: events.ShareToCode})
	if err := step("share guest-code To Code", err); err != nil {
		return err
	}
	code := res.Code.Reveal() // shown to the owner once; the ledger keeps only its keyed hash
	fmt.Fprintf(w, "  the owner passes on the code (%d characters; printed as %v)\n", len(code), res.Code)

	if err := printKeys(ctx, w, proj, now, "Key list before download"); err != nil {
		return err
	}

	_, err = svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "guest-ann", By: "ann"})
	if err := step("Ann downloads guest-ann", err); err != nil {
		return err
	}
	_, err = svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "guest-code", By: "guest-phone", Code: secret.FromString(string(code))})
	if err := step("a guest's phone downloads guest-code with the code", err); err != nil {
		return err
	}
	now = now.Add(time.Hour)
	r, err := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: "guest-ann", By: "ann"})
	if err != nil {
		return err
	}
	if !r.Granted || r.Uses != 1 {
		return fmt.Errorf("first unlock by Ann: want granted, use 1 of 3; got granted=%v (%s), uses %d", r.Granted, r.Reason, r.Uses)
	}
	fmt.Fprintf(w, "✓ Ann unlocks online: granted=%v (uses %d of 3)\n", r.Granted, r.Uses)
	now = now.AddDate(0, 0, 8)
	if r, err = svc.Unlock(ctx, commands.Unlock{ID: id(), Key: "guest-ann", By: "ann"}); err != nil {
		return err
	}
	if r.Granted || r.Reason != access.Expired {
		return fmt.Errorf("unlock by Ann a week later: want denied (%s), got granted=%v (%s)", access.Expired, r.Granted, r.Reason)
	}
	fmt.Fprintf(w, "✗ Ann a week later: granted=%v (%s)\n", r.Granted, r.Reason)

	err = svc.EditKey(ctx, commands.EditKey{ID: id(), Key: "guest-ann", By: "bill", Settings: commands.SettingsPatch{Name: new("renamed")}})
	var se *commands.StateError
	if !errors.As(err, &se) {
		return fmt.Errorf("edit after download was not refused: %v", err)
	}
	fmt.Fprintf(w, "✗ edit after download refused: %v\n", err)

	if err := step("reset guest-ann (the slot's next holder overwrites Ann's key)", svc.ResetKey(ctx, commands.KeyCommand{ID: id(), Key: "guest-ann", By: "bill"})); err != nil {
		return err
	}
	if err := step("request deactivation of guest-code at the lock", svc.RequestDeactivation(ctx, commands.KeyCommand{ID: id(), Key: "guest-code", By: "bill"})); err != nil {
		return err
	}
	pend, err := proj.PendingDeactivations(ctx, "front", now)
	if err != nil {
		return err
	}
	if len(pend) != 1 || pend[0].Key != "guest-code" {
		return fmt.Errorf("pending deactivations: want guest-code only, got %d", len(pend))
	}
	for _, k := range pend {
		fmt.Fprintf(w, "  pending at the lock: %s (slot %d) — may still open until the lock confirms\n", k.Key, k.Slot)
	}
	if err := step("the lock confirms the deactivation", svc.ConfirmDeactivation(ctx, commands.KeyCommand{ID: id(), Key: "guest-code", By: "bill"})); err != nil {
		return err
	}

	if err := printKeys(ctx, w, proj, now, "Key list at the end"); err != nil {
		return err
	}
	slots, err := proj.Slots(ctx, "front")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nShare Key Management (locations)")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tSTATE\tGENERATION\tKEY") // the quickstart's columns
	for _, s := range slots {
		key := s.Key
		if key == "" {
			key = "-" // as the quickstart prints a free slot
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", s.Slot, s.State, s.Generation, key)
	}
	tw.Flush()

	page, err := proj.History(ctx, projections.HistoryQuery{Lock: "front", Limit: 100})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHistory of the front door")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tKEY\tBY\tRESULT")
	for _, h := range page.Entries {
		result := ""
		if h.Type == "key.unlock_attempted" {
			result = "granted"
			if !h.Granted {
				result = "denied: " + h.Reason.Name()
			}
		}
		// The day too: Ann's second unlock is a week after her first.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Time.Format("Mon 02 Jan 15:04"), h.Type, h.Key, h.Account, result)
	}
	tw.Flush()

	out, err := proj.Pending(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nOutbox")
	for _, m := range out {
		fmt.Fprintf(w, "  to %s <%s>: %s about %s\n", m.To, m.Email, m.Topic, m.Key)
		if err := svc.AckNotification(ctx, m.ID); err != nil {
			return err
		}
	}
	return nil
}

func printKeys(ctx context.Context, w io.Writer, proj *projections.Projections, at time.Time, title string) error {
	keys, err := proj.KeyList(ctx, "front", at)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\n"+title)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSLOT\tSHARED\tSTATUS\tUSES\tHOLDER")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", k.Key, k.Slot, strings.ToUpper(k.Status.Sharing.String()[:1])+k.Status.Sharing.String()[1:], k.Status.Status, k.Uses, k.Holder)
	}
	tw.Flush()
	fmt.Fprintln(w)
	return nil
}
