package commands

import (
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
)

const (
	allDoors = access.Main | access.Inner
)

type actions uint16

func acts(as ...events.Action) actions {
	var s actions
	for _, a := range as {
		s |= 1 << a
	}
	return s
}

func (s actions) has(a events.Action) bool { return s&(1<<a) != 0 }

// kindRule is what one kind of key allows in each state, and how it is delivered.
type kindRule struct {
	slot     bool // occupies a lock slot (offline key)
	toCode   bool // may be shared To Code
	toID     bool // may be shared To ID
	delivery bool // created already shared To ID (digital keys go straight to their user)
	// group: an online key. It is created only while its lock's network
	// management is on, and its creation, edits and deletion are recorded
	// on the lock's group stream too, in the same append; deleting it ends
	// its members and open invitations.
	group   bool
	allowed map[events.State]actions
}

// kindRules is the one table of lifecycle rules, from sharing to deletion:
// share keys may be edited or revoked only before download; afterwards only
// reset or deactivation at the lock. Intercom keys may be edited at any
// time, also after they were revoked, and deleted at any time. Digital keys are delivered to their user on creation and
// managed online. Online keys are never shared, downloaded or revoked: who
// uses them is their lock group's business (invitations, UnlockOnline), and
// the owner edits or deletes them at any time.
var kindRules = map[events.Kind]kindRule{
	events.KindShare: {slot: true, toCode: true, toID: true, allowed: map[events.State]actions{
		events.StateCreated:             acts(events.ActShare, events.ActEdit, events.ActDelete),
		events.StateSharing:             acts(events.ActEdit, events.ActRevoke, events.ActDownload, events.ActDelete),
		events.StateDownloaded:          acts(events.ActReset, events.ActRequestDeactivation, events.ActUnlock, events.ActSuspend, events.ActResume),
		events.StateRevoked:             acts(events.ActDelete),
		events.StateReset:               acts(events.ActDelete),
		events.StateDeactivationPending: acts(events.ActConfirmDeactivation),
		events.StateDeactivated:         acts(events.ActDelete),
	}},
	events.KindDigital: {toID: true, delivery: true, allowed: map[events.State]actions{
		events.StateSharing:    acts(events.ActEdit, events.ActRevoke, events.ActDownload, events.ActDelete, events.ActUnlock, events.ActSuspend, events.ActResume),
		events.StateDownloaded: acts(events.ActEdit, events.ActRevoke, events.ActDelete, events.ActUnlock, events.ActSuspend, events.ActResume),
		events.StateRevoked:    acts(events.ActDelete),
	}},
	events.KindIntercom: {toCode: true, toID: true, allowed: map[events.State]actions{
		events.StateCreated:    acts(events.ActShare, events.ActEdit, events.ActRevoke, events.ActDelete),
		events.StateSharing:    acts(events.ActEdit, events.ActRevoke, events.ActDownload, events.ActDelete),
		events.StateDownloaded: acts(events.ActEdit, events.ActRevoke, events.ActDelete, events.ActUnlock, events.ActSuspend, events.ActResume),
		events.StateRevoked:    acts(events.ActEdit, events.ActDelete),
	}},
	events.KindOnline: {group: true, allowed: map[events.State]actions{
		events.StateCreated: acts(events.ActEdit, events.ActDelete, events.ActSuspend, events.ActResume),
		// Revoked only by a reset of every key of the lock (ResetLock).
		events.StateRevoked: acts(events.ActDelete),
	}},
}

// Allows reports whether a key of this kind in this state allows the action.
func Allows(k events.Kind, s events.State, a events.Action) bool {
	r, ok := kindRules[k]
	return ok && r.allowed[s].has(a)
}

func checkAllowed(key string, k events.Kind, s events.State, a events.Action) error {
	if s == events.StateNone {
		return &NotFoundError{What: "key", ID: key}
	}
	if !Allows(k, s, a) {
		return &StateError{Key: key, Kind: k, State: s, Action: a}
	}
	return nil
}
