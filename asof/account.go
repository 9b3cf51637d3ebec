package asof

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// Interval is the instants [From, To).
type Interval struct {
	From, To time.Time
	// StillAtLock: the key had been taken away and opened only because
	// its lock had not applied the removal (Opening.StillAtLock).
	StillAtLock bool
	// Online: through an online key (Opening.Online).
	Online bool
}

// DoorSpan is a door an account could open, through one key, during a
// range: the intervals within it, ascending, disjoint and maximal (two
// touch only where StillAtLock changes).
type DoorSpan struct {
	Lock      string
	Door      access.Door
	Key       string
	Intervals []Interval
	// Positions are the events the intervals rest on, ascending (as in
	// Opening.Positions, for each stretch of the key's history the
	// intervals cover).
	Positions []uint64
}

// AccountAnswer is every door an account could open during [From, To).
type AccountAnswer struct {
	Account  string
	From, To time.Time
	// Position is the log prefix read (PositionAt(To)); Head the log head.
	Position, Head uint64
	Doors          []DoorSpan // by lock, door, then key
	Positions      []uint64   // every position cited, ascending
}

// MaxRange is the longest range CouldOpen answers. Intervals are found by
// walking the range, so the cost (and the time the index is held for
// reading, which delays following the log) grows with its length.
const MaxRange = 366 * 24 * time.Hour

// CouldOpen answers every door account could open during [from, to), as
// intervals, from the events of the log recorded up to to: at every
// instant t of an interval, WhoCouldOpen(lock, door, t) names the account
// through the span's key, and at no other instant of the range. It first
// waits for the index to apply the log's durable head.
//
// Errors: *RangeError (ErrRange) when to is before from or the range is
// longer than MaxRange; the context's error between keys; *NotFoundError
// (ErrNotFound) for an account neither registered nor ever given a key;
// ErrClosed; the log's errors.
func (x *Index) CouldOpen(ctx context.Context, account string, from, to time.Time) (AccountAnswer, error) {
	ans := AccountAnswer{Account: account, From: from, To: to}
	if to.Before(from) {
		return ans, &RangeError{From: from, To: to}
	}
	if to.Sub(from) > MaxRange {
		return ans, &RangeError{From: from, To: to, Max: MaxRange}
	}
	if err := x.atHead(ctx); err != nil {
		return ans, err
	}
	keys := x.accounts[account]
	ans.Head = x.applied
	pos := x.positionAt(to)
	ans.Position = pos
	spans := map[spanKey]*DoorSpan{}
	for _, h := range keys {
		if err := ctx.Err(); err != nil {
			x.mu.RUnlock()
			return ans, err
		}
		x.spansOf(h, account, pos, from, to, spans)
	}
	x.mu.RUnlock()
	if len(keys) == 0 {
		v, err := x.store.StreamVersion(ctx, "account-"+account)
		if err != nil {
			return ans, err
		}
		if v == 0 {
			return ans, &NotFoundError{What: "account", ID: account}
		}
	}
	for _, s := range spans {
		s.Positions = sortedUnique(s.Positions)
		ans.Positions = append(ans.Positions, s.Positions...)
		ans.Doors = append(ans.Doors, *s)
	}
	slices.SortFunc(ans.Doors, func(a, b DoorSpan) int {
		return cmp.Or(cmp.Compare(a.Lock, b.Lock), cmp.Compare(a.Door, b.Door), cmp.Compare(a.Key, b.Key))
	})
	ans.Positions = sortedUnique(ans.Positions)
	return ans, nil
}

type spanKey struct {
	lock, key string
	door      access.Door
}

// spansOf walks the key's history up to pos — its versions, use counts
// and its lock's blackouts, in log order — and adds, for each stretch of
// constant state, the intervals of [from, to) in which account could open
// with it. Read lock held.
func (x *Index) spansOf(h *keyHistory, account string, pos uint64, from, to time.Time, spans map[spanKey]*DoorSpan) {
	created := h.created()
	if created > pos {
		return
	}
	l := x.locks[h.lock]
	k, uses, usesAt := h.at(created)
	blackouts, blackoutsAt := l.blackoutsAt(created)
	g := l.groupAt(created)
	start := h.versions[0].time
	stretch := func(end time.Time) {
		a, b := maxTime(start, from), minTime(end, to)
		start = maxTime(start, end)
		switch {
		case !a.Before(b):
		case k.kind == events.KindOnline:
			h.onlineSpans(k, g, l, account, uses, usesAt, blackouts, blackoutsAt, a, b, spans)
		case k.opener() == account:
			h.spans(k, l, uses, usesAt, blackouts, blackoutsAt, a, b, spans)
		}
	}
	vi, ui, bi, gi := 1, lastAt(h.uses, created, usesPos)+1, lastAt(l.blackouts, created, blackoutPos)+1, lastAt(l.groups, created, groupPos)+1
	if k.kind != events.KindOnline {
		gi = len(l.groups) // their changes change nothing for the key
	}
	for {
		next, t := pos+1, time.Time{}
		if gi < len(l.groups) && l.groups[gi].pos < next {
			next, t = l.groups[gi].pos, l.groups[gi].time
		}
		if vi < len(h.versions) && h.versions[vi].pos < next {
			next, t = h.versions[vi].pos, h.versions[vi].time
		}
		if ui < len(h.uses) && h.uses[ui].pos < next {
			next, t = h.uses[ui].pos, h.uses[ui].time
		}
		if bi < len(l.blackouts) && l.blackouts[bi].pos < next {
			next, t = l.blackouts[bi].pos, l.blackouts[bi].time
		}
		if next > pos {
			break
		}
		stretch(t)
		switch {
		case vi < len(h.versions) && h.versions[vi].pos == next:
			k = &h.versions[vi].k
			vi++
		case ui < len(h.uses) && h.uses[ui].pos == next:
			uses, usesAt = h.uses[ui].uses, next
			ui++
		case gi < len(l.groups) && l.groups[gi].pos == next:
			g = &l.groups[gi]
			gi++
		default:
			blackouts, blackoutsAt = l.blackouts[bi].blackouts, next
			bi++
		}
	}
	stretch(to)
}

