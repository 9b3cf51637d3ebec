// Command onlinekey walks through "How to add Online Key" on an embedded
// ledger in a temporary directory: network management with the master code,
// online keys with a weekly window and "invalid at night", invitations
// accepted and declined, personal passwords and lock names, per-member
// permissions, online unlocks, and network management turned off again. It
// prints the group status and history a user would see.
//
// Run it from the module root:
//
//	go run ./examples/onlinekey
//
// The output is deterministic (a fixed clock; command IDs are fresh but
// never printed; the master code prints as [REDACTED], passwords never), and
// run fails if an unlock that must be refused is granted or the other way
// round, or if the master code can still be read once network management is
// off. main_test.go pins the output in testdata/onlinekey.golden (go test
// ./examples/onlinekey -update rewrites it).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
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
	dir, err := os.MkdirTemp("", "keyledger-onlinekey-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return err
	}
	// A settable clock: Tuesday 3 March 2026, 09:00 in Berlin.
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, berlin)
	clock := func() time.Time { return now }
	stack, err := keyledger.Open(dir, &keyledger.Options{
		Clock: clock,
		Root:  secret.New([]byte("example root secret: production roots come from a secret manager")),
	})
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
		return nil
	}

	for _, a := range [][3]string{{"bill", "Bill", "bill@example.com"}, {"ann", "Ann", "ann@example.com"}, {"bob", "Bob", "bob@example.com"}, {"cid", "Cid", "cid@example.com"}} {
		if err := step("register", svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a[0], Name: a[1], Email: a[2]})); err != nil {
			return err
		}
	}
	if err := step("register lock", svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "garage", Owner: "bill", Name: "Garage",
		Zone: "Europe/Berlin", Slots: 2, Doors: access.Main | access.Inner})); err != nil {
		return err
	}

	// 3. Turn on network management: Bill's master code is stored, sealed, for 30 days.
	master := secret.FromString("731946")
	st, err := svc.TurnOnNetwork(ctx, commands.TurnOnNetwork{ID: id(), Lock: "garage", By: "bill",
		MasterCode: master, Duration: 30 * 24 * time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "network management on until %s (master code %v, sealed in the log)\n", st.Until.In(berlin).Format("2006-01-02 15:04"), master)

	// Online keys: a client every Tuesday 10–12; staff every day but never at night.
	// They are keys of the one key model: CreateKey with KindOnline.
	for _, k := range []commands.CreateKey{
		{Key: "client", Settings: events.Settings{Name: "Client (Tue 10-12)", Doors: access.Main, Policy: tuesdayTenToNoon()}},
		{Key: "staff", Settings: events.Settings{Name: "Staff (not at night)", Doors: access.Main | access.Inner, Policy: notAtNight()}},
	} {
		k.ID, k.Lock, k.By, k.Kind = id(), "garage", "bill", events.KindOnline
		_, err := svc.CreateKey(ctx, k)
		if err := step(k.Key+" key", err); err != nil {
			return err
		}
	}

	// 4–5. Invitations: Ann accepts, Bob declines, Cid joins staff.
	for _, inv := range []commands.InviteMember{
		{Key: "client", Account: "ann"}, {Key: "client", Account: "bob"}, {Key: "staff", Account: "cid"},
	} {
		inv.ID, inv.Lock, inv.By = id(), "garage", "bill"
		if err := step("invite", svc.InviteMember(ctx, inv)); err != nil {
			return err
		}
	}
	if err := step("ann accepts", svc.AcceptInvitation(ctx, commands.AcceptInvitation{ID: id(), Lock: "garage", Account: "ann",
		Password: secret.FromString("ann's personal password"), LockName: "Bill's garage"})); err != nil {
		return err
	}
	if err := step("bob declines", svc.DeclineInvitation(ctx, commands.InvitationCommand{ID: id(), Lock: "garage", Account: "bob"})); err != nil {
		return err
	}
	if err := step("cid accepts", svc.AcceptInvitation(ctx, commands.AcceptInvitation{ID: id(), Lock: "garage", Account: "cid",
		Password: secret.FromString("cid's personal password"), LockName: "Workshop"})); err != nil {
		return err
	}
	// 7. Permissions per member: Cid may open both doors.
	if err := step("permissions", svc.SetMemberPermissions(ctx, commands.SetMemberPermissions{ID: id(), Lock: "garage", Account: "cid", By: "bill",
		Permissions: events.Permissions{Doors: access.Main | access.Inner, Ops: events.OpUnlock}})); err != nil {
		return err
	}

	notes, err := proj.Pending(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\noutbox:")
	for _, nt := range notes {
		fmt.Fprintf(w, "  to %-4s %-16s %q\n", nt.To, nt.Topic, nt.Message)
		if err := svc.AckNotification(ctx, nt.ID); err != nil {
			return err
		}
	}

	// 6. Group status.
	if err := printStatus(ctx, w, svc, now); err != nil {
		return err
	}

	// Unlocks inside and outside the window, at night, with a wrong password.
	fmt.Fprintln(w, "\nunlocks:")
	// try unlocks online and checks the decision: want is the refusal's
	// reason, "" for granted.
	try := func(at time.Time, key, by, pw string, door access.Door, want access.Reason) error {
		now = at
		r, err := svc.UnlockOnline(ctx, commands.UnlockOnline{ID: id(), Key: key, By: by, Password: secret.FromString(pw), Door: door})
		if err != nil {
			return err
		}
		verdict := "granted"
		if !r.Granted {
			verdict = "denied: " + r.Reason.Name()
		}
		fmt.Fprintf(w, "  %s %-3s %-6s %-5v %s\n", at.In(berlin).Format("Mon 15:04"), by, key, door, verdict)
		if r.Granted != (want == access.Granted) || r.Reason != want {
			return fmt.Errorf("%s opens with %s (%v door) at %s: %s, want %q", by, key, door, at.In(berlin).Format("Mon 15:04"), verdict, want)
		}
		return nil
	}
	// In time order: the clock only moves forward.
	tue := now
	for _, u := range []struct {
		at      time.Time
		key, by string
		pw      string
		door    access.Door
		want    access.Reason
	}{
		{tue.Add(90 * time.Minute), "client", "ann", "ann's personal password", access.MainDoor, access.Granted},
		{tue.Add(90 * time.Minute), "client", "bob", "bob's guess", access.MainDoor, access.NotMember},
		{tue.Add(95 * time.Minute), "client", "ann", "a wrong password", access.MainDoor, access.WrongPassword},
		{tue.Add(4 * time.Hour), "client", "ann", "ann's personal password", access.MainDoor, access.OutsideWindow},
		{tue.Add(4 * time.Hour), "staff", "cid", "cid's personal password", access.InnerDoor, access.Granted},
		{tue.Add(14 * time.Hour), "staff", "cid", "cid's personal password", access.MainDoor, access.InBlackout},
		{tue.Add(25 * time.Hour), "client", "ann", "ann's personal password", access.MainDoor, access.OutsideWindow},
	} {
		if err := try(u.at, u.key, u.by, u.pw, u.door, u.want); err != nil {
			return err
		}
	}

	// Network management off: the master code is erased (crypto-shredded).
	now = tue.Add(26 * time.Hour)
	if err := step("turn off", svc.TurnOffNetwork(ctx, commands.TurnOffNetwork{ID: id(), Lock: "garage", By: "bill"})); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nnetwork management turned off")
	_, err = svc.RevealMasterCode(ctx, "garage", "bill")
	if !errors.Is(err, commands.ErrNetworkOff) {
		return fmt.Errorf("reading the master code after network management is off: %v, want %v", err, commands.ErrNetworkOff)
	}
	fmt.Fprintln(w, "  master code:", err)
	if err := try(tue.Add(7*24*time.Hour+90*time.Minute), "client", "ann", "ann's personal password", access.MainDoor, access.NetworkOff); err != nil {
		return err
	}
	// Ann's "my keys" lists the online key she joined; with network
	// management off it is not open, whatever its schedule says.
	mine, err := proj.HolderKeys(ctx, "ann", now)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  ann's keys:")
	for _, k := range mine {
		open := fmt.Sprint("open now: ", k.Status.InWindow)
		if k.Status.NetworkOff {
			open = "not open: network management is off"
		}
		fmt.Fprintf(w, "    %s %s (%s, members %s) %s, %s\n", k.LockName, k.Key, k.Kind, strings.Join(k.Members, ","), k.Status.Status, open)
	}

	// 8. The online history record of the lock: group actions and unlocks.
	page, err := proj.History(ctx, projections.HistoryQuery{Lock: "garage", Limit: 100})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nhistory of lock garage:")
	for _, h := range page.Entries {
		line := fmt.Sprintf("  %s %-30s %-4s %-4s %-6s", h.Time.In(berlin).Format("Mon 01-02 15:04"), h.Type, h.Account, h.Subject, h.Key)
		switch {
		case h.Type == "key.unlock_attempted" && h.Granted:
			line += " granted"
		case h.Reason != access.Granted:
			line += " " + h.Reason.Name()
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	return nil
}

func printStatus(ctx context.Context, w io.Writer, svc *commands.Service, at time.Time) error {
	gs, err := svc.GroupStatus(ctx, "garage", at)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\ngroup of %s (owner %s), network management on: %v\n", gs.LockName, gs.Owner, gs.Network.On)
	for _, k := range gs.Keys {
		fmt.Fprintf(w, "  online key %-6s %-22q doors %-10v accounts %d/%d\n", k.Key, k.Name, k.Doors, k.Accounts, commands.MaxOnlineAccounts)
	}
	for _, m := range gs.Members {
		fmt.Fprintf(w, "  %-4s key %-6s %-9v doors %-10v may %-15v lock name %q\n", m.Account, m.Key, m.State, m.Permissions.Doors, m.Permissions.Ops, m.LockName)
	}
	return nil
}

// tuesdayTenToNoon: every Tuesday 10:00–12:00 in the lock's zone.
func tuesdayTenToNoon() policy.Policy {
	return policy.Policy{Windows: []policy.Window{{Days: policy.Days(time.Tuesday), From: 10 * 60, To: 12 * 60}}}
}

// notAtNight: any day, never 22:00–06:00 (the blackout crosses midnight).
func notAtNight() policy.Policy {
	return policy.Policy{Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 22 * 60, To: 6 * 60}}}
}
