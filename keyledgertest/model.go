package keyledgertest

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// modelKinds are the kinds of key the model knows.
var modelKinds = []events.Kind{events.KindShare, events.KindDigital, events.KindIntercom}

// rules is the model's table of the key lifecycle: for each kind, what
// each state allows. It is written out here from the product rules, not
// read from package commands, so that a change on either side shows: a
// test of this package holds it equal to commands.Allows.
var rules = map[events.Kind]map[events.State][]events.Action{
	// Share keys may be edited or revoked only before download; afterwards
	// only reset or deactivated at the lock.
	events.KindShare: {
		events.StateCreated:             {events.ActShare, events.ActEdit, events.ActDelete},
		events.StateSharing:             {events.ActEdit, events.ActRevoke, events.ActDownload, events.ActDelete},
		events.StateDownloaded:          {events.ActReset, events.ActRequestDeactivation, events.ActUnlock},
		events.StateRevoked:             {events.ActDelete},
		events.StateReset:               {events.ActDelete},
		events.StateDeactivationPending: {events.ActConfirmDeactivation},
		events.StateDeactivated:         {events.ActDelete},
	},
	// Digital keys go to their user on creation and are managed online.
	events.KindDigital: {
		events.StateSharing:    {events.ActEdit, events.ActRevoke, events.ActDownload, events.ActDelete, events.ActUnlock},
		events.StateDownloaded: {events.ActEdit, events.ActRevoke, events.ActDelete, events.ActUnlock},
		events.StateRevoked:    {events.ActDelete},
	},
	// Intercom keys may be edited at any time, also once revoked, and
	// deleted at any time.
	events.KindIntercom: {
		events.StateCreated:    {events.ActShare, events.ActEdit, events.ActRevoke, events.ActDelete},
		events.StateSharing:    {events.ActEdit, events.ActRevoke, events.ActDownload, events.ActDelete},
		events.StateDownloaded: {events.ActEdit, events.ActRevoke, events.ActDelete, events.ActUnlock},
		events.StateRevoked:    {events.ActEdit, events.ActDelete},
	},
}

// Allows reports whether the model lets a key of kind k in state s take
// action a. For the kinds the model knows it equals commands.Allows.
func Allows(k events.Kind, s events.State, a events.Action) bool {
	for _, b := range rules[k][s] {
		if b == a {
			return true
		}
	}
	return false
}

// Key is the model of one key: what the rules say it is, nothing of how
// the stack stores it.
type Key struct {
	Kind       events.Kind
	Credential events.Credential
	State      events.State
	Slot       int    // share keys: the slot they were created in
	Generation uint32 // share keys: the slot's generation at creation
	Method     events.ShareMethod
	Recipient  string // To ID: the account it was shared with (a digital key's user)
	Holder     string // who downloaded it
	Downloaded bool
	Code       secret.Secret // To Code: the share code the stack generated
	Uses       uint32        // granted unlocks
	Settings   events.Settings
	Card       string // keycard keys: the card's identifier, while the key holds it
	// AtLock is where the key stands at the lock. The model issues no
	// offline credentials, so only a deactivation (asked of the lock,
	// whatever holds the slot) puts it there: removing until confirmed,
	// then removed.
	AtLock events.LockSync
	// FirstUsed is the key's first granted unlock (zero: none): an expiry
	// after first use counts from it (policy.Policy.FirstUsed).
	FirstUsed time.Time
}

// Sharing is what users see of the key's sharing.
func (k *Key) Sharing() events.Sharing {
	return events.SharingOf(k.State, k.Method != 0, k.Downloaded)
}

// Opener is who may unlock the key: its holder once downloaded, before
// that the account it was shared with To ID; nobody else.
func (k *Key) Opener() string {
	switch {
	case k.Downloaded:
		return k.Holder
	case k.Method == events.ShareToID:
		return k.Recipient
	}
	return ""
}

