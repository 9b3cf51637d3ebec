package asof

import (
	"errors"
	"fmt"
	"time"
)

// Errors. Every bad input wraps one of these sentinels; the typed errors
// below carry the offending value.
var (
	// ErrNotFound: the lock, door or account asked about is not in the log.
	ErrNotFound = errors.New("asof: not found")
	// ErrRange: a time range ends before it starts.
	ErrRange = errors.New("asof: range ends before it starts")
	// ErrBeyondHead: a log position past the durable head of the log.
	ErrBeyondHead = errors.New("asof: position beyond the log head")
)

// NotFoundError names what was not found: "lock", "door" or "account".
type NotFoundError struct {
	What, ID string
	Lock     string // for a door: the lock it was asked of
}

func (e *NotFoundError) Error() string {
	if e.What == "door" {
		return fmt.Sprintf("asof: lock %q has no door %s", e.Lock, e.ID)
	}
	return fmt.Sprintf("asof: unknown %s %q", e.What, e.ID)
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// RangeError is a range [From, To] with To before From, or, when Max is
// set, one longer than Max.
type RangeError struct {
	From, To time.Time
	Max      time.Duration
}

func (e *RangeError) Error() string {
	if e.Max > 0 {
		return fmt.Sprintf("asof: range from %s to %s is longer than %v",
			e.From.UTC().Format(time.RFC3339Nano), e.To.UTC().Format(time.RFC3339Nano), e.Max)
	}
	return fmt.Sprintf("asof: range ends at %s, before it starts at %s",
		e.To.UTC().Format(time.RFC3339Nano), e.From.UTC().Format(time.RFC3339Nano))
}

func (e *RangeError) Unwrap() error { return ErrRange }

// PositionError is a log position past the head.
type PositionError struct{ Position, Head uint64 }

func (e *PositionError) Error() string {
	return fmt.Sprintf("asof: position %d is beyond the log head %d", e.Position, e.Head)
}

func (e *PositionError) Unwrap() error { return ErrBeyondHead }
