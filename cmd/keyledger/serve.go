package main

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

// Read-only serving.
//
// history and keys answer from the read models the projections keep in the
// ledger's state space. The directory is opened read-only (Pebble writes
// nothing, and the ledger refuses every write), so the read models cannot be
// brought up to date in place. Three cases:
//
//   - stored read models at the log head: queried where they are;
//   - behind the head (a process stopped before its projections applied the
//     last events): the read models are copied into an in-memory
//     state space and the missing events applied there — the log is still
//     read from the directory, so history reads the real events;
//   - absent (no checkpoint) or -replay: the whole log is replayed into an
//     empty in-memory state space.
//
// The answer is therefore always that of the log head, and nothing is ever
// written to the directory.

// memStore is a projections.Store whose log is the on-disk ledger (read-only)
// and whose state space — projection rows and checkpoints — is an in-memory
// ledger.
type memStore struct {
	ledger.StateStore                // the in-memory state space
	log               ledger.Backend // read-only
	state             *ledger.Ledger // what StateStore is
}

var _ projections.Store = (*memStore)(nil)

func newMemStore(log ledger.Backend) (*memStore, error) {
	state, err := ledger.Open("", &ledger.Options{InMemory: true})
	if err != nil {
		return nil, err
	}
	return &memStore{StateStore: state, log: log, state: state}, nil
}

func (m *memStore) Follow(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error] {
	return m.log.Follow(ctx, from)
}

func (m *memStore) DurablePosition() uint64 { return m.log.DurablePosition() }

func (m *memStore) WaitDurable(ctx context.Context, pos uint64) error {
	return m.log.WaitDurable(ctx, pos)
}

func (m *memStore) EventAt(ctx context.Context, pos uint64) (ledger.Event, error) {
	return m.log.EventAt(ctx, pos)
}

// Subscribe follows the log from the in-memory checkpoint.
func (m *memStore) Subscribe(ctx context.Context, name string) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		cp, err := m.Checkpoint(ctx, name)
		if err != nil {
			yield(ledger.Event{}, err)
			return
		}
		for ev, err := range m.Follow(ctx, cp+1) {
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Close closes the in-memory state only; the caller owns the log.
func (m *memStore) Close() error { return m.state.Close() }

// projectionsPrefix is where projections keeps its rows.
var projectionsPrefix = []byte(projections.StatePrefix)

// copyState copies the stored read models and their checkpoint into m.
func (m *memStore) copyState(ctx context.Context, from ledger.StateStore, checkpoint uint64) error {
	var b ledger.StateBatch
	for e, err := range from.ScanState(ctx, projectionsPrefix) {
		if err != nil {
			return err
		}
		b.Set(e.Key, e.Value)
		if b.Len() == 4096 {
			if err := m.state.ApplyState(ctx, &b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.SetCheckpoint(projections.DefaultName, checkpoint)
	return m.state.ApplyState(ctx, &b)
}

// served is what history and keys query, and how it was obtained.
type served struct {
	proj    *projections.Projections
	store   projections.Store // what proj reads: the ledger or a memStore over it
	head    uint64            // the log head; proj has applied every event up to it
	stored  uint64            // the stored read models' checkpoint
	applied uint64            // events applied in memory (0: stored read models as they are)
	mem     *memStore         // nil when the stored read models are queried in place
}

func (s *served) Close() {
	if s.proj != nil {
		s.proj.Close()
	}
	if s.mem != nil {
		s.mem.Close()
	}
}

// note says, for stderr, how the answer was obtained when it was not simply
// read from the stored read models; "" when it was.
func (s *served) note() string {
	switch {
	case s.mem == nil, s.applied == 0:
		return ""
	case s.stored == 0:
		return fmt.Sprintf("no stored read models: replayed %d events in memory (nothing written)", s.applied)
	case s.applied == s.head:
		return fmt.Sprintf("replayed %d events in memory (-replay; nothing written)", s.applied)
	}
	return fmt.Sprintf("stored read models are at position %d of %d: applied the last %d events in memory (nothing written)",
		s.stored, s.head, s.applied)
}

// openServed opens dir read-only with the commands catalogue, serves its
// read models (see serve) and checks that the lock or key asked about
// (what = "-lock" or "-key") exists. The caller closes s, then l.
func openServed(ctx context.Context, dir string, replay bool, what, id string) (l ledger.Backend, s *served, err error) {
	reg, err := newRegistry()
	if err != nil {
		return nil, nil, err
	}
	if l, err = openLedger(dir, reg); err != nil {
		return nil, nil, err
	}
	if s, err = serve(ctx, l, replay); err != nil {
		l.Close()
		return nil, nil, err
	}
	if err = known(ctx, s, what, id); err != nil {
		s.Close()
		l.Close()
		return nil, nil, err
	}
	return l, s, nil
}

// serve returns read models of l at its head without writing to l: the
// stored ones if current, else a copy caught up in memory, or with replay
// (or none stored) a full replay in memory. l must be read-only and opened
// with newRegistry. A store shared by processes (PostgreSQL) is always
// served from a copy: read models over it would take their lease and
// apply, which writes.
func serve(ctx context.Context, l ledger.Backend, replay bool) (*served, error) {
	s := &served{head: l.DurablePosition()}
	cp, err := l.Checkpoint(ctx, projections.DefaultName)
	if err != nil {
		return nil, fmt.Errorf("read models' checkpoint: %w", err)
	}
	s.stored = cp
	if cp > s.head {
		return nil, fmt.Errorf("stored read models claim position %d beyond the log head %d (run 'keyledger rebuild')", cp, s.head)
	}
	s.store = l
	_, shared := l.(ledger.Leaser)
	if replay || cp < s.head || shared {
		if s.mem, err = newMemStore(l); err != nil {
			return nil, err
		}
		s.store = s.mem
		from := uint64(0)
		if !replay && cp > 0 {
			if err := s.mem.copyState(ctx, l, cp); err != nil {
				s.Close()
				return nil, fmt.Errorf("copying the stored read models: %w", err)
			}
			from = cp
		}
		s.applied = s.head - from
	}
	if s.proj, err = projections.Open(s.store, nil); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.proj.WaitApplied(ctx, s.head); err != nil {
		s.Close()
		return nil, fmt.Errorf("applying the log: %w", err)
	}
	return s, nil
}

// queryErr adds what to do when a stored read-model row does not decode.
func queryErr(err error) error {
	if errors.Is(err, projections.ErrCorrupt) {
		return fmt.Errorf("%w (the stored read models are damaged: -replay answers from the log; 'keyledger rebuild' checks them)", err)
	}
	return err
}
