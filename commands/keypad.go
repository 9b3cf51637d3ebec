package commands

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// Keypads that talk to the backend (an intercom panel with a keypad) send
// digits, not a key: UnlockByPIN hashes them with the lock's PIN key and
// looks the hash up among the PINs the lock stream holds (one map lookup,
// no scan), then decides with that key's state, doors, uses and schedule.
// A code that is no key's PIN is a wrong code, counted per panel and lock
// on the stream "keypad-<lock>"; MaxPINFailures in a row lock the panel out
// of that lock for PINLockoutDuration, and the lockout is an alarm event
// (KeypadLockedOut). The code is never stored, logged or put in an error:
// a right one is known by the key it found, a wrong one not at all.

const (
	// MaxPINFailures wrong codes in a row lock a keypad out of a lock.
	MaxPINFailures = 5
	// PINLockoutDuration is how long a locked-out keypad takes no code.
	PINLockoutDuration = 15 * time.Minute
)

// keypadStream holds the wrong codes and lockouts of a lock's keypads.
func keypadStream(lock string) string { return "keypad-" + lock }

// keypadState is the fold of a keypad stream: each panel's wrong codes in
// a row and the end of its lockout.
type keypadState struct {
	panels map[string]panelState
}

type panelState struct {
	failures    uint32
	lockedUntil time.Time
}

func (k *keypadState) evolve(ev ledger.Event) {
	set := func(panel string, p panelState) {
		if k.panels == nil {
			k.panels = map[string]panelState{}
		}
		k.panels[panel] = p
	}
	switch e := ev.Data.(type) {
	case events.KeypadCodeRejected:
		p := k.panels[e.Panel]
		p.failures = e.Failures
		set(e.Panel, p)
	case events.KeypadLockedOut: // the count starts again after the lockout
		set(e.Panel, panelState{lockedUntil: e.Until})
	case events.KeypadFailuresCleared:
		p := k.panels[e.Panel]
		p.failures = 0
		set(e.Panel, p)
	}
}

func (k *keypadState) clone() aggregate {
	c := &keypadState{panels: make(map[string]panelState, len(k.panels))}
	for p, s := range k.panels {
		c.panels[p] = s
	}
	return c
}

// UnlockByPIN is a code typed at a keypad that talks to the backend, for a
// lock and one of its doors.
type UnlockByPIN struct {
	ID   uuid.UUID
	Lock string
	// Panel names the keypad (an intercom panel's device ID): wrong codes
	// are counted, and lock it out, per panel and lock.
	Panel string
	PIN   secret.Secret
	Door  access.Door // default access.MainDoor
}

// PINUnlockResult is the decision on a code.
type PINUnlockResult struct {
	Key     string // the key whose PIN it is; "" for a wrong code
	Granted bool
	// Reason is why it was refused: WrongPIN, LockedOut (the panel is
	// locked out: the code was not looked at), or the key's own refusal
	// (Revoked, WrongDoor, OutsideWindow, Exhausted, …).
	Reason access.Reason
	Uses   uint32 // the key's granted uses, this one included
	// Failures is the panel's wrong codes in a row after this one;
	// LockedUntil is when its lockout ends, if it is locked out.
	Failures    uint32
	LockedUntil time.Time
}

// UnlockByPIN decides a code typed at a keypad. A right code is decided as
// the key's holder presenting the key (state, door, schedule, uses and the
// lock-wide blackouts) and recorded as its UnlockAttempted with source
// "keypad" and the panel; it clears the panel's wrong codes. A wrong code
// is recorded as KeypadCodeRejected (the lock's history shows it, reason
// wrong_pin); the MaxPINFailures-th in a row also records the alarm
// KeypadLockedOut. While a panel is locked out its codes are refused
// (LockedOut) without being looked at or recorded. Errors: a code that is
// not 4 to 6 digits, a malformed command or an unknown lock; a refusal is
// no error.
func (s *Service) UnlockByPIN(ctx context.Context, c UnlockByPIN) (PINUnlockResult, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("panel", c.Panel)); err != nil {
		return PINUnlockResult{}, err
	}
	if c.Door != access.MainDoor && c.Door != access.InnerDoor {
		return PINUnlockResult{}, invalid("door", "%v: want the main or the inner door", c.Door)
	}
	if err := secret.ValidatePIN(c.PIN); err != nil {
		return PINUnlockResult{}, invalid("pin", "%d characters: want %d to %d digits", c.PIN.Len(), secret.MinPINDigits, secret.MaxPINDigits)
	}
	if err := s.needVault(); err != nil {
		return PINUnlockResult{}, err
	}
	h, err := s.vault.HashPIN(c.Lock, c.PIN)
	if err != nil {
		return PINUnlockResult{}, invalid("pin", "want %d to %d digits", secret.MinPINDigits, secret.MaxPINDigits)
	}
	var refused PINUnlockResult // a locked-out panel: decided, nothing recorded
	same := func(orig []ledger.Event) (string, error) { return s.sameUnlockByPIN(ctx, c, orig) }
	evs, err := s.executeOn(ctx, c.ID, keypadStream(c.Lock), same, func(t *txn) error {
		refused = PINUnlockResult{}
		return decideUnlockByPIN(t, c, h, &refused)
	})
	if err != nil {
		return PINUnlockResult{}, err
	}
	if len(evs) == 0 {
		return refused, nil
	}
	return pinResult(evs), nil
}

