package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/vmihailenco/msgpack/v5"
)

// rechain rewrites records 1..n through edit and recomputes the whole hash
// chain, as someone able to rewrite the store would.
func rechain(t *testing.T, l *Ledger, n uint64, edit func(r *record)) {
	t.Helper()
	var prev [32]byte
	for pos := uint64(1); pos <= n; pos++ {
		r, err := decodeRecord(rawRecord(t, l, pos))
		if err != nil {
			t.Fatal(err)
		}
		edit(&r)
		body := appendRecordBody(nil, &r)
		prev = ChainHash(prev, body)
		_ = l.db.Set(logKey(pos), append(body, prev[:]...), pebble.Sync)
	}
}

func wantCorruptAt(t *testing.T, what string, err error, pos uint64, reason string) {
	t.Helper()
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Position != pos || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("%s: %v, want corruption at %d (%q)", what, err, pos, reason)
	}
}

// A stream version that skips one, under a consistent chain and correct
// back-pointers, is named at the event where it skips.
func TestVerifyNamesVersionGap(t *testing.T) {
	l := openMem(t)
	fill(t, l, 30)
	rechain(t, l, 30, func(r *record) {
		if r.stream == "s2" && r.version >= 7 { // s2 version 7 is at 20; it becomes 8, and so on
			r.version++
		}
	})
	_, err := l.Verify(bg)
	wantCorruptAt(t, "Verify", err, 20, "is version 6")
}

// The first event of a stream must be its version 1.
func TestVerifyNamesStreamStartingPastVersionOne(t *testing.T) {
	l := openMem(t)
	fill(t, l, 30)
	rechain(t, l, 30, func(r *record) {
		if r.pos == 30 { // s0 version 10 moves to a stream with no earlier event
			r.stream = "zz"
		}
	})
	_, err := l.Verify(bg)
	wantCorruptAt(t, "Verify", err, 30, "no earlier event")
}

// Past maxVerifyStreams streams a back-pointer is still checked.
func TestVerifyBackPointerPastStreamLimit(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 2^18 streams")
	}
	fs, reg := vfs.NewMem(), testRegistry(t)
	data, _ := msgpack.Marshal(testOpened{N: 1})
	n := uint64(maxVerifyStreams + 2)
	writeRaw(t, fs, formatMarker, func(b *pebble.Batch, put func(record)) {
		event := func(pos uint64, stream string, ver, prev uint64) record {
			return record{pos: pos, prev: prev, version: ver, time: 1, schema: 1, stream: stream, typ: "test.opened", data: data}
		}
		put(event(1, "a", 1, 0))
		for pos := uint64(2); pos < n; pos++ {
			put(event(pos, fmt.Sprintf("x%d", pos), 1, 0))
		}
		put(event(n, "a", 2, 2)) // a's version 1 is at 1, not 2
		_ = b.Set(headsKey, putU64(n), nil)
	})
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = l.Verify(bg)
	wantCorruptAt(t, "Verify", err, n, "points back at position 2")
}

// A format-1 stream has no head entry, even a correct one.
func TestVerifyNamesHeadOfFormat1Stream(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	writeV1(t, fs, []string{"a", "b", "c"}, 30) // a: positions 3, 6, ... 30
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = l.db.Set(headKey("a"), headVal(10, 30), pebble.Sync)
	var ie *IndexError
	if _, err := l.Verify(bg); !errors.As(err, &ie) || ie.Index != "head" || ie.Stream != "a" || !strings.Contains(ie.Reason, "format-1") {
		t.Fatalf("Verify: %v, want a head entry for a format-1 stream", err)
	}
}

