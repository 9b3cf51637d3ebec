package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

const keysHelp = `Lists the keys of a lock (-lock), the keys an account made (-owner: share,
intercom and digital keys) or the keys shared with or downloaded by an
account (-holder), each with its status at -at (default now) as the read
models compute it with package policy: ACTIVE, UPCOMING, EXPIRED or
EXHAUSTED, or REVOKED (revoked, reset, deactivation pending or deactivated:
see STATE) — plus the lifecycle state, the sharing state, uses so far and
the use limit, the holder, the validity and when a window next opens
(NEXT OPEN: "now" if the key is open now; with -at, the first instant at
or after -at, so -at itself if it is open then). Deleted keys are in no
list. Times are UTC unless -tz names an IANA zone.

-at moves only the schedule's clock: the keys, their lifecycle state and
their uses are those at the log head (the read models keep no past
states), so -at in the past does not show a key as it was then; it shows
what today's key would say at that instant (for "was it valid last
Tuesday", read the key's history, or give -as-of).

-as-of POSITION|TIME shows the keys as the app showed them then: the read
models rebuilt in memory from the log up to that position (or up to the
events recorded up to that time), with -at defaulting to that instant.

` + servingHelp

// keyLine is one line of 'keyledger keys -json'.
type keyLine struct {
	Key        string `json:"key"`
	Lock       string `json:"lock"`
	LockName   string `json:"lock_name,omitempty"`
	Zone       string `json:"zone,omitempty"`
	Owner      string `json:"owner"`
	Kind       string `json:"kind"`
	Name       string `json:"name,omitempty"`
	State      string `json:"state"`
	Sharing    string `json:"sharing"`
	Status     string `json:"status"`
	At         string `json:"at"`
	InWindow   bool   `json:"in_window"`
	NextOpen   string `json:"next_open,omitempty"`
	NetworkOff bool   `json:"network_off,omitempty"` // online key whose lock's network management is off
	Uses       uint32 `json:"uses"`
	UseLimit   uint32 `json:"use_limit,omitempty"` // 0: unlimited
	Method     string `json:"method,omitempty"`
	Recipient  string `json:"recipient,omitempty"`
	Holder     string `json:"holder,omitempty"`
	Slot       int    `json:"slot,omitempty"`
	Generation uint32 `json:"generation,omitempty"`
	ValidFrom  string `json:"valid_from,omitempty"`
	ValidUntil string `json:"valid_until,omitempty"` // after the key's first use, counting its expiry after first use
	// AfterFirstUse: the key expires this long after its first use, still
	// to come (Go duration); FirstUsed: its first use.
	AfterFirstUse string `json:"after_first_use,omitempty"`
	FirstUsed     string `json:"first_used,omitempty"`
	Created       string `json:"created"`
	Updated       string `json:"updated"`
}