func decideUnlockByPIN(t *txn, c UnlockByPIN, h secret.PINHash, refused *PINUnlockResult) error {
	l, err := t.lock(c.Lock)
	if err != nil {
		return err
	}
	if !l.Exists() {
		return &NotFoundError{What: "lock", ID: c.Lock}
	}
	kp, err := t.load(keypadStream(c.Lock), func() aggregate { return &keypadState{} })
	if err != nil {
		return err
	}
	panel := kp.(*keypadState).panels[c.Panel]
	if t.now.Before(panel.lockedUntil) {
		*refused = PINUnlockResult{Reason: access.LockedOut, LockedUntil: panel.lockedUntil}
		return nil
	}
	key, ok := l.PINs[[32]byte(h)]
	if !ok {
		rej := events.KeypadCodeRejected{Lock: c.Lock, Panel: c.Panel, Door: c.Door.Set(), Failures: panel.failures + 1}
		t.emit(keypadStream(c.Lock), rej)
		if rej.Failures >= MaxPINFailures {
			t.emit(keypadStream(c.Lock), events.KeypadLockedOut{Lock: c.Lock, Panel: c.Panel, Failures: rej.Failures, Until: t.now.Add(PINLockoutDuration)})
		}
		return nil
	}
	k, err := t.key(key)
	if err != nil {
		return err
	}
	ev := events.UnlockAttempted{Key: key, Lock: c.Lock, By: holderOf(k), Door: c.Door.Set(), Source: "keypad", Panel: c.Panel, Uses: k.Uses}
	switch {
	case !Allows(k.Kind, k.State, events.ActUnlock):
		ev.Reason = keyStateReason(k)
	case refusedFor(k, l) != access.Granted:
		ev.Reason = refusedFor(k, l)
	case !k.Settings.Doors.Has(c.Door):
		ev.Reason = access.WrongDoor
	default:
		ev.Reason = decideSchedule(k, l, t.now, k.Uses)
	}
	if ev.Reason == access.Granted {
		ev.Granted = true
		ev.Uses++
	}
	t.emit(keyStream(key), ev)
	if panel.failures > 0 {
		t.emit(keypadStream(c.Lock), events.KeypadFailuresCleared{Lock: c.Lock, Panel: c.Panel})
	}
	return nil
}

// pinResult reads the decision from the events UnlockByPIN appended.
func pinResult(evs []ledger.Event) PINUnlockResult {
	var r PINUnlockResult
	for _, ev := range evs {
		switch e := ev.Data.(type) {
		case events.UnlockAttempted:
			r.Key, r.Granted, r.Reason, r.Uses = e.Key, e.Granted, e.Reason, e.Uses
		case events.KeypadCodeRejected:
			r.Reason, r.Failures = access.WrongPIN, e.Failures
		case events.KeypadLockedOut:
			r.LockedUntil = e.Until
		}
	}
	return r
}

// sameUnlockByPIN compares with a recorded decision on a code. A right
// code is compared through the keyed hash of the key it found; a wrong one
// is kept nowhere, so a retry of a wrong code is compared on lock, panel
// and door only (and a code that is some key's PIN now is not that retry).
func (s *Service) sameUnlockByPIN(ctx context.Context, c UnlockByPIN, orig []ledger.Event) (string, error) {
	switch r := orig[0].Data.(type) {
	case events.UnlockAttempted:
		if r.Source != "keypad" || r.Panel == "" {
			return otherCommand, nil
		}
		if d := firstDiff(field{"lock", r.Lock == c.Lock}, field{"panel", r.Panel == c.Panel}, field{"door", r.Door == c.Door.Set()}); d != "" {
			return d, nil
		}
		e, err := s.cache.get(ctx, s.store, keyStream(r.Key), func() aggregate { return &KeyState{} })
		if err != nil {
			return "", err
		}
		k := e.state.(*KeyState)
		return firstDiff(field{"pin", len(k.PINHash) == len(secret.PINHash{}) && s.vault.CheckPIN(c.Lock, c.PIN, secret.PINHash(k.PINHash))}), nil
	case events.KeypadCodeRejected:
		if d := firstDiff(field{"lock", r.Lock == c.Lock}, field{"panel", r.Panel == c.Panel}, field{"door", r.Door == c.Door.Set()}); d != "" {
			return d, nil
		}
		le, err := s.lockNow(ctx, c.Lock)
		if err != nil {
			return "", err
		}
		h, err := s.vault.HashPIN(c.Lock, c.PIN)
		_, right := le.PINs[[32]byte(h)]
		return firstDiff(field{"pin", err == nil && !right}), nil
	}
	return otherCommand, nil
}
