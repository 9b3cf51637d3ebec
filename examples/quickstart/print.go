package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

// What the tour prints: headings, steps, aligned tables, decisions.

// when formats an instant in the locks' zone.
func (t *tour) when(at time.Time) string { return at.In(t.loc).Format("Mon 02 Jan 15:04") }

func (t *tour) heading(title string) {
	fmt.Fprintf(t.w, "\n== %s\n\n", title)
}

func (t *tour) say(format string, args ...any) { fmt.Fprintf(t.w, format+"\n", args...) }

// ok prints a step that worked, or returns its error.
func (t *tour) ok(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	t.say("  ✓ %s", what)
	return nil
}

// table prints rows aligned under a header; empty cells show as "-".
func (t *tour) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(t.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			if r[i] == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, "  "+strings.Join(r, "\t"))
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// detail is the outcome column of a history entry.
func detail(h projections.HistoryEntry) string {
	if h.Offline { // a record the lock wrote, at the lock's time
		what := fmt.Sprintf("%v door granted", h.Door)
		switch {
		case h.Door == 0 && h.Granted:
			what = h.Admin + " applied"
		case h.Door == 0:
			what = h.Admin + " refused: " + h.Reason.Name()
		case !h.Granted:
			what = fmt.Sprintf("%v door refused: %s", h.Door, h.Reason.Name())
		}
		if h.Source != "lock" {
			what += ", " + h.Source
		}
		return fmt.Sprintf("%s (lock record #%d)", what, h.AuditSeq)
	}
	switch {
	case h.Type == "key.unlock_attempted" && h.Granted:
		return fmt.Sprintf("granted (%v door, %s)", h.Door, h.Source)
	case h.Type == "key.unlock_attempted":
		return fmt.Sprintf("denied: %s (%v door, %s)", h.Reason.Name(), h.Door, h.Source)
	}
	return h.Reason.Name()
}

// keyList prints a lock's key list with status at the clock's time.
func (t *tour) keyList(lock, title string) error {
	keys, err := t.proj.KeyList(t.ctx, lock, t.clock.Now())
	if err != nil {
		return err
	}
	var rows [][]string
	for _, k := range keys {
		slot := ""
		if k.Slot > 0 {
			slot = fmt.Sprintf("%d/g%d", k.Slot, k.Generation)
		}
		holder := k.Holder
		if holder == "" {
			holder = k.Recipient
		}
		rows = append(rows, []string{k.Key, k.Settings.Name, k.Kind.String(), slot, sharing(k), k.State.String(),
			string(k.Status.Status), uses(k), describe(k.Settings, k.Kind, t.loc), holder})
	}
	t.say("\n%s", title)
	t.table(strings.Fields("KEY NAME KIND SLOT SHARING STATE STATUS USES SCHEDULE HOLDER"), rows)
	return nil
}

// sharing is the sharing state as the apps word it.
func sharing(k projections.KeyView) string {
	switch k.Status.Sharing {
	case events.InSharing:
		return "Sharing"
	case events.Shared:
		return "Shared"
	}
	return "Not shared"
}

func uses(k projections.KeyView) string {
	u := k.Settings.Policy.Uses
	if !u.Limited {
		return fmt.Sprint(k.Status.Uses)
	}
	return fmt.Sprintf("%d of %d", k.Status.Uses, u.N)
}

// describe is a key's settings in a few words.
func describe(st events.Settings, kind events.Kind, loc *time.Location) string {
	var parts []string
	p := st.Policy
	for _, w := range p.Windows {
		parts = append(parts, days(w.Days)+" "+policy.FormatClock(w.From)+"-"+policy.FormatClock(w.To))
	}
	for _, b := range p.Blackouts {
		parts = append(parts, "not "+policy.FormatClock(b.From)+"-"+policy.FormatClock(b.To))
	}
	const day = "02 Jan 15:04"
	switch {
	case !p.Start.IsZero() && !p.End.IsZero():
		parts = append([]string{p.Start.In(loc).Format(day) + " to " + p.End.In(loc).Format(day)}, parts...)
	case !p.End.IsZero():
		parts = append([]string{"until " + p.End.In(loc).Format(day)}, parts...)
	case !p.Start.IsZero():
		parts = append([]string{"from " + p.Start.In(loc).Format(day)}, parts...)
	case len(parts) == 0:
		parts = append(parts, "always")
	}
	if st.Doors&access.Inner != 0 {
		parts = append(parts, "inner door")
	}
	if kind == events.KindIntercom {
		parts = append(parts, st.Category.String())
	}
	if st.Welcome != "" {
		parts = append(parts, "welcome message")
	}
	return strings.Join(parts, ", ")
}

