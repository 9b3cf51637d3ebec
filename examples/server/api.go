package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

// The JSON shapes of the API and their conversion to and from the library's
// types. Enumerations travel as lower-case words; instants as RFC 3339;
// daily times as "HH:MM" in the lock's zone.

type accountRequest struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	Email   string `json:"email"`
}

type lockRequest struct {
	Lock  string   `json:"lock"`
	Name  string   `json:"name"`
	Zone  string   `json:"zone"`
	Slots int      `json:"slots"`
	Doors []string `json:"doors"`
}

// settingsJSON is a key's settings (commands.Settings).
type settingsJSON struct {
	Name     string      `json:"name,omitempty"`
	Category string      `json:"category,omitempty"`
	Role     string      `json:"role,omitempty"`
	Doors    []string    `json:"doors,omitempty"`
	Welcome  string      `json:"welcome,omitempty"`
	Policy   *policyJSON `json:"policy,omitempty"`
}

// settingsEditJSON is an edit (PUT /settings, commands.SettingsPatch): a
// field that is absent or null keeps its value, so an edit never widens a
// key by leaving something out; "policy": {} makes the key unlimited.
type settingsEditJSON struct {
	Name     *string     `json:"name"`
	Category *string     `json:"category"`
	Role     *string     `json:"role"`
	Doors    *[]string   `json:"doors"`
	Welcome  *string     `json:"welcome"`
	Policy   *policyJSON `json:"policy"`
}

// policyJSON is a schedule (policy.Policy): all conditions AND-combined.
type policyJSON struct {
	Start     time.Time      `json:"start,omitzero"`
	End       time.Time      `json:"end,omitzero"`
	Uses      uint32         `json:"uses,omitempty"` // 0 = unlimited
	Windows   []windowJSON   `json:"windows,omitempty"`
	Blackouts []blackoutJSON `json:"blackouts,omitempty"`
	Periods   []periodJSON   `json:"periods,omitempty"` // dated periods, OR-combined
	// AfterFirstUse: the key expires this many minutes after its first use (0 = no such limit).
	AfterFirstUse int `json:"after_first_use_minutes,omitempty"`
}

// periodJSON is a dated period [start, end).
type periodJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

