package ledger

import (
	"context"
	"io"
	"iter"

	"github.com/google/uuid"
)

// The storage roles. *Ledger implements each on Pebble; another backend
// implements them and passes ledgertest.Run to be used in its place. Code
// above the ledger declares the roles it uses (commands a Log and a
// StateStore, projections a Feed, a StateStore and EventAt). Semantics are
// documented on the *Ledger methods; what a networked backend may return on
// top is ErrUnavailable and ErrUnknownOutcome (see doc.go, Retries).

// Log is the event log: atomic appends with expected versions and
// idempotent event IDs, and reads of what is durable.
type Log interface {
	Append(ctx context.Context, stream string, expect Expect, events ...NewEvent) (AppendResult, error)
	AppendMulti(ctx context.Context, appends ...StreamAppend) (AppendResult, error)
	ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[Event, error]
	StreamVersion(ctx context.Context, stream string) (uint64, error)
	ReadAll(ctx context.Context, from uint64) iter.Seq2[Event, error]
	EventAt(ctx context.Context, pos uint64) (Event, error)
	EventByID(ctx context.Context, id uuid.UUID) (Event, error)
	Registry() *Registry
}

// Feed delivers the durable log in position order and waits for more.
// Subscribe resumes after a checkpoint that the same backend's
// StateStore.ApplyState stored (StateBatch.SetCheckpoint).
type Feed interface {
	Follow(ctx context.Context, from uint64) iter.Seq2[Event, error]
	Subscribe(ctx context.Context, name string) iter.Seq2[Event, error]
	DurablePosition() uint64
	WaitDurable(ctx context.Context, pos uint64) error
}

// RawFeed is implemented by a Feed that can hand over payloads undecoded,
// for a reader that decodes them with a Decoder of its own and so reuses
// the memory of the values (the read models' catch-up does): FollowRaw is
// Follow with every Event's Data nil, Raw valid until the loop body
// returns. Registry is the feed's, to decode with.
type RawFeed interface {
	FollowRaw(ctx context.Context, from uint64) iter.Seq2[Event, error]
	Registry() *Registry
}

// StateStore is the mutable key/value space beside the log, outside the
// hash chain, with the subscribers' checkpoints: ApplyState commits rows and
// a checkpoint as one, so a subscriber resumes exactly after what it wrote.
type StateStore interface {
	GetState(ctx context.Context, key []byte) ([]byte, error)
	ScanState(ctx context.Context, prefix []byte) iter.Seq2[StateEntry, error]
	ApplyState(ctx context.Context, b *StateBatch) error
	CompactState(ctx context.Context, prefix []byte) error
	Checkpoint(ctx context.Context, name string) (uint64, error)
}

// Verifier proves the log's integrity with its hash chain.
type Verifier interface {
	Head(ctx context.Context) (Digest, error)
	Verify(ctx context.Context) (Digest, error)
	CheckDigest(ctx context.Context, d Digest) error
}

// Leaser is implemented by a backend that several processes share: a named
// lease one instance holds at a time, so that exactly one process applies a
// subscriber's events while the others read what it wrote. A backend one
// process owns (*Ledger) has no need of it.
type Leaser interface {
	// Lease blocks until this instance holds the lease name, or ctx ends.
	// The returned context ends when ctx does, when the lease is lost (the
	// backend can no longer guarantee it: a dropped connection) or when
	// release is called; work done under the lease stops with it. The
	// backend fences the lease: an ApplyState under held that sets the
	// checkpoint name commits only while this instance still holds it, so
	// two processes never both apply a subscriber's events.
	Lease(ctx context.Context, name string) (held context.Context, release func(), err error)
}

// Backend is every role and Close: what a whole stack runs on (the root
// package's Options.Backend). *Ledger is the embedded one; a backend on a
// database server implements it and passes ledgertest.Run.
type Backend interface {
	Log
	Feed
	StateStore
	Verifier
	io.Closer
}

var (
	_ Backend    = (*Ledger)(nil)
	_ Log        = (*Ledger)(nil)
	_ Feed       = (*Ledger)(nil)
	_ StateStore = (*Ledger)(nil)
	_ Verifier   = (*Ledger)(nil)
	_ io.Closer  = (*Ledger)(nil)
)