func runKeys(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	lock := fs.String("lock", "", "keys of this lock")
	owner := fs.String("owner", "", "keys this account made (share, intercom and digital keys)")
	holder := fs.String("holder", "", "keys shared with or downloaded by this account")
	at := fs.String("at", "", "status at this instant, RFC 3339 (default now)")
	tz := fs.String("tz", "", "IANA zone for the table's times (default UTC)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	replay := fs.Bool("replay", false, "ignore the stored read models: replay the whole log in memory")
	asOf := fs.String("as-of", "", "the read models as of this log position or RFC 3339 time, rebuilt in memory")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	what, id, err := exactlyOne(map[string]string{"-lock": *lock, "-owner": *owner, "-holder": *holder})
	if err != nil {
		return err
	}
	when, err := parseTime("-at", *at)
	if err != nil {
		return err
	}
	now := when.IsZero()
	if now {
		when = time.Now()
	}
	loc, err := zoneFlag(*tz)
	if err != nil {
		return err
	}
	l, s, asOfAt, err := openServedAsOf(ctx, dir, *replay, *asOf, what, id, stderr)
	if err != nil {
		return err
	}
	if now && !asOfAt.IsZero() { // the read models' instant, unless -at gives another
		when, now = asOfAt, false
	}
	defer l.Close()
	defer s.Close()
	var keys []projections.KeyView
	switch what {
	case "-lock":
		keys, err = s.proj.KeyList(ctx, id, when)
	case "-holder":
		keys, err = s.proj.HolderKeys(ctx, id, when)
	case "-owner":
		if keys, err = s.proj.ShareKeyList(ctx, id, when); err == nil {
			var digital []projections.KeyView
			digital, err = s.proj.DigitalKeys(ctx, id, when)
			keys = append(keys, digital...)
			sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
		}
	}
	if err != nil {
		return queryErr(err)
	}
	if len(keys) == 0 && what != "-lock" {
		if v, err := l.StreamVersion(ctx, "account-"+id); err != nil {
			return err
		} else if v == 0 {
			return fmt.Errorf("unknown account %q: not registered and no keys", id)
		}
	}
	warn(stderr, s.note())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, k := range keys {
			if err := enc.Encode(toKeyLine(k, when)); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tLOCK\tKIND\tNAME\tSTATE\tSHARING\tSTATUS\tUSES\tHOLDER\tFROM\tUNTIL\tNEXT OPEN")
	for _, k := range keys {
		p := k.Policy()
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Key, k.Lock, k.Kind, dash(k.Settings.Name),
			k.State, k.Status.Sharing, k.Status.Status, uses(k), dash(holderOf(k)),
			stamp(p.Start, loc), until(&p, loc), nextOpen(k, now, loc))
	}
	return w.Flush()
}

// holderOf is who has the key: its holder once downloaded, else the account
// it was shared with To ID.
func holderOf(k projections.KeyView) string {
	if k.Holder != "" {
		return k.Holder
	}
	return k.Recipient
}

func uses(k projections.KeyView) string {
	if u := k.Settings.Policy.Uses; u.Limited {
		return fmt.Sprintf("%d/%d", k.Status.Uses, u.N)
	}
	return strconv.FormatUint(uint64(k.Status.Uses), 10)
}

// nextOpen is the NEXT OPEN column: "now" only when the status is the
// present's (no -at); at another instant, open then reads as that instant.
func nextOpen(k projections.KeyView, now bool, loc *time.Location) string {
	switch {
	case k.Status.Status != projections.StatusActive && k.Status.Status != projections.StatusUpcoming:
		return "-"
	case k.Status.NetworkOff:
		return "network off"
	case k.Status.InWindow && now:
		return "now"
	}
	return stamp(k.Status.NextOpen, loc)
}

// until is the UNTIL column: the end, and an expiry after first use still
// to come ("2h0m0s after first use").
func until(p *policy.Policy, loc *time.Location) string {
	switch {
	case p.AfterFirstUse == 0:
		return stamp(p.End, loc)
	case p.End.IsZero():
		return p.AfterFirstUse.String() + " after first use"
	}
	return stamp(p.End, loc) + " or " + p.AfterFirstUse.String() + " after first use"
}

func stamp(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(time.RFC3339)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func toKeyLine(k projections.KeyView, at time.Time) keyLine {
	kl := keyLine{Key: k.Key, Lock: k.Lock, LockName: k.LockName, Zone: k.Zone, Owner: k.Owner,
		Kind: k.Kind.String(), Name: k.Settings.Name, State: k.State.String(),
		Sharing: k.Status.Sharing.String(), Status: string(k.Status.Status), At: rfc3339(at),
		InWindow: k.Status.InWindow, NextOpen: rfc3339(k.Status.NextOpen), NetworkOff: k.Status.NetworkOff, Uses: k.Status.Uses,
		Recipient: k.Recipient, Holder: k.Holder, Slot: k.Slot, Generation: k.Generation,
		ValidFrom: rfc3339(k.Settings.Policy.Start), ValidUntil: rfc3339(k.Policy().End), FirstUsed: rfc3339(k.FirstUsed),
		Created: rfc3339(k.Created), Updated: rfc3339(k.Updated)}
	if d := k.Policy().AfterFirstUse; d != 0 {
		kl.AfterFirstUse = d.String()
	}
	if u := k.Settings.Policy.Uses; u.Limited {
		kl.UseLimit = u.N
	}
	if k.Method != 0 {
		kl.Method = k.Method.String()
	}
	return kl
}

// zoneFlag loads -tz ("" = UTC).
func zoneFlag(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := policy.LoadZone(name)
	if err != nil {
		return nil, usageErr("-tz %q: not an IANA time zone", name)
	}
	return loc, nil
}