// The upgrade is stored: a reopen replays nothing and still
// finds the format-1 streams no append touched; a read-only open upgrades in
// memory and replays nothing either.
func TestUpgradeStoredWithoutAppends(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	const n = 30
	writeV1(t, fs, []string{"a", "b", "c"}, n)
	ro, err := Open("db", &Options{FS: fs, Registry: reg, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.headsThrough != n || len(ro.heads) != 0 {
		t.Errorf("read-only open of a format-1 store: heads through %d, %d replayed; want %d and none", ro.headsThrough, len(ro.heads), n)
	}
	_ = ro.Close()
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open("db", &Options{FS: fs, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.headsThrough != n || len(l.heads) != 0 {
		t.Errorf("reopened after the upgrade: heads through %d, %d replayed; want %d and none", l.headsThrough, len(l.heads), n)
	}
	if v, err := l.StreamVersion(bg, "a"); err != nil || v != n/3 {
		t.Fatalf("StreamVersion(a) after the upgrade = %d, %v; want %d", v, err, n/3)
	}
	if got := streamIDs(t, l, "b", 0); len(got) != n/3 {
		t.Fatalf("stream b: %d events", len(got))
	}
	if res, err := l.Append(bg, "a", ExpectVersion(n/3), tev(1000)); err != nil || res.Version() != n/3+1 {
		t.Fatalf("append to a: %v, %v", res, err)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A back-pointer must point backwards.
func TestDecodeRefusesForwardBackPointer(t *testing.T) {
	for _, prev := range []uint64{5, 6, 1 << 40} {
		r := record{pos: 5, prev: prev, version: 2, id: tid(5), time: 1, schema: 1, stream: "s", typ: "t", data: []byte{0x80}}
		body := appendRecordBody(nil, &r)
		h := ChainHash([32]byte{}, body)
		if _, err := decodeRecord(append(body, h[:]...)); err == nil {
			t.Errorf("record at 5 pointing back at %d decoded", prev)
		}
	}
}

// crashedTail fills a ledger with 10 events (heads never stored), lets
// tamper change the raw store and returns a crash image of it.
func crashedTail(t *testing.T, tamper func(l *Ledger)) (vfs.FS, *Registry) {
	t.Helper()
	fs, reg := vfs.NewCrashableMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 10)
	tamper(l)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	_ = l.Close()
	return crashed, reg
}

// replayRefused checks that a ledger whose stored heads are damaged refuses
// appends to s1 and reports corruption to its stream reads (on every stream
// when the heads could not be replayed at all).
func replayRefused(t *testing.T, fs vfs.FS, reg *Registry, lastPos uint64) {
	t.Helper()
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if _, err := l.StreamVersion(ctx, "s1"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("StreamVersion(s1) = %v, want ErrCorrupt", err)
	}
	if _, err := l.Append(ctx, "s1", ExpectAny, NewEvent{Data: testNote{}}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("append on unreplayed heads: %v, want ErrCorrupt", err)
	}
	if l.lastPos != lastPos {
		t.Errorf("log grew to %d", l.lastPos)
	}
}

// A record in the replayed tail that claims another position.
func TestOpenReplayRecordAtWrongPosition(t *testing.T) {
	fs, reg := crashedTail(t, func(l *Ledger) {
		v := rawRecord(t, l, 7) // s1 version 3
		putBE(v[1:], 70)
		_ = l.db.Set(logKey(7), v, pebble.Sync)
	})
	replayRefused(t, fs, reg, 10)
}

// The tail ends early: the last key holds a record claiming the
// position before it, which has no key.
func TestOpenReplayTailShort(t *testing.T) {
	fs, reg := crashedTail(t, func(l *Ledger) {
		_ = l.db.Set(logKey(10), rawRecord(t, l, 9), pebble.Sync)
		_ = l.db.Delete(logKey(9), pebble.Sync)
	})
	replayRefused(t, fs, reg, 9)
}

// A heads position beyond the log end.
func TestOpenHeadsPositionBeyondLog(t *testing.T) {
	fs, reg := crashedTail(t, func(l *Ledger) {
		_ = l.db.Set(headsKey, putU64(1000), pebble.Sync)
	})
	replayRefused(t, fs, reg, 10)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Named as the checkpoint, not as a record missing after it.
	_, err = l.StreamVersion(bg, "s1")
	wantCorruptAt(t, "StreamVersion", err, 0, "heads checkpoint")
}

// A format-1 end marker beyond the log end refuses Open.
func TestOpenV1EndBeyondLog(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 10)
	_ = l.db.Set(v1EndKey, putU64(1000), pebble.Sync)
	_ = l.Close()
	if l, err = Open("db", &Options{FS: fs, Registry: reg}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			_ = l.Close()
		}
		t.Fatalf("Open with the format-1 end past the log: %v, want ErrCorrupt", err)
	}
}

// An append refuses a damaged stored head as damage (an
// IndexError), never chaining a new event to it.
func TestAppendOnDamagedStoredHead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ver, pos uint64
	}{
		{"past the log", 683, 10000},
		{"position zero", 683, 0},
		{"version zero", 0, 2048},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, l := reopenedLedger(t)
			_ = l.db.Set(headKey("s2"), headVal(tc.ver, tc.pos), pebble.Sync)
			_, err := l.Append(bg, "s2", ExpectAny, NewEvent{Data: testNote{}})
			var ie *IndexError
			if !errors.As(err, &ie) || ie.Index != "head" || ie.Stream != "s2" {
				t.Fatalf("append: %v, want an IndexError for s2's head", err)
			}
			if l.lastPos != headsEvery {
				t.Fatalf("appended at %d", l.lastPos)
			}
		})
	}
}

