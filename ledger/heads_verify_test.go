package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Verify while an append that stores the heads is between its apply and
// l.assigned.Store (the window beyondLog's comment describes): the snapshot
// holds the new heads (through > end), and a head past l.assigned must be
// checked again under l.seq, not reported as pointing at no event.
func TestVerifyDuringHeadsApplyNoFalsePositive(t *testing.T) {
	t.Run("snapshot", func(t *testing.T) { verifyDuringHeadsApply(t, false) })
	t.Run("merge", func(t *testing.T) { verifyDuringHeadsApply(t, true) })
}

func verifyDuringHeadsApply(t *testing.T, merge bool) {
	l := openMem(t)
	if merge {
		l.snapMax = 0 // the heads go to their 'h' entries
	}
	fill(t, l, 12)
	l.seq.Lock()
	l.headsEvery = 1 // the next append stores the heads
	appends := []StreamAppend{{Stream: "s1", Expect: ExpectAny, Events: []NewEvent{{Data: testNote{}}}}}
	var r appendReq
	var err error
	sc := new(appendScratch)
	if r.evs, err = l.prepare(sc, appends, time.Now()); err != nil {
		t.Fatal(err)
	}
	var g group
	if !l.sequenceOne(&r, &g, sc, appends) || g.err != nil {
		t.Fatal(r.err, g.err)
	}
	l.assigned.Store(12) // the sequencer has not yet reached assigned.Store
	done := make(chan error, 1)
	go func() { _, err := l.Verify(bg); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Verify during an append's apply: %v", err)
		}
	case <-time.After(300 * time.Millisecond): // Verify waits for l.seq: fine
	}
	l.assigned.Store(13)
	l.seq.Unlock()
	if err := g.b.SyncWait(); err != nil {
		t.Fatal(err)
	}
	_ = g.b.Close()
	l.publish(&g.t)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	default:
	}
}

// A heads position past the log end is named by Verify: after a crash Open
// would refuse every append and stream read because of it.
func TestVerifyNamesHeadsPositionPastLog(t *testing.T) {
	fs, reg := vfs.NewCrashableMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 30)
	_ = l.db.Set(headsKey, putU64(1000), pebble.Sync)
	_, verr := l.Verify(bg)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	_ = l.Close()
	l, err = Open("db", &Options{FS: crashed, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, aerr := l.Append(bg, "s1", ExpectAny, NewEvent{Data: testNote{}})
	if aerr != nil && verr == nil {
		t.Fatalf("Verify passed, but after a crash: append = %v", aerr)
	}
	if !errors.Is(verr, ErrCorrupt) {
		t.Fatalf("Verify = %v, want the heads position named", verr)
	}
}