// terminal reports whether the key can never open again.
func (k *Key) terminal() bool {
	switch k.State {
	case events.StateRevoked, events.StateReset, events.StateDeactivationPending, events.StateDeactivated, events.StateDeleted:
		return true
	}
	return false
}

// Status is the key's status at an instant: REVOKED or DELETED once it can
// never open, otherwise what its schedule says (package policy is the
// schedule's model, tested on its own).
func (k *Key) Status(at time.Time) projections.KeyStatus {
	st := projections.KeyStatus{State: k.State, Sharing: k.Sharing(), Uses: k.Uses, AtLock: k.AtLock}
	// Asked to deactivate the slot, the lock has not confirmed: the key's
	// offline copy may open it, for as long as the lock does not hear.
	st.OpenAtLock = k.AtLock == events.SyncRemoving
	switch {
	case k.State == events.StateDeleted:
		st.Status = projections.StatusDeleted
		return st
	case k.terminal():
		st.Status = projections.StatusRevoked
		return st
	}
	p := k.policy()
	s := p.Status(at, k.Uses)
	st.Status = map[policy.State]projections.Status{policy.StateUpcoming: projections.StatusUpcoming, policy.StateActive: projections.StatusActive,
		policy.StateExpired: projections.StatusExpired, policy.StateExhausted: projections.StatusExhausted}[s.State]
	st.InWindow, st.NextOpen = s.InWindow, s.Next
	st.End, st.AfterFirstUse = p.End, p.AfterFirstUse
	return st
}

// policy is the key's policy, its expiry after first use made concrete
// once it was first used.
func (k *Key) policy() policy.Policy {
	if k.FirstUsed.IsZero() {
		return k.Settings.Policy
	}
	return k.Settings.Policy.FirstUsed(k.FirstUsed)
}

// unlock is the decision on an unlock by by at door at an instant: the
// holder first, then the state, the door and the schedule.
func (k *Key) unlock(by string, door access.Door, at time.Time) access.Reason {
	switch {
	case by != k.Opener():
		return access.NotHolder
	case !Allows(k.Kind, k.State, events.ActUnlock):
		return map[events.State]access.Reason{events.StateCreated: access.NotDownloaded, events.StateSharing: access.NotDownloaded,
			events.StateRevoked: access.Revoked, events.StateReset: access.Reset, events.StateDeactivationPending: access.Deactivated,
			events.StateDeactivated: access.Deactivated, events.StateDeleted: access.Deleted}[k.State]
	case !k.Settings.Doors.Has(door):
		return access.WrongDoor
	}
	p := k.policy()
	return map[access.Reason]access.Reason{access.Granted: access.Granted, access.NotYetValid: access.NotYetValid,
		access.Expired: access.Expired, access.Exhausted: access.Exhausted, access.OutsideWindow: access.OutsideWindow,
		access.InBlackout: access.InBlackout, access.InvalidPolicy: access.InvalidPolicy, access.OutsidePeriods: access.OutsidePeriods}[p.Allowed(at, k.Uses)]
}

// Slot is the model of one share-key slot of the lock.
type Slot struct {
	Key        string // "" when free
	Generation uint32
}

// Model is the reference model of a world's keys: the rules, written
// plainly. Apply moves it by one step and says what the stack must answer.
type Model struct {
	World World
	Now   time.Time
	Keys  map[string]*Key   // by key ID; a deleted key stays, in StateDeleted
	Slots []Slot            // slot i+1 of the lock
	Cards map[string]string // card identifier -> the key that holds it on the lock
	// Secrets are every share code and PIN the stack generated (codes also
	// without their dashes): no byte of the ledger may hold one.
	Secrets [][]byte
}

// NewModel returns the model of w with no keys, at now.
func NewModel(w World, now time.Time) *Model {
	return &Model{World: w, Now: now, Keys: map[string]*Key{}, Slots: make([]Slot, w.Slots)}
}

