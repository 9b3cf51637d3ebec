package lockproto

import (
	"errors"
	"fmt"

	"github.com/keyledger/keyledger/access"
)

// Sentinel errors; use errors.Is. Typed errors below wrap them.
var (
	ErrMalformed = errors.New("lockproto: malformed frame")              // truncated, oversized, or a field out of range
	ErrVersion   = errors.New("lockproto: unsupported protocol version") // never downgraded
	ErrType      = errors.New("lockproto: unexpected frame type")
	ErrSignature = errors.New("lockproto: bad issuer signature")
	ErrMAC       = errors.New("lockproto: bad MAC")
	ErrWrongLock = errors.New("lockproto: frame is for another lock")
	ErrInvalid   = errors.New("lockproto: invalid argument")
	ErrRefused   = errors.New("lockproto: refused by the lock")
	ErrAuditGap  = errors.New("lockproto: audit records missing")
	ErrFragment  = errors.New("lockproto: bad fragment")
)

// FrameError says which frame failed to decode, where, and why. It unwraps to
// ErrMalformed, ErrVersion or ErrType.
type FrameError struct {
	Frame  string // "credential", "challenge", ...
	Offset int    // byte offset of the problem
	Detail string
	Err    error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d: %s", e.Err, e.Frame, e.Offset, e.Detail)
}

func (e *FrameError) Unwrap() error { return e.Err }

// RefusalError is a lock's refusal of a frame with its reason code. It
// unwraps to ErrRefused.
type RefusalError struct {
	Reason access.Reason
	Detail string
}

func (e *RefusalError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("lockproto: refused by the lock: %v", e.Reason)
	}
	return fmt.Sprintf("lockproto: refused by the lock: %v: %s", e.Reason, e.Detail)
}

func (e *RefusalError) Unwrap() error { return ErrRefused }

// AuditGapError reports records missing between what the backend verified
// last and the first record of a batch (the lock's ring overwrote them, or
// someone dropped them). The records that were in the batch are authentic.
type AuditGapError struct {
	After uint32 // last sequence number verified before
	First uint32 // first sequence number in the batch
}

func (e *AuditGapError) Error() string {
	return fmt.Sprintf("lockproto: audit records missing: %d..%d", e.After+1, e.First-1)
}

func (e *AuditGapError) Unwrap() error { return ErrAuditGap }

// FragmentError is a reassembly failure; it unwraps to ErrFragment.
type FragmentError struct {
	Index, Count int
	Detail       string
}

func (e *FragmentError) Error() string {
	return fmt.Sprintf("lockproto: bad fragment %d of %d: %s", e.Index, e.Count, e.Detail)
}

func (e *FragmentError) Unwrap() error { return ErrFragment }

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// ErrPersist: the lock's Config.Persist failed, so the lock did not act on
// what it could not keep.
var ErrPersist = errors.New("lockproto: persisting the lock's state failed")
