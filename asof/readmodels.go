package asof

import (
	"context"
	"fmt"
	"iter"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

// ReadModels are the read models (package projections) as of a log
// position, rebuilt into a state space of their own in memory (Pebble's
// in-memory filesystem): the live read models and the log are not
// touched. Query them as any projections.Projections; Close frees them.
type ReadModels struct {
	*projections.Projections
	// Position is the log position they are as of: every event up to it
	// is applied, none after it.
	Position uint64
	// State is their state space (projections.Dump and Compare read it).
	State ledger.StateStore

	store *truncated
}

// Close stops the read models and frees their memory; queries answered
// before stay valid.
func (r *ReadModels) Close() error {
	err := r.Projections.Close()
	if cerr := r.store.state.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadModelsAt rebuilds the read models as of log position pos (0: before
// the first event) by replaying events 1..pos into a fresh in-memory state
// space. The cost is a rebuild of that prefix (see BENCHMARKS.md).
//
// Errors: *PositionError (ErrBeyondHead) for a position past the durable
// head; the log's and projections' errors.
func ReadModelsAt(ctx context.Context, log Store, pos uint64) (*ReadModels, error) {
	if head := log.DurablePosition(); pos > head {
		return nil, &PositionError{Position: pos, Head: head}
	}
	state, err := ledger.Open("", &ledger.Options{InMemory: true})
	if err != nil {
		return nil, fmt.Errorf("asof: in-memory state space: %w", err)
	}
	t := &truncated{StateStore: state, state: state, log: log, end: pos}
	p, err := projections.Open(t, &projections.Options{Name: projections.DefaultName, LagAlert: -1})
	if err != nil {
		state.Close()
		return nil, err
	}
	if err := p.WaitApplied(ctx, pos); err != nil {
		p.Close()
		state.Close()
		return nil, fmt.Errorf("asof: applying the log up to position %d: %w", pos, err)
	}
	return &ReadModels{Projections: p, Position: pos, State: state, store: t}, nil
}

// truncated is a projections.Store whose log is log cut at position end
// and whose state space is an in-memory ledger's.
type truncated struct {
	ledger.StateStore
	state *ledger.Ledger
	log   Store
	end   uint64
}

var _ projections.Store = (*truncated)(nil)

// Follow yields the events from..end, then waits for ctx to end (no event
// comes after end).
func (t *truncated) Follow(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		if from <= t.end {
			for ev, err := range t.log.Follow(ctx, from) {
				if err != nil {
					yield(ev, err)
					return
				}
				if !yield(ev, nil) {
					return
				}
				if ev.Position >= t.end {
					break
				}
			}
		}
		<-ctx.Done()
	}
}

func (t *truncated) DurablePosition() uint64 { return min(t.end, t.log.DurablePosition()) }

func (t *truncated) WaitDurable(ctx context.Context, pos uint64) error {
	if pos > t.end {
		return &PositionError{Position: pos, Head: t.end}
	}
	return t.log.WaitDurable(ctx, pos)
}

// Subscribe follows the truncated log from the in-memory checkpoint.
func (t *truncated) Subscribe(ctx context.Context, name string) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		cp, err := t.Checkpoint(ctx, name)
		if err != nil {
			yield(ledger.Event{}, err)
			return
		}
		for ev, err := range t.Follow(ctx, cp+1) {
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

func (t *truncated) EventAt(ctx context.Context, pos uint64) (ledger.Event, error) {
	if pos > t.end {
		return ledger.Event{}, fmt.Errorf("%w: position %d is after %d, the position the read models are as of", ledger.ErrNotFound, pos, t.end)
	}
	return t.log.EventAt(ctx, pos)
}
