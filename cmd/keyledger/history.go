package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/projections"
)

const historyHelp = `Prints the history of one lock, key or account: every action and
every unlock attempt, granted or denied with its reason, oldest first by
time (a record the lock made offline at the lock's time, so uploads merge
in where they happened; ties by log position). -by-position prints each
UTC day in log order instead (uploads after what was recorded before
them). -since and -until select [since, until) of that time. The table
shows times in UTC unless -tz names an IANA zone. BY is the account that
acted, SUBJECT the account the entry is about (the one a key was shared
with or made for, the contact, the member): "subject" in -json, as in the
library (projections.HistoryEntry.Subject).

` + servingHelp

// servingHelp is how history and keys answer without writing.
const servingHelp = `The directory is opened read-only and never written. The answer is always
that of the log head: if the stored read models are at the head they are
queried in place; if they are behind it (a process stopped before its
projections caught up), they are copied into memory and the missing events
applied there; if there are none, the whole log is replayed in memory. A
note on stderr says when memory was used. -replay ignores the stored read
models and replays the whole log (to rule them out when in doubt).`

// historyLine is one line of 'keyledger history -json'.
type historyLine struct {
	Position uint64 `json:"position"`
	Time     string `json:"time"`
	Type     string `json:"type"`
	What     string `json:"what"`
	Lock     string `json:"lock,omitempty"`
	Key      string `json:"key,omitempty"`
	By       string `json:"by,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Door     string `json:"door,omitempty"`
	Source   string `json:"source,omitempty"`
	Granted  *bool  `json:"granted,omitempty"` // unlock attempts only
	Reason   string `json:"reason,omitempty"`
	// Records the lock made offline and a phone uploaded: Time is the
	// lock's time, Uploaded when the record reached the ledger.
	Offline   bool   `json:"offline,omitempty"`
	AuditSeq  uint32 `json:"audit_seq,omitempty"`
	Uploaded  string `json:"uploaded,omitempty"`
	Presented string `json:"presented,omitempty"` // key of an unverified credential shown
}

func runHistory(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	lock := fs.String("lock", "", "history of this lock")
	key := fs.String("key", "", "history of this key")
	account := fs.String("account", "", "history of this account (as actor or as the one concerned)")
	since := fs.String("since", "", "first instant, RFC 3339 (default: the beginning)")
	until := fs.String("until", "", "end instant, exclusive, RFC 3339 (default: no end)")
	n := fs.Int("n", 0, "print at most this many entries (0 = all)")
	tz := fs.String("tz", "", "IANA zone for the table's times (default UTC)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	replay := fs.Bool("replay", false, "ignore the stored read models: replay the whole log in memory")
	byPosition := fs.Bool("by-position", false, "order each UTC day by log position instead of by time")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	q := projections.HistoryQuery{Lock: *lock, Key: *key, Account: *account, ByPosition: *byPosition}
	what, id, err := exactlyOne(map[string]string{"-lock": *lock, "-key": *key, "-account": *account})
	if err != nil {
		return err
	}
	if q.From, err = parseTime("-since", *since); err != nil {
		return err
	}
	if q.To, err = parseTime("-until", *until); err != nil {
		return err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return usageErr("-since %s is not before -until %s", *since, *until)
	}
	if *n < 0 {
		return usageErr("-n %d must not be negative", *n)
	}
	loc, err := zoneFlag(*tz)
	if err != nil {
		return err
	}
	l, s, err := openServed(ctx, dir, *replay, what, id)
	if err != nil {
		return err
	}
	defer l.Close()
	defer s.Close()
	// Pages are printed as they come: JSON lines stream; the table is
	// aligned over all its rows, so tabwriter holds its text until the end
	// (nothing is printed if the first page turns out to be an error).
	var emit func(h projections.HistoryEntry) error
	flush := func() error { return nil }
	if *asJSON {
		enc := json.NewEncoder(stdout)
		emit = func(h projections.HistoryEntry) error { return enc.Encode(toHistoryLine(h)) }
	} else {
		w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TIME\tWHAT\tLOCK\tKEY\tBY\tSUBJECT\tOUTCOME")
		emit = func(h projections.HistoryEntry) error {
			_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Time.In(loc).Format(time.RFC3339), describeEntry(h),
				dash(h.Lock), dash(h.Key), dash(h.Account), dash(h.Subject), dash(outcome(h)))
			return err
		}
		flush = w.Flush
	}
	printed := 0
	for {
		q.Limit = 1000
		if *n > 0 {
			q.Limit = min(1000, *n-printed)
		}
		page, err := s.proj.History(ctx, q)
		if err != nil {
			return queryErr(err)
		}
		if printed == 0 {
			if len(page.Entries) == 0 && what == "-account" && q.From.IsZero() && q.To.IsZero() {
				// An account need not be registered to have a history (a
				// device that downloaded a key To Code), but one with
				// neither is a typo.
				if v, err := l.StreamVersion(ctx, "account-"+id); err != nil {
					return err
				} else if v == 0 {
					return fmt.Errorf("unknown account %q: not registered and no history", id)
				}
			}
			warn(stderr, s.note())
		}
		for _, h := range page.Entries {
			if err := emit(h); err != nil {
				return err
			}
			printed++
		}
		if page.Next == "" || (*n > 0 && printed >= *n) {
			break
		}
		q.Cursor = page.Next
	}
	return flush()
}

func toHistoryLine(h projections.HistoryEntry) historyLine {
	hl := historyLine{Position: h.Position, Time: h.Time.UTC().Format(time.RFC3339Nano), Type: h.Type,
		What: describeEntry(h), Lock: h.Lock, Key: h.Key, By: h.Account, Subject: h.Subject,
		Source: h.Source, Reason: h.Reason.Name()}
	if h.Door != 0 {
		hl.Door = h.Door.String()
	}
	if h.Offline {
		hl.Offline, hl.AuditSeq, hl.Presented = true, h.AuditSeq, h.Presented
		hl.Uploaded = rfc3339(h.Uploaded)
	}
	if isUnlock(h) {
		g := h.Granted
		hl.Granted = &g
	}
	return hl
}

const (
	unlockType = "key.unlock_attempted"
	auditType  = "lock.audit_recorded" // a record the lock made offline
)

// words says what an event type in a history means, for people. Types not
// listed (newer ones) show their type name.
var words = map[string]string{
	"account.registered":           "account registered",
	"account.contact_added":        "contact added",
	"account.contact_deleted":      "contact deleted",
	"lock.registered":              "lock registered",
	"lock.blackouts_set":           "lock blackouts set",
	"lock.passage_set":             "passage mode set",
	"key.created":                  "key created",
	"key.shared":                   "key shared",
	"key.downloaded":               "key downloaded",
	"key.edited":                   "key edited",
	"key.revoked":                  "key revoked",
	"key.reset":                    "key reset",
	"key.deactivation_requested":   "deactivation requested",
	"key.deactivation_confirmed":   "deactivation confirmed",
	"key.deleted":                  "key deleted",
	unlockType:                     "unlock",
	"group.network_on":             "network management on",
	"group.network_off":            "network management off",
	"group.member_invited":         "member invited",
	"group.invitation_accepted":    "invitation accepted",
	"group.invitation_declined":    "invitation declined",
	"group.invitation_withdrawn":   "invitation withdrawn",
	"group.invitation_expired":     "invitation expired",
	"group.member_permissions_set": "permissions set",
	"group.member_removed":         "member removed",
	"group.member_password_set":    "password set",
	"group.password_rejected":      "password rejected",
	auditType:                      "lock record",
	"lock.audit_gap":               "lock records lost",
}

func describeEntry(h projections.HistoryEntry) string {
	w, ok := words[h.Type]
	if !ok {
		return h.Type
	}
	if isUnlock(h) {
		door := h.Door
		if door == 0 {
			door = access.Main
		}
		if h.Type == auditType {
			w = "offline unlock"
		}
		w += " (" + door.String()
		if h.Source != "" {
			w += ", " + h.Source
		}
		w += ")"
	}
	return w
}

// isUnlock reports an unlock attempt: online, or recorded by the lock
// offline and uploaded (an audit record with a door).
func isUnlock(h projections.HistoryEntry) bool {
	return h.Type == unlockType || (h.Type == auditType && h.Door != 0)
}

func outcome(h projections.HistoryEntry) string {
	switch {
	case isUnlock(h) && h.Granted:
		return "granted"
	case isUnlock(h):
		return "denied: " + h.Reason.Name()
	}
	return h.Reason.Name()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// exactlyOne returns the one flag of set that has a value.
func exactlyOne(set map[string]string) (name, value string, err error) {
	n := 0
	for k, v := range set {
		if v != "" {
			name, value = k, v
			n++
		}
	}
	if n != 1 {
		names := ""
		for _, k := range sortedKeys(set) {
			if names != "" {
				names += ", "
			}
			names += k
		}
		return "", "", usageErr("name exactly one of %s (got %d)", names, n)
	}
	return name, value, nil
}

// parseTime parses an RFC 3339 flag value; "" is the zero time.
func parseTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageErr("%s %q: not an RFC 3339 time, like 2026-03-02T09:00:00Z", flagName, v)
	}
	return t, nil
}

// known checks that the lock or key asked about exists in the read models.
func known(ctx context.Context, s *served, what, id string) error {
	var err error
	switch what {
	case "-lock":
		_, err = s.proj.Lock(ctx, id)
	case "-key":
		_, err = s.proj.Key(ctx, id)
	default:
		return nil
	}
	if errors.Is(err, projections.ErrNotFound) {
		return fmt.Errorf("unknown %s %q", what[1:], id)
	}
	return queryErr(err)
}
