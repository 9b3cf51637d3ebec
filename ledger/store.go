package ledger

import (
	"context"
	"iter"

	"github.com/google/uuid"
)

// Store is the ledger's contract with the code above it. *Ledger on
// Pebble implements it; another backend must pass ledgertest.Run to be used
// in its place. Semantics are documented on the *Ledger methods.
type Store interface {
	Append(ctx context.Context, stream string, expect Expect, events ...NewEvent) (AppendResult, error)
	AppendMulti(ctx context.Context, appends ...StreamAppend) (AppendResult, error)

	ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[Event, error]
	StreamVersion(ctx context.Context, stream string) (uint64, error)
	ReadAll(ctx context.Context, from uint64) iter.Seq2[Event, error]
	EventAt(ctx context.Context, pos uint64) (Event, error)
	EventByID(ctx context.Context, id uuid.UUID) (Event, error)

	Follow(ctx context.Context, from uint64) iter.Seq2[Event, error]
	Subscribe(ctx context.Context, name string) iter.Seq2[Event, error]
	Checkpoint(ctx context.Context, name string) (uint64, error)
	DurablePosition() uint64
	WaitDurable(ctx context.Context, pos uint64) error

	GetState(ctx context.Context, key []byte) ([]byte, error)
	ScanState(ctx context.Context, prefix []byte) iter.Seq2[StateEntry, error]
	ApplyState(ctx context.Context, b *StateBatch) error
	CompactState(ctx context.Context, prefix []byte) error

	Head(ctx context.Context) (Digest, error)
	Verify(ctx context.Context) (Digest, error)
	CheckDigest(ctx context.Context, d Digest) error

	Registry() *Registry
	Close() error
}

var _ Store = (*Ledger)(nil)
