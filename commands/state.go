package commands

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// aggregate is the folded state of one stream. evolve applies one event;
// clone returns a copy that evolve may change without touching the original
// (cached states are shared and never changed in place).
type aggregate interface {
	evolve(ev ledger.Event)
	clone() aggregate
}

// Stream names.
func accountStream(id string) string { return "account-" + id }
func lockStream(id string) string    { return "lock-" + id }
func keyStream(id string) string     { return "key-" + id }

// AccountState is the fold of an account stream.
type AccountState struct {
	ID, Name, Email string
	Contacts        map[string]events.ContactAdded
}

// Exists reports whether the account is registered.
func (a *AccountState) Exists() bool { return a.ID != "" }

func (a *AccountState) evolve(ev ledger.Event) {
	switch e := ev.Data.(type) {
	case events.AccountRegistered:
		a.ID, a.Name, a.Email = e.Account, e.Name, e.Email
	case events.ContactAdded:
		if a.Contacts == nil {
			a.Contacts = map[string]events.ContactAdded{}
		}
		a.Contacts[e.Contact] = e
	case events.ContactDeleted:
		delete(a.Contacts, e.Contact)
	}
}

func (a *AccountState) clone() aggregate {
	c := *a
	c.Contacts = maps.Clone(a.Contacts)
	return &c
}

// LockState is the fold of a lock stream.
type LockState struct {
	ID, Owner, Name, Zone string
	Doors                 access.Doors
	LockKey               []byte
	SlotKeys              []string            // key in slot i+1, "" = free
	SlotGens              []uint32            // generation of slot i+1
	PINs                  map[[32]byte]string // PIN hash -> key
	Cards                 map[[32]byte]string // card identifier hash -> key
	Blackouts             []policy.Blackout
	AuditKey              secret.Sealed // the pairing's audit MAC key, sealed
	// Admin messages to the lock (lockadmin.go): AdminSeq is the last
	// sequence number issued, Pending those issued and not yet seen in the
	// lock's audit (in sequence order), AdminSeen the highest sequence
	// number the audit showed the lock consumed.
	AdminSeq  uint32
	AdminSeen uint32
	// Rotated is the sequence number of the last issuer-key rotation the
	// lock applied: it refuses every message below it signed by the key
	// it retired, so those are lost (adminLost).
	Rotated uint32
	Pending []events.AdminIssued
	// Credentials maps the credential ID of every key that ever held a
	// slot of the lock, had a PIN or card set at it or a remote open signed
	// for it, to the key (audit records name credentials).
	Credentials map[lockproto.CredentialID]string
	// CodeSets is the last set-PIN or set-card message issued for each
	// key whose code the lock holds or will (lockcodes.go); a clear
	// removes it.
	CodeSets map[string]events.AdminIssued
	// Managers are the lock's account managers (AddAccountManager).
	Managers map[string]bool
	// IssuerKey is the ID of the issuer key the lock trusts once the
	// rotations sent to it arrive; Revocations the revocation messages
	// issued to it (rotation.go, revocations.go).
	IssuerKey   lockproto.KeyID
	Revocations []events.AdminIssued
	// Clock is the lock's clock and zone table as its audit last showed
	// them (clock.go); ZoneSent the last time-zone message issued to it.
	Clock    events.ClockObserved
	ZoneSent events.AdminIssued

	blackouts *compiled // Blackouts in the lock's zone, compiled on first use
	// Passage is the last passage schedule set (passage.go); zero: none.
	Passage events.PassageSet
	passage *passage // Passage compiled on first use
	// passageSeq is the sequence number of the last passage message
	// issued: an older one the lock can no longer apply is not issued again.
	passageSeq uint32

	// Resets of every key (lockreset.go): ResetEpoch is the last epoch,
	// ResetAt the log position of its LockReset (keys created before it
	// are ended), ResetKeys the keys each epoch removed from the lock
	// itself (their credential, PIN or card was there), confirmed removed
	// when the lock's audit shows the reset applied.
	ResetEpoch uint32
	ResetAt    uint64
	ResetKeys  map[uint32][]string
}

// Exists reports whether the lock is registered.
func (l *LockState) Exists() bool { return l.ID != "" }

// FreeSlot returns the lowest free slot (from 1), or 0 if none is free.
func (l *LockState) FreeSlot() int {
	return slices.Index(l.SlotKeys, "") + 1
}

