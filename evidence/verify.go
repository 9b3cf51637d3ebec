package evidence

import (
	"crypto/ed25519"
	"fmt"
	"strings"
)

// A lock's audit records are events of this type in a stream named with
// this prefix and the lock's ID (as package commands appends them): the
// only events that may confirm another.
const (
	AuditRecordType   = "lock.audit_recorded"
	AuditStreamPrefix = "lockaudit-"
)

// Options is what the verifier trusts. Key is required.
type Options struct {
	// Key is the log's public key, learned from its operator out of band
	// (never from the bundle).
	Key ed25519.PublicKey
	// Trusted is a head the verifier already holds (from an earlier
	// bundle, or published): the bundle's head must be it, or be proved to
	// extend it. Its signature is checked under Key as well.
	Trusted *SignedHead
}

// Report is what Verify proved.
type Report struct {
	Head   Head
	Events int
	// ExtendsTrusted is set when Options.Trusted was given and the head
	// is it or is proved to extend it.
	ExtendsTrusted bool
	// Question is set when the bundle holds a question (Bundle.Question)
	// and its signature verified.
	Question bool
}

// Verify checks a bundle: the head's signature under opts.Key; every
// event's record against its summary and position, and its inclusion
// under the head; that every event named in a ConfirmedBy is a lock audit
// record; the question's signature, if it has one; every consistency
// proof (each shows the head extends the tree it starts from); and, with
// opts.Trusted, that one of them starts from the trusted head (or that
// the head is the trusted one). The first failure is returned as an
// *Error matching one of the sentinels; a bundle that verifies returns a
// nil error.
func Verify(b *Bundle, opts Options) (Report, error) {
	if b.Format != FormatName || b.Version < 1 || b.Version > Version {
		return Report{}, fail(ErrFormat, 0, "format %q version %d", b.Format, b.Version)
	}
	if err := b.check(); err != nil {
		return Report{}, err
	}
	if len(opts.Key) == 0 {
		return Report{}, fail(ErrKey, 0, "no log key given: the key the bundle names proves nothing by itself")
	}
	if err := b.Head.Check(opts.Key); err != nil {
		return Report{}, err
	}
	rep := Report{Head: b.Head.Head, Events: len(b.Events)}
	at := make(map[uint64]*Event, len(b.Events))
	for i := range b.Events {
		if err := verifyEvent(&b.Events[i], b.Head.Head); err != nil {
			return Report{}, err
		}
		at[b.Events[i].Position] = &b.Events[i]
	}
	for _, e := range b.Events {
		for _, p := range e.ConfirmedBy {
			if s := at[p].Summary; s.Type != AuditRecordType || !strings.HasPrefix(s.Stream, AuditStreamPrefix) {
				return Report{}, fail(ErrRecord, e.Position, "confirmed by position %d, a %q event of stream %q, not a lock audit record", p, s.Type, s.Stream)
			}
		}
	}
	if b.Question != nil {
		if err := b.Question.check(opts.Key, b.Head.Head); err != nil {
			return Report{}, err
		}
		rep.Question = true
	}
	for _, c := range b.Consistency {
		if err := VerifyConsistency(Head{Size: c.FromSize, Root: c.FromRoot}, b.Head.Head, c.Proof); err != nil {
			return Report{}, err
		}
	}
	if opts.Trusted != nil {
		if err := extends(b, opts); err != nil {
			return Report{}, err
		}
		rep.ExtendsTrusted = true
	}
	return rep, nil
}

func verifyEvent(e *Event, head Head) error {
	r, err := ParseRecord(e.Record)
	if err != nil {
		err.(*Error).Position = e.Position
		return err
	}
	if r.Position != e.Position {
		return fail(ErrRecord, e.Position, "the record is of position %d", r.Position)
	}
	if got := r.Summary(); got != e.Summary {
		return fail(ErrRecord, e.Position, "summary %s differs from the record's %s", brief(e.Summary), brief(got))
	}
	return VerifyInclusion(e.Record, e.Position, e.Proof, head)
}

func brief(s Summary) string {
	return fmt.Sprintf("{%d %q v%d %s %q schema %d %s prev %d payload %.12s}", s.Position, s.Stream, s.Version, s.ID, s.Type, s.Schema, s.Time, s.Prev, s.Payload)
}

func extends(b *Bundle, opts Options) error {
	t := opts.Trusted
	if err := t.Check(opts.Key); err != nil {
		return fmt.Errorf("trusted head: %w", err)
	}
	if t.Size == b.Head.Size {
		if t.Root != b.Head.Root {
			return fail(ErrConsistency, 0, "trusted head and signed head both of size %d with roots %s and %s", t.Size, t.Root, b.Head.Root)
		}
		return nil
	}
	if t.Size > b.Head.Size {
		return fail(ErrConsistency, 0, "trusted head of size %d is newer than the bundle's head of size %d", t.Size, b.Head.Size)
	}
	for _, c := range b.Consistency {
		if c.FromSize == t.Size && c.FromRoot == t.Root {
			return nil // verified with the others
		}
	}
	return fail(ErrConsistency, 0, "the bundle holds no consistency proof from the trusted head of size %d, root %s", t.Size, t.Root)
}
