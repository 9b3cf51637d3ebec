package commands

import (
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// Sentinel errors. Match them with errors.Is; the typed errors below add the
// offending value. No message ever contains a share code, PIN or password.
var (
	// ErrForbidden means the action is not allowed in the key's current state
	// (see StateError).
	ErrForbidden = errors.New("commands: not allowed in the current state")
	// ErrNotFound means the account, lock, key or contact does not exist (see NotFoundError).
	ErrNotFound = events.ErrNotFound
	// ErrExists means the account, lock or key already exists.
	ErrExists = errors.New("commands: already exists")
	// ErrInvalid means a command broke a documented input rule (see ValidationError).
	ErrInvalid = errors.New("commands: invalid command")
	// ErrNotPermitted means the caller is not the one allowed to do this
	// (not the owner, not the holder, wrong code).
	ErrNotPermitted = errors.New("commands: not permitted")
	// ErrNoSlot means every slot of the lock is in use.
	ErrNoSlot = errors.New("commands: no free slot")
	// ErrPINTaken means another key of the lock already has this PIN.
	ErrPINTaken = errors.New("commands: PIN already used on this lock")
	// ErrCardTaken means another key of the lock already names this card.
	ErrCardTaken = errors.New("commands: card already used on this lock")
	// ErrNeedsValidity means an intercom key that is not unlimited — single
	// use (a use limit) or recurring (weekly windows) — was given no start
	// or no expiry. It comes in a *ValidationError whose Field is "start"
	// or "expiry".
	ErrNeedsValidity = errors.New("commands: single-use and recurring intercom keys need a start and an expiry")
	// ErrBusy means a command kept meeting concurrent changes and gave up
	// after Options.MaxRetries attempts.
	ErrBusy = errors.New("commands: too many concurrent changes; retry")
	// ErrShredded means a sealed code, PIN, password hash or master code can
	// never be opened again: its data key was destroyed (crypto-shredding,
	// for instance by AckNotification). It is the vault's own sentinel, so
	// callers outside the module can match it.
	ErrShredded = secret.ErrShredded
	// ErrNotSerializable is returned by every marshaling method of Secret:
	// a secret must be sealed before it is stored or sent. It is the
	// vault's own sentinel, re-exported.
	ErrNotSerializable = secret.ErrNotSerializable
)

// ErrStillAtLock means a key cannot be deleted yet: it was taken away
// (reset, revoked, deactivated), but its removal has not reached its lock,
// and its credential may still open it (see AtLockError).
var ErrStillAtLock = errors.New("commands: the key's removal has not reached its lock")

// AtLockError reports a key whose removal its lock has not confirmed
// (Sync removing), or refused (Sync failed): its credential may open the
// lock until Until (zero: until the lock hears of the removal).
type AtLockError struct {
	Key, Lock string
	Sync      events.LockSync
	Until     time.Time
}

func (e *AtLockError) Error() string {
	until := "until the lock applies its removal"
	if !e.Until.IsZero() {
		until = "until " + e.Until.UTC().Format(time.RFC3339) + " or until the lock applies its removal"
	}
	return fmt.Sprintf("commands: key %q is %s at lock %q and may open it %s", e.Key, e.Sync, e.Lock, until)
}

// Unwrap makes errors.Is(err, ErrStillAtLock) and errors.Is(err,
// ErrForbidden) true.
func (e *AtLockError) Unwrap() []error { return []error{ErrStillAtLock, ErrForbidden} }

// StateError reports a forbidden transition and names the current state.
type StateError struct {
	Key    string
	Kind   events.Kind
	State  events.State
	Action events.Action
	// Reason, when set, is why a key its state would allow is refused:
	// access.KeySuspended, access.LockReset.
	Reason access.Reason
}

func (e *StateError) Error() string {
	if e.Reason != access.Granted {
		return fmt.Sprintf("commands: cannot %s %s key %q: %s", e.Action, e.Kind, e.Key, e.Reason)
	}
	return fmt.Sprintf("commands: cannot %s %s key %q: it is %s", e.Action, e.Kind, e.Key, e.State)
}

// Unwrap makes errors.Is(err, ErrForbidden) true.
func (e *StateError) Unwrap() error { return ErrForbidden }

// NotFoundError names what was not found.
type NotFoundError struct {
	What string // "account", "lock", "key", "contact"
	ID   string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("commands: %s %q not found", e.What, e.ID) }

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// ValidationError names the field that broke a rule. Reason never holds a
// secret; instants in it are RFC 3339.
type ValidationError struct {
	Field  string
	Reason string
	// Err is the cause from another package, if any: for Field "policy"
	// and "blackouts" policy's error (an errors.Join of
	// *policy.ValidationError, each wrapping policy.ErrInvalid), for an
	// offline credential's policy a *policy.CompactError, for Field "zone"
	// policy.LoadZone's (wrapping policy.ErrUnknownZone), for a sealed
	// value or secret given as input the vault's (internal: match ErrInvalid),
	// for Field "start" or "expiry" of an intercom key ErrNeedsValidity.
	Err error
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("commands: invalid %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true, and reaches Err (so
// errors.As(err, new(*policy.ValidationError)) and errors.Is(err,
// policy.ErrInvalid) work on a policy that does not validate).
func (e *ValidationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func exists(what, id string) error { return fmt.Errorf("%w: %s %q", ErrExists, what, id) }

func notPermitted(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrNotPermitted}, args...)...)
}

// vaultErr maps an error of the vault (package secret) to this package's
// sentinels, so every error a public method returns matches one of them
// (the vault cannot tell a caller's bad input from damaged stored data; the
// command can):
//
//   - a shredded data key stays ErrShredded (the same value);
//   - field != "" (the sealed value or secret came from the caller):
//     malformed, unauthenticated or otherwise invalid input, and a data key
//     the keystore never had, is a *ValidationError (ErrInvalid) for field,
//     or a *NotFoundError (ErrNotFound) for the unknown data key;
//   - field == "" (the value came from the log): the same failures mean the
//     stored data is damaged: ledger.ErrCorrupt;
//   - anything else (the keystore's storage error, a cancelled context, the
//     random source) is returned unchanged: those are the ledger's typed
//     errors or the standard library's, never a wrong password.
//
// The vault's error stays in the chain (errors.Unwrap) for logs; its
// message holds key IDs and lengths, never a secret.
func vaultErr(err error, field string) error {
	var ke *secret.KeyError
	switch {
	case err == nil, errors.Is(err, secret.ErrShredded):
		return err
	case !errors.Is(err, secret.ErrMalformed) && !errors.Is(err, secret.ErrAuthentication) && !errors.Is(err, secret.ErrUnknownKey) &&
		!errors.Is(err, secret.ErrInvalid) && !errors.Is(err, secret.ErrWrongPassword) && !errors.Is(err, secret.ErrConfig) &&
		!errors.Is(err, secret.ErrNotSerializable):
		return err
	case field == "":
		return fmt.Errorf("commands: a sealed value in the log does not open: %w: %w", ledger.ErrCorrupt, err)
	case errors.Is(err, secret.ErrUnknownKey) && errors.As(err, &ke):
		return &NotFoundError{What: "data key of " + field, ID: ke.ID.String()}
	default:
		return &ValidationError{Field: field, Reason: err.Error(), Err: err}
	}
}
