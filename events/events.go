package events

import (
	"errors"
	"slices"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// catalogue is every event type, once: its stable name, its schema version
// and its Go type. Names are persisted in the log.
//
// APPEND ONLY. Never rename, remove or reuse a name. A changed payload keeps
// its name, bumps its schema and registers an upcaster for the old one.
var catalogue = []Type{
	{"account.registered", 1, AccountRegistered{}},
	{"account.contact_added", 1, ContactAdded{}},
	{"account.contact_deleted", 1, ContactDeleted{}},
	{"lock.registered", 1, LockRegistered{}},
	{"lock.slot_assigned", 1, SlotAssigned{}},
	{"lock.slot_released", 1, SlotReleased{}},
	{"lock.pin_claimed", 1, PINClaimed{}},
	{"lock.pin_released", 1, PINReleased{}},
	{"lock.blackouts_set", 1, LockBlackoutsSet{}},
	{"key.created", 1, KeyCreated{}},
	{"key.shared", 1, KeyShared{}},
	{"key.downloaded", 1, KeyDownloaded{}},
	{"key.edited", 1, KeyEdited{}},
	{"key.revoked", 1, KeyRevoked{}},
	{"key.reset", 1, KeyReset{}},
	{"key.deactivation_requested", 1, DeactivationRequested{}},
	{"key.deactivation_confirmed", 1, DeactivationConfirmed{}},
	{"key.deleted", 1, KeyDeleted{}},
	{"key.unlock_attempted", 1, UnlockAttempted{}},
	{"outbox.notification_queued", 1, NotificationQueued{}},
	{"outbox.notification_acked", 1, NotificationAcked{}},
	{"key.share_code_issued", 1, ShareCodeIssued{}},
	// Online keys and lock groups: types in group.go.
	{"group.network_on", 1, NetworkManagementOn{}},
	{"group.network_off", 1, NetworkManagementOff{}},
	{"group.online_key_added", 1, OnlineKeyAdded{}},
	{"group.member_invited", 1, MemberInvited{}},
	{"group.invitation_accepted", 1, InvitationAccepted{}},
	{"group.invitation_declined", 1, InvitationDeclined{}},
	{"group.invitation_withdrawn", 1, InvitationWithdrawn{}},
	{"group.invitation_expired", 1, InvitationExpired{}},
	{"group.member_permissions_set", 1, MemberPermissionsSet{}},
	{"group.member_removed", 1, MemberRemoved{}},
	{"group.password_rejected", 1, PasswordRejected{}},
	{"group.password_failures_cleared", 1, PasswordFailuresCleared{}},
	{"group.member_password_set", 1, MemberPasswordSet{}},
	{"group.online_key_edited", 1, OnlineKeyEdited{}},
	{"group.online_key_removed", 1, OnlineKeyRemoved{}},
	// The path from the ledger to the lock and back: types in lock.go.
	{"lock.admin_issued", 1, AdminIssued{}},
	{"lock.admin_applied", 1, AdminApplied{}},
	{"lock.audit_recorded", 1, AuditRecorded{}},
	{"lock.audit_gap", 1, AuditGap{}},
	{"key.offline_unlocks_counted", 1, OfflineUnlocksCounted{}},
	// Account managers of a lock.
	{"lock.manager_added", 1, LockManagerAdded{}},
	{"lock.manager_removed", 1, LockManagerRemoved{}},
	// Where a key's credential stands at its lock: types in sync.go.
	{"key.lock_synced", 1, LockSynced{}},
	// Keypads that talk to the backend: types in keypad.go.
	{"keypad.code_rejected", 1, KeypadCodeRejected{}},
	{"keypad.locked_out", 1, KeypadLockedOut{}},
	{"keypad.failures_cleared", 1, KeypadFailuresCleared{}},
	// Card identifiers in use on a lock.
	{"lock.card_claimed", 1, CardClaimed{}},
	{"lock.card_released", 1, CardReleased{}},
	// Issuer key rotation: types in issuer.go.
	{"lock.issuer_key_rotated", 1, IssuerKeyRotated{}},
	// Offline codes typed at a lock's keypad: types in offlinecode.go.
	{"offline_code.enabled", 1, OfflineCodesEnabled{}},
	{"offline_code.issued", 1, OfflineCodeIssued{}},
	{"offline_code.revoked", 1, OfflineCodeRevoked{}},
	{"offline_code.used", 1, OfflineCodeUsed{}},
	{"offline_code.revocation_applied", 1, OfflineCodeRevocationApplied{}},
	// Remote opens signed for granted unlocks: type in lock.go.
	{"lock.remote_open_issued", 1, RemoteOpenIssued{}},
	// A lock's passage schedule: type in passage.go.
	{"lock.passage_set", 1, PassageSet{}},
	// Suspending a key, resetting every key of a lock: types in suspend.go.
	{"key.suspended", 1, KeySuspended{}},
	{"key.resumed", 1, KeyResumed{}},
	{"key.suspension_synced", 1, SuspensionSynced{}},
	{"lock.reset", 1, LockReset{}},
	// A lock's clock and zone table as its audit showed them: type in clock.go.
	{"lock.clock_observed", 1, ClockObserved{}},
}

// Type is one entry of the catalogue.
type Type struct {
	Name      string // persisted in every event of the type
	Schema    uint16 // version of the payload's shape
	Prototype any    // the payload's Go type, as a zero value
}

// Types returns the catalogue in table order (a copy).
func Types() []Type { return slices.Clone(catalogue) }

// Registrar is what Register needs of a registry; *ledger.Registry has it.
type Registrar interface {
	Register(name string, schema uint16, prototype any) error
}

// Register registers every event type of the catalogue on reg. Open the
// ledger with that registry (ledger.Options.Registry).
func Register(reg Registrar) error {
	var errs []error
	for _, t := range catalogue {
		errs = append(errs, reg.Register(t.Name, t.Schema, t.Prototype))
	}
	return errors.Join(errs...)
}

// Names lists the catalogue's type names in table order.
func Names() []string {
	out := make([]string, len(catalogue))
	for i, t := range catalogue {
		out[i] = t.Name
	}
	return out
}

// AccountRegistered: a user ID with a name and an e-mail address.
type AccountRegistered struct {
	Account, Name, Email string
}

// ContactAdded: an entry of the account's address book.
type ContactAdded struct {
	Account, Contact, Name, Email string
}

// ContactDeleted removes an address-book entry.
type ContactDeleted struct {
	Account, Contact string
}

// LockRegistered: a lock with its owner, name, IANA zone, slots and doors.
type LockRegistered struct {
	Lock, Owner, Name string
	Zone              string // IANA time zone name
	Slots             int    // number of share-key slots ("locations")
	Doors             access.Doors
	LockKey           []byte `msgpack:",omitempty"` // X25519 public key (lockproto pairing)
	// AuditKey is the lock's audit MAC key from its pairing, sealed under its
	// own data key (package secret); IngestAudit opens it.
	AuditKey secret.Sealed `msgpack:",omitempty"`
	// IssuerKey is the ID of the issuer key the lock was paired with
	// (lockproto.Issuer.KeyID; 0 in events written before it was recorded).
	IssuerKey lockproto.KeyID `msgpack:",omitempty"`
}

// SlotAssigned: a share key occupies a slot at the slot's current generation.
type SlotAssigned struct {
	Lock, Key  string
	Slot       int
	Generation uint32
}

// SlotReleased: the slot is free again; Generation is what the next key in
// it gets (greater than the released key's after a reset or deactivation).
type SlotReleased struct {
	Lock, Key  string
	Slot       int
	Generation uint32
}

// PINClaimed: a key of the lock uses the PIN with this keyed hash.
type PINClaimed struct {
	Lock, Key string
	Hash      []byte // secret.PINHash
}

// PINReleased: the PIN hash is free again.
type PINReleased struct {
	Lock, Key string
	Hash      []byte
}

// LockManagerAdded: the lock's owner made Account an account manager of
// the lock: it creates the lock's digital keys, for users registered in
// the system, and manages them.
type LockManagerAdded struct {
	Lock, Account, By string
}

// LockManagerRemoved: Account no longer manages the lock's keys (the keys
// it created stay, managed by the owner and the other managers).
type LockManagerRemoved struct {
	Lock, Account, By string
}

// CardClaimed: a keycard key of the lock names the card whose identifier
// has this keyed hash (secret.CardHash); the identifier itself is never
// stored.
type CardClaimed struct {
	Lock, Key string
	Hash      []byte
}

// CardReleased: the card is free again on the lock.
type CardReleased struct {
	Lock, Key string
	Hash      []byte
}

// LockBlackoutsSet replaces the lock-wide blackouts, which apply to
// every key's online decision in addition to its own policy.
type LockBlackoutsSet struct {
	Lock, By  string
	Blackouts []policy.Blackout
}

// Settings are what an owner chooses for a key and may edit where allowed.
type Settings struct {
	Name     string // key name (intercom) or description (digital key)
	Category Category
	Role     Role
	Doors    access.Doors
	Policy   policy.Policy
	Welcome  string // welcome message for the recipient
}

// KeyCreated: a key for a lock with its kind, credential and settings.
// Share keys carry their slot and its generation; digital keys their holder
// (they are delivered on creation) and, for a PIN or a keycard, the keyed
// hash of the PIN or of the card's identifier. Owner is the lock's owner;
// By, when set, the account manager who created the key.
type KeyCreated struct {
	Key, Lock, Owner string
	By               string `msgpack:",omitempty"`
	Kind             Kind
	Credential       Credential
	Settings         Settings
	Slot             int
	Generation       uint32
	Holder           string // digital keys: the user it is made for
	Email            string // where the user is e-mailed (the notice, the PIN or both), if the owner asked
	PINHash          []byte `msgpack:",omitempty"`
	CardHash         []byte `msgpack:",omitempty"` // secret.CardHash
}

// KeyShared: shared To ID (Account) or To Code (CodeHash: the keyed hash of
// the generated code; the code itself is never stored).
type KeyShared struct {
	Key, Lock, Owner string
	Method           ShareMethod
	Account          string `msgpack:",omitempty"`
	CodeHash         []byte `msgpack:",omitempty"`
}

// ShareCodeIssued, on stream "sharecode-<hex of the code's keyed hash>",
// lets a bearer redeem a code without knowing the key; appended with the
// KeyShared it indexes.
type ShareCodeIssued struct {
	Key, Lock string
}

// KeyDownloaded: the holder (To ID) or code bearer (To Code) has the key.
type KeyDownloaded struct {
	Key, Lock, Holder string
	Method            ShareMethod
	HolderKey         []byte `msgpack:",omitempty"` // the phone's X25519 public key, if it got a credential
}

// KeyEdited replaces the key's settings.
type KeyEdited struct {
	Key, Lock, By string
	Settings      Settings
}

// KeyRevoked: the share (or key) is cancelled.
type KeyRevoked struct {
	Key, Lock, By string
	// Reason is access.LockReset when the lock's reset ended the key (0:
	// the owner revoked it; RevokedBy says which).
	Reason access.Reason `msgpack:",omitempty"`
}

// KeyReset: after download, the slot got a new generation; the next holder's
// key overwrites this one at the lock.
type KeyReset struct {
	Key, Lock, By string
	Slot          int
	Generation    uint32 // the slot's new generation
}

// DeactivationRequested: the owner asked the lock to deactivate the slot.
type DeactivationRequested struct {
	Key, Lock, By string
	Slot          int
}

// DeactivationConfirmed: the lock confirmed the slot is deactivated.
type DeactivationConfirmed struct {
	Key, Lock, By string
	Slot          int
	Generation    uint32 // the slot's new generation
}

// KeyDeleted: the key is gone from every list.
type KeyDeleted struct {
	Key, Lock, By string
}

// UnlockAttempted records an online unlock, granted or denied with a reason.
type UnlockAttempted struct {
	Key, Lock, By string
	Door          access.Doors // the door asked for, as a one-door set (the stored form)
	Source        string       // e.g. "app", "keypad", "intercom"
	Panel         string       `msgpack:",omitempty"` // the keypad the PIN was typed at (Source "keypad")
	Granted       bool
	Reason        access.Reason `msgpack:",omitempty"` // why denied; stored by name
	Uses          uint32        // granted uses after this attempt
}

// Notification topics. Persisted: never change a value.
const (
	TopicKeyShared = "key_shared" // a key was shared with / made for someone
	TopicWelcome   = "welcome"    // the owner's welcome message
	TopicPIN       = "key_pin"    // a digital key's PIN, e-mailed without the key_shared notice
)

// NotificationQueued is appended atomically with the events that cause it.
// A code or PIN the recipient must learn is sealed (Secret), never plain.
type NotificationQueued struct {
	Topic     string
	To, Email string
	Lock, Key string
	Message   string        `msgpack:",omitempty"`
	Secret    secret.Sealed `msgpack:",omitempty"`
}

// NotificationAcked: the backend delivered the notification with this event ID.
type NotificationAcked struct {
	Notification [16]byte
}
