package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// pathFault fails operations of the given kinds on files whose path contains
// one of paths ("" matches all) while it is on, each with probability prob
// (1 if zero).
type pathFault struct {
	on     atomic.Bool
	paths  []string
	kinds  []errorfs.OpKind
	enospc bool
	prob   float64
	hits   atomic.Int64
	mu     sync.Mutex
	rng    *rand.Rand
}

func (f *pathFault) String() string { return "path-fault" }

func (f *pathFault) MaybeError(op errorfs.Op) error {
	if !f.on.Load() {
		return nil
	}
	match := false
	for _, p := range f.paths {
		match = match || strings.Contains(op.Path, p)
	}
	if !match {
		return nil
	}
	for _, k := range f.kinds {
		if op.Kind != k {
			continue
		}
		if f.prob > 0 {
			f.mu.Lock()
			hit := f.rng.Float64() < f.prob
			f.mu.Unlock()
			if !hit {
				return nil
			}
		}
		f.hits.Add(1)
		if f.enospc {
			return &fs.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return errorfs.ErrInjected
	}
	return nil
}

var (
	faultWrites = []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}
	faultSyncs  = []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}
	faultSpace  = []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpCreate, errorfs.OpFilePreallocate,
		errorfs.OpReuseForWrite, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}
)

// failFSCases are the faults Pebble treats as fatal: a MANIFEST write or sync
// failure reaches Logger.Fatalf on a background flush goroutine, and a WAL
// failure while a flush rotates the WAL makes rotateWAL panic with DB.mu
// released ("sync: unlock of unlocked mutex"). Both used to end the process.
var failFSCases = []struct {
	name   string
	paths  []string
	kinds  []errorfs.OpKind
	enospc bool
}{
	{"manifest-write", []string{"MANIFEST"}, faultWrites, false},
	{"manifest-sync", []string{"MANIFEST"}, faultSyncs, false},
	{"wal-write-rotation", []string{".log"}, faultWrites, false},
	{"wal-sync-rotation", []string{".log"}, faultSyncs, false},
	{"wal-create-rotation", []string{".log"}, []errorfs.OpKind{errorfs.OpCreate, errorfs.OpReuseForWrite}, false},
	{"dir-sync", []string{"db"}, faultSyncs, false},
	{"enospc-everywhere", []string{""}, faultSpace, true},
}

