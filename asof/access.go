package asof

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// Opening is one way a door could be opened at an instant: an account,
// through a key, under a schedule, since an instant.
type Opening struct {
	Account    string // the key's holder, or the account it was delivered or shared to by ID
	Key        string
	Kind       events.Kind
	Credential events.Credential
	Doors      access.Doors  // every door the key names
	Policy     policy.Policy // the key's own schedule (the lock's blackouts apply too: DoorAnswer.LockBlackouts)
	Uses       uint32        // granted uses recorded by then
	// Since is when the key began to open under this grant and schedule:
	// its delivery or download, its last edit, or its policy's start,
	// whichever is latest. It says nothing of the windows in between.
	Since time.Time
	State events.State    // the key's lifecycle state then
	Sync  events.LockSync // where its credential stood at the lock then
	// StillAtLock: the key had been taken away (reset, revoked,
	// deactivated or deleted) but its lock had not applied the removal, so
	// its credential still opened there; until OpenUntil, its own end
	// (zero: until the lock applies the removal).
	StillAtLock bool
	OpenUntil   time.Time
	// Online: an online key, opened through the lock group's online
	// unlock; Account is a member of its group, and the server decides at
	// each unlock, with the member's password. Since then also counts the
	// member's acceptance, permissions and network management's start.
	Online bool
	// Positions are the log positions of the events the answer rests on,
	// ascending: the lock's registration, the key's creation, the event
	// that gave it to the account, its last edit, the lock's blackouts,
	// its last use count (limited keys) and, still at the lock, its
	// taking away and where its credential last stood.
	Positions []uint64
}

// DoorAnswer is who could open a door of a lock at an instant.
type DoorAnswer struct {
	Lock string
	Door access.Door
	At   time.Time
	// Position is the log prefix the answer read: every event up to it
	// (PositionAt(At)); Head the log head when it was read.
	Position, Head uint64
	// LockBlackouts are the lock-wide blackouts then (they apply to every
	// key, on top of its policy).
	LockBlackouts []policy.Blackout
	// Openings: every key that could open the door at At, by account,
	// then key.
	Openings []Opening
	// Positions is every position the openings cite, and the lock's
	// registration, ascending.
	Positions []uint64
	// Passage is set when a passage schedule of the lock freed the door at
	// At: anyone could open it, no key needed (its positions are in
	// Positions). The lock's applied schedule answers first, else the
	// latest set (see the package documentation). It is no key, so it is not an Opening, and CouldOpen
	// (an account's doors) never includes it.
	Passage *PassageOpening
}

// WhoCouldOpen answers who could open door of lock at instant at, through
// which key, under which schedule and since when, from the events of the
// log recorded up to at (see the package documentation for what "could
// open" means). at may be in the future: the log as it stands now then
// answers, with the schedules evaluated at at. It first waits for the
// index to apply the log's durable head.
//
// Errors: *NotFoundError (ErrNotFound) for a lock not in the log or a door
// it does not have; ErrClosed; the log's errors.
func (x *Index) WhoCouldOpen(ctx context.Context, lock string, door access.Door, at time.Time) (DoorAnswer, error) {
	ans := DoorAnswer{Lock: lock, Door: door, At: at}
	if err := x.atHead(ctx); err != nil {
		return ans, err
	}
	defer x.mu.RUnlock()
	ans.Head = x.applied
	l := x.locks[lock]
	if l == nil {
		return ans, &NotFoundError{What: "lock", ID: lock}
	}
	if !l.doors.Has(door) {
		return ans, &NotFoundError{What: "door", ID: door.String(), Lock: lock}
	}
	pos := x.positionAt(at)
	ans.Position = pos
	if l.registered > pos { // registered after at: nobody could open it
		ans.Positions = []uint64{l.registered}
		return ans, nil
	}
	blackouts, blackoutsAt := l.blackoutsAt(pos)
	ans.LockBlackouts = blackouts
	n := sort.Search(len(l.keys), func(i int) bool { return l.keys[i].created() > pos })
	ans.Openings = make([]Opening, 0, n)
	ans.Positions = make([]uint64, 1, 1+5*n)
	ans.Positions[0] = l.registered
	g := l.groupAt(pos)
	for _, h := range l.keys[:n] {
		k, uses, usesAt := h.at(pos)
		if !k.settings.Doors.Has(door) {
			continue
		}
		if k.kind == events.KindOnline {
			from := len(ans.Openings)
			ans.Openings = x.onlineOpenings(ans.Openings, h, k, g, l, door, at, uses, usesAt, blackouts, blackoutsAt)
			for _, o := range ans.Openings[from:] {
				ans.Positions = append(ans.Positions, o.Positions...)
			}
			continue
		}
		ok, still := k.standing(at)
		if !ok || h.schedule(k, blackouts, blackoutsAt, usesAt).Allowed(at, uses) != access.Granted {
			continue
		}
		o := Opening{Account: k.opener(), Key: h.id, Kind: k.kind, Credential: k.credential,
			Doors: k.settings.Doors, Policy: k.settings.Policy, Uses: uses, Since: k.since(),
			State: k.state, Sync: k.atLock.Sync, StillAtLock: still}
		if still {
			o.OpenUntil = k.atLock.Until
		}
		o.Positions = sortedUnique(k.positions(nil, l, blackoutsAt, usesAt, still))
		ans.Positions = append(ans.Positions, o.Positions...)
		ans.Openings = append(ans.Openings, o)
	}
	if ans.Passage = l.passageAt(pos, door, at); ans.Passage != nil {
		ans.Positions = append(ans.Positions, ans.Passage.Positions...)
	}
	sortOpenings(ans.Openings)
	ans.Positions = sortedUnique(ans.Positions)
	return ans, nil
}

// sortOpenings sorts by account, then key, moving each (large) opening
// once: it sorts their indexes.
func sortOpenings(ops []Opening) {
	idx := make([]int32, len(ops))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		return cmp.Or(cmp.Compare(ops[a].Account, ops[b].Account), cmp.Compare(ops[a].Key, ops[b].Key))
	})
	sorted := make([]Opening, len(ops))
	for i, j := range idx {
		sorted[i] = ops[j]
	}
	copy(ops, sorted)
}
