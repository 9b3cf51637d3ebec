package commands

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// Online keys and lock groups: network management, invitations, members with
// passwords, per-member permissions and online unlocks.
//
// An online key is a key of the one key model: CreateKey, EditKey and
// DeleteKey with KindOnline (KeyCreated on "key-<id>", so key lists and key
// history show it; its row of the rules table adds the group's record).
// Everything about who may use it lives in the lock's group stream
// "group-<lock>": network management
// (the sealed master code), the lock's online keys, invitations, members with
// their sealed password hashes, permissions, password lockouts and the online
// unlock attempts. One stream per lock makes the 5-account bound, the lockout
// counter and every unlock decision exact under concurrency: each decision
// appends to the stream it read, with its expected version.

// Online-key rules.
const (
	// MaxOnlineAccounts is how many accounts one online key may be assigned
	// to; pending invitations hold a seat until they end.
	MaxOnlineAccounts = 5
	// MaxPasswordFailures consecutive wrong passwords lock a member out.
	MaxPasswordFailures = 5
	// LockoutDuration is how long a member stays locked out.
	LockoutDuration = 15 * time.Minute
	// DefaultInvitationTTL is how long an invitation stays open by default.
	DefaultInvitationTTL = 7 * 24 * time.Hour
	// MaxNetworkDuration bounds the operating duration of network management.
	MaxNetworkDuration = 5 * 366 * 24 * time.Hour
	// MinPasswordLen is the shortest personal password accepted (bytes).
	MinPasswordLen = 8
)

// Errors of online keys and groups (with ErrForbidden, ErrNotFound,
// ErrNotPermitted, ErrInvalid from errors.go).
var (
	// ErrGroupFull means the online key already has MaxOnlineAccounts accounts
	// (members and open invitations); see GroupFullError.
	ErrGroupFull = errors.New("commands: online key already assigned to the maximum number of accounts")
	// ErrNetworkOff means network management of the lock is off (or its
	// operating duration ended), so online keys cannot be made or used.
	ErrNetworkOff = errors.New("commands: network management is off")
)

// GroupFullError names the online key and the bound.
type GroupFullError struct {
	Key string
	Max int
}

func (e *GroupFullError) Error() string {
	return fmt.Sprintf("commands: online key %q is already assigned to %d accounts (the maximum)", e.Key, e.Max)
}

// Unwrap makes errors.Is(err, ErrGroupFull) true.
func (e *GroupFullError) Unwrap() error { return ErrGroupFull }

// InvitationError reports an invitation action its state forbids (accepting
// twice, accepting after withdrawal or expiry, …) and names the state.
type InvitationError struct {
	Lock, Account string
	State         events.InvitationState
	Action        string // "accept", "decline", "withdraw", "remove", …
}

func (e *InvitationError) Error() string {
	return fmt.Sprintf("commands: cannot %s the invitation of %q to the group of lock %q: it is %s", e.Action, e.Account, e.Lock, e.State)
}

// Unwrap makes errors.Is(err, ErrForbidden) true.
func (e *InvitationError) Unwrap() error { return ErrForbidden }

const (
	allOps = events.OpUnlock | events.OpViewHistory | events.OpManage
)

func groupStream(lock string) string { return "group-" + lock }

// Events of the group stream "group-<lock>".

// Member is one account's place in a lock group.
type Member struct {
	Account, Key string
	State        events.InvitationState
	InvitedBy    string
	Invited      time.Time
	Expires      time.Time
	Joined       time.Time
	Permissions  events.Permissions
	LockName     string
	Password     secret.Sealed // sealed argon2id hash (accepted members)
	Failures     uint32
	LockedUntil  time.Time
}

// StateAt is the member's invitation state at an instant (a pending
// invitation past its expiry reads as expired).
func (m Member) StateAt(at time.Time) events.InvitationState {
	if m.State == events.InvitePending && !at.Before(m.Expires) {
		return events.InviteExpired
	}
	return m.State
}

// holdsSeat reports whether the account counts toward its key's bound at.
func (m Member) holdsSeat(at time.Time) bool {
	s := m.StateAt(at)
	return s == events.InvitePending || s == events.InviteAccepted
}

// NetworkState is the lock's network management.
type NetworkState struct {
	On         bool
	By         string
	Since      time.Time
	Until      time.Time
	MasterCode secret.Sealed
}

