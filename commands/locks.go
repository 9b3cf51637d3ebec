package commands

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// MaxSlots bounds a lock's share-key slots (a credential carries its slot
// in one byte in lockproto's wire format).
const MaxSlots = 255

// RegisterLock registers a lock with its owner, name, IANA time zone, number
// of share-key slots and doors (DoorMain, optionally DoorInner).
type RegisterLock struct {
	ID                uuid.UUID
	Lock, Owner, Name string
	Zone              string
	Slots             int
	Doors             access.Doors // default DoorMain
	// LockKey is the lock's X25519 public key from its pairing
	// (lockproto.Pairing.LockPublicKey); downloads of offline keys carry it.
	LockKey [32]byte
	// AuditKey is the pairing's audit MAC key (lockproto.Pairing.AuditKey,
	// 32 bytes; secret.New): sealed under its own data key before it is
	// recorded, it lets IngestAudit verify the lock's audit records.
	AuditKey secret.Secret
}

func (c *RegisterLock) validate() error {
	if c.Doors == 0 {
		c.Doors = access.Main
	}
	if err := firstErr(checkID("lock", c.Lock), checkID("owner", c.Owner), checkText("name", c.Name, MaxNameLen)); err != nil {
		return err
	}
	if c.Zone == "" {
		return invalid("zone", "empty (an IANA time zone such as Europe/Berlin)")
	}
	// The zone policy will resolve for every key of the lock: a zone
	// time.LoadLocation accepts but policy refuses ("Local") would make
	// every CreateKey on the lock fail for ever.
	if _, err := policy.LoadZone(c.Zone); err != nil {
		return &ValidationError{Field: "zone", Reason: fmt.Sprintf("%q is not a named IANA time zone (such as Europe/Berlin)", c.Zone), Err: err}
	}
	if c.Slots < 0 || c.Slots > MaxSlots {
		return invalid("slots", "%d, want 0..%d", c.Slots, MaxSlots)
	}
	if c.Doors&^allDoors != 0 || c.Doors&access.Main == 0 {
		return invalid("doors", "%v must include the main door and nothing unknown", c.Doors)
	}
	if !c.AuditKey.IsZero() && c.AuditKey.Len() != 32 {
		return invalid("audit key", "%d bytes, want 32", c.AuditKey.Len())
	}
	return nil
}

// RegisterLock registers a lock; its owner must be a registered account.
func (s *Service) RegisterLock(ctx context.Context, c RegisterLock) error {
	if err := c.validate(); err != nil {
		return err
	}
	var sealed secret.Sealed
	if !c.AuditKey.IsZero() {
		if err := s.needVault(); err != nil {
			return err
		}
		var err error
		if sealed, err = s.vault.Seal(ctx, c.AuditKey, auditAAD(c.Lock)); err != nil {
			return vaultErr(err, "audit key")
		}
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.LockRegistered](orig)
		if !ok {
			return otherCommand, nil
		}
		if d := firstDiff(field{"lock", r.Lock == c.Lock}, field{"owner", r.Owner == c.Owner}, field{"name", r.Name == c.Name},
			field{"zone", r.Zone == c.Zone}, field{"slots", r.Slots == c.Slots}, field{"doors", r.Doors == c.Doors},
			field{"lock key", string(r.LockKey) == string(lockKeyBytes(c.LockKey))}); d != "" {
			return d, nil
		}
		ok, err := s.sameSealed(ctx, r.AuditKey, auditAAD(c.Lock), c.AuditKey)
		return firstDiff(field{"audit key", ok}), err
	}
	evs, err := s.execute(ctx, c.ID, same, func(t *txn) error {
		owner, err := t.account(c.Owner)
		if err != nil {
			return err
		}
		if !owner.Exists() {
			return &NotFoundError{What: "account", ID: c.Owner}
		}
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if l.Exists() {
			return exists("lock", c.Lock)
		}
		t.emit(lockStream(c.Lock), events.LockRegistered{Lock: c.Lock, Owner: c.Owner, Name: c.Name, Zone: c.Zone, Slots: c.Slots, Doors: c.Doors,
			LockKey: lockKeyBytes(c.LockKey), AuditKey: sealed, IssuerKey: s.issuerKeyID()})
		return nil
	})
	if sealed != nil && (err != nil || isReplay(evs)) {
		_ = s.vault.ShredSealed(ctx, sealed) // in no event: destroy its key now
	}
	return err
}