func (l *LockState) evolve(ev ledger.Event) {
	switch e := ev.Data.(type) {
	case events.LockRegistered:
		l.ID, l.Owner, l.Name, l.Zone, l.Doors, l.LockKey = e.Lock, e.Owner, e.Name, e.Zone, e.Doors, e.LockKey
		l.blackouts = &compiled{policy: policy.Policy{Blackouts: l.Blackouts, Zone: l.Zone}}
		l.AuditKey, l.IssuerKey = e.AuditKey, e.IssuerKey
		l.SlotKeys = make([]string, e.Slots)
		l.SlotGens = make([]uint32, e.Slots)
	case events.SlotAssigned: // slots are numbered from 1
		if e.Slot >= 1 && e.Slot <= len(l.SlotKeys) {
			l.SlotKeys[e.Slot-1], l.SlotGens[e.Slot-1] = e.Key, e.Generation
		}
		if l.Credentials == nil {
			l.Credentials = map[lockproto.CredentialID]string{}
		}
		l.Credentials[credentialIDFor(e.Lock, e.Key, e.Slot, e.Generation)] = e.Key
	case events.SlotReleased:
		if e.Slot >= 1 && e.Slot <= len(l.SlotKeys) {
			l.SlotKeys[e.Slot-1], l.SlotGens[e.Slot-1] = "", e.Generation
		}
	case events.PINClaimed:
		if len(e.Hash) != 32 {
			return // never written so; a damaged event must not panic
		}
		if l.PINs == nil {
			l.PINs = map[[32]byte]string{}
		}
		l.PINs[[32]byte(e.Hash)] = e.Key
	case events.PINReleased:
		if len(e.Hash) == 32 {
			delete(l.PINs, [32]byte(e.Hash))
		}
	case events.CardClaimed:
		if len(e.Hash) != 32 {
			return
		}
		if l.Cards == nil {
			l.Cards = map[[32]byte]string{}
		}
		l.Cards[[32]byte(e.Hash)] = e.Key
	case events.CardReleased:
		if len(e.Hash) == 32 {
			delete(l.Cards, [32]byte(e.Hash))
		}
	case events.LockManagerAdded:
		if l.Managers == nil {
			l.Managers = map[string]bool{}
		}
		l.Managers[e.Account] = true
	case events.LockManagerRemoved:
		delete(l.Managers, e.Account)
	case events.PassageSet:
		l.Passage, l.passage = e, &passage{set: e}
	case events.LockBlackoutsSet:
		l.Blackouts = e.Blackouts
		l.blackouts = &compiled{policy: policy.Policy{Blackouts: l.Blackouts, Zone: l.Zone}}
	case events.AdminIssued:
		l.AdminSeq = max(l.AdminSeq, e.Seq)
		if e.Reissues != 0 { // it replaces the message it issues again
			l.Pending = slices.DeleteFunc(slices.Clone(l.Pending), func(p events.AdminIssued) bool { return p.Seq == e.Reissues })
		}
		if e.Type == lockproto.TypePassage {
			l.passageSeq = max(l.passageSeq, e.Seq)
		}
		l.Pending = append(slices.Clip(l.Pending), e)
		if e.Type == lockproto.TypeRevoke {
			l.Revocations = append(slices.Clip(l.Revocations), e)
		}
		if (e.Type == lockproto.TypeSetPIN || e.Type == lockproto.TypeSetCard) && e.Key != "" {
			if l.Credentials == nil {
				l.Credentials = map[lockproto.CredentialID]string{}
			}
			l.Credentials[codeID(e.Lock, e.Key)] = e.Key // audit records of the keypad and card reader name it
			if l.CodeSets == nil {
				l.CodeSets = map[string]events.AdminIssued{}
			}
			if prev, ok := l.CodeSets[e.Key]; !ok || e.Generation >= prev.Generation { // a reissued older set is not the latest
				l.CodeSets[e.Key] = e
			}
		}
		if e.Type == lockproto.TypeClearPIN || e.Type == lockproto.TypeClearCard {
			delete(l.CodeSets, e.Key)
		}
		if e.Type == lockproto.TypeTimeZone {
			l.ZoneSent = e
		}
	case events.IssuerKeyRotated:
		l.IssuerKey = e.To
	case events.RemoteOpenIssued:
		if l.Credentials == nil {
			l.Credentials = map[lockproto.CredentialID]string{}
		}
		l.Credentials[e.Credential] = e.Key // the lock's audit record of the open names it
	case events.LockReset:
		l.resetAll(ev.Position, e)
	case events.ClockObserved:
		l.Clock = e
	case events.AdminApplied:
		// A message below it stays pending while the lock can still apply
		// it; once too old it leaves (IngestAudit issued it again or
		// dropped it in the same append).
		l.AdminSeen = max(l.AdminSeen, e.Seq)
		if e.Type == lockproto.TypeRotateKey && e.Applied {
			l.Rotated = max(l.Rotated, e.Seq)
		}
		l.Pending = slices.DeleteFunc(slices.Clone(l.Pending), func(p events.AdminIssued) bool {
			return p.Seq == e.Seq || adminLost(p.Seq, l.AdminSeen, l.Rotated)
		})
	}
}