// Outcome is what a step did on the stack, or what the model says it must
// do.
type Outcome struct {
	// Err is nil when the command succeeds. Otherwise the model's is one
	// of commands.ErrNotFound, ErrExists, ErrNoSlot, ErrNotPermitted,
	// ErrNeedsValidity and ErrCardTaken, or
	// a *commands.StateError naming the key's state; the stack's matches
	// it (errors.Is, or errors.As and equal fields).
	Err error
	// OpCreate of a share key: the slot and its generation.
	Slot       int
	Generation uint32
	// OpUnlock: the decision and the key's granted uses after it.
	Granted bool
	Reason  access.Reason
	Uses    uint32
	// The share code (OpShare To Code) or PIN (OpCreate with a PIN) the
	// stack generated; the model cannot know them and leaves them zero.
	Code, PIN secret.Secret
}

// Resolve fills in what a drawn step leaves to the model, from the key as
// the model knows it: the downloader and the share code of an OpDownload,
// the one who presents the key in an OpUnlock.
func (m *Model) Resolve(s Step) Step {
	k := m.Keys[s.Key]
	if s.Op == OpUnlock && s.Right && k != nil && k.Opener() != "" {
		s.Account = k.Opener()
	}
	if s.Op != OpDownload {
		return s
	}
	switch {
	case k == nil:
	case s.Right && k.Method == events.ShareToID:
		s.Account = k.Recipient
	case s.Right && k.Method == events.ShareToCode:
		s.Code = k.Code
	case k.Method == events.ShareToCode || s.CodeOnly:
		s.Code = WrongCode
	}
	if s.CodeOnly && s.Code.IsZero() {
		s.Code = WrongCode
	}
	return s
}

// WrongCode is the share code a wrong OpDownload presents: well formed,
// never generated.
var WrongCode = secret.FromString("AAAA-BBBB-CCCC")

// Apply moves the model by one resolved step and returns what the stack
// must answer.
func (m *Model) Apply(s Step) Outcome {
	if s.Op == OpWait {
		m.Now = m.Now.Add(s.Wait)
		return Outcome{}
	}
	key := s.Key
	if s.Op == OpDownload && s.CodeOnly { // the code finds its key
		key = ""
		for id, k := range m.Keys {
			if !k.Code.IsZero() && k.Code.Equal(s.Code) {
				key = id
			}
		}
		if key == "" {
			return Outcome{Err: commands.ErrNotPermitted}
		}
	}
	k := m.Keys[key]
	if s.Op == OpCreate {
		return m.create(s, k)
	}
	if k == nil {
		return Outcome{Err: commands.ErrNotFound}
	}
	if s.Op == OpUnlock {
		r := k.unlock(s.Account, s.Door, m.Now)
		if r == access.Granted {
			k.Uses++
			if k.FirstUsed.IsZero() {
				k.FirstUsed = m.Now
			}
		}
		return Outcome{Granted: r == access.Granted, Reason: r, Uses: k.Uses}
	}
	a := s.Op.action()
	if !Allows(k.Kind, k.State, a) {
		return Outcome{Err: &commands.StateError{Key: key, Kind: k.Kind, State: k.State, Action: a}}
	}
	switch s.Op {
	case OpShare:
		k.State, k.Method, k.Recipient = events.StateSharing, s.Method, ""
		if s.Method == events.ShareToID {
			k.Recipient = s.Account
		}
	case OpDownload:
		if k.Method == events.ShareToID && s.Account != k.Recipient || k.Method == events.ShareToCode && !k.Code.Equal(s.Code) {
			return Outcome{Err: commands.ErrNotPermitted}
		}
		k.State, k.Holder, k.Downloaded = events.StateDownloaded, s.Account, true
	case OpEdit:
		st := m.withDefaults(applyPatch(k.Settings, s.Patch))
		if err := needsValidity(k.Kind, st.Policy); err != nil {
			return Outcome{Err: err}
		}
		k.Settings = st
	case OpRevoke:
		k.State = events.StateRevoked
		m.release(key, k, false)
	case OpReset:
		k.State = events.StateReset
		m.release(key, k, true)
	case OpRequestDeactivation:
		k.State, k.AtLock = events.StateDeactivationPending, events.SyncRemoving
	case OpConfirmDeactivation:
		k.State, k.AtLock = events.StateDeactivated, events.SyncRemoved
		m.release(key, k, true)
	case OpDelete:
		k.State = events.StateDeleted
		m.release(key, k, false)
	}
	return Outcome{}
}

