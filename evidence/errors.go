package evidence

import (
	"errors"
	"fmt"
)

// Sentinel errors of Decode and Verify. Match them with errors.Is; *Error
// adds the position and the reason.
var (
	// ErrFormat means the bundle is not a well-formed bundle of a known
	// version: bad JSON, an unknown format name or version, a hash of the
	// wrong length, a proof too long, a reference to an event not in it.
	ErrFormat = errors.New("evidence: malformed bundle")
	// ErrKey means no public key was given to check the head against, or
	// the bundle names another key than the one given.
	ErrKey = errors.New("evidence: wrong or missing log key")
	// ErrSignature means a tree head's signature does not verify under the
	// log key: the head was altered or signed by someone else.
	ErrSignature = errors.New("evidence: tree head signature does not verify")
	// ErrRecord means an event's record bytes are malformed, or its summary
	// or position says something the record does not.
	ErrRecord = errors.New("evidence: event record does not match its summary")
	// ErrInclusion means an event's inclusion proof does not lead from its
	// record to the signed head's root: the event, its position or the
	// proof was altered, or the event is not in that log.
	ErrInclusion = errors.New("evidence: event not proved included under the signed head")
	// ErrConsistency means the signed head is not proved to extend the head
	// the verifier trusts: no proof from that size, or a proof that fails
	// (the log was rewritten, or a fork was shown to someone).
	ErrConsistency = errors.New("evidence: signed head not proved consistent with the trusted head")
	// ErrQuestion means a bundle's question does not verify under the log
	// key with its head: the question, its answer or the positions it
	// cites were altered, or it was signed for another head.
	ErrQuestion = errors.New("evidence: question's signature does not verify")
)

// Error is the typed error of Decode and Verify. Err is one of the
// sentinels above; Position names the event (0 when the error is about the
// bundle or a head).
type Error struct {
	Err      error
	Position uint64
	Reason   string
}

func (e *Error) Error() string {
	if e.Position != 0 {
		return fmt.Sprintf("%v: event at position %d: %s", e.Err, e.Position, e.Reason)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Reason)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func fail(err error, pos uint64, format string, args ...any) *Error {
	return &Error{Err: err, Position: pos, Reason: fmt.Sprintf(format, args...)}
}
