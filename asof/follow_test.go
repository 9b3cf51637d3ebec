package asof_test

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/ledger"
)

// flaky fails its first Follow after two events, as a networked backend
// that restarts does, and then fails for good with another error if bad.
type flaky struct {
	*ledger.Ledger
	calls atomic.Int32
	bad   error
}

func (f *flaky) Follow(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error] {
	n := f.calls.Add(1)
	return func(yield func(ledger.Event, error) bool) {
		i := 0
		for ev, err := range f.Ledger.Follow(ctx, from) {
			if n == 1 && i == 2 {
				yield(ledger.Event{}, ledger.ErrUnavailable)
				return
			}
			if n == 2 && f.bad != nil {
				yield(ledger.Event{}, f.bad)
				return
			}
			i++
			if !yield(ev, err) {
				return
			}
		}
	}
}

func TestIndexFollowsAgainAfterTheStoreIsBack(t *testing.T) {
	f := &flaky{Ledger: store(t, lockWithKeys(3))}
	x, err := asof.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := x.WhoCouldOpen(ctx, "front", access.MainDoor, t0.Add(2*time.Hour))
	if err != nil || len(ans.Openings) != 3 || f.calls.Load() != 2 {
		t.Fatalf("%d openings after %d passes (%v)", len(ans.Openings), f.calls.Load(), err)
	}
}

func TestIndexStopsOnAnotherError(t *testing.T) {
	damaged := errors.New("damaged record")
	f := &flaky{Ledger: store(t, lockWithKeys(3)), bad: damaged}
	x, err := asof.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.WhoCouldOpen(context.Background(), "front", access.MainDoor, t0); !errors.Is(err, damaged) {
		t.Fatalf("got %v, want the store's error", err)
	}
	x.Close()
	if _, err := x.CouldOpen(context.Background(), "user1", t0, t0); !errors.Is(err, asof.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