type windowJSON struct {
	Days []string `json:"days"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

// blackoutJSON is weekly (days, from, to) or absolute (start, end).
type blackoutJSON struct {
	Days  []string  `json:"days,omitempty"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

type createKeyRequest struct {
	Key        string `json:"key"`
	Kind       string `json:"kind"`           // share, digital, intercom
	Slot       int    `json:"slot,omitempty"` // share keys; 0 = lowest free
	For        string `json:"for,omitempty"`  // digital keys: the user
	Credential string `json:"credential,omitempty"`
	PIN        string `json:"pin,omitempty"`       // digital PIN keys; empty = the library draws one
	Card       string `json:"card,omitempty"`      // digital keycard keys: the card's identifier (UID), hex
	Email      bool   `json:"email,omitempty"`     // digital keys: e-mail the user that a key was made
	EmailPIN   bool   `json:"email_pin,omitempty"` // digital PIN keys: e-mail the PIN (sealed in the outbox)
	settingsJSON
}

type createKeyResponse struct {
	Key        string `json:"key"`
	Slot       int    `json:"slot,omitempty"`
	Generation uint32 `json:"generation,omitempty"`
	// PIN is shown to the key's creator in this response only (a retried
	// request with the same Idempotency-Key gets none).
	PIN string `json:"pin,omitempty"`
}

type shareRequest struct {
	Method  string `json:"method"` // id, code
	Account string `json:"account,omitempty"`
	Email   string `json:"email,omitempty"` // To Code: where the code is e-mailed
}

type shareResponse struct {
	Key     string `json:"key"`
	Method  string `json:"method"`
	Account string `json:"account,omitempty"`
	// Code is the generated share code, shown to the owner in this response
	// only; the ledger keeps a keyed hash of it.
	Code string `json:"code,omitempty"`
}

type downloadRequest struct {
	Code string `json:"code,omitempty"`
}

func (downloadRequest) optionalBody() {}

type downloadResponse struct {
	Key        string       `json:"key"`
	Lock       string       `json:"lock"`
	Slot       int          `json:"slot,omitempty"`
	Generation uint32       `json:"generation,omitempty"`
	Settings   settingsJSON `json:"settings"`
}

type unlockRequest struct {
	Door   string `json:"door,omitempty"` // main (default), inner
	Source string `json:"source,omitempty"`
}

func (unlockRequest) optionalBody() {}

type unlockResponse struct {
	Key     string `json:"key"`
	Granted bool   `json:"granted"`
	Reason  string `json:"reason,omitempty"`
	Uses    uint32 `json:"uses"`
}

// keyJSON is a key with its status at the query's instant.
type keyJSON struct {
	Key        string       `json:"key"`
	Lock       string       `json:"lock"`
	LockName   string       `json:"lock_name"`
	Owner      string       `json:"owner"`
	Kind       string       `json:"kind"`
	Credential string       `json:"credential,omitempty"`
	State      string       `json:"state"`
	Sharing    string       `json:"sharing"`
	Status     string       `json:"status"`
	InWindow   bool         `json:"in_window"`
	NextOpen   time.Time    `json:"next_open,omitzero"`
	NetworkOff bool         `json:"network_off,omitempty"` // online key whose lock's network management is off
	FirstUsed  time.Time    `json:"first_used,omitzero"`   // its first granted use
	End        time.Time    `json:"end,omitzero"`          // when the policy in force ends (after the first use: concrete)
	Members    []string     `json:"members,omitempty"`     // online key: accounts that joined
	Uses       uint32       `json:"uses"`
	Slot       int          `json:"slot,omitempty"`
	Generation uint32       `json:"generation,omitempty"`
	Method     string       `json:"shared_via,omitempty"` // id, code
	Recipient  string       `json:"recipient,omitempty"`
	Holder     string       `json:"holder,omitempty"`
	Downloaded bool         `json:"downloaded"`
	Settings   settingsJSON `json:"settings"`
}

type keysResponse struct {
	At   time.Time `json:"at"`
	Keys []keyJSON `json:"keys"`
}

type slotJSON struct {
	Slot       int    `json:"slot"`
	State      string `json:"state"` // Not Shared, Sharing, Shared, Deactivation pending
	Generation uint32 `json:"generation"`
	Key        string `json:"key,omitempty"`
}

type slotsResponse struct {
	Slots []slotJSON `json:"slots"`
}

type historyEntryJSON struct {
	Position uint64    `json:"position"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Lock     string    `json:"lock,omitempty"`
	Key      string    `json:"key,omitempty"`
	Account  string    `json:"account,omitempty"`
	Subject  string    `json:"subject,omitempty"`
	Door     string    `json:"door,omitempty"`
	Source   string    `json:"source,omitempty"`
	Granted  *bool     `json:"granted,omitempty"` // unlock attempts only
	Reason   string    `json:"reason,omitempty"`
}

type historyResponse struct {
	Entries []historyEntryJSON `json:"entries"`
	Next    string             `json:"next,omitempty"`
}

// Conversions. A bad value is a *fieldError (400 "invalid").

type fieldError struct{ field, reason string }

func (e *fieldError) Error() string { return fmt.Sprintf("invalid %s: %s", e.field, e.reason) }

func badField(field, format string, args ...any) error {
	return &fieldError{field: field, reason: fmt.Sprintf(format, args...)}
}

var (
	kinds       = map[string]events.Kind{"share": events.KindShare, "digital": events.KindDigital, "intercom": events.KindIntercom}
	credentials = map[string]events.Credential{"app": events.CredentialApp, "pin": events.CredentialPIN, "keycard": events.CredentialKeycard}
	roles       = map[string]events.Role{"user": events.RoleUser, "admin": events.RoleAdmin}
	doorNames   = map[string]access.Doors{"main": access.Main, "inner": access.Inner}
	unlockDoors = map[string]access.Door{"main": access.MainDoor, "inner": access.InnerDoor}
	methods     = map[string]events.ShareMethod{"id": events.ShareToID, "code": events.ShareToCode}
	weekdays    = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
		"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}
)

// enum looks up a lower-case word; "" is the zero value (the library's default).
func enum[T any](field, s string, names map[string]T) (T, error) {
	var zero T
	if s == "" {
		return zero, nil
	}
	v, ok := names[strings.ToLower(s)]
	if !ok {
		return zero, badField(field, "unknown value %q", s)
	}
	return v, nil
}

func category(s string) (events.Category, error) {
	if s == "" {
		return 0, nil
	}
	for c := events.CategoryFriend; c <= events.CategoryEmployee; c++ {
		if strings.EqualFold(c.String(), s) {
			return c, nil
		}
	}
	return 0, badField("category", "unknown value %q", s)
}

func doors(field string, names []string) (access.Doors, error) {
	var d access.Doors
	for _, n := range names {
		v, err := enum(field, n, doorNames)
		if err != nil {
			return 0, err
		}
		d |= v
	}
	return d, nil
}

func doorList(d access.Doors) []string {
	var out []string
	if d&access.Main != 0 {
		out = append(out, "main")
	}
	if d&access.Inner != 0 {
		out = append(out, "inner")
	}
	return out
}

func days(field string, names []string) (policy.Weekdays, error) {
	var ds []time.Weekday
	for _, n := range names {
		d, ok := weekdays[strings.ToLower(n)]
		if !ok {
			return 0, badField(field, "unknown weekday %q (mon … sun)", n)
		}
		ds = append(ds, d)
	}
	return policy.Days(ds...), nil
}

func dayList(w policy.Weekdays) []string {
	var out []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if w.Has(d) {
			out = append(out, strings.ToLower(d.String()[:3]))
		}
	}
	return out
}

func clockRange(field, from, to string) (uint16, uint16, error) {
	f, err := policy.ParseClock(from)
	if err != nil {
		return 0, 0, badField(field+".from", "%q is not HH:MM", from)
	}
	t, err := policy.ParseClock(to)
	if err != nil {
		return 0, 0, badField(field+".to", "%q is not HH:MM", to)
	}
	return f, t, nil
}

func (s settingsJSON) settings() (events.Settings, error) {
	var st events.Settings
	var err error
	st.Name, st.Welcome = s.Name, s.Welcome
	if st.Category, err = category(s.Category); err != nil {
		return st, err
	}
	if st.Role, err = enum("role", s.Role, roles); err != nil {
		return st, err
	}
	if st.Doors, err = doors("doors", s.Doors); err != nil {
		return st, err
	}
	if s.Policy != nil {
		st.Policy, err = s.Policy.policy()
	}
	return st, err
}

func (s settingsEditJSON) patch() (commands.SettingsPatch, error) {
	p := commands.SettingsPatch{Name: s.Name, Welcome: s.Welcome}
	if s.Category != nil {
		c, err := category(*s.Category)
		if err != nil {
			return p, err
		}
		p.Category = &c
	}
	if s.Role != nil {
		r, err := enum("role", *s.Role, roles)
		if err != nil {
			return p, err
		}
		p.Role = &r
	}
	if s.Doors != nil {
		d, err := doors("doors", *s.Doors)
		if err != nil {
			return p, err
		}
		p.Doors = &d
	}
	if s.Policy != nil {
		pol, err := s.Policy.policy()
		if err != nil {
			return p, err
		}
		p.Policy = &pol
	}
	return p, nil
}

func (p policyJSON) policy() (policy.Policy, error) {
	out := policy.Policy{Start: p.Start, End: p.End}
	if p.Uses > 0 {
		out.Uses = policy.UsesN(p.Uses)
	}
	for i, w := range p.Windows {
		field := fmt.Sprintf("policy.windows[%d]", i)
		d, err := days(field+".days", w.Days)
		if err != nil {
			return out, err
		}
		from, to, err := clockRange(field, w.From, w.To)
		if err != nil {
			return out, err
		}
		out.Windows = append(out.Windows, policy.Window{Days: d, From: from, To: to})
	}
	for i, b := range p.Blackouts {
		field := fmt.Sprintf("policy.blackouts[%d]", i)
		var pb policy.Blackout
		if len(b.Days) > 0 {
			var err error
			if pb.Days, err = days(field+".days", b.Days); err != nil {
				return out, err
			}
			if pb.From, pb.To, err = clockRange(field, b.From, b.To); err != nil {
				return out, err
			}
		} else {
			pb.Start, pb.End = b.Start, b.End
		}
		out.Blackouts = append(out.Blackouts, pb)
	}
	for _, d := range p.Periods {
		out.Periods = append(out.Periods, policy.Period{Start: d.Start, End: d.End})
	}
	// Checked before multiplying: a large count would overflow a Duration
	// and wrap to a value the policy accepts.
	if max := int(policy.MaxAfterFirstUse / time.Minute); p.AfterFirstUse < 0 || p.AfterFirstUse > max {
		return out, badField("policy.after_first_use_minutes", "%d: want 0 (none) to %d minutes", p.AfterFirstUse, max)
	}
	out.AfterFirstUse = time.Duration(p.AfterFirstUse) * time.Minute
	return out, nil
}

func settingsOut(st events.Settings) settingsJSON {
	out := settingsJSON{Name: st.Name, Welcome: st.Welcome, Doors: doorList(st.Doors)}
	if st.Category != 0 {
		out.Category = strings.ToLower(st.Category.String())
	}
	if st.Role != 0 {
		out.Role = strings.ToLower(st.Role.String())
	}
	p := st.Policy
	pj := &policyJSON{Start: p.Start, End: p.End}
	if p.Uses.Limited {
		pj.Uses = p.Uses.N
	}
	for _, w := range p.Windows {
		pj.Windows = append(pj.Windows, windowJSON{Days: dayList(w.Days), From: policy.FormatClock(w.From), To: policy.FormatClock(w.To)})
	}
	for _, b := range p.Blackouts {
		bj := blackoutJSON{Start: b.Start, End: b.End}
		if b.Days != 0 {
			bj.Days, bj.From, bj.To = dayList(b.Days), policy.FormatClock(b.From), policy.FormatClock(b.To)
		}
		pj.Blackouts = append(pj.Blackouts, bj)
	}
	for _, d := range p.Periods {
		pj.Periods = append(pj.Periods, periodJSON{Start: d.Start, End: d.End})
	}
	pj.AfterFirstUse = int(p.AfterFirstUse / time.Minute)
	if pj.Start.IsZero() && pj.End.IsZero() && pj.Uses == 0 && pj.Windows == nil && pj.Blackouts == nil && pj.Periods == nil && pj.AfterFirstUse == 0 {
		pj = nil // unlimited
	}
	out.Policy = pj
	return out
}

func keyOut(k projections.KeyRow, st projections.KeyStatus) keyJSON {
	out := keyJSON{Key: k.Key, Lock: k.Lock, LockName: k.LockName, Owner: k.Owner, Kind: k.Kind.String(),
		State: k.State.String(), Sharing: st.Sharing.String(), Status: string(st.Status), InWindow: st.InWindow,
		NextOpen: st.NextOpen, NetworkOff: st.NetworkOff, FirstUsed: k.FirstUsed, End: st.End, Members: k.Members, Uses: st.Uses, Slot: k.Slot, Generation: k.Generation, Recipient: k.Recipient,
		Holder: k.Holder, Downloaded: k.Downloaded, Settings: settingsOut(k.Settings)}
	if k.Kind == events.KindDigital {
		out.Credential = strings.ToLower(k.Credential.String())
	}
	switch k.Method {
	case events.ShareToID:
		out.Method = "id"
	case events.ShareToCode:
		out.Method = "code"
	}
	return out
}

func historyOut(page projections.HistoryPage) historyResponse {
	out := historyResponse{Entries: []historyEntryJSON{}, Next: page.Next}
	for _, h := range page.Entries {
		e := historyEntryJSON{Position: h.Position, Time: h.Time, Type: h.Type, Lock: h.Lock, Key: h.Key,
			Account: h.Account, Subject: h.Subject, Source: h.Source, Reason: h.Reason.Name()}
		if h.Type == "key.unlock_attempted" {
			g := h.Granted
			e.Granted = &g
			e.Door = strings.Join(doorList(h.Door), "+")
		}
		out.Entries = append(out.Entries, e)
	}
	return out
}
