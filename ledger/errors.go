package ledger

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
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
	// ErrIDReused means an append repeated stored event IDs (as a retry does)
	// but with a different stream, type, schema or payload (see IDReusedError).
	// Such an error also matches ErrDuplicateID.
	ErrIDReused = errors.New("ledger: event ID reused for a different event")
	// ErrUnknownType means an event's Go type or stored type name/schema is not registered.
	ErrUnknownType = errors.New("ledger: unknown event type")
	// ErrDuplicateType is returned by Registry.Register for a name or Go type registered twice.
	ErrDuplicateType = errors.New("ledger: event type registered twice")
	// ErrCorrupt means stored data is damaged or the hash chain is broken (see CorruptionError).
	ErrCorrupt = errors.New("ledger: corrupt")
	// ErrUnknownFormat means the directory holds a database this version does not understand.
	ErrUnknownFormat = errors.New("ledger: unknown storage format")
	// ErrFailed means the ledger stopped accepting writes after a storage failure
	// (a failed write, sync, create, rename or removal of the write-ahead log,
	// MANIFEST, marker, OPTIONS file or directory; or a fatal error reported
	// by Pebble). The cause is wrapped. Close it and open it again to recover.
	ErrFailed = errors.New("ledger: failed after a storage error; reopen")
	// ErrIO means a read failed in the storage below the ledger (the disk or
	// filesystem returned an error) without showing the data to be damaged:
	// it may succeed if tried again. The storage error is wrapped with it.
	// Data that Pebble or the ledger found damaged is ErrCorrupt instead; an
	// error is never both.
	ErrIO = errors.New("ledger: storage read error")

	// ErrUnavailable means a networked backend could not do the operation
	// (its server unreachable, overloaded or failing over) and wrote
	// nothing: the same call may be retried as it is, later. The ledger on
	// Pebble never returns it.
	ErrUnavailable = errors.New("ledger: storage unavailable; nothing written")
	// ErrUnknownOutcome means a networked backend sent a write but lost its
	// answer (the connection ended during the commit): it may or may not
	// have committed. Retry an append with the same event IDs, streams,
	// types and payloads: if the first attempt committed, the retry returns
	// its AppendResult and writes nothing, whatever the expected versions
	// say now; if not, it appends, checking them. Events with generated IDs
	// (a zero NewEvent.ID) cannot be retried safely. Retry an ApplyState with
	// the same batch, before the state is written again. The ledger on
	// Pebble never returns it: its commits are local, a failure is ErrFailed.
	ErrUnknownOutcome = errors.New("ledger: write outcome unknown; retry with the same event IDs")
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

// CorruptionError names the first log position whose record or chain link is
// broken, or data Pebble found damaged (Err holds Pebble's error, for which
// pebble.IsCorruptionError is true). A read that failed without evidence of
// damage is ErrIO, not a CorruptionError.
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

// readErr classifies the error of a Pebble read at position pos (0 if none
// applies). Damage Pebble detected (pebble.IsCorruptionError: a checksum
// mismatch, a malformed block or table) is a *CorruptionError; any other error
// (a failing disk, an injected fault) wraps ErrIO and the cause. Errors the
// ledger already classified pass through.
func readErr(pos uint64, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrIO), errors.Is(err, ErrCorrupt), errors.Is(err, ErrClosed), errors.Is(err, ErrFailed):
		return err
	case pebble.IsCorruptionError(err):
		return &CorruptionError{Position: pos, Reason: "storage reports damaged data", Err: err}
	case pos > 0:
		return fmt.Errorf("%w at position %d: %w", ErrIO, pos, err)
	}
	return fmt.Errorf("%w: %w", ErrIO, err)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// IDReusedError reports a retry whose event IDs match a stored append but
// whose content does not: the first differing event, where it is stored and
// what differs. errors.Is matches ErrIDReused and ErrDuplicateID.
type IDReusedError struct {
	ID       uuid.UUID
	Position uint64 // where the stored event with ID is
	Stream   string // the stored event's stream
	Differs  string // what the retry has differently, e.g. "payload"
}

func (e *IDReusedError) Error() string {
	return fmt.Sprintf("ledger: event ID %s (stored at position %d on stream %q) reused with a different %s", e.ID, e.Position, e.Stream, e.Differs)
}

// Unwrap makes errors.Is(err, ErrIDReused) and errors.Is(err, ErrDuplicateID) true.
func (e *IDReusedError) Unwrap() []error { return []error{ErrIDReused, ErrDuplicateID} }

// IndexError names an index entry or stored stream head that Verify found
// missing, pointing at the wrong event, or pointing at no event; EventByID,
// ReadStream and StreamVersion return one when the entry they follow is
// damaged, Append and AppendMulti when a stored head they load is (rather
// than another event, ErrNotFound or a wait that never ends).
// errors.Is(err, ErrCorrupt) is true.
type IndexError struct {
	Index    string    // "stream", "id" or "head" (a stored stream head)
	Position uint64    // the event's position, or where the entry points
	Stream   string    // the event's stream, or the entry's for the stream index or a head
	Version  uint64    // the event's version, or the entry's for the stream index or a head
	ID       uuid.UUID // the event's ID, or the entry's for the ID index
	Reason   string
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("ledger: corrupt %s index at position %d (stream %q version %d, ID %s): %s",
		e.Index, e.Position, e.Stream, e.Version, e.ID, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *IndexError) Unwrap() error { return ErrCorrupt }
