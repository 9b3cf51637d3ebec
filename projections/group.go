package projections

import (
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledger"
)

// Lock groups and online keys (issue 5) in the histories (H1): network
// management on and off, invitations and their answers, permissions,
// removals, wrong personal passwords. Online unlocks are
// commands.UnlockAttempted events, described by describe already. The group
// status itself is read from the group stream by
// commands.Service.GroupStatus (exact, read-your-writes, no read model).
//
// Registered through the extension points of history.go.

func init() {
	describers = append(describers, describeGroup)
	appliers = append(appliers, func(b *batch, ev *ledger.Event) (bool, error) {
		h := &HistoryEntry{}
		if !describeGroup(ev, h) {
			return false, nil
		}
		return true, b.history(h)
	})
}

// describeGroup fills a history entry from a group event; it reports false
// for other events and for group bookkeeping that is not history.
func describeGroup(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case commands.NetworkManagementOn:
		h.Lock, h.Account = e.Lock, e.By
	case commands.NetworkManagementOff:
		h.Lock, h.Account, h.Reason = e.Lock, e.By, e.Reason
	case commands.MemberInvited:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.By, e.Account
	case commands.InvitationAccepted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Account
	case commands.InvitationDeclined:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Account
	case commands.InvitationWithdrawn:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.By, e.Account
	case commands.InvitationExpired:
		h.Lock, h.Key, h.Subject = e.Lock, e.Key, e.Account
	case commands.MemberPermissionsSet:
		h.Lock, h.Account, h.Subject = e.Lock, e.By, e.Account
	case commands.MemberRemoved:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.By, e.Account
	case commands.MemberPasswordSet:
		if e.Rehash {
			return false // an upgrade of the stored hash, not an action
		}
		h.Lock, h.Account = e.Lock, e.Account
	case commands.PasswordRejected:
		h.Lock, h.Account, h.Reason = e.Lock, e.Account, commands.ReasonWrongPassword
		if !e.LockedUntil.IsZero() {
			h.Reason = commands.ReasonLockedOut
		}
	default:
		// OnlineKeyAdded, OnlineKeyEdited, OnlineKeyRemoved: their KeyCreated,
		// KeyEdited, KeyDeleted are in the histories; PasswordFailuresCleared
		// is bookkeeping.
		return false
	}
	return true
}
