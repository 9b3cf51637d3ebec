package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// MaxPassagePeriods bounds a lock's passage periods: as many as the lock
// holds (lockproto.MaxPassagePeriods), so the lock is given every one.
const MaxPassagePeriods = lockproto.MaxPassagePeriods

// SetPassageMode replaces a lock's passage schedule: during any of
// Periods the Doors are free, anyone may open them with no key. Each
// period is a policy restricted to validity (Start, End), weekly Windows
// and Blackouts (weekly or absolute), in the lock's zone (Zone empty or
// the lock's); Uses must be Unlimited, and Periods and AfterFirstUse
// unset (each passage period is one dated range). No Periods clears the schedule
// (Doors is then ignored). Only the lock's owner may.
type SetPassageMode struct {
	ID       uuid.UUID
	Lock, By string
	Doors    access.Doors
	Periods  []policy.Policy
}

// PassageResult is what SetPassageMode did.
type PassageResult struct {
	// Message is the signed admin message queued for the lock (pending
	// until its audit shows it applied; every download carries it); nil
	// without an issuer (Options.Issuer), and then only the online side
	// knows the schedule.
	Message []byte
	// Narrowed is non-nil when the lock's compact form of the periods
	// frees the doors for less time than the periods say (a
	// *policy.CompactError wrapping policy.ErrLossy naming what was lost),
	// as for a credential: the lock opens less, never more.
	Narrowed error
}

func (c *SetPassageMode) validate() error {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return err
	}
	if len(c.Periods) > MaxPassagePeriods {
		return invalid("periods", "%d, at most %d (what a lock holds)", len(c.Periods), MaxPassagePeriods)
	}
	if len(c.Periods) == 0 {
		c.Doors = 0
		return nil
	}
	if c.Doors == 0 || c.Doors&^allDoors != 0 {
		return invalid("doors", "%v: name the doors the periods free, of %v", c.Doors, allDoors)
	}
	for i, p := range c.Periods {
		if p.Uses != policy.Unlimited {
			return invalid(fmt.Sprintf("periods[%d].uses", i), "%+v: a passage period has no use limit", p.Uses)
		}
		if len(p.Periods) > 0 {
			return invalid(fmt.Sprintf("periods[%d].periods", i), "%d dated periods: a passage period has one (Start, End); give one passage period per range", len(p.Periods))
		}
		if p.AfterFirstUse != 0 {
			return invalid(fmt.Sprintf("periods[%d].after_first_use", i), "%v: a passage period has no first use", p.AfterFirstUse)
		}
		if err := p.Validate(); err != nil {
			return &ValidationError{Field: fmt.Sprintf("periods[%d]", i), Reason: err.Error(), Err: err}
		}
	}
	return nil
}

// SetPassageMode records the schedule (event lock.passage_set) and, with
// an issuer, queues the admin message lockproto.TypePassage for the lock
// in the same append. The periods' compact forms are taken at the time
// of the command (policy.CompactFrom): a period that no compact form can
// express safely (policy.ErrNotCompact: over, or never open) is refused
// with a *ValidationError; a lossy one is issued narrower and reported in
// Narrowed. Idempotent by command ID: a retry returns the same message.
func (s *Service) SetPassageMode(ctx context.Context, c SetPassageMode) (PassageResult, error) {
	if err := c.validate(); err != nil {
		return PassageResult{}, err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.PassageSet](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"doors", r.Doors == c.Doors},
			field{"periods", samePeriods(r.Periods, c.Periods)})
	}
	evs, err := s.execute(ctx, c.ID, same, func(t *txn) error {
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if err := ownerOf(l, c.Lock, c.By); err != nil {
			return err
		}
		if c.Doors&^l.Doors != 0 {
			return invalid("doors", "%v: lock %q has doors %v", c.Doors, c.Lock, l.Doors)
		}
		periods := make([]policy.Policy, len(c.Periods))
		for i, p := range c.Periods {
			if p.Zone != "" && p.Zone != l.Zone {
				return invalid(fmt.Sprintf("periods[%d].zone", i), "%q: passage periods are in the lock's zone %q", p.Zone, l.Zone)
			}
			p.Zone = l.Zone
			periods[i] = p
		}
		wire, narrowed, err := passageCompact(periods, c.Doors, t.now)
		if err != nil {
			return err
		}
		ev := events.PassageSet{Lock: c.Lock, By: c.By, Doors: c.Doors, Periods: periods}
		if narrowed != nil {
			ev.Narrowed = narrowed.(*policy.CompactError).What
		}
		t.emit(lockStream(c.Lock), ev)
		if s.issuer == nil {
			return nil
		}
		a := events.AdminIssued{Lock: c.Lock, Seq: l.nextAdminSeq(), Type: lockproto.TypePassage}
		if a.Seq == 0 {
			return invalid("admin sequence", "lock %q has used every sequence number", c.Lock)
		}
		if a.Message, err = s.issuer.Passage(LockUUID(c.Lock), a.Seq, wire); err != nil {
			return err
		}
		t.emit(lockStream(c.Lock), a)
		return nil
	})
	if err != nil {
		return PassageResult{}, err
	}
	var res PassageResult
	if p, ok := firstOf[events.PassageSet](evs); ok && p.Narrowed != "" {
		res.Narrowed = &policy.CompactError{What: p.Narrowed, Err: policy.ErrLossy}
	}
	if a, ok := firstOf[events.AdminIssued](evs); ok {
		res.Message = a.Message
	}
	return res, nil
}