// TestFatalFaultsFailStop: each fault that Pebble handles with a process
// exit, hit by CompactState's flush, becomes ErrFailed: no panic, later writes
// refused, durable events readable, Close returns, and a reopen after a power
// cut has every acknowledged event and accepts new ones.
func TestFatalFaultsFailStop(t *testing.T) {
	for _, tc := range failFSCases {
		t.Run(tc.name, func(t *testing.T) {
			base := vfs.NewCrashableMem()
			fault := &pathFault{paths: tc.paths, kinds: tc.kinds, enospc: tc.enospc}
			reg := testRegistry(t)
			l, err := Open("db", &Options{FS: errorfs.Wrap(base, fault), Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			for i := range uint64(5) {
				if _, err := l.Append(bg, "s", ExpectVersion(i), tev(i+1)); err != nil {
					t.Fatal(err)
				}
			}
			fault.on.Store(true)
			err = withTimeout(t, "CompactState", func() error { return l.CompactState(bg, nil) })
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("CompactState under a %s fault: %v, want ErrFailed", tc.name, err)
			}
			if fault.hits.Load() == 0 {
				t.Fatal("no fault was injected")
			}
			if tc.enospc && !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error %v does not name ENOSPC", err)
			}
			fault.on.Store(false)
			if _, err := l.Append(bg, "s", ExpectVersion(5), tev(6)); !errors.Is(err, ErrFailed) {
				t.Fatalf("append after the failure: %v, want ErrFailed", err)
			}
			if !errors.Is(l.Err(), ErrFailed) {
				t.Fatalf("Err() = %v", l.Err())
			}
			if got := readAll(t, l); len(got) != 5 {
				t.Fatalf("read %d events after the failure, want 5", len(got))
			}
			if err := withTimeout(t, "Close", l.Close); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close of a failed ledger: %v, want ErrFailed", err)
			}
			for _, pct := range []int{0, 100} {
				crashed := base.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(1, 2))})
				l2, err := Open("db", &Options{FS: crashed, Registry: reg})
				if err != nil {
					t.Fatalf("reopen (%d%% of unsynced data kept): %v", pct, err)
				}
				if got := readAll(t, l2); len(got) != 5 {
					t.Fatalf("reopened log has %d events, want 5", len(got))
				}
				if _, err := l2.Verify(bg); err != nil {
					t.Fatalf("Verify after reopen: %v", err)
				}
				if r, err := l2.Append(bg, "s", ExpectVersion(5), tev(6)); err != nil || r.First != 6 {
					t.Fatalf("append after reopen: %+v, %v", r, err)
				}
				if err := l2.CompactState(bg, nil); err != nil {
					t.Fatalf("CompactState after reopen: %v", err)
				}
				if err := l2.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestFatalFaultsConcurrent runs appenders and CompactState while faults hit
// the WAL, MANIFEST and everything at random, then cuts power keeping a random
// share of unsynced data: every acknowledged append must be there, the log
// gap-free and its chain intact.
func TestFatalFaultsConcurrent(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	for r, tc := range failFSCases {
		t.Run(fmt.Sprintf("%s-%d", tc.name, r), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			base := vfs.NewCrashableMem()
			fault := &pathFault{paths: tc.paths, kinds: tc.kinds, enospc: tc.enospc, prob: 0.05, rng: rand.New(rand.NewPCG(seed, uint64(r)+100))}
			reg := testRegistry(t)
			l, err := Open("db", &Options{FS: errorfs.Wrap(base, fault), Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(bg, 150*time.Millisecond)
			defer cancel()
			var mu sync.Mutex
			acked := map[uint64]bool{} // event numbers
			var next atomic.Uint64
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						n := next.Add(1)
						if _, err := l.Append(bg, fmt.Sprintf("w%d", w), ExpectAny, tev(n)); err != nil {
							if !errors.Is(err, ErrFailed) {
								t.Errorf("append: %v, want ErrFailed", err)
							}
							return
						}
						mu.Lock()
						acked[n] = true
						mu.Unlock()
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if err := l.CompactState(bg, nil); err != nil {
						// A failed sstable write is an ordinary error
						// (Pebble retries the flush); anything fatal is ErrFailed.
						if !errors.Is(err, ErrFailed) && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, errorfs.ErrInjected) {
							t.Errorf("CompactState: %v", err)
						}
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			time.Sleep(time.Duration(10+rng.IntN(50)) * time.Millisecond)
			fault.on.Store(true)
			wg.Wait()
			fault.on.Store(false)
			crashed := base.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(seed, 7))})
			_ = withTimeout(t, "Close", l.Close)

			l2, err := Open("db", &Options{FS: crashed, Registry: reg})
			if err != nil {
				t.Fatalf("reopen after %d faults: %v", fault.hits.Load(), err)
			}
			defer l2.Close()
			found := map[uint64]bool{}
			for i, e := range readAll(t, l2) {
				if e.Position != uint64(i+1) {
					t.Fatalf("gap: event %d at position %d", i+1, e.Position)
				}
				found[uint64(e.Data.(testOpened).N)] = true
			}
			for n := range acked {
				if !found[n] {
					t.Fatalf("acknowledged event %d lost (%d faults, %d acknowledged, %d in the log)", n, fault.hits.Load(), len(acked), len(found))
				}
			}
			if _, err := l2.Verify(bg); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if _, err := l2.Append(bg, "after", ExpectAny, tev(next.Add(1))); err != nil {
				t.Fatalf("append after reopen: %v", err)
			}
			t.Logf("%d faults, %d acknowledged, %d in the log", fault.hits.Load(), len(acked), len(found))
		})
	}
}

// withTimeout runs f and fails the test if it does not return within 10 s.
func withTimeout(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hung", what)
		return nil
	}
}
