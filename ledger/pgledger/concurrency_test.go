package pgledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/ledger"
)

// Many goroutines on two instances (two processes' worth of pools and
// committers) append to the same few streams with expected versions. Every
// refusal is a typed conflict, every acknowledged event is stored once, the
// log has no gaps, each stream's versions follow each other, and the chain
// verifies on both.
func TestTwoInstancesContend(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	const writers, each, streams = 24, 15, 3
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		acked     = map[uuid.UUID]ledger.AppendResult{}
		conflicts atomic.Int64
		next      atomic.Uint64
	)
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range each {
				stream := fmt.Sprintf("hot-%d", (w+i)%streams)
				for {
					v, err := s.StreamVersion(bg, stream)
					if err != nil {
						t.Error(err)
						return
					}
					id := tid(next.Add(1))
					appends := []ledger.StreamAppend{{Stream: stream, Expect: ledger.ExpectVersion(v), Events: []ledger.NewEvent{{ID: id, Data: testCount{N: w}}}}}
					if i%3 == 0 { // a condition on another hot stream, as a decision that read it
						other := fmt.Sprintf("hot-%d", (w+i+1)%streams)
						ov, err := s.StreamVersion(bg, other)
						if err != nil {
							t.Error(err)
							return
						}
						appends = append(appends, ledger.StreamAppend{Stream: other, Expect: ledger.ExpectVersion(ov)})
					}
					r, err := s.AppendMulti(bg, appends...)
					var ce *ledger.ConflictError
					if errors.As(err, &ce) {
						if !errors.Is(err, ledger.ErrConflict) || ce.Actual == uint64(ce.Expected) {
							t.Errorf("conflict %+v does not say what moved", ce)
						}
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Error(err)
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
	if t.Failed() {
		return
	}
	t.Logf("%d appends, %d conflicts", len(acked), conflicts.Load())
	if len(acked) != writers*each {
		t.Fatalf("%d appends acknowledged, want %d", len(acked), writers*each)
	}
	for _, s := range []*Store{a, b} {
		all := collect(t, s.ReadAll(bg, 0))
		if len(all) != writers*each {
			t.Fatalf("ReadAll gave %d events, want %d", len(all), writers*each)
		}
		seen := map[uuid.UUID]bool{}
		vers := map[string]uint64{}
		for i, e := range all {
			if e.Position != uint64(i+1) {
				t.Fatalf("event %d at position %d: a gap", i, e.Position)
			}
			if seen[e.ID] {
				t.Fatalf("event %s stored twice", e.ID)
			}
			seen[e.ID] = true
			r, ok := acked[e.ID]
			if !ok || r.First != e.Position || r.Version() != e.Version {
				t.Fatalf("event %+v was not acknowledged as %+v", e, r)
			}
			if vers[e.Stream]++; e.Version != vers[e.Stream] {
				t.Fatalf("%s version %d at position %d, want %d", e.Stream, e.Version, e.Position, vers[e.Stream])
			}
		}
		head, err := s.Head(bg)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := s.Verify(bg); err != nil || d != head || d.Position != uint64(writers*each) {
			t.Fatalf("Verify = %v, %v; head %v", d, err, head)
		}
	}
}

// The same append sent at once by two instances, and twice by one (so both
// copies can land in one batch), is stored once; every sender gets the
// original result.
func TestConcurrentRetries(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	const n = 40
	results := make([][4]ledger.AppendResult, n)
	var wg sync.WaitGroup
	for k := range n {
		for j, s := range []*Store{a, b, a, b} {
			wg.Go(func() {
				r, err := s.Append(bg, fmt.Sprintf("s-%d", k%5), ledger.ExpectAny,
					ledger.NewEvent{ID: tid(uint64(2*k + 1)), Data: testCount{N: k}}, ledger.NewEvent{ID: tid(uint64(2*k + 2)), Data: testNote{}})
				if err != nil {
					t.Errorf("append %d, sender %d: %v", k, j, err)
				}
				results[k][j] = r
			})
		}
	}
	wg.Wait()
	for k, rs := range results {
		for j := range rs {
			if rs[j].First != rs[0].First || rs[j].Last != rs[0].Last || !slices.Equal(rs[j].Versions, rs[0].Versions) {
				t.Fatalf("append %d: sender %d got %+v, sender 0 %+v", k, j, rs[j], rs[0])
			}
		}
	}
	if all := collect(t, a.ReadAll(bg, 0)); len(all) != 2*n {
		t.Fatalf("%d events stored, want %d", len(all), 2*n)
	}
	if _, err := a.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// stall holds the append lock of s's schema from a connection of its own,
// so s's next batch waits inside its transaction; release lets it go.
func stall(t *testing.T, s *Store) (release func()) {
	t.Helper()
	conn, err := s.pool.Acquire(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(bg, "SELECT pg_advisory_lock($1, $2)", classAppend, s.appendKey); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.Exec(bg, "SELECT pg_advisory_unlock($1, $2)", classAppend, s.appendKey); err != nil {
				t.Error(err)
			}
			conn.Release()
		})
	}
	t.Cleanup(release)
	return release
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

// lockWaiters counts the sessions waiting for an advisory lock in s's database.
func lockWaiters(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(bg, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *Store) queued() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}

// Two copies of one append queued behind a batch land in the same batch:
// the second waits for the first to commit and returns its result.
func TestRetryInOneBatch(t *testing.T) {
	s := open(t, testRegistry(t))
	release := stall(t, s)
	first := make(chan error, 1)
	go func() {
		_, err := s.Append(bg, "blocker", ledger.ExpectAny, ledger.NewEvent{ID: tid(100), Data: testNote{}})
		first <- err
	}()
	waitFor(t, "the blocker's batch waits for the lock", func() bool { return lockWaiters(t, s) == 1 })
	type out struct {
		r   ledger.AppendResult
		err error
	}
	outs := make(chan out, 2)
	for range 2 {
		go func() {
			r, err := s.Append(bg, "dup", ledger.ExpectNoStream, ledger.NewEvent{ID: tid(1), Data: testNote{Text: "once"}})
			outs <- out{r, err}
		}()
	}
	waitFor(t, "both copies are queued", func() bool { return s.queued() == 2 })
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	o1, o2 := <-outs, <-outs
	if o1.err != nil || o2.err != nil || o1.r.First != o2.r.First || o1.r.First != 2 || o1.r.Version() != 1 || o2.r.Version() != 1 {
		t.Fatalf("copies: %+v, %v and %+v, %v; want both at position 2, version 1", o1.r, o1.err, o2.r, o2.err)
	}
	if all := collect(t, s.ReadAll(bg, 0)); len(all) != 2 {
		t.Fatalf("%d events stored, want 2", len(all))
	}
}

// A context that ends while the append waits in the queue withdraws it
// (nothing written); one that ends while its transaction is under way
// cannot, and says the outcome is unknown. A retry with the same IDs then
// returns what was committed.
func TestCancelMidAppend(t *testing.T) {
	s := open(t, testRegistry(t))
	release := stall(t, s)

	short, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	_, err := s.Append(short, "taken", ledger.ExpectNoStream, ledger.NewEvent{ID: tid(1), Data: testNote{Text: "taken"}})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ledger.ErrUnknownOutcome) {
		t.Fatalf("append cancelled in its transaction: %v; want DeadlineExceeded and ErrUnknownOutcome", err)
	}
	// The committer waits on the lock with the first append; this one waits in the queue.
	qctx, qcancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(qctx, "queued", ledger.ExpectNoStream, ledger.NewEvent{ID: tid(2), Data: testNote{Text: "queued"}})
		done <- err
	}()
	waitFor(t, "the second append is queued", func() bool { return s.queued() == 1 })
	qcancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ledger.ErrUnknownOutcome) {
		t.Fatalf("append cancelled in the queue: %v; want Canceled and a known outcome", err)
	}
	release()
	// The first one commits after all; its retry returns it.
	r, err := s.Append(bg, "taken", ledger.ExpectNoStream, ledger.NewEvent{ID: tid(1), Data: testNote{Text: "taken"}})
	if err != nil || r.First != 1 || r.Version() != 1 {
		t.Fatalf("retry after the unknown outcome: %+v, %v; want position 1", r, err)
	}
	if _, err := s.EventByID(bg, tid(2)); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the withdrawn append was written: %v", err)
	}
	if all := collect(t, s.ReadAll(bg, 0)); len(all) != 1 {
		t.Fatalf("%d events stored, want 1", len(all))
	}
	// A context already ended writes nothing.
	ended, cancel2 := context.WithCancel(bg)
	cancel2()
	if _, err := s.Append(ended, "x", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with an ended context: %v", err)
	}
}