// passageCompact is the lock's form of the periods, issued at now. The
// frame always fits a download's one-byte length (lockproto.PassageSize
// is at most 212); should a later layout not, periods are dropped from
// the end and the loss reported, as a narrower form.
func passageCompact(periods []policy.Policy, doors access.Doors, now time.Time) (p lockproto.Passage, narrowed, err error) {
	var lost []string
	for i := range periods {
		c, err := periods[i].CompactFrom(now)
		var ce *policy.CompactError
		switch {
		case errors.Is(err, policy.ErrLossy) && errors.As(err, &ce):
			lost = append(lost, fmt.Sprintf("period %d: %s", i, ce.What))
		case err != nil:
			return p, nil, &ValidationError{Field: fmt.Sprintf("periods[%d]", i), Reason: "the lock cannot hold it: " + err.Error(), Err: err}
		}
		p.Periods[i] = c
	}
	p.N, p.Doors = uint8(len(periods)), uint8(doors)
	for p.N > 0 && passageWindows(&p) > 255 {
		p.N--
		lost = append(lost, fmt.Sprintf("period %d: the frame is too long", p.N))
		p.Periods[p.N] = policy.Compact{}
	}
	if p.N == 0 {
		p.Doors = 0
	}
	if len(lost) > 0 {
		return p, &policy.CompactError{What: strings.Join(lost, "; "), Err: policy.ErrLossy}, nil
	}
	return p, nil, nil
}

// passageWindows is the size of p's admin frame.
func passageWindows(p *lockproto.Passage) int {
	w := 0
	for i := 0; i < int(p.N); i++ {
		w += int(p.Periods[i].NumWindows)
	}
	return lockproto.PassageSize(int(p.N), w)
}

// supersededPassage reports a passage message a later one replaced: the
// lock can no longer apply it, and issuing it again (with a higher
// sequence number) would put the older schedule back in force.
func (l *LockState) supersededPassage(p events.AdminIssued) bool {
	return p.Type == lockproto.TypePassage && p.Seq < l.passageSeq
}

func samePeriods(recorded, given []policy.Policy) bool {
	if len(recorded) != len(given) {
		return false
	}
	for i := range given {
		g := given[i]
		if g.Zone == "" {
			g.Zone = recorded[i].Zone // recorded in the lock's zone
		}
		if g.Zone != recorded[i].Zone || !samePolicy(recorded[i], g) {
			return false
		}
	}
	return true
}

// passage is a lock's passage schedule compiled, built on first use.
type passage struct {
	once      sync.Once
	set       events.PassageSet
	schedules []*policy.Schedule
}

func (p *passage) get() []*policy.Schedule {
	p.once.Do(func() {
		for _, q := range p.set.Periods {
			if s, err := policy.Compile(q); err == nil {
				p.schedules = append(p.schedules, s)
			}
		}
	})
	return p.schedules
}

