package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// snapValue encodes a heads snapshot as storeHeadsLocked does.
func snapValue(merged uint64, heads map[string]streamHead) []byte {
	v := putU64(merged)
	for s, h := range heads {
		v = binary.AppendUvarint(v, uint64(len(s)))
		v = append(v, s...)
		v = append(v, headVal(h.ver, h.pos)...)
	}
	return v
}

// fillMore appends n events after the last one as fill does: position i
// on stream s(i%3) with ID tid(i).
func fillMore(t *testing.T, l *Ledger, n int) {
	t.Helper()
	for range n {
		i := l.lastPos + 1
		if _, err := l.Append(bg, fmt.Sprintf("s%d", i%3), ExpectAny, NewEvent{ID: tid(i), Data: testNote{}}); err != nil {
			t.Fatal(err)
		}
	}
}

// storedKinds counts the heads keys in l: 'h' entries, snapshots, and
// whether the heads position is stored.
func storedKinds(t *testing.T, l *Ledger) (entries, snapshots int, position bool) {
	t.Helper()
	it, err := l.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		switch k := it.Key(); {
		case k[0] == prefixHead:
			entries++
		case k[0] == prefixHeadsSnap:
			snapshots++
		case string(k) == string(headsKey):
			position = true
		}
	}
	return entries, snapshots, position
}

