package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; the typed errors below add context.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("ledger: closed")
	// ErrConflict means a stream was not at the expected version (see ConflictError).
	ErrConflict = errors.New("ledger: wrong expected version")
	// ErrNotFound means no event, state key or checkpoint exists for the argument.
	ErrNotFound = errors.New("ledger: not found")
	// ErrInvalid means an argument broke a documented rule (empty stream name, no events, …).
	ErrInvalid = errors.New("ledger: invalid argument")
	// ErrDuplicateID means an event ID was already written by a different append
	// (a retry must repeat the original append exactly: same IDs, same streams, same order).
	ErrDuplicateID = errors.New("ledger: event ID already used by a different append")
	// ErrUnknownType means an event's Go type or stored type name/schema is not registered.
	ErrUnknownType = errors.New("ledger: unknown event type")
	// ErrDuplicateType is returned by Registry.Register for a name or Go type registered twice.
	ErrDuplicateType = errors.New("ledger: event type registered twice")
	// ErrCorrupt means stored data is damaged or the hash chain is broken (see CorruptionError).
	ErrCorrupt = errors.New("ledger: corrupt")
	// ErrUnknownFormat means the directory holds a database this version does not understand.
	ErrUnknownFormat = errors.New("ledger: unknown storage format")
	// ErrFailed means the ledger stopped accepting writes after a storage failure
	// (a failed WAL write or sync). Close it and open it again to recover.
	ErrFailed = errors.New("ledger: failed after a storage error; reopen")
)

// ConflictError reports a failed expected-version check.
type ConflictError struct {
	Stream   string
	Expected Expect
	Actual   uint64 // the stream's version when the append was checked
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("ledger: stream %q: expected %v, actual version %d", e.Stream, e.Expected, e.Actual)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// CorruptionError names the first log position whose record or chain link is broken.
type CorruptionError struct {
	Position uint64
	Reason   string
	Err      error // underlying storage error, if any
}

func (e *CorruptionError) Error() string {
	s := fmt.Sprintf("ledger: corrupt at position %d: %s", e.Position, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap makes errors.Is(err, ErrCorrupt) true and exposes the storage error.
func (e *CorruptionError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCorrupt, e.Err}
	}
	return []error{ErrCorrupt}
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