// days is a set of weekdays, "Mon+Wed".
func days(d policy.Weekdays) string {
	if d == policy.EveryDay {
		return "daily"
	}
	var s []string
	for i := time.Sunday; i <= time.Saturday; i++ {
		wd := (i + 1) % 7 // from Monday
		if d.Has(wd) {
			s = append(s, wd.String()[:3])
		}
	}
	return strings.Join(s, "+")
}

// unlock is an online unlock from the app.
func (t *tour) unlock(key, by string, door access.Door) error {
	return t.unlockFrom(key, by, door, "app")
}

func (t *tour) unlockFrom(key, by string, door access.Door, source string) error {
	r, err := t.svc.Unlock(t.ctx, commands.Unlock{ID: t.id(), Key: key, By: by, Door: door, Source: source})
	if err != nil {
		return err
	}
	t.decision(key, by, door, source, r)
	return nil
}

// typePIN is key's user typing its PIN at a keypad of lock that talks to
// the backend: the digits find the key.
func (t *tour) typePIN(key, by, lock, panel string, door access.Door) error {
	r, err := t.svc.UnlockByPIN(t.ctx, commands.UnlockByPIN{ID: t.id(), Lock: lock, Panel: panel, PIN: t.pins[key], Door: door})
	if err != nil {
		return err
	}
	if r.Key != key {
		return fmt.Errorf("the PIN of %s found key %q", key, r.Key)
	}
	t.decision(key, by, door, "keypad", commands.UnlockResult{Key: r.Key, Granted: r.Granted, Reason: r.Reason, Uses: r.Uses})
	return nil
}

// decision prints an unlock decision: a refusal is a recorded answer with a
// reason, not an error.
func (t *tour) decision(key, by string, door access.Door, source string, r commands.UnlockResult) {
	verdict := fmt.Sprintf("granted (use %d)", r.Uses)
	mark := "✓"
	if !r.Granted {
		verdict, mark = "denied: "+r.Reason.Name(), "✗"
	}
	t.say("  %s %s  %-11s %-10s %-5v door via %-8s → %s", mark, t.when(t.clock.Now()), by, key, door, source, verdict)
}

// refused prints a refused command with its typed reason; any other outcome
// is an error of the tour.
func (t *tour) refused(what string, err error) error {
	var (
		se *commands.StateError
		nf *commands.NotFoundError
		gf *commands.GroupFullError
	)
	switch {
	case err == nil:
		return fmt.Errorf("%s: expected a refusal, got none", what)
	case errors.As(err, &se):
		t.say("  ✗ %s: refused, ErrForbidden (*StateError: %s key in state %q, action %q)", what, se.Kind, se.State, se.Action)
	case errors.Is(err, commands.ErrNotPermitted):
		t.say("  ✗ %s: refused, ErrNotPermitted", what)
	case errors.As(err, &gf):
		t.say("  ✗ %s: refused, ErrGroupFull (*GroupFullError: key %q, at most %d accounts)", what, gf.Key, gf.Max)
	case errors.Is(err, commands.ErrNetworkOff):
		t.say("  ✗ %s: refused, ErrNetworkOff", what)
	case errors.As(err, &nf):
		t.say("  ✗ %s: refused, ErrNotFound (%s %q)", what, nf.What, nf.ID)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
	t.say("      %v", err)
	return nil
}

// groupStatus prints the garage's group.
func (t *tour) groupStatus(title string) error {
	gs, err := t.svc.GroupStatus(t.ctx, garage, t.clock.Now())
	if err != nil {
		return err
	}
	network := "off"
	if gs.Network.On {
		network = "on until " + t.when(gs.Network.Until)
	}
	t.say("\n%s: %s, owner %s, network management %s", title, gs.LockName, gs.Owner, network)
	var rows [][]string
	for _, k := range gs.Keys {
		rows = append(rows, []string{k.Key, k.Name, k.Doors.String(), k.State.String(), fmt.Sprintf("%d of %d", k.Accounts, commands.MaxOnlineAccounts)})
	}
	t.table(strings.Fields("KEY NAME DOORS STATE ACCOUNTS"), rows)
	t.say("")
	rows = nil
	for _, m := range gs.Members {
		rows = append(rows, []string{m.Account, m.Key, m.State.String(), m.Permissions.Doors.String(), m.Permissions.Ops.String(), m.LockName})
	}
	t.table(strings.Fields("ACCOUNT KEY INVITATION DOORS MAY LOCK-NAME"), rows)
	return nil
}
