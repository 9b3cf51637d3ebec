package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// rowsAt writes rows r1..rk (r1 rewritten as "x<k>" from k=4 on) and checkpoint k.
func rowsAt(k int, noSyncWait bool) *StateBatch {
	var b StateBatch
	b.SetNoSyncWait(noSyncWait)
	b.Set(fmt.Appendf(nil, "r%d", k), fmt.Appendf(nil, "%d", k))
	if k >= 4 {
		b.Set([]byte("r1"), fmt.Appendf(nil, "x%d", k))
	}
	b.SetCheckpoint("p", uint64(k))
	return &b
}

// checkRows fails unless the rows are exactly those of checkpoint cp.
func checkRows(t *testing.T, l *Ledger, cp uint64) {
	t.Helper()
	for k := 1; k <= 10; k++ {
		v, err := l.GetState(bg, fmt.Appendf(nil, "r%d", k))
		switch {
		case k == 1 && cp >= 4:
			if string(v) != fmt.Sprintf("x%d", cp) {
				t.Fatalf("checkpoint %d but r1 = %q, %v", cp, v, err)
			}
		case uint64(k) <= cp:
			if err != nil || string(v) != fmt.Sprint(k) {
				t.Fatalf("checkpoint %d but r%d = %q, %v", cp, k, v, err)
			}
		default:
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("checkpoint %d but r%d = %q, %v (want absent)", cp, k, v, err)
			}
		}
	}
}

// ApplyState with SetNoSyncWait returns while its sync is stuck, its rows and
// checkpoint are visible at once, and a crash before the sync loses both
// together (never one without the other) and never a ledger event.
func TestApplyStateNoSyncWait(t *testing.T) {
	base := vfs.NewCrashableMem()
	reg := testRegistry(t)
	l, gate := gatedLedger(t, base, reg)
	for i := uint64(1); i <= 3; i++ {
		if _, err := l.Append(bg, "s", ExpectAny, tev(i)); err != nil {
			t.Fatal(err)
		}
		if err := l.ApplyState(bg, rowsAt(int(i), false)); err != nil {
			t.Fatal(err)
		}
	}

	gate.block()
	done := make(chan error, 1)
	go func() {
		err := l.ApplyState(bg, rowsAt(4, true))
		if err == nil {
			err = l.ApplyState(bg, rowsAt(5, true))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ApplyState with SetNoSyncWait waited for the blocked sync")
	}
	select {
	case <-gate.entered: // the sync was requested and is stuck
	case <-time.After(10 * time.Second):
		t.Fatal("no WAL sync was requested")
	}
	if cp, err := l.Checkpoint(bg, "p"); err != nil || cp != 5 {
		t.Fatalf("checkpoint before the sync = %d, %v; want 5 visible at once", cp, err)
	}
	checkRows(t, l, 5)

	crashClones(t, base, reg, 3, 5, 3)

	gate.open()

	// An acknowledged append syncs the log behind the state batch too.
	if err := l.ApplyState(bg, rowsAt(6, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "s", ExpectAny, tev(4)); err != nil {
		t.Fatal(err)
	}
	l3 := reopenAt(t, base, reg, 6)
	defer l3.Close()
	if n := len(readAll(t, l3)); n != 4 {
		t.Fatalf("%d events, want 4", n)
	}
}

// ApplyState with SetNoSync asks for no sync: its rows and checkpoint are
// visible at once, a crash loses only the newest such batches, whole and
// in order, and the next synced write (or Close) makes them durable.
func TestApplyStateNoSync(t *testing.T) {
	base := vfs.NewCrashableMem()
	reg := testRegistry(t)
	l, err := Open("db", &Options{FS: base, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := uint64(1); i <= 3; i++ {
		if _, err := l.Append(bg, "s", ExpectAny, tev(i)); err != nil {
			t.Fatal(err)
		}
		if err := l.ApplyState(bg, rowsAt(int(i), false)); err != nil {
			t.Fatal(err)
		}
	}
	syncs := l.Stats().WALSyncs
	for k := 4; k <= 6; k++ {
		b := rowsAt(k, true)
		b.SetNoSync(true)
		if err := l.ApplyState(bg, b); err != nil {
			t.Fatal(err)
		}
	}
	if cp, err := l.Checkpoint(bg, "p"); err != nil || cp != 6 {
		t.Fatalf("checkpoint = %d, %v; want 6 visible at once", cp, err)
	}
	checkRows(t, l, 6)
	if n := l.Stats().WALSyncs - syncs; n != 0 {
		t.Fatalf("%d WAL syncs for three batches with SetNoSync, want none", n)
	}

	crashClones(t, base, reg, 3, 6, 5)

	// The sync of a later batch covers the batches before it.
	if err := l.ApplyState(bg, rowsAt(7, false)); err != nil {
		t.Fatal(err)
	}
	reopenAt(t, base, reg, 7).Close()
}

// Close makes every batch durable: it waits for the outstanding syncs of
// SetNoSyncWait batches and syncs what SetNoSync batches left unsynced.
func TestApplyStateCloseKeepsUnsyncedBatches(t *testing.T) {
	for _, c := range []struct {
		name string
		mark func(*StateBatch)
	}{
		{"SetNoSyncWait", func(b *StateBatch) { b.SetNoSyncWait(true) }},
		{"SetNoSync", func(b *StateBatch) { b.SetNoSync(true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := vfs.NewCrashableMem()
			reg := testRegistry(t)
			l, err := Open("db", &Options{FS: base, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			for k := 1; k <= 10; k++ {
				b := rowsAt(k, false)
				c.mark(b)
				if err := l.ApplyState(bg, b); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			reopenAt(t, base, reg, 10).Close()
		})
	}
}

// reopenAt opens a crash clone of base with its synced data only, and
// checks it holds checkpoint cp and exactly the rows up to it.
func reopenAt(t *testing.T, base *vfs.MemFS, reg *Registry, cp uint64) *Ledger {
	t.Helper()
	l, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.Checkpoint(bg, "p"); err != nil || got != cp {
		l.Close()
		t.Fatalf("checkpoint after reopening = %d, %v; want %d", got, err, cp)
	}
	checkRows(t, l, cp)
	return l
}

// crashClones reopens crash clones of base, with synced data only and then
// with random parts of what was not synced: each must hold the 3 events
// acknowledged before, verify, and have a checkpoint in lo..hi (lo with
// synced data only) with exactly the rows up to it.
func crashClones(t *testing.T, base *vfs.MemFS, reg *Registry, lo, hi uint64, salt uint64) {
	t.Helper()
	for seed := range uint64(40) {
		cfg := vfs.CrashCloneCfg{}
		if seed > 0 {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: int(seed * 5 % 101), RNG: rand.New(rand.NewPCG(seed, salt))}
		}
		l2, err := Open("db", &Options{FS: base.CrashClone(cfg), Registry: reg})
		if err != nil {
			t.Fatalf("seed %d: reopen: %v", seed, err)
		}
		cp, err := l2.Checkpoint(bg, "p")
		if err != nil || cp < lo || cp > hi || (seed == 0 && cp != lo) {
			t.Fatalf("seed %d: checkpoint after the crash %d, %v; want %d..%d", seed, cp, err, lo, hi)
		}
		checkRows(t, l2, cp)
		if n := len(readAll(t, l2)); n != 3 {
			t.Fatalf("seed %d: %d events after the crash, want the 3 acknowledged", seed, n)
		}
		if _, err := l2.Verify(bg); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		_ = l2.Close()
	}
}