func (l *LockState) clone() aggregate {
	c := *l
	c.SlotKeys = slices.Clone(l.SlotKeys)
	c.SlotGens = slices.Clone(l.SlotGens)
	c.PINs = maps.Clone(l.PINs)
	c.Cards = maps.Clone(l.Cards)
	c.Pending = slices.Clip(l.Pending) // evolve never writes in place
	c.Credentials = maps.Clone(l.Credentials)
	c.CodeSets = maps.Clone(l.CodeSets)
	c.Managers = maps.Clone(l.Managers)
	c.ResetKeys = maps.Clone(l.ResetKeys)
	return &c
}

// KeyState is the fold of a key stream.
type KeyState struct {
	ID, Lock, Owner string
	Kind            events.Kind
	Credential      events.Credential
	Settings        events.Settings
	State           events.State
	Slot            int
	Generation      uint32
	Method          events.ShareMethod // how it was shared (0 = never)
	Recipient       string             // To ID account
	CodeHash        []byte             // To Code
	Holder          string             // who downloaded it (or the digital key's user)
	Email           string
	Downloaded      bool
	DownloadedAt    time.Time // when (the credential's validity starts no earlier)
	HolderKey       []byte
	PINHash         []byte
	CardHash        []byte
	Uses            uint32        // granted unlocks
	AtLock          events.AtLock // where its credential stands at the lock
	// CreatedAt is when the key was created (no issuance to a lock
	// precedes it); FirstUsedAt its earliest granted use the log holds,
	// online or counted from the lock's audit (zero: none). The key's
	// stream holds every use but an online key's (see Service.UnlockOnline).
	CreatedAt, FirstUsedAt time.Time
	// UseFrom is the earliest instant any version of the key's settings
	// let it be used at its lock (policy.Policy.EarliestUse of each from
	// when it was recorded): no use there precedes it, so a PIN or card's
	// expiry after first use is counted from it.
	UseFrom time.Time

	schedule *compiled // Policy(), compiled on first use

	// Suspended: SuspendKey stopped the key (suspend.go); Changes counts
	// its suspend and resume changes. CreatedPos is the log position of its
	// creation; RevokedBy why it was revoked (access.LockReset for a reset
	// of its lock).
	Suspended  bool
	Changes    uint32
	CreatedPos uint64
	RevokedBy  access.Reason
}

// Policy is the policy the key is decided by: its settings' policy, with
// the expiry after first use made concrete once the first use is known
// (policy.Policy.FirstUsed).
func (k *KeyState) Policy() policy.Policy {
	if !k.FirstUsedAt.IsZero() {
		return k.Settings.Policy.FirstUsed(k.FirstUsedAt)
	}
	return k.Settings.Policy
}

// used records a granted use at at: the first use is the earliest, which
// an audit uploaded late may move earlier.
func (k *KeyState) used(at time.Time) {
	if !at.IsZero() && (k.FirstUsedAt.IsZero() || at.Before(k.FirstUsedAt)) {
		k.FirstUsedAt = at
		if k.Settings.Policy.AfterFirstUse != 0 {
			k.schedule = &compiled{policy: k.Policy()}
		}
	}
}

