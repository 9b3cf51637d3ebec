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

	// A crash now: synced data only, then random parts of what was not synced.
	for seed := range uint64(40) {
		cfg := vfs.CrashCloneCfg{}
		if seed > 0 {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: int(seed * 5 % 101), RNG: rand.New(rand.NewPCG(seed, 3))}
		}
		l2, err := Open("db", &Options{FS: base.CrashClone(cfg), Registry: reg})
		if err != nil {
			t.Fatalf("seed %d: reopen: %v", seed, err)
		}
		cp, err := l2.Checkpoint(bg, "p")
		if err != nil || cp < 3 || cp > 5 || (seed == 0 && cp != 3) {
			t.Fatalf("seed %d: checkpoint after the crash %d, %v", seed, cp, err)
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

	gate.open()

	// An acknowledged append syncs the log behind the state batch too.
	if err := l.ApplyState(bg, rowsAt(6, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "s", ExpectAny, tev(4)); err != nil {
		t.Fatal(err)
	}
	l3, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if cp, err := l3.Checkpoint(bg, "p"); err != nil || cp != 6 {
		t.Fatalf("checkpoint after a later acknowledged append = %d, %v; want 6", cp, err)
	}
	checkRows(t, l3, 6)
	if n := len(readAll(t, l3)); n != 4 {
		t.Fatalf("%d events, want 4", n)
	}
}

// Close waits for the outstanding syncs of SetNoSyncWait batches, so a clean
// close keeps them all.
func TestApplyStateNoSyncWaitClose(t *testing.T) {
	base := vfs.NewCrashableMem()
	reg := testRegistry(t)
	l, err := Open("db", &Options{FS: base, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 10; k++ {
		if err := l.ApplyState(bg, rowsAt(k, true)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if cp, err := l2.Checkpoint(bg, "p"); err != nil || cp != 10 {
		t.Fatalf("checkpoint after Close = %d, %v; want 10", cp, err)
	}
	checkRows(t, l2, 10)
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

	// A crash now: synced data only, then random parts of what was not synced.
	for seed := range uint64(40) {
		cfg := vfs.CrashCloneCfg{}
		if seed > 0 {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: int(seed * 5 % 101), RNG: rand.New(rand.NewPCG(seed, 5))}
		}
		l2, err := Open("db", &Options{FS: base.CrashClone(cfg), Registry: reg})
		if err != nil {
			t.Fatalf("seed %d: reopen: %v", seed, err)
		}
		cp, err := l2.Checkpoint(bg, "p")
		if err != nil || cp < 3 || cp > 6 || (seed == 0 && cp != 3) {
			t.Fatalf("seed %d: checkpoint after the crash %d, %v", seed, cp, err)
		}
		checkRows(t, l2, cp)
		if n := len(readAll(t, l2)); n != 3 {
			t.Fatalf("seed %d: %d events after the crash, want the 3 acknowledged", seed, n)
		}
		_ = l2.Close()
	}

	// The sync of a later batch covers the batches before it.
	if err := l.ApplyState(bg, rowsAt(7, false)); err != nil {
		t.Fatal(err)
	}
	l3, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if cp, err := l3.Checkpoint(bg, "p"); err != nil || cp != 7 {
		t.Fatalf("checkpoint after a later synced batch = %d, %v; want 7", cp, err)
	}
	checkRows(t, l3, 7)
}

// Close syncs what SetNoSync batches left unsynced.
func TestApplyStateNoSyncClose(t *testing.T) {
	base := vfs.NewCrashableMem()
	reg := testRegistry(t)
	l, err := Open("db", &Options{FS: base, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 10; k++ {
		b := rowsAt(k, false)
		b.SetNoSync(true)
		if err := l.ApplyState(bg, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if cp, err := l2.Checkpoint(bg, "p"); err != nil || cp != 10 {
		t.Fatalf("checkpoint after Close = %d, %v; want 10", cp, err)
	}
	checkRows(t, l2, 10)
}
