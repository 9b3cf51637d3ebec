package commands

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; the typed errors below add the
// offending value. No message ever contains a share code, PIN or password.
var (
	// ErrForbidden means the action is not allowed in the key's current state
	// (see StateError).
	ErrForbidden = errors.New("commands: not allowed in the current state")
	// ErrNotFound means the account, lock, key or contact does not exist (see NotFoundError).
	ErrNotFound = errors.New("commands: not found")
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
	// ErrBusy means a command kept meeting concurrent changes and gave up
	// after Options.MaxRetries attempts.
	ErrBusy = errors.New("commands: too many concurrent changes; retry")
)

// StateError reports a forbidden transition and names the current state.
type StateError struct {
	Key    string
	Kind   Kind
	State  State
	Action Action
}

func (e *StateError) Error() string {
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
	// offline credential's policy a *policy.CompactError.
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