// create adds a key: a share key takes the lowest free slot, a digital key
// goes to its user at once (shared To ID).
func (m *Model) create(s Step, k *Key) Outcome {
	if err := needsValidity(s.Kind, s.Settings.Policy); err != nil {
		return Outcome{Err: err}
	}
	if k != nil {
		return Outcome{Err: commands.ErrExists}
	}
	n := &Key{Kind: s.Kind, Credential: s.Credential, State: events.StateCreated, Settings: m.withDefaults(s.Settings)}
	if n.Credential == 0 {
		n.Credential = events.CredentialApp
	}
	if s.Kind == events.KindShare {
		for i := range m.Slots {
			if m.Slots[i].Key == "" {
				n.Slot, n.Generation = i+1, m.Slots[i].Generation
				break
			}
		}
		if n.Slot == 0 {
			return Outcome{Err: commands.ErrNoSlot}
		}
		m.Slots[n.Slot-1].Key = s.Key
	}
	if s.Kind == events.KindDigital {
		n.State, n.Method, n.Recipient = events.StateSharing, events.ShareToID, s.For
	}
	if n.Credential == events.CredentialKeycard { // a card is one key's on the lock
		card := string(s.Card.Reveal())
		if _, taken := m.Cards[card]; taken {
			return Outcome{Err: commands.ErrCardTaken}
		}
		if m.Cards == nil {
			m.Cards = map[string]string{}
		}
		m.Cards[card], n.Card = s.Key, card
	}
	m.Keys[s.Key] = n
	return Outcome{Slot: n.Slot, Generation: n.Generation}
}

// needsValidity is the intercom rule: a key that is not unlimited — a use
// limit, or weekly windows — has a start and an expiry.
func needsValidity(kind events.Kind, p policy.Policy) error {
	if kind == events.KindIntercom && (p.Uses.Limited || len(p.Windows) > 0) && (p.Start.IsZero() || p.End.IsZero()) {
		return commands.ErrNeedsValidity
	}
	return nil
}

// release frees the key's slot, if it still holds it. A reset, or a
// deactivation the lock confirmed, gives the slot a new generation: the
// next key there overwrites this one at the lock.
func (m *Model) release(id string, k *Key, reset bool) {
	if k.Card != "" && m.Cards[k.Card] == id {
		delete(m.Cards, k.Card)
	}
	if k.Slot == 0 || m.Slots[k.Slot-1].Key != id {
		return
	}
	m.Slots[k.Slot-1].Key = ""
	if reset {
		m.Slots[k.Slot-1].Generation++
	}
}

// withDefaults is st as a command stores it: zero category, role and
// doors mean their defaults, and the schedule is read in the lock's zone.
func (m *Model) withDefaults(st events.Settings) events.Settings {
	if st.Category == 0 {
		st.Category = events.CategoryFriend
	}
	if st.Role == 0 {
		st.Role = events.RoleUser
	}
	if st.Doors == 0 {
		st.Doors = access.Main
	}
	st.Policy.Zone = m.World.Zone
	return st
}

// applyPatch is st with the settings p sets; the others keep their value.
func applyPatch(st events.Settings, p commands.SettingsPatch) events.Settings {
	if p.Name != nil {
		st.Name = *p.Name
	}
	if p.Category != nil {
		st.Category = *p.Category
	}
	if p.Role != nil {
		st.Role = *p.Role
	}
	if p.Doors != nil {
		st.Doors = *p.Doors
	}
	if p.Policy != nil {
		st.Policy = *p.Policy
	}
	if p.Welcome != nil {
		st.Welcome = *p.Welcome
	}
	return st
}
