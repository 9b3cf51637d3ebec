package asof

import (
	"maps"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
)

// groupVersion is a lock group (the stream "group-<lock>") as of a
// position: network management and the members of its online keys.
type groupVersion struct {
	pos     uint64
	time    time.Time
	net     netState
	members map[string]member // by account; copied on every change
}

func groupPos(v *groupVersion) uint64 { return v.pos }

type netState struct {
	on    bool
	until time.Time
	at    uint64 // the NetworkManagementOn
	since time.Time
}

// member is an account's place in a lock group, with the positions (and
// times) of the events that put it there.
type member struct {
	key         string
	state       events.InvitationState
	perms       events.Permissions
	lockedUntil time.Time
	invitedAt   uint64
	acceptedAt  uint64
	acceptedT   time.Time
	permsAt     uint64 // the last MemberPermissionsSet (0: as invited)
	permsT      time.Time
	lockoutAt   uint64 // the PasswordRejected that set lockedUntil
}

// groupAt returns the lock's group as of pos (nil: none yet).
func (l *lockHistory) groupAt(pos uint64) *groupVersion {
	if i := lastAt(l.groups, pos, groupPos); i >= 0 {
		return &l.groups[i]
	}
	return nil
}

// applyGroup folds an event of a group stream, as commands' GroupState
// does; a granted online unlock's use count goes to its key.
func (x *Index) applyGroup(ev *ledger.Event) {
	var lock string
	switch e := ev.Data.(type) {
	case events.NetworkManagementOn:
		lock = e.Lock
	case events.NetworkManagementOff:
		lock = e.Lock
	case events.MemberInvited:
		lock = e.Lock
	case events.InvitationAccepted:
		lock = e.Lock
	case events.InvitationDeclined:
		lock = e.Lock
	case events.InvitationWithdrawn:
		lock = e.Lock
	case events.InvitationExpired:
		lock = e.Lock
	case events.MemberPermissionsSet:
		lock = e.Lock
	case events.MemberRemoved:
		lock = e.Lock
	case events.PasswordRejected:
		lock = e.Lock
	case events.UnlockAttempted:
		if h := x.keys["key-"+e.Key]; h != nil && h.lock == e.Lock {
			h.used(ev, e.Uses, e.Granted, ev.Time)
		}
		return
	default:
		return // changes nothing an answer reads
	}
	l := x.locks[lock]
	if l == nil {
		return
	}
	g := groupVersion{pos: ev.Position, time: ev.Time, members: map[string]member{}}
	if n := len(l.groups); n > 0 {
		g.net, g.members = l.groups[n-1].net, maps.Clone(l.groups[n-1].members)
	}
	upd := func(account string, f func(m *member)) {
		m := g.members[account]
		f(&m)
		g.members[account] = m
	}
	switch e := ev.Data.(type) {
	case events.NetworkManagementOn:
		g.net = netState{on: true, until: e.Until, at: ev.Position, since: ev.Time}
	case events.NetworkManagementOff:
		g.net = netState{}
	case events.MemberInvited:
		g.members[e.Account] = member{key: e.Key, state: events.InvitePending, perms: e.Permissions, invitedAt: ev.Position}
		if h := x.keys["key-"+e.Key]; h != nil && h.lock == lock {
			x.openedBy(h, e.Account)
		}
	case events.InvitationAccepted:
		upd(e.Account, func(m *member) { m.state, m.acceptedAt, m.acceptedT = events.InviteAccepted, ev.Position, ev.Time })
	case events.InvitationDeclined:
		upd(e.Account, func(m *member) { m.state = events.InviteDeclined })
	case events.InvitationWithdrawn:
		upd(e.Account, func(m *member) { m.state = events.InviteWithdrawn })
	case events.InvitationExpired:
		upd(e.Account, func(m *member) { m.state = events.InviteExpired })
	case events.MemberPermissionsSet:
		upd(e.Account, func(m *member) { m.perms, m.permsAt, m.permsT = e.Permissions, ev.Position, ev.Time })
	case events.MemberRemoved:
		upd(e.Account, func(m *member) { m.state, m.lockedUntil, m.lockoutAt = events.InviteRemoved, time.Time{}, 0 })
	case events.PasswordRejected:
		if !e.LockedUntil.IsZero() {
			upd(e.Account, func(m *member) { m.lockedUntil, m.lockoutAt = e.LockedUntil, ev.Position })
		}
	}
	l.groups = append(l.groups, g)
}

// onlineDoors are the doors an online unlock may name.
const onlineDoors = access.Main | access.Inner

// onlineStanding returns the doors account could open with online key k
// through group g, and the instants [from, until) its membership and the
// network allow that in (zero until: no end); ok false: none.
func onlineStanding(k *keyState, g *groupVersion, l *lockHistory, keyID, account string) (doors access.Doors, from, until time.Time, ok bool) {
	if g == nil || !g.net.on || k.state == events.StateDeleted || k.state == events.StateRevoked || k.suspended {
		return 0, from, until, false
	}
	m, found := g.members[account]
	if !found || m.key != keyID || m.state != events.InviteAccepted || m.perms.Ops&events.OpUnlock == 0 {
		return 0, from, until, false
	}
	doors = k.settings.Doors & m.perms.Doors & l.doors & onlineDoors
	return doors, m.lockedUntil, g.net.until, doors != 0
}

// onlineOpenings appends, for online key h in state k, the accounts that
// could open door at instant at through group g.
func (x *Index) onlineOpenings(dst []Opening, h *keyHistory, k *keyState, g *groupVersion, l *lockHistory, door access.Door, at time.Time,
	uses uint32, usesAt uint64, blackouts []policy.Blackout, blackoutsAt uint64) []Opening {
	if g == nil {
		return dst
	}
	for account, m := range g.members {
		doors, from, until, ok := onlineStanding(k, g, l, h.id, account)
		if !ok || !doors.Has(door) || at.Before(from) || !at.Before(until) ||
			h.schedule(k, blackouts, blackoutsAt, usesAt).Allowed(at, uses) != access.Granted {
			continue
		}
		since := maxTime(maxTime(m.acceptedT, m.permsT), maxTime(g.net.since, from))
		if k.editAt != 0 {
			since = maxTime(since, k.editTime)
		}
		if s := k.settings.Policy.Start; s.After(since) {
			since = s
		}
		o := Opening{Account: account, Key: h.id, Kind: k.kind, Doors: k.settings.Doors, Policy: k.settings.Policy, Uses: uses,
			Since: since, State: k.state, Online: true}
		o.Positions = sortedUnique(m.positions(k.positions(nil, l, blackoutsAt, usesAt, false), g))
		dst = append(dst, o)
	}
	return dst
}

// positions appends the positions an online answer rests on beyond the
// key's: network management's start, the invitation, its acceptance, the
// permissions and the lockout that ended.
func (m *member) positions(dst []uint64, g *groupVersion) []uint64 {
	return append(dst, g.net.at, m.invitedAt, m.acceptedAt, m.permsAt, m.lockoutAt)
}

// openedBy indexes the key under an account.
func (x *Index) openedBy(h *keyHistory, account string) {
	for _, o := range h.openers {
		if o == account {
			return
		}
	}
	h.openers = append(h.openers, account)
	x.accounts[account] = append(x.accounts[account], h)
}