func (k *KeyState) evolve(ev ledger.Event) {
	switch e := ev.Data.(type) {
	case events.KeyCreated:
		k.ID, k.Lock, k.Owner, k.Kind, k.Credential = e.Key, e.Lock, e.Owner, e.Kind, e.Credential
		k.Settings, k.Slot, k.Generation, k.Email, k.PINHash, k.CardHash = e.Settings, e.Slot, e.Generation, e.Email, e.PINHash, e.CardHash
		k.CreatedAt, k.CreatedPos = ev.Time, ev.Position
		k.UseFrom = e.Settings.Policy.EarliestUse(ev.Time)
		k.schedule = &compiled{policy: k.Policy()}
		k.State = events.StateCreated
		if e.Holder != "" { // delivered on creation
			k.State, k.Method, k.Recipient = events.StateSharing, events.ShareToID, e.Holder
		}
	case events.KeyShared:
		k.State, k.Method, k.Recipient, k.CodeHash = events.StateSharing, e.Method, e.Account, e.CodeHash
	case events.KeyDownloaded:
		k.State, k.Holder, k.Downloaded, k.HolderKey, k.DownloadedAt = events.StateDownloaded, e.Holder, true, e.HolderKey, ev.Time
	case events.KeyEdited:
		k.Settings = e.Settings
		k.schedule = &compiled{policy: k.Policy()}
		k.UseFrom = earlier(k.UseFrom, e.Settings.Policy.EarliestUse(ev.Time))
	case events.KeyRevoked:
		k.State, k.RevokedBy = events.StateRevoked, e.RevokedBy()
	case events.KeySuspended:
		k.Suspended, k.Changes = true, e.Change
	case events.KeyResumed:
		k.Suspended, k.Changes = false, e.Change
	case events.KeyReset:
		k.State = events.StateReset
	case events.DeactivationRequested:
		k.State = events.StateDeactivationPending
	case events.DeactivationConfirmed:
		k.State = events.StateDeactivated
	case events.KeyDeleted:
		k.State = events.StateDeleted
	case events.UnlockAttempted:
		k.Uses = e.Uses
		if e.Granted {
			k.used(ev.Time)
		}
	case events.OfflineUnlocksCounted:
		k.Uses = e.Uses
		if e.Granted > 0 {
			k.used(cmp.Or(e.First, ev.Time)) // the lock's time of the first, when it knew it
		}
	}
	k.AtLock.Apply(ev.Data)
}

func (k *KeyState) clone() aggregate {
	c := *k
	return &c
}

// compiled is a policy compiled on first use and kept with the folded state
// that holds it. States are immutable and cloned by value, so every clone
// that keeps the same policy shares one compilation; an event that changes
// the policy gives the new state a new one. Its size is bounded by the
// state cache's. Safe for concurrent use.
type compiled struct {
	once     sync.Once
	policy   policy.Policy
	schedule *policy.Schedule // nil if policy does not validate: Allowed refuses (InvalidPolicy)
}

func (c *compiled) get() *policy.Schedule {
	c.once.Do(func() { c.schedule, _ = policy.Compile(c.policy) })
	return c.schedule
}

// compiledSchedule returns the key's compiled policy (nil if it does not
// validate).
func (k *KeyState) compiledSchedule() *policy.Schedule {
	if k.schedule == nil { // a state not folded from events
		s, _ := policy.Compile(k.Policy())
		return s
	}
	return k.schedule.get()
}

// blackoutSchedule returns the lock-wide blackouts compiled in zone, the
// zone of the key policy they are added to (nil if they do not validate).
// Only the one in the lock's own zone (every key's) is kept.
func (l *LockState) blackoutSchedule(zone string) *policy.Schedule {
	c := l.blackouts
	if c == nil || zone != l.Zone { // a state not folded from events, or a key in another zone
		c = &compiled{policy: policy.Policy{Blackouts: l.Blackouts, Zone: zone}}
	}
	return c.get()
}

// lockNow is a lock's state as the cache holds it (a lock that does not
// exist folds to a zero state): for reads outside a command.
func (s *Service) lockNow(ctx context.Context, lock string) (*LockState, error) {
	e, err := s.cache.get(ctx, s.store, lockStream(lock), func() aggregate { return &LockState{} })
	if err != nil {
		return nil, err
	}
	return e.state.(*LockState), nil
}

// adminLost reports whether a pending admin message can no longer be
// applied by a lock whose highest applied message is highest: it is more
// than the lock's window below (lockproto.AdminTooOld), or below the last
// key rotation the lock applied (rotated), so signed by the retired key,
// which signs no admin message. A lost message is issued again if it is
// still wanted.
func adminLost(seq, highest, rotated uint32) bool {
	return lockproto.AdminTooOld(seq, highest) || seq < rotated
}

// earlier is the earlier of two instants, a zero one standing for none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
