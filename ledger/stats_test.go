package ledger

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// The counters a user reads off Stats after a known sequence of appends:
// successes, retries, events, and failures by kind.
func TestStatsCountsAppends(t *testing.T) {
	l := openMem(t)
	for i := range uint64(5) {
		if _, err := l.Append(bg, "s", ExpectVersion(i), tev(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(bg, "t", ExpectAny, tev(6), tev(7), tev(8)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "t", ExpectAny, tev(6), tev(7), tev(8)); err != nil { // a retry
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "s", ExpectVersion(1), tev(9)); !errors.Is(err, ErrConflict) {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "", ExpectAny, tev(10)); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "s", ExpectAny, NewEvent{Data: 42}); !errors.Is(err, ErrUnknownType) {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "u", ExpectAny, tev(6)); !errors.Is(err, ErrDuplicateID) {
		t.Fatal(err)
	}
	st := l.Stats()
	want := Stats{Appends: 7, Retries: 1, Events: 8, Conflicts: 1, Invalid: 3, DurablePosition: 8}
	got := Stats{Appends: st.Appends, Retries: st.Retries, Events: st.Events, Conflicts: st.Conflicts, Invalid: st.Invalid,
		Failures: st.Failures, OtherErrors: st.OtherErrors, DurablePosition: st.DurablePosition}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	if st.AppendLatency.Count() != 7 || st.AppendLatency.Sum <= 0 || len(st.AppendLatency.Counts) != len(st.AppendLatency.Bounds)+1 {
		t.Fatalf("append latency %+v", st.AppendLatency)
	}
	// Six appends wrote events, each made durable by a WAL sync.
	if st.CommitSize.Sum != 6 || st.CommitSize.Count() == 0 || st.CommitSize.Count() > st.WALSyncs || st.Syncs < st.WALSyncs {
		t.Fatalf("commit sizes %+v, WAL syncs %d, syncs %d", st.CommitSize, st.WALSyncs, st.Syncs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "s", ExpectAny, tev(11)); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if st := l.Stats(); st.OtherErrors != 1 || st.Appends != 7 {
		t.Fatalf("after Close: %+v", st)
	}
}

// Concurrent appenders share syncs: every append is in exactly one commit,
// so the commit sizes add up to the appends, in fewer syncs than appends.
// Stats is read while they run (the race detector checks the counters).
func TestStatsGroupCommit(t *testing.T) {
	l := benchLedgerT(t)
	const writers, each = 16, 40
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = l.Stats()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := l.Append(bg, fmt.Sprintf("w%d", w), ExpectAny, NewEvent{Data: testNote{Text: "x"}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	st := l.Stats()
	if st.Appends != writers*each || st.Events != writers*each || st.CommitSize.Sum != writers*each {
		t.Fatalf("appends %d, events %d, commit sizes add to %d; want %d each", st.Appends, st.Events, st.CommitSize.Sum, writers*each)
	}
	if n := st.CommitSize.Count(); n == 0 || n > st.WALSyncs {
		t.Fatalf("%d commits in %d WAL syncs", n, st.WALSyncs)
	}
	t.Logf("%d appends in %d commits (%d WAL syncs, %d syncs)", st.Appends, st.CommitSize.Count(), st.WALSyncs, st.Syncs)
}

// benchLedgerT is an on-disk ledger: syncs take real time, so appenders
// queue behind them and share them.
func benchLedgerT(t *testing.T) *Ledger {
	t.Helper()
	l, err := Open(t.TempDir(), &Options{Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Bucket edges: a bound is inclusive; past the last bound is the overflow.
func TestStatsHistogramBuckets(t *testing.T) {
	var d durationHist
	for _, v := range []time.Duration{0, 50 * time.Microsecond, 50*time.Microsecond + 1, time.Second, time.Hour} {
		d.observe(v)
	}
	h := d.snapshot()
	want := map[int]uint64{0: 2, 1: 1, 13: 1, len(latencyBounds): 1}
	for i, c := range h.Counts {
		if c != want[i] {
			t.Fatalf("duration bucket %d (≤ %v) has %d, want %d: %v", i, h.Bounds[min(i, len(h.Bounds)-1)], c, want[i], h.Counts)
		}
	}
	if h.Count() != 5 || h.Sum != 2*50*time.Microsecond+1+time.Second+time.Hour {
		t.Fatalf("count %d, sum %v", h.Count(), h.Sum)
	}
	var s sizeHist
	for _, v := range []uint64{1, 2, 3, 4, 5, 1024, 1025} {
		s.observe(v)
	}
	sh := s.snapshot()
	wantS := map[int]uint64{0: 1, 1: 1, 2: 2, 3: 1, 10: 1, 11: 1}
	for i, c := range sh.Counts {
		if c != wantS[i] {
			t.Fatalf("size bucket %d has %d, want %d: %v", i, c, wantS[i], sh.Counts)
		}
	}
	if sh.Count() != 7 || sh.Sum != 1+2+3+4+5+1024+1025 {
		t.Fatalf("count %d, sum %d", sh.Count(), sh.Sum)
	}
}

// BenchmarkStatsCounting is what the counting adds to one successful
// append (its latency observed, its sequencing counted), against the
// microseconds of a durable append in BenchmarkAppend1 and BenchmarkAppend64;
// parallel: every appender adds to the same counters.
func BenchmarkStatsCounting(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		var s stats
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			s.sequenced(1)
			s.appended(start, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var s stats
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				start := time.Now()
				s.sequenced(1)
				s.appended(start, nil)
			}
		})
	})
}
