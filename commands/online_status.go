package commands

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
)

// GroupStatus is what the owner sees of a lock group ("Online Key group
// status"): network management, online keys with their seats, and
// every account with its invitation state and permissions.
type GroupStatus struct {
	Lock, Owner, LockName string
	Network               NetworkStatus
	Keys                  []OnlineKeyStatus // by key ID
	Members               []MemberStatus    // by key, then account
}

// OnlineKeyStatus is one online key of the group.
type OnlineKeyStatus struct {
	Key, Name string
	Doors     access.Doors
	State     events.State
	Accounts  int // members and open invitations (at most MaxOnlineAccounts)
}

// MemberStatus is one account's place in the group at the query's instant.
// It never carries the password or its hash.
type MemberStatus struct {
	Account, Key string
	State        events.InvitationState
	Permissions  events.Permissions
	LockName     string // the member's own name for the lock
	InvitedBy    string
	Invited      time.Time
	Expires      time.Time // of a pending invitation
	Joined       time.Time
	LockedOut    bool // locked out after wrong passwords
	LockedUntil  time.Time
}

// GroupStatus reads a lock's group at instant at, straight from the log
// (read-your-writes: every command that returned is included). Expiries
// (network duration, invitations) are evaluated at at; they are recorded as
// events by the next command that meets them.
func (s *Service) GroupStatus(ctx context.Context, lock string, at time.Time) (GroupStatus, error) {
	if err := checkID("lock", lock); err != nil {
		return GroupStatus{}, err
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return GroupStatus{}, err
	}
	if !l.Exists() {
		return GroupStatus{}, &NotFoundError{What: "lock", ID: lock}
	}
	g, err := s.groupState(ctx, lock)
	if err != nil {
		return GroupStatus{}, err
	}
	out := GroupStatus{Lock: lock, Owner: l.Owner, LockName: l.Name,
		Network: NetworkStatus{Lock: lock, On: g.Network.ActiveAt(at)}}
	if out.Network.On {
		out.Network.Until = g.Network.Until
	}
	for key := range g.Keys {
		s.cache.stale(keyStream(key))
		ke, err := s.cache.get(ctx, s.store, keyStream(key), func() aggregate { return &KeyState{} })
		if err != nil {
			return GroupStatus{}, err
		}
		k := ke.state.(*KeyState)
		out.Keys = append(out.Keys, OnlineKeyStatus{Key: key, Name: k.Settings.Name, Doors: k.Settings.Doors,
			State: k.State, Accounts: g.seats(key, at)})
	}
	slices.SortFunc(out.Keys, func(a, b OnlineKeyStatus) int { return strings.Compare(a.Key, b.Key) })
	for _, m := range g.Members {
		ms := MemberStatus{Account: m.Account, Key: m.Key, State: m.StateAt(at), Permissions: m.Permissions,
			LockName: m.LockName, InvitedBy: m.InvitedBy, Invited: m.Invited, Joined: m.Joined,
			LockedOut: at.Before(m.LockedUntil)}
		if ms.State == events.InvitePending {
			ms.Expires = m.Expires
		}
		if ms.LockedOut {
			ms.LockedUntil = m.LockedUntil
		}
		out.Members = append(out.Members, ms)
	}
	slices.SortFunc(out.Members, func(a, b MemberStatus) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Account, b.Account)
	})
	return out, nil
}

// CanViewHistory says whether account by may read lock's history:
// the owner always; a member only while accepted and granted OpViewHistory.
// Queries live in projections, which know no callers, so an embedding
// backend asks this before projections.History for a lock. The answer is
// nil or an error:
// ErrNotPermitted naming account and lock, a *NotFoundError for an unknown
// lock, ErrInvalid for a bad ID.
func (s *Service) CanViewHistory(ctx context.Context, lock, by string) error {
	if err := checkID("lock", lock); err != nil {
		return err
	}
	if err := checkID("account", by); err != nil {
		return err
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return err
	}
	if !l.Exists() {
		return &NotFoundError{What: "lock", ID: lock}
	}
	if l.Owner == by {
		return nil
	}
	g, err := s.groupState(ctx, lock)
	if err != nil {
		return err
	}
	if m, ok := g.Members[by]; ok && m.StateAt(s.clock()) == events.InviteAccepted && m.Permissions.Ops&events.OpViewHistory != 0 {
		return nil
	}
	return notPermitted("%q may not view the history of lock %q", by, lock)
}
