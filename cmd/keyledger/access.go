package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
)

const accessHelp = `Answers from the log who could open a door, and when:

  -lock ID [-door main|inner] [-at T]
      who could open the door (default main) of the lock at instant T
      (default now; past or future): the account, through which key, under
      which schedule and since when. The answer reads the events recorded
      up to T; a key taken away (reset, revoked, deactivated, deleted)
      whose removal had not reached the lock by T still opens there and is
      listed with AT LOCK "still open" (until its credential's own end, if
      it has one).
  -account ID -since T1 [-until T2]
      every door the account could open during [T1, T2) (T2 default now),
      as intervals, per lock, door and key.

EVENTS lists the log positions each answer rests on (what 'keyledger
events -from POS' prints). An online key answers for each member of the
lock's group who could unlock with it then (network management on,
permitted, not locked out), listed with AT LOCK "online (password)": the
server decides each such unlock with the member's password. A door the
lock's passage schedule freed then is listed first as "(anyone)", KIND
passage, AT LOCK "passage mode": no key was needed. Times are UTC unless -tz names an IANA zone.
The directory is opened read-only; the log is folded in memory. 'keyledger
evidence export' with the same -lock or -account flags exports an answer
with proofs a third party checks offline.`

// openingLine is one line of 'keyledger access -lock … -json'.
type openingLine struct {
	Lock        string   `json:"lock"`
	Door        string   `json:"door"`
	At          string   `json:"at"`
	Account     string   `json:"account"`
	Key         string   `json:"key"`
	Kind        string   `json:"kind"`
	Credential  string   `json:"credential,omitempty"`
	Since       string   `json:"since"`
	Schedule    string   `json:"schedule"`
	Uses        uint32   `json:"uses"`
	State       string   `json:"state"`
	StillAtLock bool     `json:"still_at_lock,omitempty"`
	OpenUntil   string   `json:"open_until,omitempty"`
	Online      bool     `json:"online,omitempty"`
	Positions   []uint64 `json:"positions"`
	// Passage: the lock's passage schedule freed the door, to anyone (no
	// account, no key).
	Passage bool `json:"passage,omitempty"`
}

// spanLine is one line of 'keyledger access -account … -json'.
type spanLine struct {
	Account     string   `json:"account"`
	Lock        string   `json:"lock"`
	Door        string   `json:"door"`
	Key         string   `json:"key"`
	From        string   `json:"from"`
	Until       string   `json:"until"`
	StillAtLock bool     `json:"still_at_lock,omitempty"`
	Online      bool     `json:"online,omitempty"`
	Positions   []uint64 `json:"positions"`
}

func runAccess(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	lock := fs.String("lock", "", "who could open a door of this lock")
	door := fs.String("door", "main", "the door: main, inner or its number")
	at := fs.String("at", "", "the instant, RFC 3339 (default now)")
	account := fs.String("account", "", "every door this account could open in [-since, -until)")
	since := fs.String("since", "", "the range's start, RFC 3339 (with -account)")
	until := fs.String("until", "", "the range's end, RFC 3339 (with -account; default now)")
	tz := fs.String("tz", "", "IANA zone for the table's times (default UTC)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	what, id, err := exactlyOne(map[string]string{"-lock": *lock, "-account": *account})
	if err != nil {
		return err
	}
	loc, err := zoneFlag(*tz)
	if err != nil {
		return err
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	l, err := openLedger(dir, reg)
	if err != nil {
		return err
	}
	defer l.Close()
	x, err := asof.Open(l)
	if err != nil {
		return err
	}
	defer x.Close()
	if what == "-lock" {
		if *since != "" || *until != "" {
			return usageErr("-since and -until go with -account")
		}
		d, err := doorFlag(*door)
		if err != nil {
			return err
		}
		when, err := instantFlag("-at", *at)
		if err != nil {
			return err
		}
		ans, err := x.WhoCouldOpen(ctx, id, d, when)
		if err != nil {
			return accessErr(err)
		}
		return printOpenings(stdout, ans, *asJSON, loc)
	}
	if *at != "" {
		return usageErr("-at goes with -lock (with -account, give -since and -until)")
	}
	if *since == "" {
		return usageErr("-account needs -since")
	}
	from, err := parseTime("-since", *since)
	if err != nil {
		return err
	}
	to, err := instantFlag("-until", *until)
	if err != nil {
		return err
	}
	ans, err := x.CouldOpen(ctx, id, from, to)
	if err != nil {
		return accessErr(err)
	}
	return printSpans(stdout, ans, *asJSON, loc)
}

// instantFlag parses an RFC 3339 flag; empty is now.
func instantFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Now().UTC(), nil
	}
	return parseTime(name, v)
}