// The head cache is full of heads not yet stored: none is dropped (the
// stored head is older).
func TestHeadCacheKeepsUnstoredHeads(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("appends 2^16 streams")
	}
	l := openMem(t)
	l.headsEvery = 1 << 40 // never stored during the test
	if _, err := l.Append(bg, "x", ExpectNoStream, NewEvent{Data: testNote{}}); err != nil {
		t.Fatal(err)
	}
	for k := range 7 { // 70000 streams: past maxCachedHeads
		var as []StreamAppend
		for i := range 10000 {
			as = append(as, StreamAppend{Stream: fmt.Sprintf("y%d-%d", k, i), Expect: ExpectNoStream, Events: []NewEvent{{Data: testNote{}}}})
		}
		if _, err := l.AppendMulti(bg, as...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(bg, "x", ExpectVersion(1), NewEvent{Data: testNote{}}); err != nil {
		t.Fatalf("second append to x: %v", err)
	}
}

// A stream whose head is an anchor version reads from its head; it
// needs no stream-index entry for it.
func TestReadStreamHeadAtAnchor(t *testing.T) {
	l := openMem(t)
	for i := range uint64(anchorEvery) {
		if _, err := l.Append(bg, "s", ExpectVersion(i), tev(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	_ = l.db.Delete(appendStreamKey(nil, "s", anchorEvery), pebble.Sync)
	for _, from := range []uint64{0, 200, anchorEvery} {
		if got := streamIDs(t, l, "s", from); len(got) != anchorEvery-int(max(from, 1))+1 {
			t.Fatalf("from %d: %d events", from, len(got))
		}
	}
}

// While the heads are stored by an append whose sync is still in flight
// (Verify cannot compare them exactly), each is still checked to point at
// its stream's event, whether they went to their 'h' entries or to a
// snapshot.
func TestVerifyHeadPointersDuringInFlightAppend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stream   string
		ver, pos uint64
		reason   string
	}{
		{"head at another stream's event", "s1", 4, 6, "which holds"},
		{"head past the log", "ghost", 1, 500, "points at no event"},
	} {
		for _, merge := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/merge=%v", tc.name, merge), func(t *testing.T) {
				l, gate := gatedLedger(t, vfs.NewMem(), testRegistry(t))
				l.headsEvery = 10
				if merge {
					l.snapMax = 0 // the heads go to their 'h' entries
				}
				fill(t, l, 12) // heads stored through 10
				gate.block()
				done := make(chan error, 1)
				go func() {
					var as []StreamAppend
					for i := range 10 {
						as = append(as, StreamAppend{Stream: fmt.Sprintf("n%d", i), Events: []NewEvent{{Data: testNote{}}}})
					}
					_, err := l.AppendMulti(bg, as...) // 13..22, stores the heads through 22
					done <- err
				}()
				for deadline := time.Now().Add(10 * time.Second); l.assigned.Load() < 22; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the append was not applied")
					}
				}
				if d, err := l.Verify(bg); err != nil || d.Position != 12 {
					t.Fatalf("Verify before tampering: %v, %v", d, err)
				}
				if merge {
					_ = l.db.Set(headKey(tc.stream), headVal(tc.ver, tc.pos), pebble.NoSync)
				} else {
					heads := map[string]streamHead{"s0": {4, 12}, "s1": {4, 10}, "s2": {4, 11}}
					for i := range 10 {
						heads[fmt.Sprintf("n%d", i)] = streamHead{1, uint64(13 + i)}
					}
					heads[tc.stream] = streamHead{tc.ver, tc.pos}
					_ = l.db.Set(appendSnapKey(nil, 22), snapValue(0, heads), pebble.NoSync)
				}
				_, err := l.Verify(bg)
				var ie *IndexError
				if !errors.As(err, &ie) || ie.Index != "head" || ie.Stream != tc.stream || !strings.Contains(ie.Reason, tc.reason) {
					t.Fatalf("Verify: %v, want a head IndexError for %s (%s)", err, tc.stream, tc.reason)
				}
				gate.open()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