// The one-round-trip path trusts the committer's view of the log only while
// no other process appends: each way another process can have moved a
// stream the view knows, or one it does not, sends the batch the usual way,
// with the same answer a fresh read gives.
func TestOneTripSeesOthers(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	a.idleAfter = time.Hour // a slow machine must not send a's batches the two-trip way
	app := func(s *Store, stream string, e ledger.Expect, n uint64) (ledger.AppendResult, error) {
		return s.Append(bg, stream, e, ledger.NewEvent{ID: tid(n), Data: testCount{N: int(n)}})
	}
	must := func(r ledger.AppendResult, err error) ledger.AppendResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	wantConflict := func(err error, actual uint64) {
		t.Helper()
		var ce *ledger.ConflictError
		if !errors.As(err, &ce) || ce.Actual != actual {
			t.Fatalf("got %v, want a conflict at version %d", err, actual)
		}
	}
	must(app(b, "old", ledger.ExpectAny, 1))
	must(app(a, "s", ledger.ExpectNoStream, 2)) // a's first batch: the usual way
	must(app(a, "s", ledger.ExpectVersion(1), 3))
	if n := a.counts.oneTrip.Load(); n != 1 {
		t.Fatalf("%d one-trip batches, want 1 once the view is known", n)
	}
	// A stream the view does not know already has an event.
	_, err := app(a, "old", ledger.ExpectNoStream, 4)
	wantConflict(err, 1)
	if a.counts.missed.Load() != 1 {
		t.Fatalf("the guarded insert missed %d times, want 1", a.counts.missed.Load())
	}
	// Let a find its way back to one trip, then another process moves a stream a knows.
	for i := range skipAfterOther + 2 {
		must(app(a, "s", ledger.ExpectAny, uint64(10+i)))
	}
	before := a.counts.oneTrip.Load()
	must(app(a, "s", ledger.ExpectAny, 40))
	if a.counts.oneTrip.Load() != before+1 {
		t.Fatal("a single writer did not return to one-trip batches")
	}
	v, err := a.StreamVersion(bg, "s")
	if err != nil {
		t.Fatal(err)
	}
	must(app(b, "s", ledger.ExpectVersion(v), 41))
	_, err = app(a, "s", ledger.ExpectVersion(v), 42)
	wantConflict(err, v+1)
	// A retry of an append stored while the view was exact.
	r := must(app(a, "t", ledger.ExpectNoStream, 50))
	again := must(app(a, "t", ledger.ExpectNoStream, 50))
	if again.First != r.First {
		t.Fatalf("retry %+v, original %+v", again, r)
	}
	all := collect(t, a.ReadAll(bg, 0))
	for i, e := range all {
		if e.Position != uint64(i+1) {
			t.Fatalf("gap at %d", i)
		}
	}
	if _, err := a.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// While another process appends to streams of its own, the one-round-trip
// path still holds: the server moves the batch past the other's appends,
// with positions, back-pointers and chain hashes computed again, and each
// caller gets the positions its events were written at.
func TestOneTripRebasesPastOthers(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	a.idleAfter = time.Hour // a slow machine must not send a's batches the two-trip way
	n := uint64(0)
	ev := func() ledger.NewEvent {
		n++
		return ledger.NewEvent{ID: tid(n), Data: testCount{N: int(n)}}
	}
	if _, err := a.Append(bg, "a-1", ledger.ExpectNoStream, ev()); err != nil {
		t.Fatal(err)
	}
	type want struct {
		res ledger.AppendResult
		ids []uuid.UUID
	}
	var wants []want
	for i := range 20 {
		if _, err := b.Append(bg, fmt.Sprintf("b-%d", i%3), ledger.ExpectAny, ev(), ev()); err != nil {
			t.Fatal(err)
		}
		e1, e2, e3 := ev(), ev(), ev()
		res, err := a.AppendMulti(bg,
			ledger.StreamAppend{Stream: "a-1", Expect: ledger.ExpectVersion(uint64(1 + 2*i)), Events: []ledger.NewEvent{e1, e2}},
			ledger.StreamAppend{Stream: fmt.Sprintf("a-new-%d", i), Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{e3}},
			ledger.StreamAppend{Stream: "never", Expect: ledger.ExpectNoStream})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if want := []uint64{uint64(3 + 2*i), 1, 0}; !slices.Equal(res.Versions, want) {
			t.Fatalf("append %d: versions %v, want %v", i, res.Versions, want)
		}
		wants = append(wants, want{res, []uuid.UUID{e1.ID, e2.ID, e3.ID}})
	}
	if got := a.counts.rebased.Load(); got < 15 {
		t.Fatalf("%d batches moved past the other process's appends, want most of 20 (one trip %d, two trips %d, missed %d)",
			got, a.counts.oneTrip.Load(), a.counts.twoTrips.Load(), a.counts.missed.Load())
	}
	for _, w := range wants {
		for i, id := range w.ids {
			e, err := a.EventByID(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			if e.Position != w.res.First+uint64(i) {
				t.Fatalf("event %s at position %d, its append was told %d..%d", id, e.Position, w.res.First, w.res.Last)
			}
		}
	}
	if _, err := a.Verify(bg); err != nil {
		t.Fatal(err)
	}
	// The view a keeps after moved batches is exact: its next batch takes
	// one trip and its expected version holds.
	before := a.counts.oneTrip.Load()
	if _, err := a.Append(bg, "a-1", ledger.ExpectVersion(41), ev()); err != nil {
		t.Fatal(err)
	}
	if a.counts.oneTrip.Load() != before+1 {
		t.Fatal("the batch after moved ones did not take one trip on an exact view")
	}
}

// A stream head the view learned before another process moved the stream
// is never trusted by the guarded insert, however long this process then
// appends alone.
func TestOneTripForgetsMovedStreams(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	a.idleAfter = time.Hour
	n := uint64(100)
	app := func(s *Store, stream string, e ledger.Expect) ledger.AppendResult {
		t.Helper()
		n++
		res, err := s.Append(bg, stream, e, ledger.NewEvent{ID: tid(n), Data: testCount{N: int(n)}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	app(a, "x", ledger.ExpectNoStream)
	app(a, "x", ledger.ExpectVersion(1)) // a knows x at version 2
	app(b, "x", ledger.ExpectVersion(2))
	app(a, "y", ledger.ExpectNoStream) // a sees the head moved
	for range othersFor + 2 {
		app(a, "y", ledger.ExpectAny)
	}
	if res := app(a, "x", ledger.ExpectAny); res.Versions[0] != 4 {
		t.Fatalf("x appended at version %d, want 4", res.Versions[0])
	}
	if _, err := a.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// While other processes take the append lock in turn, the committer waits
// for the lock before it seals its batch: appends that queue meanwhile
// share the transaction instead of waiting for the next turn.
func TestBatchTakesAppendsQueuedForTheLock(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	a.idleAfter = time.Hour
	if _, err := a.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(bg, "b", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); err != nil {
		t.Fatal(err) // a has now seen b's append
	}
	// Another session holds the append lock.
	holder, err := b.pool.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(bg)
	if _, err := holder.Exec(bg, "SELECT pg_advisory_xact_lock($1, $2)", classAppend, a.appendKey); err != nil {
		t.Fatal(err)
	}
	before := a.counts.rebased.Load() + a.counts.oneTrip.Load() + a.counts.twoTrips.Load()
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := a.Append(bg, fmt.Sprintf("q-%d", i), ledger.ExpectNoStream, ledger.NewEvent{Data: testNote{}})
			errs <- err
		}()
		if i == 0 {
			time.Sleep(200 * time.Millisecond) // the first batch waits for the lock
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := holder.Rollback(bg); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := a.counts.rebased.Load() + a.counts.oneTrip.Load() + a.counts.twoTrips.Load() - before; got != 1 {
		t.Fatalf("%d appends queued behind another session's lock took %d transactions, want 1", n, got)
	}
	if _, err := a.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A batch written past another process's appends leaves the view's other
// stream heads possibly moved: after this process then appends alone long
// enough to go back to the guarded insert, that insert does not trust
// them.
func TestOneTripForgetsStreamsAfterRebasing(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	a.idleAfter = time.Hour
	n := uint64(1000)
	app := func(s *Store, stream string) ledger.AppendResult {
		t.Helper()
		n++
		res, err := s.Append(bg, stream, ledger.ExpectAny, ledger.NewEvent{ID: tid(n), Data: testCount{N: int(n)}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	app(a, "x")
	app(a, "x")
	app(b, "z")
	app(a, "x") // a sees the head moved
	for range othersFor + 1 {
		app(a, "x")
	}
	app(b, "q")
	app(a, "w") // a knows w, and only w
	app(b, "w") // w moves to version 2
	app(a, "v") // written past b's append
	for range othersFor + 1 {
		app(a, "v")
	}
	if res := app(a, "w"); res.Versions[0] != 3 {
		t.Fatalf("w appended at version %d, want 3", res.Versions[0])
	}
	if _, err := a.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// While other processes have appended but none holds the lock, a lone
// appender does not pay a round trip for a lock nobody contends: after a
// wait that found nothing queued, its batches go in one round trip.
func TestLoneAppenderSkipsWaitingForTheLock(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	a.idleAfter = time.Hour
	for _, s := range []*Store{a, b, a} { // a sees b's append: it rebases from now on
		if _, err := s.Append(bg, "s", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); err != nil {
			t.Fatal(err)
		}
	}
	waits, rebased := a.counts.lockFirst.Load(), a.counts.rebased.Load()+a.counts.oneTrip.Load()
	const n = 27
	for range n {
		if _, err := a.Append(bg, "s", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.counts.rebased.Load() + a.counts.oneTrip.Load() - rebased; got != n {
		t.Fatalf("%d of %d lone appends took one trip", got, n)
	}
	if got := a.counts.lockFirst.Load() - waits; got > n/(lockFirstPause+1)+1 {
		t.Fatalf("%d of %d lone appends waited for the lock in a round trip of its own, want at most %d", got, n, n/(lockFirstPause+1)+1)
	}
}
