package commands

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// Unlock is an online unlock attempt with a key (granted or denied, it is
// recorded with its reason, door and source).
type Unlock struct {
	ID      uuid.UUID
	Key, By string      // By: the account (or device) presenting the key
	Door    access.Door // default access.MainDoor
	// Source is where the key was presented: "app" (the default),
	// "intercom", … A keypad sends digits, not a key: UnlockByPIN, so
	// "keypad" is refused here.
	Source string
}

// UnlockResult is the decision.
type UnlockResult struct {
	Key     string
	Granted bool
	Reason  access.Reason // why denied
	Uses    uint32        // granted uses so far, this one included
}

func stateReason(s events.State) access.Reason {
	switch s {
	case events.StateCreated, events.StateSharing:
		return access.NotDownloaded
	case events.StateRevoked:
		return access.Revoked
	case events.StateReset:
		return access.Reset
	case events.StateDeactivationPending, events.StateDeactivated:
		return access.Deactivated
	case events.StateDeleted:
		return access.Deleted
	}
	return access.Unknown
}

// holderOf is the account that may use the key now.
func holderOf(k *KeyState) string {
	if k.Downloaded {
		return k.Holder
	}
	if k.Method == events.ShareToID {
		return k.Recipient
	}
	return ""
}

// Unlock decides an online unlock with the key's policy (and the lock-wide
// blackouts) at the service clock's time and records it. A granted use
// counts toward the use limit atomically: of two concurrent unlocks of a
// single-use key exactly one is granted. Only an unknown key is an error.
func (s *Service) Unlock(ctx context.Context, c Unlock) (UnlockResult, error) {
	if c.Source == "" {
		c.Source = "app"
	}
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By), checkText("source", c.Source, MaxNameLen)); err != nil {
		return UnlockResult{}, err
	}
	if strings.EqualFold(c.Source, "keypad") {
		return UnlockResult{}, invalid("source", "%q: a keypad sends the digits typed, not a key; use UnlockByPIN", c.Source)
	}
	if c.Door != access.MainDoor && c.Door != access.InnerDoor {
		return UnlockResult{}, invalid("door", "%v: want the main or the inner door", c.Door)
	}
	evs, err := s.executeOn(ctx, c.ID, keyStream(c.Key), c.same, func(t *txn) error {
		k, err := t.key(c.Key)
		if err != nil {
			return err
		}
		if k.State == events.StateNone {
			return &NotFoundError{What: "key", ID: c.Key}
		}
		l, err := t.lock(k.Lock) // read only: a condition of the append (blackouts)
		if err != nil {
			return err
		}
		ev := events.UnlockAttempted{Key: c.Key, Lock: k.Lock, By: c.By, Door: c.Door.Set(), Source: c.Source, Uses: k.Uses}
		switch {
		case c.By != holderOf(k):
			ev.Reason = access.NotHolder
		case !Allows(k.Kind, k.State, events.ActUnlock):
			ev.Reason = keyStateReason(k)
		case refusedFor(k, l) != access.Granted:
			ev.Reason = refusedFor(k, l)
		case !k.Settings.Doors.Has(c.Door):
			ev.Reason = access.WrongDoor
		case k.Settings.Policy.Uses.Limited && s.credentialed(k):
			ev.Reason = access.UsesAtLock
		default:
			ev.Reason = decideSchedule(k, l, t.now, k.Uses)
		}
		if ev.Reason == access.Granted {
			ev.Granted = true
			ev.Uses++
		}
		t.emit(keyStream(c.Key), ev)
		return nil
	})
	if err != nil {
		return UnlockResult{}, err
	}
	u, _ := firstOf[events.UnlockAttempted](evs)
	return UnlockResult{Key: u.Key, Granted: u.Granted, Reason: u.Reason, Uses: u.Uses}, nil
}

// same compares with a recorded unlock attempt (door and source with their
// defaults filled in).
func (c Unlock) same(orig []ledger.Event) (string, error) {
	r, ok := first[events.UnlockAttempted](orig)
	if !ok {
		return otherCommand, nil
	}
	return differs(field{"key", r.Key == c.Key}, field{"by", r.By == c.By}, field{"door", r.Door == c.Door.Set()}, field{"source", r.Source == c.Source})
}
