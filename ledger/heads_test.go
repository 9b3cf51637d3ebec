package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/vmihailenco/msgpack/v5"
)

// streamIDs reads a stream from version from and returns its event IDs'
// numbers, checking versions are consecutive.
func streamIDs(t *testing.T, l *Ledger, stream string, from uint64) []uint64 {
	t.Helper()
	var out []uint64
	want := max(from, 1)
	for e, err := range l.ReadStream(bg, stream, from) {
		if err != nil {
			t.Fatalf("ReadStream(%q, %d): %v", stream, from, err)
		}
		if e.Version != want || e.Stream != stream {
			t.Fatalf("ReadStream(%q, %d): %q version %d, want version %d", stream, from, e.Stream, e.Version, want)
		}
		want++
		out = append(out, idNum(e.ID))
	}
	return out
}

// A stream longer than a read chunk is read from any version: across
// anchors, from an anchor, from just past one, past its head; before and
// after a reopen (heads from memory, then from the stored heads).
func TestLongStreamReads(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*anchorEvery + 17
	var ids []uint64 // ids[v-1] is version v's
	next := uint64(1)
	for v := uint64(1); v <= n; {
		// Appends of 1–5 events, some crossing an anchor version, with
		// another stream's events between them.
		k := min(1+v%5, n-v+1)
		evs := make([]NewEvent, k)
		for i := range evs {
			evs[i] = tev(next)
			ids = append(ids, next)
			next++
		}
		if _, err := l.Append(bg, "long", ExpectVersion(v-1), evs...); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(bg, "other", ExpectAny, tev(1<<20+v)); err != nil {
			t.Fatal(err)
		}
		v += k
	}
	check := func(when string) {
		for _, from := range []uint64{0, 1, 2, anchorEvery - 1, anchorEvery, anchorEvery + 1, 2*anchorEvery + 5, 3 * anchorEvery, n - 1, n, n + 1, n + 100} {
			got := streamIDs(t, l, "long", from)
			want := ids[min(max(from, 1), n+1)-1:]
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: ReadStream from %d: %d events %v…, want %d", when, from, len(got), got[:min(len(got), 5)], len(want))
			}
		}
		if v, err := l.StreamVersion(bg, "long"); err != nil || v != n {
			t.Fatalf("%s: StreamVersion %d, %v", when, v, err)
		}
		if _, err := l.Verify(bg); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	check("open")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open("db", &Options{FS: fs, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check("reopened")
}

// Close stores the heads, so the next Open replays nothing; without a Close
// (a crash) Open replays at most the events since the heads were stored,
// and appends go on from the right versions and back-pointers.
func TestHeadsAfterCloseAndCrash(t *testing.T) {
	fs, reg := vfs.NewCrashableMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	l.headsEvery = 50
	fill(t, l, 170) // heads stored at 50, 100, 150
	if l.headsThrough != 150 || len(l.dirty) != 3 {
		t.Fatalf("heads stored through %d with %d streams pending, want 150 and 3", l.headsThrough, len(l.dirty))
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if l.headsThrough != 170 || len(l.heads) != 0 {
		t.Errorf("after Close: heads stored through %d, %d in memory; want 170 and none", l.headsThrough, len(l.heads))
	}
	_ = l.Close()

	l, err = Open("db", &Options{FS: crashed, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.headsThrough != 150 || len(l.dirty) != 3 {
		t.Errorf("after a crash: heads stored through %d with %d replayed; want 150 and 3", l.headsThrough, len(l.dirty))
	}
	for s, v := range map[string]uint64{"s0": 56, "s1": 57, "s2": 57} {
		res, err := l.Append(bg, s, ExpectVersion(v), NewEvent{Data: testNote{}})
		if err != nil {
			t.Fatalf("append to %s at version %d: %v", s, v, err)
		}
		if got := streamIDs(t, l, s, 0); len(got) != int(v)+1 || res.Version() != v+1 {
			t.Fatalf("%s: %d events after the append", s, len(got))
		}
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// A record Open cannot replay does not keep the ledger from opening (Verify
// must name it), but nothing is appended on top of heads it may have lost.
func TestOpenWithDamagedTail(t *testing.T) {
	fs, reg := vfs.NewCrashableMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 10)
	v := rawRecord(t, l, 5)
	v[0] = 9 // unknown record format
	_ = l.db.Set(logKey(5), v, pebble.Sync)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{}) // no Close: the heads are not stored
	_ = l.Close()
	for _, ro := range []bool{false, true} {
		l, err := Open("db", &Options{FS: crashed, Registry: reg, ReadOnly: ro})
		if err != nil {
			t.Fatalf("read-only %v: Open: %v", ro, err)
		}
		var ce *CorruptionError
		if _, err := l.Verify(bg); !errors.As(err, &ce) || ce.Position != 5 {
			t.Errorf("read-only %v: Verify = %v, want corruption at 5", ro, err)
		}
		if _, err := l.StreamVersion(bg, "s1"); !errors.As(err, &ce) || ce.Position != 5 {
			t.Errorf("read-only %v: StreamVersion = %v, want corruption at 5", ro, err)
		}
		if !ro {
			if _, err := l.Append(bg, "s9", ExpectAny, NewEvent{Data: testNote{}}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("append on unreplayed heads: %v, want ErrCorrupt", err)
			}
			if l.DurablePosition() != 10 {
				t.Errorf("log grew to %d", l.DurablePosition())
			}
		}
		_ = l.Close()
	}
}

// A back-pointer to the wrong event, even under a consistently rewritten
// chain, is named by Verify and by a read of the stream.
func TestVerifyNamesBrokenBackPointer(t *testing.T) {
	l := openMem(t)
	fill(t, l, 30)
	var prev [32]byte
	for pos := uint64(1); pos <= 30; pos++ {
		r, err := decodeRecord(rawRecord(t, l, pos))
		if err != nil {
			t.Fatal(err)
		}
		if pos == 20 { // s2 version 7; its previous event is at 17
			r.prev = 14
		}
		body := appendRecordBody(nil, &r)
		prev = ChainHash(prev, body)
		_ = l.db.Set(logKey(pos), append(body, prev[:]...), pebble.Sync)
	}
	var ce *CorruptionError
	if _, err := l.Verify(bg); !errors.As(err, &ce) || ce.Position != 20 || !bytes.Contains([]byte(ce.Reason), []byte("points back at position 14")) {
		t.Fatalf("Verify: %v, want a broken back-pointer at 20", err)
	}
	for _, err := range l.ReadStream(bg, "s2", 0) {
		if err != nil {
			if !errors.As(err, &ce) || ce.Position != 20 {
				t.Fatalf("ReadStream: %v, want corruption at 20", err)
			}
			return
		}
	}
	t.Fatal("ReadStream followed the broken back-pointer without an error")
}

// writeRaw writes a store in directory "db" of fs below the ledger: fill
// gets a batch with the format marker and a put that stores a record (its ID
// and chain hash filled in) with its ID-index entry.
func writeRaw(t *testing.T, fs vfs.FS, marker string, fill func(b *pebble.Batch, put func(r record))) {
	t.Helper()
	po := pebbleOptions()
	po.FS = fs
	db, err := pebble.Open("db", po)
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	_ = b.Set(formatKey, []byte(marker), nil)
	var hash [32]byte
	fill(b, func(r record) {
		r.id = tid(r.pos)
		body := appendRecordBody(nil, &r)
		hash = ChainHash(hash, body)
		_ = b.Set(logKey(r.pos), append(body, hash[:]...), nil)
		_ = b.Set(idKey(r.id), append(putU64(r.pos), append(putU64(r.pos), putU64(r.pos)...)...), nil)
	})
	if err := errors.Join(b.Commit(pebble.Sync), db.Close()); err != nil {
		t.Fatal(err)
	}
}

// writeV1 writes a store as format 1 wrote it: marker v1, format-1 records,
// a stream-index entry for every event, the ID index, no heads.
func writeV1(t *testing.T, fs vfs.FS, streams []string, n int) {
	t.Helper()
	writeRaw(t, fs, formatMarkerV1, func(b *pebble.Batch, put func(record)) {
		versions := map[string]uint64{}
		for pos := uint64(1); pos <= uint64(n); pos++ {
			s := streams[int(pos)%len(streams)]
			versions[s]++
			data, _ := msgpack.Marshal(testOpened{N: int(pos)})
			put(record{format: recordFormatV1, pos: pos, version: versions[s], time: int64(pos), schema: 1, stream: s, typ: "test.opened", data: data})
			_ = b.Set(appendStreamKey(nil, s, versions[s]), putU64(pos), nil)
		}
	})
}

// A store written by format 1 opens: read-only without a write, read-write
// upgraded in place without rewriting a record (a digest saved before still
// checks). Its streams read back, extend with format-2 events pointing back
// at format-1 ones, and verify.
func TestUpgradeFromV1(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	streams := []string{"a", "b", "c"}
	const n = 2*3*anchorEvery + 42 // 526 events per stream: past two anchor versions
	writeV1(t, fs, streams, n)

	ro, err := Open("db", &Options{FS: fs, Registry: reg, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := ro.Verify(bg)
	if err != nil {
		t.Fatalf("read-only Verify of a format-1 store: %v", err)
	}
	if got := streamIDs(t, ro, "a", 0); len(got) != n/3 || got[0] != 3 {
		t.Fatalf("read-only: stream a has %d events from %d", len(got), got[0])
	}
	_ = ro.Close()
	if ro, err = Open("db", &Options{FS: fs, Registry: reg, ReadOnly: true}); err != nil {
		t.Fatalf("a read-only open wrote the upgrade: %v", err)
	}
	_ = ro.Close()

	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range append(streams, "new") {
		for k := range anchorEvery + 3 { // "a" crosses its third anchor in format 2
			if _, err := l.Append(bg, s, ExpectAny, tev(uint64(10000*(i+1)+k))); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		for _, s := range streams {
			for _, from := range []uint64{0, anchorEvery, n/3 - 1, n / 3, n/3 + 1, n/3 + anchorEvery + 3} {
				got := streamIDs(t, l, s, from)
				if want := n/3 + anchorEvery + 3 - int(max(from, 1)) + 1; len(got) != want {
					t.Fatalf("%s: stream %s from %d: %d events, want %d", when, s, from, len(got), want)
				}
			}
		}
		if _, err := l.Verify(bg); err != nil {
			t.Fatalf("%s: Verify: %v", when, err)
		}
		if err := l.CheckDigest(bg, saved); err != nil {
			t.Fatalf("%s: the digest saved before the upgrade: %v", when, err)
		}
	}
	check("upgraded")
	_ = l.Close()
	if l, err = Open("db", &Options{FS: fs, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check("reopened")
	if v, c, err := l.db.Get(formatKey); err != nil || string(v) != formatMarker {
		t.Fatalf("format marker after the upgrade: %q, %v", v, err)
	} else {
		c.Close()
	}
}