// A few streams' heads are stored as snapshots, one key each time, until
// Close merges them into their entries and deletes the snapshots.
func TestHeadsSnapshotsUntilClose(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	l.headsEvery = 10
	fill(t, l, 55) // snapshots at 10, 20, 30, 40, 50
	if e, s, p := storedKinds(t, l); e != 0 || s != 5 || p {
		t.Fatalf("before Close: %d entries, %d snapshots, position stored %v; want 0, 5, false", e, s, p)
	}
	if l.headsThrough != 50 || l.mergedThrough != 0 || len(l.dirty) != 3 {
		t.Fatalf("heads through %d, merged through %d, %d dirty; want 50, 0, 3", l.headsThrough, l.mergedThrough, len(l.dirty))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openFS(t, fs, reg)
	if e, s, p := storedKinds(t, l); e != 3 || s != 0 || !p {
		t.Fatalf("after Close: %d entries, %d snapshots, position stored %v; want 3, 0, true", e, s, p)
	}
	if l.headsThrough != 55 || l.mergedThrough != 55 || len(l.heads) != 0 {
		t.Fatalf("after Close: heads through %d, merged through %d, %d in memory; want 55, 55, 0", l.headsThrough, l.mergedThrough, len(l.heads))
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A store merges instead of writing a snapshot larger than snapMax, or one
// that would take the snapshots since the last merge past snapBudget.
func TestHeadsMergeWhenSnapshotsGrow(t *testing.T) {
	l := openMem(t)
	l.headsEvery = 10
	l.snapMax = 8 + 3*(1+2+16) // the three streams' heads fit
	fill(t, l, 10)
	if e, s, _ := storedKinds(t, l); e != 0 || s != 1 {
		t.Fatalf("3 heads: %d entries, %d snapshots; want a snapshot", e, s)
	}
	if _, err := l.Append(bg, "s9", ExpectAny, NewEvent{Data: testNote{}}); err != nil {
		t.Fatal(err)
	}
	fillMore(t, l, 9) // 20: four heads, past snapMax
	if e, s, p := storedKinds(t, l); e != 4 || s != 0 || !p || l.mergedThrough != 20 || len(l.dirty) != 0 {
		t.Fatalf("4 heads: %d entries, %d snapshots, position %v, merged through %d, %d dirty; want a merge at 20",
			e, s, p, l.mergedThrough, len(l.dirty))
	}
	fillMore(t, l, 10) // 30: a snapshot again
	if _, s, _ := storedKinds(t, l); s != 1 || l.snapBytes != 9+len(l.snap) {
		t.Fatalf("after the merge: %d snapshots (%d bytes); want 1 of %d bytes, key included", s, l.snapBytes, 9+len(l.snap))
	}
	l.snapBytes = l.snapBudget - 10
	fillMore(t, l, 10) // 40: past the budget
	if e, s, _ := storedKinds(t, l); e != 4 || s != 0 || l.mergedThrough != 40 || l.snapBytes != 0 {
		t.Fatalf("past the budget: %d entries, %d snapshots, merged through %d; want a merge at 40", e, s, l.mergedThrough)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A crash after snapshots: Open reads the latest one and replays only the
// records after it.
func TestOpenReadsLatestSnapshot(t *testing.T) {
	fs, reg := vfs.NewCrashableMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	l.headsEvery = 10
	fill(t, l, 20) // snapshots at 10 and 20, merged at 0
	l.snapMax = 0
	fillMore(t, l, 10) // merged at 30
	l.snapMax = maxSnapshot
	fillMore(t, l, 25) // snapshots at 40 and 50; 55 sequenced
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	_ = l.Close()
	l = openFS(t, crashed, reg)
	if l.mergedThrough != 30 || l.headsThrough != 50 || l.lastPos != 55 {
		t.Fatalf("merged through %d, heads through %d, log end %d; want 30, 50, 55", l.mergedThrough, l.headsThrough, l.lastPos)
	}
	// The snapshots since the merge count against snapBudget (estimated
	// with headsEvery, which this test lowered before the crash).
	if v := len(snapValue(30, map[string]streamHead{"s0": {}, "s1": {}, "s2": {}})); l.snapBytes < v {
		t.Fatalf("snapshot bytes %d after Open, want at least %d", l.snapBytes, v)
	}
	for s, v := range map[string]uint64{"s0": 18, "s1": 19, "s2": 18} {
		if _, err := l.Append(bg, s, ExpectVersion(v), NewEvent{Data: testNote{}}); err != nil {
			t.Fatalf("append to %s at version %d: %v", s, v, err)
		}
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A damaged snapshot does not keep the ledger from opening, but nothing is
// appended on top of heads it may have lost.
func TestOpenWithDamagedSnapshot(t *testing.T) {
	good := map[string]streamHead{"s0": {3, 9}, "s1": {4, 10}, "s2": {3, 8}}
	for _, tc := range []struct {
		name, reason string
		key          []byte
		val          []byte
		merged       uint64 // the heads position, if stored
	}{
		{"malformed key", "heads snapshot key", []byte{prefixHeadsSnap, 1}, snapValue(0, good), 0},
		{"past the log", "heads snapshot: position outside (0, 10]", appendSnapKey(nil, 11), snapValue(0, good), 0},
		{"truncated", "heads snapshot: head entry truncated", appendSnapKey(nil, 10), snapValue(0, good)[:30], 0},
		{"short", "heads snapshot: shorter than", appendSnapKey(nil, 10), []byte{1}, 0},
		{"other merge", "heads snapshot: extends heads stored through 4", appendSnapKey(nil, 10), snapValue(4, good), 0},
		{"head past it", "heads snapshot: head of \"s1\" at position 10", appendSnapKey(nil, 9), snapValue(0, good), 0},
		{"zero version", "heads snapshot: head of \"s1\" has version 0", appendSnapKey(nil, 10), snapValue(0, map[string]streamHead{"s1": {0, 10}}), 0},
		{"head the entries hold", "heads snapshot: head of \"s1\" at position 4, outside (5, 10]", appendSnapKey(nil, 10),
			snapValue(5, map[string]streamHead{"s1": {2, 4}}), 5},
		{"stream twice", "heads snapshot: names \"s1\" twice", appendSnapKey(nil, 10),
			append(snapValue(0, map[string]streamHead{"s1": {4, 10}}), snapValue(0, map[string]streamHead{"s1": {4, 10}})[8:]...), 0},
		// Position 9 holds s0's event: an append must not chain to it.
		{"head at another stream's event", "entry points at position 9, which holds \"s0\"", appendSnapKey(nil, 10),
			snapValue(0, map[string]streamHead{"s0": {3, 9}, "s1": {4, 9}, "s2": {3, 8}}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, reg := crashedTail(t, func(l *Ledger) {
				if tc.merged > 0 {
					_ = l.db.Set(headsKey, putU64(tc.merged), pebble.Sync)
				}
				_ = l.db.Set(tc.key, tc.val, pebble.Sync)
			})
			replayRefused(t, fs, reg, 10)
			_, err := openFS(t, fs, reg).StreamVersion(bg, "s1")
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("StreamVersion: %v, want ErrCorrupt saying %q", err, tc.reason)
			}
		})
	}
}

// Verify compares the latest snapshot with the streams' last events at its
// position, and refuses one that does not extend the stored entries.
func TestVerifyNamesBrokenSnapshot(t *testing.T) {
	// fill puts position i on stream s(i%3); the snapshot at 2048 holds
	// s0 version 682 at 2046, s1 683 at 2047 and s2 683 at 2048.
	heads := map[string]streamHead{"s0": {682, 2046}, "s1": {683, 2047}, "s2": {683, 2048}}
	with := func(s string, h streamHead) map[string]streamHead {
		m := map[string]streamHead{}
		for k, v := range heads {
			m[k] = v
		}
		if h == (streamHead{}) {
			delete(m, s)
		} else {
			m[s] = h
		}
		return m
	}
	at := appendSnapKey(nil, headsEvery)
	for _, tc := range []struct {
		name string
		key  []byte
		val  []byte
		want IndexError // Reason is matched as a prefix
	}{
		{"stale head", at, snapValue(0, with("s1", streamHead{682, 2044})),
			IndexError{Index: "head", Position: 2044, Stream: "s1", Version: 682, Reason: "heads snapshot at 2048 differs from the stream's last event (version 683 at 2047)"}},
		{"head of a ghost stream", at, snapValue(0, with("ghost", streamHead{1, 5})),
			IndexError{Index: "head", Position: 5, Stream: "ghost", Version: 1, Reason: "heads snapshot at 2048 differs"}},
		{"stream missing", at, snapValue(0, with("s1", streamHead{})),
			IndexError{Index: "head", Position: 2047, Stream: "s1", Version: 683, Reason: "missing from the heads snapshot at 2048"}},
		{"other merge", at, snapValue(7, heads),
			IndexError{Index: "head", Position: 2048, Reason: "heads snapshot extends heads stored through 7, not 0"}},
		{"past the log", appendSnapKey(nil, 10000), snapValue(0, heads),
			IndexError{Index: "head", Position: 10000, Reason: "heads snapshot past the log"}},
		{"malformed", at, snapValue(0, heads)[:20],
			IndexError{Index: "head", Position: 2048, Reason: "heads snapshot malformed"}},
		{"malformed key", []byte{prefixHeadsSnap, 0xff},
			snapValue(0, heads), IndexError{Index: "head", Reason: "malformed heads snapshot key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openMem(t)
			fill(t, l, headsEvery+50)
			if _, err := l.Verify(bg); err != nil {
				t.Fatalf("Verify before tampering: %v", err)
			}
			if e, s, _ := storedKinds(t, l); e != 0 || s != 1 {
				t.Fatalf("precondition: %d entries, %d snapshots; want one snapshot", e, s)
			}
			_ = l.db.Set(tc.key, tc.val, pebble.Sync)
			_, err := l.Verify(bg)
			wantIndexError(t, err, tc.want)
		})
	}
}

// The point of snapshots: a log of a few streams, flushed again and again,
// writes no key that overlaps an earlier flush's, so L0 stays one sublevel
// deep and Pebble never compacts it. Heads merged at every store (the
// entries rewritten under the same keys) stack L0 up and start compactions.
func TestFewStreamsKeepL0Flat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		snapMax int
		flat    bool
	}{{"snapshots", maxSnapshot, true}, {"merges", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			l := openMem(t)
			l.snapMax = tc.snapMax
			evs := make([]NewEvent, 100)
			for round := range 4 {
				for range 21 { // 2100 events: the heads are stored once
					for j := range evs {
						evs[j] = NewEvent{Data: testNote{Text: fmt.Sprint(round, j)}}
					}
					if _, err := l.Append(bg, fmt.Sprintf("s%d", round%2), ExpectAny, evs...); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.db.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			m := l.db.Metrics()
			flat := m.Levels[0].Sublevels == 1 && m.Compact.Count == 0 && m.Compact.NumInProgress == 0
			if flat != tc.flat {
				t.Fatalf("after 4 flushes L0 has %d sublevels, %d compactions done, %d running; want flat %v",
					m.Levels[0].Sublevels, m.Compact.Count, m.Compact.NumInProgress, tc.flat)
			}
			if _, err := l.Verify(bg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A format-3 store (heads in their entries only, no snapshot) opens as it is;
// a read-write Open rewrites only its marker, and its next stores of the
// heads are snapshots on top of its entries.
func TestUpgradeFromV3(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("d", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	l.headsEvery, l.snapMax = 10, 0 // as format 3 stored the heads
	fill(t, l, 25)
	_ = l.db.Set(formatKey, []byte(formatMarkerV3), pebble.Sync)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	marker := func(l *Ledger) string {
		v, closer, err := l.db.Get(formatKey)
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		return string(v)
	}
	ro, err := Open("d", &Options{FS: fs, Registry: reg, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := marker(ro); m != formatMarkerV3 {
		t.Fatalf("a read-only open wrote marker %q", m)
	}
	if _, err := ro.Verify(bg); err != nil {
		t.Fatalf("read-only Verify of a format-3 store: %v", err)
	}
	_ = ro.Close()
	l, err = Open("d", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if m := marker(l); m != formatMarker {
		t.Fatalf("marker after a read-write open: %q, want %q", m, formatMarker)
	}
	l.headsEvery = 10
	fillMore(t, l, 12)
	if e, s, _ := storedKinds(t, l); e != 3 || s != 1 || l.mergedThrough != 25 || l.headsThrough != 35 {
		t.Fatalf("%d entries, %d snapshots, merged through %d, heads through %d; want 3, 1, 25, 35",
			e, s, l.mergedThrough, l.headsThrough)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A snapshot head that names another stream's event (position 9 holds s0's)
// is refused by every path that would trust it without walking to it: an
// append, StreamVersion, ReadStream from past it, and the retry of an append
// whose result it would change.
func TestDamagedSnapshotHeadNotTrusted(t *testing.T) {
	bad := snapValue(0, map[string]streamHead{"s0": {3, 9}, "s1": {3, 9}, "s2": {3, 8}}) // s1 is 4 at 10
	retry := []StreamAppend{
		{Stream: "s0", Expect: ExpectAny, Events: []NewEvent{{ID: tid(1000), Data: testNote{}}}},
		{Stream: "s1", Expect: ExpectVersion(4)}, // a condition only
	}
	for _, tc := range []struct {
		name string
		do   func(l *Ledger) error
	}{
		{"append", func(l *Ledger) error {
			_, err := l.Append(bg, "s1", ExpectAny, NewEvent{Data: testNote{}})
			return err
		}},
		{"stream version", func(l *Ledger) error {
			_, err := l.StreamVersion(bg, "s1")
			return err
		}},
		{"read from past the head", func(l *Ledger) error {
			for _, err := range l.ReadStream(bg, "s1", 4) {
				return err
			}
			return nil
		}},
		{"retry", func(l *Ledger) error {
			_, err := l.AppendMulti(bg, retry...)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, reg := crashedTail(t, func(l *Ledger) {
				_ = l.db.Set(appendSnapKey(nil, 10), bad, pebble.Sync)
				if tc.name == "retry" {
					if _, err := l.AppendMulti(bg, retry...); err != nil {
						t.Fatal(err)
					}
				}
			})
			l := openFS(t, fs, reg)
			if err := tc.do(l); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v, want ErrCorrupt", err)
			}
			if err := tc.do(l); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("again: %v, want ErrCorrupt", err)
			}
		})
	}
}

// Readers and the first appends after Open share the heads read from a
// snapshot (run with the race detector); the appends leave none unchecked.
func TestSnapshotHeadsCheckedUnderConcurrency(t *testing.T) {
	fs, reg := crashedTail(t, func(l *Ledger) {
		_ = l.db.Set(appendSnapKey(nil, 10), snapValue(0, map[string]streamHead{"s0": {3, 9}, "s1": {4, 10}, "s2": {3, 8}}), pebble.Sync)
	})
	l := openFS(t, fs, reg)
	var wg sync.WaitGroup
	for i := range 3 {
		s := fmt.Sprintf("s%d", i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := l.StreamVersion(bg, s); err != nil {
					t.Error(err)
				}
				for _, err := range l.ReadStream(bg, s, 1) {
					if err != nil {
						t.Error(err)
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := l.Append(bg, s, ExpectAny, NewEvent{Data: testNote{}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for s, e := range l.heads {
		if e.unchecked {
			t.Errorf("%s still unchecked after appends", s)
		}
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}
