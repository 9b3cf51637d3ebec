package pgledger

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// Concurrent appenders keep a second one-trip batch waiting for the lock
// behind the first. Cutting the connection of some batches right after
// they are sent leaves their outcome unknown: the batch behind one either
// commits (the cut one did) or writes nothing and goes the usual way, so
// every acknowledged append is stored once, retries with the same IDs get
// the original result, and the log is gap-free and verifies.
func TestPipelinedBatchesSurviveCuts(t *testing.T) {
	s := open(t, testRegistry(t))
	s.idleAfter = 1 << 62 // a slow machine must not send batches the two-trip way
	var sent atomic.Int64
	s.hooks.commitSent = func(c *pgx.Conn) {
		if sent.Add(1)%7 == 0 {
			_ = c.PgConn().Conn().Close()
		}
	}
	const writers, each = 24, 25
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[uuid.UUID]ledger.AppendResult{}
		next  atomic.Uint64
	)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("w-%d", w)
			for range each {
				id := tid(next.Add(1))
				for try := 0; ; try++ {
					r, err := s.Append(bg, stream, ledger.ExpectAny, ledger.NewEvent{ID: id, Data: testCount{N: w}})
					if errors.Is(err, ledger.ErrUnknownOutcome) || errors.Is(err, ledger.ErrUnavailable) {
						if try > 20 {
							t.Errorf("append %s: still failing after %d tries: %v", id, try, err)
							return
						}
						continue
					}
					if err != nil {
						t.Errorf("append %s: %v", id, err)
						return
					}
					mu.Lock()
					acked[id] = r
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	s.hooks.commitSent = nil
	if t.Failed() {
		return
	}
	if s.counts.pipelined.Load() == 0 {
		t.Fatal("no batch was sent while another was pending")
	}
	all := collect(t, s.ReadAll(bg, 0))
	if len(all) != writers*each {
		t.Fatalf("%d events stored, want %d", len(all), writers*each)
	}
	for i, e := range all {
		if e.Position != uint64(i+1) {
			t.Fatalf("position %d at index %d: the log has a gap", e.Position, i)
		}
		r, ok := acked[e.ID]
		if !ok || r.First != e.Position {
			t.Fatalf("event %s at %d: acknowledged as %+v (%v)", e.ID, e.Position, r, ok)
		}
	}
	if _, err := s.Verify(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("batches: %d one-trip (%d pipelined), %d two-trip, %d guards missed",
		s.counts.oneTrip.Load(), s.counts.pipelined.Load(), s.counts.twoTrips.Load(), s.counts.missed.Load())
}
