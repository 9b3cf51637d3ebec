package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/events"
)

// Access as of an instant (package asof): who could open a door of a lock
// then, and every door an account could open over a range.

// withAsOf gives the server the as-of index its access routes read
// (without one they answer 501).
func withAsOf(x *asof.Index) option { return func(s *server) { s.asof = x } }

type openingView struct {
	Account     string      `json:"account"`
	Key         string      `json:"key"`
	Kind        string      `json:"kind"`
	Doors       []string    `json:"doors"`
	Policy      *policyJSON `json:"policy"` // null: unlimited
	Uses        uint32      `json:"uses"`
	Since       time.Time   `json:"since"`
	State       string      `json:"state"`
	StillAtLock bool        `json:"still_at_lock"`
	Online      bool        `json:"online,omitempty"` // the server decides, with the member's password
	OpenUntil   time.Time   `json:"open_until,omitzero"`
	Positions   []uint64    `json:"positions"`
}

type doorAccessView struct {
	Lock      string        `json:"lock"`
	Door      string        `json:"door"`
	At        time.Time     `json:"at"`
	Position  uint64        `json:"position"` // the log prefix the answer read
	Head      uint64        `json:"head"`
	Openings  []openingView `json:"openings"`
	Passage   *passageView  `json:"passage"` // null: no passage schedule freed the door
	Positions []uint64      `json:"positions"`
}

// passageView is a passage schedule that freed the door to anyone, no key
// needed (asof.PassageOpening).
type passageView struct {
	Doors        []string      `json:"doors"`
	Since        time.Time     `json:"since"`
	Periods      []*policyJSON `json:"periods"` // OR-combined; null: at all times
	StillAtLock  bool          `json:"still_at_lock"`
	NotYetAtLock bool          `json:"not_yet_at_lock"`
	Position     uint64        `json:"position"` // the schedule's set event
	Positions    []uint64      `json:"positions"`
}

type intervalView struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	StillAtLock bool      `json:"still_at_lock,omitempty"`
	Online      bool      `json:"online,omitempty"`
}

type doorSpanView struct {
	Lock      string         `json:"lock"`
	Door      string         `json:"door"`
	Key       string         `json:"key"`
	Intervals []intervalView `json:"intervals"`
	Positions []uint64       `json:"positions"`
}

type accountAccessView struct {
	Account   string         `json:"account"`
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Position  uint64         `json:"position"`
	Head      uint64         `json:"head"`
	Doors     []doorSpanView `json:"doors"`
	Positions []uint64       `json:"positions"`
}

// lockAccess is GET /v1/locks/{lock}/access?door=main&at=T: who could open
// the door at T (default now), for the lock's owner.
func (s *server) lockAccess(r *http.Request) (int, any, error) {
	if s.asof == nil {
		return 0, nil, errNoAsOf
	}
	lock, err := s.ownLock(r)
	if err != nil {
		return 0, nil, err
	}
	door := access.MainDoor
	if v := r.URL.Query().Get("door"); v != "" {
		d, ok := unlockDoors[v]
		if !ok {
			return 0, nil, badField("door", "%q, want main or inner", v)
		}
		door = d
	}
	at, err := s.at(r)
	if err != nil {
		return 0, nil, err
	}
	ans, err := s.asof.WhoCouldOpen(r.Context(), lock, door, at)
	if err != nil {
		return 0, nil, asofErr(err)
	}
	v := doorAccessView{Lock: ans.Lock, Door: ans.Door.String(), At: ans.At, Position: ans.Position, Head: ans.Head,
		Openings: []openingView{}, Positions: ans.Positions}
	for _, o := range ans.Openings {
		v.Openings = append(v.Openings, openingView{Account: o.Account, Key: o.Key, Kind: o.Kind.String(), Doors: doorList(o.Doors),
			Policy: settingsOut(events.Settings{Policy: o.Policy}).Policy, Uses: o.Uses, Since: o.Since, State: o.State.String(),
			StillAtLock: o.StillAtLock, Online: o.Online, OpenUntil: o.OpenUntil, Positions: o.Positions})
	}
	if p := ans.Passage; p != nil {
		v.Passage = &passageView{Doors: doorList(p.Doors), Since: p.Since, Periods: []*policyJSON{}, StillAtLock: p.StillAtLock,
			NotYetAtLock: p.NotYetAtLock, Position: p.Position, Positions: p.Positions}
		for _, q := range p.Periods {
			v.Passage.Periods = append(v.Passage.Periods, settingsOut(events.Settings{Policy: q}).Policy)
		}
	}
	return http.StatusOK, v, nil
}

// accountAccess is GET /v1/accounts/{account}/access?from=T1&to=T2: every
// door the account could open in [T1, T2) (to defaults to now), for the
// account itself.
func (s *server) accountAccess(r *http.Request) (int, any, error) {
	if s.asof == nil {
		return 0, nil, errNoAsOf
	}
	account, err := s.ownAccount(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	if q.Get("from") == "" {
		return 0, nil, badField("from", "required: the range's start, RFC 3339")
	}
	from, err := time.Parse(time.RFC3339, q.Get("from"))
	if err != nil {
		return 0, nil, badField("from", "%q is not an RFC 3339 instant", q.Get("from"))
	}
	to := s.now()
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			return 0, nil, badField("to", "%q is not an RFC 3339 instant", v)
		}
	}
	ans, err := s.asof.CouldOpen(r.Context(), account, from, to)
	if err != nil {
		return 0, nil, asofErr(err)
	}
	v := accountAccessView{Account: ans.Account, From: ans.From, To: ans.To, Position: ans.Position, Head: ans.Head,
		Doors: []doorSpanView{}, Positions: ans.Positions}
	for _, d := range ans.Doors {
		dv := doorSpanView{Lock: d.Lock, Door: d.Door.String(), Key: d.Key, Positions: d.Positions}
		for _, iv := range d.Intervals {
			dv.Intervals = append(dv.Intervals, intervalView{From: iv.From, To: iv.To, StillAtLock: iv.StillAtLock, Online: iv.Online})
		}
		v.Doors = append(v.Doors, dv)
	}
	return http.StatusOK, v, nil
}

var errNoAsOf = &apiError{status: http.StatusNotImplemented, code: "not_configured", msg: "this server keeps no as-of index"}

// asofErr maps the as-of queries' bad input to API errors.
func asofErr(err error) error {
	var nf *asof.NotFoundError
	switch {
	case errors.As(err, &nf):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: nf.Error()}
	case errors.Is(err, asof.ErrRange):
		return &apiError{status: http.StatusBadRequest, code: "invalid_query", field: "to", msg: err.Error()}
	}
	return err
}