// doorFlag parses -door: main, inner or a door number.
func doorFlag(v string) (access.Door, error) {
	switch strings.ToLower(v) {
	case "main":
		return access.MainDoor, nil
	case "inner":
		return access.InnerDoor, nil
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil || n >= access.MaxDoors {
		return 0, usageErr("-door %q: want main, inner or a door number below %d", v, access.MaxDoors)
	}
	return access.Door(n), nil
}

// accessErr says an unknown lock, door or account, or a backwards range,
// in the words of the flags.
func accessErr(err error) error {
	var nf *asof.NotFoundError
	switch {
	case errors.As(err, &nf) && nf.What == "door":
		return fmt.Errorf("lock %q has no %s door", nf.Lock, nf.ID)
	case errors.As(err, &nf):
		return fmt.Errorf("unknown %s %q", nf.What, nf.ID)
	case errors.Is(err, asof.ErrRange):
		return usageErr("%v", err)
	}
	return err
}

func printOpenings(w io.Writer, ans asof.DoorAnswer, asJSON bool, loc *time.Location) error {
	if asJSON {
		enc := json.NewEncoder(w)
		if p := ans.Passage; p != nil {
			if err := enc.Encode(openingLine{Lock: ans.Lock, Door: ans.Door.String(), At: rfc3339(ans.At), Kind: "passage",
				Since: rfc3339(p.Since), Schedule: describePassage(p.Periods), State: "passage mode", Positions: []uint64{p.Position}, Passage: true}); err != nil {
				return err
			}
		}
		for _, o := range ans.Openings {
			line := openingLine{Lock: ans.Lock, Door: ans.Door.String(), At: rfc3339(ans.At), Account: o.Account, Key: o.Key,
				Kind: o.Kind.String(), Since: rfc3339(o.Since), Schedule: describePolicy(o.Policy, ans.LockBlackouts), Uses: o.Uses,
				State: o.State.String(), StillAtLock: o.StillAtLock, OpenUntil: rfc3339(o.OpenUntil), Online: o.Online, Positions: o.Positions}
			if o.Credential != 0 {
				line.Credential = o.Credential.String()
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "# %s door of %s at %s: log position %d of %d\n", ans.Door, ans.Lock, stamp(ans.At, loc), ans.Position, ans.Head)
	fmt.Fprintln(tw, "ACCOUNT\tKEY\tKIND\tSINCE\tSCHEDULE\tUSES\tAT LOCK\tEVENTS")
	if p := ans.Passage; p != nil {
		fmt.Fprintf(tw, "(anyone)\t-\tpassage\t%s\t%s\t-\tpassage mode\t%d\n", stamp(p.Since, loc), describePassage(p.Periods), p.Position)
	}
	for _, o := range ans.Openings {
		atLock := "-"
		if o.Online {
			atLock = "online (password)"
		}
		if o.StillAtLock {
			atLock = "still open (" + o.State.String() + ")"
			if !o.OpenUntil.IsZero() {
				atLock += " until " + stamp(o.OpenUntil, loc)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", o.Account, o.Key, o.Kind, stamp(o.Since, loc),
			describePolicy(o.Policy, ans.LockBlackouts), o.Uses, atLock, positions(o.Positions))
	}
	return tw.Flush()
}

func printSpans(w io.Writer, ans asof.AccountAnswer, asJSON bool, loc *time.Location) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, d := range ans.Doors {
			for _, iv := range d.Intervals {
				if err := enc.Encode(spanLine{Account: ans.Account, Lock: d.Lock, Door: d.Door.String(), Key: d.Key,
					From: rfc3339(iv.From), Until: rfc3339(iv.To), StillAtLock: iv.StillAtLock, Online: iv.Online, Positions: d.Positions}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "# %s from %s until %s: log position %d of %d\n", ans.Account, stamp(ans.From, loc), stamp(ans.To, loc), ans.Position, ans.Head)
	fmt.Fprintln(tw, "LOCK\tDOOR\tKEY\tFROM\tUNTIL\tAT LOCK\tEVENTS")
	for _, d := range ans.Doors {
		for _, iv := range d.Intervals {
			atLock := "-"
			switch {
			case iv.StillAtLock:
				atLock = "still open"
			case iv.Online:
				atLock = "online (password)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Lock, d.Door, d.Key, stamp(iv.From, loc), stamp(iv.To, loc), atLock, positions(d.Positions))
		}
	}
	return tw.Flush()
}

func positions(ps []uint64) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.FormatUint(p, 10)
	}
	return strings.Join(s, ",")
}

// describePolicy says a schedule in a few words: validity, uses, weekly
// windows and blackouts, and the lock's blackouts.
func describePolicy(p policy.Policy, lock []policy.Blackout) string {
	var parts []string
	if !p.Start.IsZero() {
		parts = append(parts, "from "+rfc3339(p.Start))
	}
	if !p.End.IsZero() {
		parts = append(parts, "until "+rfc3339(p.End))
	}
	if p.Uses.Limited {
		parts = append(parts, fmt.Sprintf("%d uses", p.Uses.N))
	}
	for _, w := range p.Windows {
		parts = append(parts, fmt.Sprintf("%s %s-%s", days(w.Days), policy.FormatClock(w.From), policy.FormatClock(w.To)))
	}
	if n := len(p.Blackouts); n > 0 {
		parts = append(parts, fmt.Sprintf("%d blackouts", n))
	}
	if n := len(lock); n > 0 {
		parts = append(parts, fmt.Sprintf("%d lock blackouts", n))
	}
	if p.Zone != "" && len(p.Windows) > 0 {
		parts = append(parts, p.Zone)
	}
	if len(parts) == 0 {
		return "always"
	}
	return strings.Join(parts, " ")
}

// describePassage says a passage schedule's periods, " or " between them.
func describePassage(periods []policy.Policy) string {
	s := make([]string, len(periods))
	for i, p := range periods {
		s[i] = describePolicy(p, nil)
	}
	return strings.Join(s, " or ")
}

func days(d policy.Weekdays) string {
	var s []string
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if d.Has(wd) {
			s = append(s, wd.String()[:2])
		}
	}
	return strings.Join(s, ",")
}

// asOfFlag is -as-of: a log position (digits) or an RFC 3339 instant.
func asOfPosition(ctx context.Context, l ledger.Backend, v string) (pos uint64, at time.Time, err error) {
	if n, perr := strconv.ParseUint(v, 10, 64); perr == nil {
		if head := l.DurablePosition(); n > head {
			return 0, time.Time{}, fmt.Errorf("-as-of %d: the log head is %d", n, head)
		}
		if n > 0 {
			ev, err := l.EventAt(ctx, n)
			if err != nil {
				return 0, time.Time{}, err
			}
			at = ev.Time
		}
		return n, at, nil
	}
	if at, err = parseTime("-as-of", v); err != nil {
		return 0, time.Time{}, usageErr("-as-of %q: want a log position or an RFC 3339 time, like 2026-03-02T09:00:00Z", v)
	}
	pos, err = asof.PositionAt(ctx, l, at)
	return pos, at, err
}

// asOfBackend closes the read models as of a position with the ledger.
type asOfBackend struct {
	ledger.Backend
	rm *asof.ReadModels
}

func (b *asOfBackend) Close() error {
	return errors.Join(b.rm.Close(), b.Backend.Close())
}

// openServedAsOf is openServed, or with asOf set the read models as of
// that log position or instant, rebuilt in memory; at is then the
// instant they stand for (the event's time at a position).
func openServedAsOf(ctx context.Context, dir string, replay bool, asOf, what, id string, stderr io.Writer) (l ledger.Backend, s *served, at time.Time, err error) {
	if asOf == "" {
		l, s, err = openServed(ctx, dir, replay, what, id)
		return l, s, time.Time{}, err
	}
	reg, err := newRegistry()
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	if l, err = openLedger(dir, reg); err != nil {
		return nil, nil, time.Time{}, err
	}
	pos, at, err := asOfPosition(ctx, l, asOf)
	if err != nil {
		l.Close()
		return nil, nil, time.Time{}, err
	}
	rm, err := asof.ReadModelsAt(ctx, l, pos)
	if err != nil {
		l.Close()
		return nil, nil, time.Time{}, err
	}
	b := &asOfBackend{Backend: l, rm: rm}
	s = &served{proj: rm.Projections, store: l, head: l.DurablePosition()}
	if err := known(ctx, s, what, id); err != nil {
		b.Close()
		return nil, nil, time.Time{}, fmt.Errorf("as of position %d: %w", pos, err)
	}
	warn(stderr, fmt.Sprintf("read models as of log position %d of %d, rebuilt in memory (nothing written)", pos, s.head))
	return b, s, at, nil
}