// PassageStatus answers "is door D of the lock free at T" for apps ("door
// 1: free until 18:00").
type PassageStatus struct {
	Free bool
	// Until is, when Free, the first instant the door is no longer free,
	// to the minute (or the exact end of a period's validity or start of
	// an absolute blackout); zero when it stays free for the next
	// PassageHorizon.
	Until time.Time
	// Next is, when not Free, the next instant the door becomes free; zero
	// if no period opens again.
	Next time.Time
	// Doors and Periods are the schedule in force (none: Periods is nil).
	Doors   access.Doors
	Periods []policy.Policy
	// Narrowed: what the lock's compact form loses ("" = the lock frees
	// the doors exactly when the periods say).
	Narrowed string
}

// PassageHorizon bounds how far PassageAt looks for the end of a free
// stretch.
const PassageHorizon = 8 * 24 * time.Hour

// PassageAt reports whether door of the lock is free at at by its passage
// schedule as the ledger holds it (the lock follows once its admin
// message arrives). *NotFoundError for an unknown lock.
//
// Passage mode does not widen a key: online unlocks (UnlockOnline,
// Unlock, UnlockByPIN) still decide a key by its own rules; this is the
// lock's state ("free"), for anyone at the door.
func (s *Service) PassageAt(ctx context.Context, lock string, door access.Door, at time.Time) (PassageStatus, error) {
	if err := checkID("lock", lock); err != nil {
		return PassageStatus{}, err
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return PassageStatus{}, err
	}
	if !l.Exists() {
		return PassageStatus{}, &NotFoundError{What: "lock", ID: lock}
	}
	if door >= access.MaxDoors {
		return PassageStatus{}, invalid("door", "%d, want 0..%d", door, access.MaxDoors-1)
	}
	st := PassageStatus{Doors: l.Passage.Doors, Periods: clonePeriods(l.Passage.Periods), Narrowed: l.Passage.Narrowed}
	if !l.Passage.Doors.Has(door) || l.passage == nil {
		return st, nil
	}
	ss := l.passage.get()
	if st.Free = freeAt(ss, at); st.Free {
		st.Until = freeUntil(ss, at, PassageHorizon)
		return st, nil
	}
	for _, sc := range ss {
		if n, ok := sc.NextOpen(at, 0); ok && (st.Next.IsZero() || n.Before(st.Next)) {
			st.Next = n
		}
	}
	return st, nil
}

// clonePeriods copies periods deeply: the state they come from is shared.
func clonePeriods(ps []policy.Policy) []policy.Policy {
	if ps == nil {
		return nil
	}
	out := make([]policy.Policy, len(ps))
	for i, p := range ps {
		p.Windows, p.Blackouts = slices.Clone(p.Windows), slices.Clone(p.Blackouts)
		out[i] = p
	}
	return out
}

func freeAt(ss []*policy.Schedule, at time.Time) bool {
	for _, sc := range ss {
		if sc.Allowed(at, 0) == access.Granted {
			return true
		}
	}
	return false
}

// freeUntil is the first instant in (at, at+horizon] at which no schedule
// of ss frees the door, or zero. Weekly rules change on minute boundaries
// of the lock's zone; validity ends and absolute blackout starts may fall
// between them and are checked exactly.
func freeUntil(ss []*policy.Schedule, at time.Time, horizon time.Duration) time.Time {
	limit := at.Add(horizon)
	var edges []time.Time
	for _, sc := range ss {
		p := sc.Policy()
		if !p.End.IsZero() {
			edges = append(edges, p.End)
		}
		for _, b := range p.Blackouts {
			if b.Days == 0 {
				edges = append(edges, b.Start)
			}
		}
	}
	edges = slices.DeleteFunc(edges, func(e time.Time) bool { return !e.After(at) || e.After(limit) })
	slices.SortFunc(edges, func(a, b time.Time) int { return a.Compare(b) })
	for m := at.Truncate(time.Minute).Add(time.Minute); !m.After(limit); m = m.Add(time.Minute) {
		for len(edges) > 0 && edges[0].Before(m) {
			if !freeAt(ss, edges[0]) {
				return edges[0]
			}
			edges = edges[1:]
		}
		if !freeAt(ss, m) {
			return m
		}
	}
	return time.Time{}
}