// spans adds the intervals of [a, b) during which the key, in state k,
// opened its doors, to the spans of its doors.
func (h *keyHistory) spans(k *keyState, l *lockHistory, uses uint32, usesAt uint64, blackouts []policy.Blackout, blackoutsAt uint64,
	a, b time.Time, spans map[spanKey]*DoorSpan) {
	doors := k.settings.Doors & l.doors
	still := !k.usable()
	suspended := still && k.suspendedAtLock(a) // the lock has not applied the suspension
	if doors == 0 || still && !suspended && (k.takenAt == 0 || !k.atLock.RemovalPending(k.state)) {
		return
	}
	if u := k.atLock.Until; still && !u.IsZero() {
		b = minTime(b, u)
	}
	var ivs []Interval
	for iv := range openIntervals(h.schedule(k, blackouts, blackoutsAt, usesAt), uses, a, b) {
		iv.StillAtLock = still
		ivs = append(ivs, iv)
	}
	addSpans(spans, l.id, h.id, doors, ivs, func(pos []uint64) []uint64 {
		return k.positions(pos, l, blackoutsAt, usesAt, still)
	})
}

// onlineSpans adds the intervals of [a, b) during which account, a
// member of online key k's group g, could open its doors online.
func (h *keyHistory) onlineSpans(k *keyState, g *groupVersion, l *lockHistory, account string, uses uint32, usesAt uint64,
	blackouts []policy.Blackout, blackoutsAt uint64, a, b time.Time, spans map[spanKey]*DoorSpan) {
	doors, from, until, ok := onlineStanding(k, g, l, h.id, account)
	if !ok {
		return
	}
	a, b = maxTime(a, from), minTime(b, until)
	var ivs []Interval
	for iv := range openIntervals(h.schedule(k, blackouts, blackoutsAt, usesAt), uses, a, b) {
		iv.Online = true
		ivs = append(ivs, iv)
	}
	m := g.members[account]
	addSpans(spans, l.id, h.id, doors, ivs, func(pos []uint64) []uint64 {
		return m.positions(k.positions(pos, l, blackoutsAt, usesAt, false), g)
	})
}

// addSpans adds the intervals ivs (none: nothing) of key at lock to the
// span of each of doors; cite adds the positions the span rests on.
func addSpans(spans map[spanKey]*DoorSpan, lock, key string, doors access.Doors, ivs []Interval, cite func([]uint64) []uint64) {
	if len(ivs) == 0 {
		return
	}
	for d := access.Door(0); d < access.MaxDoors; d++ {
		if !doors.Has(d) {
			continue
		}
		sk := spanKey{lock: lock, key: key, door: d}
		s := spans[sk]
		if s == nil {
			s = &DoorSpan{Lock: lock, Door: d, Key: key}
			spans[sk] = s
		}
		for _, iv := range ivs {
			s.Intervals = appendInterval(s.Intervals, iv)
		}
		s.Positions = cite(s.Positions)
	}
}

// appendInterval appends iv, merged with the last interval when they
// touch and agree.
func appendInterval(ivs []Interval, iv Interval) []Interval {
	if n := len(ivs); n > 0 && ivs[n-1].To.Equal(iv.From) && ivs[n-1].StillAtLock == iv.StillAtLock && ivs[n-1].Online == iv.Online {
		ivs[n-1].To = iv.To
		return ivs
	}
	return append(ivs, iv)
}

// openIntervals yields the maximal intervals of [a, b) during which s
// grants with uses so far: it jumps over closed stretches with NextOpen
// and walks open ones from edge to edge (wall-clock minutes, and the
// policy's absolute instants), where Allowed can change.
func openIntervals(s *policy.Schedule, uses uint32, a, b time.Time) func(func(Interval) bool) {
	return func(yield func(Interval) bool) {
		if s == nil {
			return
		}
		p := s.Policy()
		loc := s.Location()
		t := a
		for t.Before(b) {
			if s.Allowed(t, uses) != access.Granted {
				n, ok := s.NextOpen(t, uses)
				if !ok || !n.Before(b) {
					return
				}
				if !n.After(t) { // never expected: Allowed and NextOpen disagree
					n = nextEdge(t, &p, loc)
				}
				t = n
				continue
			}
			start := t
			for t.Before(b) && s.Allowed(t, uses) == access.Granted {
				t = nextEdge(t, &p, loc)
			}
			if !yield(Interval{From: start, To: minTime(t, b)}) {
				return
			}
		}
	}
}

// nextEdge is the first instant after t at which a schedule's decision
// can change: the next wall-clock minute in loc or an absolute instant of
// p (its start, end, a dated period's or a blackout's), whichever comes
// first.
func nextEdge(t time.Time, p *policy.Policy, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	u := t.Unix()
	next := time.Unix(u-((u+int64(off))%60+60)%60+60, 0)
	edge := func(e time.Time) {
		if !e.IsZero() && e.After(t) && e.Before(next) {
			next = e
		}
	}
	edge(p.Start)
	edge(p.End)
	for i := range p.Periods {
		edge(p.Periods[i].Start)
		edge(p.Periods[i].End)
	}
	for i := range p.Blackouts {
		if p.Blackouts[i].Days == 0 {
			edge(p.Blackouts[i].Start)
			edge(p.Blackouts[i].End)
		}
	}
	return next
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
