package events

import (
	"fmt"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/secret"
)

// KindOnline is an online key: every operation is authorised online.
const KindOnline Kind = 4

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

// Operations a member may perform. Persisted bits.
type Operations uint8

const (
	OpUnlock      Operations = 1 << 0 // operate the lock online
	OpViewHistory Operations = 1 << 1 // read the group's history
	OpManage      Operations = 1 << 2 // management rights: invite, withdraw, set permissions, remove
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
	if rest := o &^ (OpUnlock | OpViewHistory | OpManage); rest != 0 {
		s += fmt.Sprintf("+%#x", uint8(rest))
	}
	return s
}

// Permissions of one member: which doors and which operations.
type Permissions struct {
	Doors access.Doors
	Ops   Operations
}

// DefaultPermissions: the main door, unlock and history.
var DefaultPermissions = Permissions{Doors: access.Main, Ops: OpUnlock | OpViewHistory}

// Notification topics of groups. Persisted.
const (
	TopicGroupInvitation = "group_invitation" // "Join Bill's group"
	TopicGroupDeclined   = "group_declined"   // to the owner
)

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
	Lock, By string        // By is "" when it expired
	Reason   access.Reason // access.TurnedOff, Expired or Replaced; stored by name
	Shredded [16]byte      // the data key destroyed (secret.KeyID)
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