// SetLockBlackouts replaces the lock-wide blackouts: no key of the lock
// opens it online inside one, even inside the key's own windows.
type SetLockBlackouts struct {
	ID        uuid.UUID
	Lock, By  string
	Blackouts []policy.Blackout
}

// SetLockBlackouts sets the lock-wide blackouts; only the owner may.
func (s *Service) SetLockBlackouts(ctx context.Context, c SetLockBlackouts) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return err
	}
	if err := validateBlackouts(c.Blackouts); err != nil {
		return err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.LockBlackoutsSet](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"blackouts", sameBlackouts(r.Blackouts, c.Blackouts)})
	}
	_, err := s.execute(ctx, c.ID, same, func(t *txn) error {
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if err := ownerOf(l, c.Lock, c.By); err != nil {
			return err
		}
		t.emit(lockStream(c.Lock), events.LockBlackoutsSet{Lock: c.Lock, By: c.By, Blackouts: c.Blackouts})
		return nil
	})
	return err
}

// keyManager checks that by may create and manage keys of kind k on lock
// l: its owner any kind, an account manager of the lock digital keys.
func keyManager(l *LockState, id, by string, k events.Kind) error {
	if !l.Exists() {
		return &NotFoundError{What: "lock", ID: id}
	}
	switch {
	case l.Owner == by:
		return nil
	case l.Managers[by] && k == events.KindDigital:
		return nil
	case l.Managers[by]:
		return notPermitted("%q manages the digital keys of lock %q; %v keys are its owner's", by, id, k)
	}
	return notPermitted("%q is not the owner of lock %q nor one of its account managers", by, id)
}

// AccountManager names an account manager of a lock for AddAccountManager
// and RemoveAccountManager. Only the lock's owner (By) names them.
type AccountManager struct {
	ID       uuid.UUID
	Lock, By string
	Account  string // a registered account, not the owner
}

// AddAccountManager makes an account an account manager of a lock: it may
// then create digital keys on the lock for any registered user, and edit,
// revoke and delete the lock's digital keys. ErrExists if it already is
// one; *NotFoundError for an unregistered account.
func (s *Service) AddAccountManager(ctx context.Context, c AccountManager) error {
	return s.accountManager(ctx, c, true)
}

// RemoveAccountManager ends an account's management of a lock; the keys it
// made stay. *NotFoundError (What "account manager") if it is none.
func (s *Service) RemoveAccountManager(ctx context.Context, c AccountManager) error {
	return s.accountManager(ctx, c, false)
}

func (s *Service) accountManager(ctx context.Context, c AccountManager, add bool) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By), checkID("account", c.Account)); err != nil {
		return err
	}
	same := func(orig []ledger.Event) (string, error) {
		switch r := orig[0].Data.(type) {
		case events.LockManagerAdded:
			return differs(field{"command", add}, field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"account", r.Account == c.Account})
		case events.LockManagerRemoved:
			return differs(field{"command", !add}, field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"account", r.Account == c.Account})
		}
		return otherCommand, nil
	}
	_, err := s.execute(ctx, c.ID, same, func(t *txn) error {
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if err := ownerOf(l, c.Lock, c.By); err != nil {
			return err
		}
		switch {
		case !add && !l.Managers[c.Account]:
			return &NotFoundError{What: "account manager", ID: c.Account}
		case !add:
			t.emit(lockStream(c.Lock), events.LockManagerRemoved{Lock: c.Lock, Account: c.Account, By: c.By})
			return nil
		case c.Account == l.Owner:
			return invalid("account", "%q owns lock %q: an owner manages its keys already", c.Account, c.Lock)
		case l.Managers[c.Account]:
			return exists("account manager", c.Account)
		}
		a, err := t.account(c.Account)
		if err != nil {
			return err
		}
		if !a.Exists() {
			return &NotFoundError{What: "account", ID: c.Account}
		}
		t.emit(lockStream(c.Lock), events.LockManagerAdded{Lock: c.Lock, Account: c.Account, By: c.By})
		return nil
	})
	return err
}

func ownerOf(l *LockState, id, by string) error {
	if !l.Exists() {
		return &NotFoundError{What: "lock", ID: id}
	}
	if l.Owner != by {
		return notPermitted("%q is not the owner of lock %q", by, id)
	}
	return nil
}