// ActiveAt reports whether network management is on at an instant (its
// operating duration not yet over).
func (n NetworkState) ActiveAt(at time.Time) bool { return n.On && at.Before(n.Until) }

// GroupState is the fold of a group stream.
type GroupState struct {
	Lock    string
	Network NetworkState
	Keys    map[string]bool   // online keys of the lock
	Members map[string]Member // by account; never changed in place
	Uses    map[string]uint32 // granted online unlocks per key
	// FirstUsed is each online key's earliest granted online unlock: they
	// are recorded here, not on the key's stream (KeyState.FirstUsedAt).
	// It is replaced, never changed in place: clones share it.
	FirstUsed map[string]time.Time
}

func (g *GroupState) evolve(ev ledger.Event) {
	upd := func(account string, f func(m *Member)) {
		m := g.Members[account]
		f(&m)
		if g.Members == nil {
			g.Members = map[string]Member{}
		}
		g.Members[account] = m
	}
	switch e := ev.Data.(type) {
	case events.NetworkManagementOn:
		g.Lock = e.Lock
		g.Network = NetworkState{On: true, By: e.By, Since: ev.Time, Until: e.Until, MasterCode: e.MasterCode}
	case events.NetworkManagementOff:
		g.Lock = e.Lock
		g.Network = NetworkState{}
	case events.OnlineKeyAdded:
		g.Lock = e.Lock
		if g.Keys == nil {
			g.Keys = map[string]bool{}
		}
		g.Keys[e.Key] = true
	case events.MemberInvited:
		upd(e.Account, func(m *Member) {
			*m = Member{Account: e.Account, Key: e.Key, State: events.InvitePending, InvitedBy: e.By,
				Invited: ev.Time, Expires: e.Expires, Permissions: e.Permissions}
		})
	case events.InvitationAccepted:
		upd(e.Account, func(m *Member) {
			m.State, m.Joined, m.LockName, m.Password = events.InviteAccepted, ev.Time, e.LockName, e.Password
		})
	case events.InvitationDeclined:
		upd(e.Account, func(m *Member) { m.State = events.InviteDeclined })
	case events.InvitationWithdrawn:
		upd(e.Account, func(m *Member) { m.State = events.InviteWithdrawn })
	case events.InvitationExpired:
		upd(e.Account, func(m *Member) { m.State = events.InviteExpired })
	case events.MemberPermissionsSet:
		upd(e.Account, func(m *Member) { m.Permissions = e.Permissions })
	case events.MemberRemoved:
		upd(e.Account, func(m *Member) {
			m.State, m.Password, m.Failures, m.LockedUntil = events.InviteRemoved, nil, 0, time.Time{}
		})
	case events.PasswordRejected:
		upd(e.Account, func(m *Member) {
			m.Failures = e.Failures
			if !e.LockedUntil.IsZero() {
				m.LockedUntil, m.Failures = e.LockedUntil, 0
			}
		})
	case events.PasswordFailuresCleared:
		upd(e.Account, func(m *Member) { m.Failures = 0 })
	case events.MemberPasswordSet:
		upd(e.Account, func(m *Member) { m.Password = e.Password })
	case events.OnlineKeyRemoved:
		delete(g.Keys, e.Key)
	case events.UnlockAttempted:
		if e.Granted {
			if g.Uses == nil {
				g.Uses = map[string]uint32{}
			}
			g.Uses[e.Key] = e.Uses
			if at, ok := g.FirstUsed[e.Key]; !ok || ev.Time.Before(at) {
				m := make(map[string]time.Time, len(g.FirstUsed)+1) // copied on write: clones share it
				maps.Copy(m, g.FirstUsed)
				m[e.Key] = ev.Time
				g.FirstUsed = m
			}
		}
	}
}

func (g *GroupState) clone() aggregate {
	c := *g
	c.Keys = maps.Clone(g.Keys)
	c.Members = maps.Clone(g.Members)
	c.Uses = maps.Clone(g.Uses)
	return &c
}

// seats counts the accounts holding a seat of key at.
func (g *GroupState) seats(key string, at time.Time) int {
	n := 0
	for _, m := range g.Members {
		if m.Key == key && m.holdsSeat(at) {
			n++
		}
	}
	return n
}

func (t *txn) group(lock string) (*GroupState, error) {
	a, err := t.load(groupStream(lock), func() aggregate { return &GroupState{} })
	if err != nil {
		return nil, err
	}
	return a.(*GroupState), nil
}
