package ledger

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a ledger's counters since Open. Each field is read
// atomically on its own, not all at one instant: a snapshot taken during
// appends may count an append in Appends before its events in Events.
// Counters only grow; rates come from the difference of two snapshots.
type Stats struct {
	// Appends counts Append and AppendMulti calls that succeeded,
	// idempotent retries included (AppendLatency.Count() is the same number).
	Appends uint64
	// Retries counts the successful appends that returned an earlier
	// append's result because their event IDs were stored (nothing written).
	Retries uint64
	// Events counts events written (retries write none).
	Events uint64
	// Failed appends by kind: Conflicts (ErrConflict, an expected version did
	// not hold), Invalid (ErrInvalid, ErrUnknownType, ErrDuplicateID: the
	// request was wrong), Failures (ErrFailed: the ledger fail-stopped) and
	// OtherErrors (anything else: ErrClosed, ErrCorrupt, ErrIO, a context
	// that ended).
	Conflicts, Invalid, Failures, OtherErrors uint64
	// AppendLatency is the time from the call of a successful append to its
	// return: encoding, the ID lookup, the wait for the sequencer and for
	// the sync that made it durable.
	AppendLatency Histogram
	// CommitSize is the number of appends each write-ahead log sync made
	// durable (group commit: concurrent appenders share a sync). A sync
	// covering only state batches is not in it.
	CommitSize SizeHistogram
	// WALSyncs counts syncs of the write-ahead log; Syncs counts every sync
	// through the ledger's filesystem layer (the WAL, MANIFEST, OPTIONS,
	// markers, directories; sstables are synced by Pebble below it and are
	// not counted). A read-only ledger has no such layer: both stay 0.
	WALSyncs, Syncs uint64
	// BackgroundErrors counts errors Pebble reported from its background
	// work (a failed flush or compaction, detected corruption). Err returns
	// the first.
	BackgroundErrors uint64
	// DurablePosition is the ledger's DurablePosition at the snapshot.
	DurablePosition uint64
	// Failed reports whether the ledger fail-stopped (Err is ErrFailed).
	Failed bool
}

// Histogram is a snapshot of a histogram of durations in fixed buckets.
type Histogram struct {
	// Bounds are the buckets' inclusive upper bounds, ascending.
	Bounds []time.Duration
	// Counts holds len(Bounds)+1 counts: Counts[i] observations in
	// (Bounds[i-1], Bounds[i]], and the last one observations above every
	// bound.
	Counts []uint64
	// Sum is the sum of all observations.
	Sum time.Duration
}

// Count is the number of observations.
func (h Histogram) Count() uint64 { return sum(h.Counts) }

// SizeHistogram is a snapshot of a histogram of counts in fixed buckets,
// laid out as Histogram's.
type SizeHistogram struct {
	Bounds []uint64
	Counts []uint64
	Sum    uint64
}

// Count is the number of observations.
func (h SizeHistogram) Count() uint64 { return sum(h.Counts) }

func sum(counts []uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}

// latencyBounds are AppendLatency's buckets: a synced append takes from
// tens of microseconds (a battery-backed cache) to tens of milliseconds (a
// disk that honours fsync).
var latencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
}

// sizeBounds are CommitSize's buckets: powers of two up to 1024.
var sizeBounds = [...]uint64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// durationHist records into latencyBounds' buckets, lock-free.
type durationHist struct {
	counts [len(latencyBounds) + 1]atomic.Uint64
	sum    atomic.Int64
}

func (h *durationHist) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *durationHist) snapshot() Histogram {
	s := Histogram{Bounds: latencyBounds[:], Counts: make([]uint64, len(h.counts)), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

// sizeHist records into sizeBounds' buckets, lock-free.
type sizeHist struct {
	counts [len(sizeBounds) + 1]atomic.Uint64
	sum    atomic.Uint64
}

func (h *sizeHist) observe(n uint64) {
	i := min(bits.Len64(n-1), len(sizeBounds)) // n ≥ 1: smallest i with n ≤ 2^i
	h.counts[i].Add(1)
	h.sum.Add(n)
}

func (h *sizeHist) snapshot() SizeHistogram {
	s := SizeHistogram{Bounds: sizeBounds[:], Counts: make([]uint64, len(h.counts)), Sum: h.sum.Load()}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

// stats are a ledger's counters. Each is one atomic add where it happens; the
// counters of applyGroup are written under the sequencer lock.
type stats struct {
	latency                              durationHist
	retries                              atomic.Uint64
	conflicts, invalid, failed, otherErr atomic.Uint64

	// Sequenced appends and their events, counted just before their batch
	// is applied to Pebble (under l.seq).
	seqAppends, events atomic.Uint64
	// synced is seqAppends as of the last WAL sync: the difference is the
	// number of appends the next sync makes durable. An append is counted
	// before its record reaches the WAL, so a sync may count the one append
	// still being applied (at most one: the sequencer applies one at a time)
	// and the next sync one fewer.
	synced     atomic.Uint64
	commitSize sizeHist
	walSyncs   atomic.Uint64
	syncs      atomic.Uint64
}

// appended records the outcome of an AppendMulti called at start.
func (s *stats) appended(start time.Time, err error) {
	if err == nil {
		s.latency.observe(time.Since(start))
		return
	}
	switch {
	case errors.Is(err, ErrConflict):
		s.conflicts.Add(1)
	case errors.Is(err, ErrFailed):
		s.failed.Add(1)
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrUnknownType), errors.Is(err, ErrDuplicateID):
		s.invalid.Add(1)
	default:
		s.otherErr.Add(1)
	}
}

// sequenced counts an append of n events about to be applied (under l.seq).
func (s *stats) sequenced(n int) {
	s.seqAppends.Add(1)
	s.events.Add(uint64(n))
}

// fsynced counts a sync of a file through failFS; for the WAL it also
// records how many appends it made durable.
func (s *stats) fsynced(wal bool) {
	s.syncs.Add(1)
	if !wal {
		return
	}
	s.walSyncs.Add(1)
	n := s.seqAppends.Load()
	if prev := s.synced.Swap(n); n > prev {
		s.commitSize.observe(n - prev)
	}
}

// Stats returns a snapshot of the ledger's counters. It works on a closed
// ledger too (the counters as of Close). It does not allocate but for the
// histograms' slices, and takes no lock an append takes.
func (l *Ledger) Stats() Stats {
	s := &l.stats
	st := Stats{
		Retries:          s.retries.Load(),
		Events:           s.events.Load(),
		Conflicts:        s.conflicts.Load(),
		Invalid:          s.invalid.Load(),
		Failures:         s.failed.Load(),
		OtherErrors:      s.otherErr.Load(),
		AppendLatency:    s.latency.snapshot(),
		CommitSize:       s.commitSize.snapshot(),
		WALSyncs:         s.walSyncs.Load(),
		Syncs:            s.syncs.Load(),
		BackgroundErrors: l.bgSeq.Load(),
		DurablePosition:  l.durable.Load(),
		Failed:           l.failed.Load() != nil,
	}
	st.Appends = st.AppendLatency.Count()
	return st
}
