package proofs

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; *Error adds context.
var (
	// ErrBehind means a proof or head was asked for a tree larger than
	// the index covers: Update the tree (or wait for Run) first.
	ErrBehind = errors.New("proofs: tree index behind the request")
	// ErrRange means a position or size outside the tree, or a bad key.
	ErrRange = errors.New("proofs: position or size out of range")
	// ErrIndex means the stored tree is damaged or disagrees with the log
	// (a node missing or malformed, a leaf that is not the event's):
	// Rebuild it from the log.
	ErrIndex = errors.New("proofs: tree index damaged")
	// ErrForeignHead means a head given to prove consistency from is not
	// one of this log's: its root differs from the tree of its size.
	ErrForeignHead = errors.New("proofs: head is not of this log")
)

// Error is the typed error of the package; Err is a sentinel above.
type Error struct {
	Err      error
	Position uint64 // the event concerned, 0 if none
	Reason   string
}

func (e *Error) Error() string {
	if e.Position != 0 {
		return fmt.Sprintf("%v: position %d: %s", e.Err, e.Position, e.Reason)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Reason)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }
