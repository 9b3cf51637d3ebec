package events

import (
	"fmt"
)

// Kind is what a key is for. One key model serves every kind; kinds differ
// only in the rules of commands' rules table (delivery, credential, what each state allows).
// Persisted: never renumber; append new kinds at the end.
type Kind uint8

const (
	KindShare    Kind = 1 // offline share key in a lock slot
	KindDigital  Kind = 2 // digital key made for a user: PIN, app or keycard
	KindIntercom Kind = 3 // intercom key
	// KindOnline (4), online keys, is defined with them in group.go.
)

func (k Kind) String() string {
	switch k {
	case KindShare:
		return "share"
	case KindDigital:
		return "digital"
	case KindIntercom:
		return "intercom"
	case 4:
		return "online"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Credential is how a holder presents a digital key. Persisted.
type Credential uint8

const (
	CredentialApp     Credential = 1 // phone app (default)
	CredentialPIN     Credential = 2 // 4–6 digits, unique per lock
	CredentialKeycard Credential = 3 // a card, named by its identifier (UID), unique per lock
)

func (c Credential) String() string {
	switch c {
	case CredentialApp:
		return "app"
	case CredentialPIN:
		return "PIN"
	case CredentialKeycard:
		return "keycard"
	}
	return fmt.Sprintf("credential(%d)", uint8(c))
}

// Role of a digital key's user. Persisted.
type Role uint8

const (
	RoleUser  Role = 1 // default
	RoleAdmin Role = 2 // extra features such as write-to-keycard
)

func (r Role) String() string {
	switch r {
	case RoleUser:
		return "USER"
	case RoleAdmin:
		return "ADMIN"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Category of an intercom key. Persisted.
type Category uint8

const (
	CategoryFriend   Category = 1 // default
	CategoryCustomer Category = 2
	CategoryServices Category = 3
	CategoryEvent    Category = 4
	CategoryDelivery Category = 5
	CategoryRenter   Category = 6
	CategoryEmployee Category = 7
)

var categoryNames = [...]string{"", "Friend", "Customer", "Services", "Event", "Delivery", "Renter", "Employee"}

func (c Category) String() string {
	if int(c) < len(categoryNames) && c != 0 {
		return categoryNames[c]
	}
	return fmt.Sprintf("category(%d)", uint8(c))
}

// ShareMethod is how a key was shared. Persisted.
type ShareMethod uint8

const (
	ShareToID   ShareMethod = 1 // to a registered account
	ShareToCode ShareMethod = 2 // to whoever holds the generated code
)

func (m ShareMethod) String() string {
	switch m {
	case ShareToID:
		return "To ID"
	case ShareToCode:
		return "To Code"
	}
	return "not shared"
}

// State is where a key is in its lifecycle. Persisted (in read models).
type State uint8

const (
	StateNone                State = 0 // no such key
	StateCreated             State = 1 // created, not shared
	StateSharing             State = 2 // shared, not downloaded yet
	StateDownloaded          State = 3 // downloaded by its holder ("Shared")
	StateRevoked             State = 4 // share cancelled (or key revoked)
	StateReset               State = 5 // slot given a new generation; the next holder overwrites
	StateDeactivationPending State = 6 // deactivation requested, not yet confirmed by the lock
	StateDeactivated         State = 7 // the lock confirmed the slot is deactivated
	StateDeleted             State = 8
)

var stateNames = [...]string{"none", "created", "sharing", "downloaded", "revoked", "reset",
	"deactivation pending", "deactivated", "deleted"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Sharing is the sharing state users see: not shared / sharing / shared.
type Sharing uint8

const (
	NotShared Sharing = 0
	InSharing Sharing = 1 // shared, not downloaded ("Sharing", "not downloaded yet")
	Shared    Sharing = 2 // downloaded
)

func (s Sharing) String() string {
	switch s {
	case InSharing:
		return "sharing"
	case Shared:
		return "shared"
	}
	return "not shared"
}

// SharingOf maps a lifecycle state (and whether the key was ever downloaded)
// to what users see.
func SharingOf(st State, shared, downloaded bool) Sharing {
	switch {
	case downloaded:
		return Shared
	case shared && st == StateSharing:
		return InSharing
	}
	return NotShared
}

// Action is something done to a key; the rules table says in which state of
// which kind it is allowed.
type Action uint8

const (
	ActShare Action = iota + 1
	ActDownload
	ActEdit
	ActRevoke
	ActReset
	ActRequestDeactivation
	ActConfirmDeactivation
	ActDelete
	ActUnlock
	ActSuspend // commands.SuspendKey
	ActResume  // commands.ResumeKey
)

var actionNames = [...]string{"", "share", "download", "edit", "revoke", "reset",
	"request deactivation", "confirm deactivation", "delete", "unlock", "suspend", "resume"}

func (a Action) String() string {
	if int(a) < len(actionNames) && a != 0 {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}
