package commands

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/keyledger/keyledger/internal/secret"
	"github.com/keyledger/keyledger/ledger"
)

// Online keys and lock groups (issue 5, seed 000, SPEC O1–O6).
//
// An online key is a key of the one key model (KeyCreated with KindOnline on
// "key-<id>", so key lists and key history show it). Everything about who may
// use it lives in the lock's group stream "group-<lock>": network management
// (the sealed master code), the lock's online keys, invitations, members with
// their sealed password hashes, permissions, password lockouts and the online
// unlock attempts. One stream per lock makes the 5-account bound, the lockout
// counter and every unlock decision exact under concurrency: each decision
// appends to the stream it read, with its expected version.

// KindOnline is an online key: every operation is authorised online (seed 000).
const KindOnline Kind = 4

// Online-key rules.
const (
	// MaxOnlineAccounts is how many accounts one online key may be assigned
	// to (seed 000); pending invitations hold a seat until they end.
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

// InvitationState is where an account stands in a lock group. Persisted in
// read models: never renumber.
type InvitationState uint8

const (
	InviteNone      InvitationState = 0
	InvitePending   InvitationState = 1
	InviteAccepted  InvitationState = 2 // a member
	InviteDeclined  InvitationState = 3
	InviteWithdrawn InvitationState = 4
	InviteExpired   InvitationState = 5
	InviteRemoved   InvitationState = 6 // was a member, removed
)

var invitationNames = [...]string{"none", "pending", "accepted", "declined", "withdrawn", "expired", "removed"}

func (s InvitationState) String() string {
	if int(s) < len(invitationNames) {
		return invitationNames[s]
	}
	return fmt.Sprintf("invitation(%d)", uint8(s))
}

// InvitationError reports an invitation action its state forbids (accepting
// twice, accepting after withdrawal or expiry, …) and names the state.
type InvitationError struct {
	Lock, Account string
	State         InvitationState
	Action        string // "accept", "decline", "withdraw", "remove", …
}

func (e *InvitationError) Error() string {
	return fmt.Sprintf("commands: cannot %s the invitation of %q to the group of lock %q: it is %s", e.Action, e.Account, e.Lock, e.State)
}

// Unwrap makes errors.Is(err, ErrForbidden) true.
func (e *InvitationError) Unwrap() error { return ErrForbidden }

// Operations a member may perform. Persisted bits.
type Operations uint8

const (
	OpUnlock      Operations = 1 << 0 // operate the lock online
	OpViewHistory Operations = 1 << 1 // read the group's history
	OpManage      Operations = 1 << 2 // management rights: invite, withdraw, set permissions, remove
	allOps                   = OpUnlock | OpViewHistory | OpManage
)

func (o Operations) String() string {
	if o == 0 {
		return "none"
	}
	s := ""
	for _, x := range []struct {
		op   Operations
		name string
	}{{OpUnlock, "unlock"}, {OpViewHistory, "history"}, {OpManage, "manage"}} {
		if o&x.op != 0 {
			if s != "" {
				s += "+"
			}
			s += x.name
		}
	}
	if o&^allOps != 0 {
		s += fmt.Sprintf("+%#x", uint8(o&^allOps))
	}
	return s
}

// Permissions of one member (O5): which doors and which operations.
type Permissions struct {
	Doors Doors
	Ops   Operations
}

// DefaultPermissions: the main door, unlock and history.
var DefaultPermissions = Permissions{Doors: DoorMain, Ops: OpUnlock | OpViewHistory}

// Denial reasons of online unlocks (in UnlockAttempted). Persisted.
const (
	ReasonNetworkOff     = "network_off"
	ReasonNotMember      = "not_member"
	ReasonWrongPassword  = "wrong_password"
	ReasonLockedOut      = "locked_out"
	ReasonOpNotPermitted = "operation_not_permitted"
	ReasonNotOnlineKey   = "not_online_key"
)

// Network-off reasons. Persisted.
const (
	NetworkTurnedOff = "turned_off"
	NetworkExpired   = "expired"
	NetworkReplaced  = "replaced" // turned on again with a new master code
)

// Notification topics of groups. Persisted.
const (
	TopicGroupInvitation = "group_invitation" // "Join Bill's group"
	TopicGroupDeclined   = "group_declined"   // to the owner
)

func groupStream(lock string) string { return "group-" + lock }

// Events of the group stream "group-<lock>".

// NetworkManagementOn: the owner stored the lock's master code (sealed) for
// an operating duration ending at Until.
type NetworkManagementOn struct {
	Lock, By   string
	Until      time.Time
	MasterCode secret.Sealed
}

// NetworkManagementOff: the master code was erased (its data key shredded):
// turned off by the owner, expired (observed at command time) or replaced.
type NetworkManagementOff struct {
	Lock, By string // By is "" when it expired
	Reason   string
	Shredded [16]byte // the data key destroyed (secret.KeyID)
}

// OnlineKeyAdded: an online key joined the lock's group (with its KeyCreated).
type OnlineKeyAdded struct {
	Lock, Key, By string
}

// MemberInvited: an account is invited to use an online key ("Join Bill's group").
type MemberInvited struct {
	Lock, Key, Account, By string
	Expires                time.Time
	Permissions            Permissions
}

// InvitationAccepted: the invitee joined, with their personal password (its
// argon2id hash, sealed so removal can erase it) and their name for the lock.
type InvitationAccepted struct {
	Lock, Key, Account string
	LockName           string
	Password           secret.Sealed
}

// InvitationDeclined: the invitee said no; the owner is notified.
type InvitationDeclined struct {
	Lock, Key, Account string
}

// InvitationWithdrawn: the owner (or a manager) took the invitation back.
type InvitationWithdrawn struct {
	Lock, Key, Account, By string
}

// InvitationExpired: an action met an invitation past its expiry.
type InvitationExpired struct {
	Lock, Key, Account string
}

// MemberPermissionsSet replaces a member's (or invitee's) permissions.
type MemberPermissionsSet struct {
	Lock, Account, By string
	Permissions       Permissions
}

// MemberRemoved: a member left or was removed; their password hash is shredded.
type MemberRemoved struct {
	Lock, Key, Account, By string
	Shredded               [16]byte
}

// PasswordRejected: a wrong personal password. Failures counts consecutive
// ones; LockedUntil is set when this one starts a lockout.
type PasswordRejected struct {
	Lock, Account string
	Failures      uint32
	LockedUntil   time.Time `msgpack:",omitempty"`
}

// PasswordFailuresCleared: a correct password after wrong ones.
type PasswordFailuresCleared struct {
	Lock, Account string
}

// MemberPasswordSet: a member's new password hash (changed by the member, or
// rehashed at a successful login when the argon2id parameters were raised);
// the old hash's data key is shredded.
type MemberPasswordSet struct {
	Lock, Account string
	Password      secret.Sealed
	Shredded      [16]byte
	Rehash        bool // an upgrade of the parameters, not a new password
}

// OnlineKeyEdited: the online key's settings changed (its KeyEdited is on the
// key stream; this marks the group so unlock decisions see the change).
type OnlineKeyEdited struct {
	Lock, Key, By string
}

// OnlineKeyRemoved: the online key was deleted; its members were removed and
// its invitations withdrawn in the same append.
type OnlineKeyRemoved struct {
	Lock, Key, By string
}

// Member is one account's place in a lock group.
type Member struct {
	Account, Key string
	State        InvitationState
	InvitedBy    string
	Invited      time.Time
	Expires      time.Time
	Joined       time.Time
	Permissions  Permissions
	LockName     string
	Password     secret.Sealed // sealed argon2id hash (accepted members)
	Failures     uint32
	LockedUntil  time.Time
}

// StateAt is the member's invitation state at an instant (a pending
// invitation past its expiry reads as expired).
func (m Member) StateAt(at time.Time) InvitationState {
	if m.State == InvitePending && !at.Before(m.Expires) {
		return InviteExpired
	}
	return m.State
}

// holdsSeat reports whether the account counts toward its key's bound at.
func (m Member) holdsSeat(at time.Time) bool {
	s := m.StateAt(at)
	return s == InvitePending || s == InviteAccepted
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
	case NetworkManagementOn:
		g.Lock = e.Lock
		g.Network = NetworkState{On: true, By: e.By, Since: ev.Time, Until: e.Until, MasterCode: e.MasterCode}
	case NetworkManagementOff:
		g.Lock = e.Lock
		g.Network = NetworkState{}
	case OnlineKeyAdded:
		g.Lock = e.Lock
		if g.Keys == nil {
			g.Keys = map[string]bool{}
		}
		g.Keys[e.Key] = true
	case MemberInvited:
		upd(e.Account, func(m *Member) {
			*m = Member{Account: e.Account, Key: e.Key, State: InvitePending, InvitedBy: e.By,
				Invited: ev.Time, Expires: e.Expires, Permissions: e.Permissions}
		})
	case InvitationAccepted:
		upd(e.Account, func(m *Member) {
			m.State, m.Joined, m.LockName, m.Password = InviteAccepted, ev.Time, e.LockName, e.Password
		})
	case InvitationDeclined:
		upd(e.Account, func(m *Member) { m.State = InviteDeclined })
	case InvitationWithdrawn:
		upd(e.Account, func(m *Member) { m.State = InviteWithdrawn })
	case InvitationExpired:
		upd(e.Account, func(m *Member) { m.State = InviteExpired })
	case MemberPermissionsSet:
		upd(e.Account, func(m *Member) { m.Permissions = e.Permissions })
	case MemberRemoved:
		upd(e.Account, func(m *Member) {
			m.State, m.Password, m.Failures, m.LockedUntil = InviteRemoved, nil, 0, time.Time{}
		})
	case PasswordRejected:
		upd(e.Account, func(m *Member) {
			m.Failures = e.Failures
			if !e.LockedUntil.IsZero() {
				m.LockedUntil, m.Failures = e.LockedUntil, 0
			}
		})
	case PasswordFailuresCleared:
		upd(e.Account, func(m *Member) { m.Failures = 0 })
	case MemberPasswordSet:
		upd(e.Account, func(m *Member) { m.Password = e.Password })
	case OnlineKeyRemoved:
		delete(g.Keys, e.Key)
	case UnlockAttempted:
		if e.Granted {
			if g.Uses == nil {
				g.Uses = map[string]uint32{}
			}
			g.Uses[e.Key] = e.Uses
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
