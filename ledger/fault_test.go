package ledger

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// walFault injects errorfs.ErrInjected into WAL operations of the given kinds
// while it is on.
type walFault struct {
	on    atomic.Bool
	kinds []errorfs.OpKind
	hits  atomic.Int64
}

func (f *walFault) String() string { return "wal-fault" }

func (f *walFault) MaybeError(op errorfs.Op) error {
	if !f.on.Load() || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	for _, k := range f.kinds {
		if op.Kind == k {
			f.hits.Add(1)
			return errorfs.ErrInjected
		}
	}
	return nil
}

func TestWALFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kinds []errorfs.OpKind
	}{
		{"write", []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}},
		{"sync", []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := vfs.NewCrashableMem()
			fault := &walFault{kinds: tc.kinds}
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
			_, err = l.Append(bg, "s", ExpectVersion(5), tev(6))
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("append during a WAL %s fault: %v, want ErrFailed", tc.name, err)
			}
			if fault.hits.Load() == 0 {
				t.Fatal("no fault was injected")
			}
			fault.on.Store(false)
			// Fail-stop: later writes are refused even though the disk is back.
			if _, err := l.Append(bg, "t", ExpectAny, tev(7)); !errors.Is(err, ErrFailed) {
				t.Fatalf("append after the failure: %v, want ErrFailed", err)
			}
			var sb StateBatch
			sb.Set([]byte("k"), []byte("v"))
			if err := l.ApplyState(bg, &sb); !errors.Is(err, ErrFailed) {
				t.Fatalf("ApplyState after the failure: %v, want ErrFailed", err)
			}
			if !errors.Is(l.Err(), ErrFailed) {
				t.Fatalf("Err() = %v", l.Err())
			}
			// Durable events stay readable; the failed one is never shown.
			if got := readAll(t, l); len(got) != 5 || l.DurablePosition() != 5 {
				t.Fatalf("read %d events, durable %d after the failure; want 5", len(got), l.DurablePosition())
			}
			closed := make(chan error, 1)
			go func() { closed <- l.Close() }()
			select {
			case err := <-closed:
				if !errors.Is(err, ErrFailed) {
					t.Fatalf("Close of a failed ledger: %v, want ErrFailed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close hung after a WAL fault")
			}

			// The process restarts: only synced data survives.
			l2, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer l2.Close()
			got := readAll(t, l2)
			if len(got) != 5 {
				t.Fatalf("reopened log has %d events, want the 5 acknowledged", len(got))
			}
			if _, err := l2.Verify(bg); err != nil {
				t.Fatalf("Verify after reopen: %v", err)
			}
			r, err := l2.Append(bg, "s", ExpectVersion(5), tev(6))
			if err != nil || r.First != 6 {
				t.Fatalf("append after reopen: %+v, %v", r, err)
			}
		})
	}
}
