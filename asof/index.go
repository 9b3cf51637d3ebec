package asof

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

// ErrClosed is returned by the queries of a closed Index.
var ErrClosed = errors.New("asof: index closed")

// Store is what the as-of queries read: the log, followed and read by
// position, and a stream's version (is an account registered).
// *ledger.Ledger and the PostgreSQL ledger implement it (any
// ledger.Backend, such as keyledger.Stack.Ledger).
type Store interface {
	ledger.Feed
	ReadAll(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error]
	EventAt(ctx context.Context, pos uint64) (ledger.Event, error)
	StreamVersion(ctx context.Context, stream string) (uint64, error)
}

var _ Store = (*ledger.Ledger)(nil)

// Index answers as-of access queries. It follows the log, like the read
// models, and keeps in memory every version of every key (its lifecycle,
// holder, settings and standing at its lock), every use count, every
// lock's blackouts, and the running latest event time of each position;
// a query picks, for each key, the version in force at the log position
// it is asked as of. Safe for concurrent use.
type Index struct {
	store Store

	mu       sync.RWMutex
	applied  uint64
	maxTimes []int64 // by position-1: the latest event time (Unix ns) up to it
	locks    map[string]*lockHistory
	keys     map[string]*keyHistory   // by stream name
	accounts map[string][]*keyHistory // the keys each account was ever the opener of
	err      error                    // what stopped the index
	notify   chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool
}

// Open starts an Index following the log from its first event. Queries
// wait until it has applied the log up to the head they see.
func Open(store Store) (*Index, error) {
	if store == nil {
		return nil, errors.New("asof: nil store")
	}
	x := &Index{store: store, locks: map[string]*lockHistory{}, keys: map[string]*keyHistory{},
		accounts: map[string][]*keyHistory{}, notify: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	go x.follow(ctx)
	return x, nil
}

// Close stops following the log.
func (x *Index) Close() error {
	if x.closed.Swap(true) {
		return nil
	}
	x.cancel()
	<-x.done
	return nil
}

// Applied is the position up to which the index has applied the log.
func (x *Index) Applied() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.applied
}

// follow applies the log. An unavailable store (a networked backend
// restarting) ends a pass, not the index: it follows again from after
// what it applied, backing off up to a second.
func (x *Index) follow(ctx context.Context) {
	defer close(x.done)
	var backoff time.Duration
	for {
		x.mu.RLock()
		from := x.applied + 1
		x.mu.RUnlock()
		var err error
		for ev, ferr := range x.store.Follow(ctx, from) {
			if ferr != nil {
				err = ferr
				break
			}
			backoff = 0
			x.mu.Lock()
			x.apply(&ev)
			x.mu.Unlock()
			if ev.Position >= x.store.DurablePosition() || ev.Position%256 == 0 {
				x.signal(nil)
			}
		}
		if ctx.Err() != nil || err == nil {
			x.signal(ErrClosed)
			return
		}
		if !errors.Is(err, ledger.ErrUnavailable) && !errors.Is(err, ledger.ErrUnknownOutcome) {
			x.signal(fmt.Errorf("asof: index stopped after position %d: %w", x.Applied(), err))
			return
		}
		backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
			x.signal(ErrClosed)
			return
		case <-time.After(backoff):
		}
	}
}

// signal wakes the waiters, recording err if not nil.
func (x *Index) signal(err error) {
	x.mu.Lock()
	if err != nil && x.err == nil {
		x.err = err
	}
	close(x.notify)
	x.notify = make(chan struct{})
	x.mu.Unlock()
}

// WaitApplied blocks until the index has applied position pos, ctx ends
// or the index stops.
func (x *Index) WaitApplied(ctx context.Context, pos uint64) error {
	for {
		x.mu.RLock()
		applied, err, ch := x.applied, x.err, x.notify
		x.mu.RUnlock()
		if applied >= pos {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// atHead waits for the log's durable head and returns with the read lock
// held (the caller unlocks) and the head applied.
func (x *Index) atHead(ctx context.Context) error {
	if x.closed.Load() {
		return ErrClosed
	}
	if err := x.WaitApplied(ctx, x.store.DurablePosition()); err != nil {
		return err
	}
	x.mu.RLock()
	return nil
}

// positionAt is the log position as of t: the position of the last event
// before the first one recorded after t. Read lock held.
func (x *Index) positionAt(t time.Time) uint64 {
	n := t.UnixNano()
	return uint64(sort.Search(len(x.maxTimes), func(i int) bool { return x.maxTimes[i] > n }))
}

// PositionAt returns the log position as of instant t: the position of the
// last event before the first one recorded after t (0 if the first event
// was recorded after t). The as-of answers read exactly the events up to
// it. With clocks that never go back, these are the events recorded at or
// before t.
func (x *Index) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	if err := x.atHead(ctx); err != nil {
		return 0, err
	}
	defer x.mu.RUnlock()
	return x.positionAt(t), nil
}

// PositionAt is Index.PositionAt without an index: it reads the log from
// the start up to the first event recorded after t.
func PositionAt(ctx context.Context, log Store, t time.Time) (uint64, error) {
	var pos uint64
	head := log.DurablePosition()
	if head == 0 {
		return 0, nil
	}
	for ev, err := range log.ReadAll(ctx, 1) {
		if err != nil {
			return 0, err
		}
		if ev.Time.After(t) {
			break
		}
		pos = ev.Position
		if pos >= head {
			break
		}
	}
	return pos, nil
}

// lastAt returns the index of the last element of s whose position is at
// most pos, or -1.
func lastAt[T any](s []T, pos uint64, posOf func(*T) uint64) int {
	return sort.Search(len(s), func(i int) bool { return posOf(&s[i]) > pos }) - 1
}
