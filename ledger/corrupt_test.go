package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
)

// fill appends n single-event appends over three streams.
func fill(t testing.TB, l *Ledger, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		ev := NewEvent{ID: tid(uint64(i)), Data: testNote{Text: fmt.Sprintf("MARKER-%04d-%x", i, sha256.Sum256([]byte{byte(i), byte(i >> 8)}))}}
		if _, err := l.Append(bg, fmt.Sprintf("s%d", i%3), ExpectAny, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// flushedLedger opens a ledger in directory "db" of a new in-memory
// filesystem, fills it with n events and flushes them into tables.
func flushedLedger(t *testing.T, n int) (vfs.FS, *Registry, *Ledger) {
	t.Helper()
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, n)
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	return fs, reg, l
}

// reopenedLedger fills a ledger with exactly headsEvery events, so that the
// last append writes the stream heads, and reopens it: no head is in memory
// and every read or append starts from the stored heads.
func reopenedLedger(t *testing.T) (vfs.FS, *Registry, *Ledger) {
	t.Helper()
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, headsEvery)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open("db", &Options{FS: fs, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if len(l.heads) != 0 || l.headsThrough != headsEvery {
		t.Fatalf("precondition: %d heads in memory, stored through %d", len(l.heads), l.headsThrough)
	}
	return fs, reg, l
}

func headVal(ver, pos uint64) []byte { return append(putU64(ver), putU64(pos)...) }

func rawRecord(t *testing.T, l *Ledger, pos uint64) []byte {
	t.Helper()
	v, c, err := l.db.Get(logKey(pos))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return bytes.Clone(v)
}

func TestVerifyNamesTamperedPosition(t *testing.T) {
	const n, at = 50, 23
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, l *Ledger)
		reason string
	}{
		{"payload byte", func(t *testing.T, l *Ledger) {
			v := rawRecord(t, l, at)
			i := bytes.Index(v, []byte("MARKER"))
			v[i] ^= 0x01
			_ = l.db.Set(logKey(at), v, pebble.Sync)
		}, "hash chain broken"},
		{"time byte", func(t *testing.T, l *Ledger) {
			v := rawRecord(t, l, at)
			v[40] ^= 0x80
			_ = l.db.Set(logKey(at), v, pebble.Sync)
		}, "hash chain broken"},
		{"stored hash byte", func(t *testing.T, l *Ledger) {
			v := rawRecord(t, l, at)
			v[len(v)-1] ^= 0x01
			_ = l.db.Set(logKey(at), v, pebble.Sync)
		}, "hash chain broken"},
		{"length byte", func(t *testing.T, l *Ledger) {
			v := rawRecord(t, l, at)
			v[44] ^= 0x40 // stream name length
			_ = l.db.Set(logKey(at), v, pebble.Sync)
		}, "undecodable record"},
		{"format byte", func(t *testing.T, l *Ledger) {
			v := rawRecord(t, l, at)
			v[0] = 9
			_ = l.db.Set(logKey(at), v, pebble.Sync)
		}, "undecodable record"},
		{"position field", func(t *testing.T, l *Ledger) {
			v := rawRecord(t, l, at)
			v[8] ^= 1
			_ = l.db.Set(logKey(at), v, pebble.Sync)
		}, "record claims position"},
		{"record deleted", func(t *testing.T, l *Ledger) {
			_ = l.db.Delete(logKey(at), pebble.Sync)
		}, "record missing"},
		{"record swapped", func(t *testing.T, l *Ledger) {
			a, b := rawRecord(t, l, at), rawRecord(t, l, at+1)
			_ = l.db.Set(logKey(at), b, pebble.Sync)
			_ = l.db.Set(logKey(at+1), a, pebble.Sync)
		}, "record claims position"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openMem(t)
			fill(t, l, n)
			before, err := l.Verify(bg)
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, l)
			_, err = l.Verify(bg)
			var ce *CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify after tampering: %v, want a CorruptionError", err)
			}
			if ce.Position != at || !bytes.Contains([]byte(ce.Reason), []byte(tc.reason)) {
				t.Fatalf("Verify named position %d (%s), want %d (%s)", ce.Position, ce.Reason, at, tc.reason)
			}
			if err := l.CheckDigest(bg, before); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("CheckDigest of the pre-tamper digest: %v", err)
			}
		})
	}
}

// An attacker who rewrites a record and recomputes every later hash passes
// Verify, but not CheckDigest against a digest exported before.
func TestCheckDigestCatchesRewrittenChain(t *testing.T) {
	l := openMem(t)
	fill(t, l, 30)
	exported, err := l.Head(bg)
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	for pos := uint64(1); pos <= 30; pos++ {
		r, err := decodeRecord(rawRecord(t, l, pos))
		if err != nil {
			t.Fatal(err)
		}
		if pos == 10 {
			r.data = bytes.Replace(r.data, []byte("MARKER"), []byte("FORGED"), 1)
		}
		body := appendRecordBody(nil, &r)
		prev = ChainHash(prev, body)
		_ = l.db.Set(logKey(pos), append(body, prev[:]...), pebble.Sync)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatalf("a consistently rewritten chain should verify on its own: %v", err)
	}
	var ce *CorruptionError
	if err := l.CheckDigest(bg, exported); !errors.As(err, &ce) || ce.Position != 30 {
		t.Fatalf("CheckDigest of the exported digest: %v, want a mismatch at 30", err)
	}
}

// Flipping a byte in an sstable on disk is caught by Pebble's block checksum;
// Verify reports it as corruption at or before the damaged record.
func TestVerifyCatchesDamagedTable(t *testing.T) {
	fs, reg, l := flushedLedger(t, 200)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.List("db")
	damaged := false
	for _, name := range names {
		if !bytes.HasSuffix([]byte(name), []byte(".sst")) {
			continue
		}
		path := fs.PathJoin("db", name)
		f, _ := fs.Open(path)
		data, _ := io.ReadAll(f)
		_ = f.Close()
		h := sha256.Sum256([]byte{150, 0})
		i := bytes.Index(data, fmt.Appendf(nil, "%x", h[:16]))
		if i < 0 {
			continue
		}
		data[i+3] ^= 0x01
		w, _ := fs.Create(path, vfs.WriteCategoryUnspecified)
		_, _ = w.Write(data)
		_ = w.Close()
		damaged = true
	}
	if !damaged {
		t.Fatal("payload not found verbatim in any table")
	}
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = l.Verify(bg)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Position == 0 || ce.Position > 150 {
		t.Fatalf("Verify of a damaged table: %v, want corruption at or before 150", err)
	}
	if errors.Is(err, ErrIO) {
		t.Fatalf("damage Pebble detected is reported as an I/O error: %v", err)
	}
	if !errors.Is(l.Err(), ErrCorrupt) {
		t.Fatalf("Pebble's corruption event was not surfaced: Err() = %v", l.Err())
	}
}

// wantIndexError checks that err is the IndexError want, its Reason matched
// as a prefix.
func wantIndexError(t *testing.T, err error, want IndexError) {
	t.Helper()
	var ie *IndexError
	if !errors.As(err, &ie) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify after tampering: %v, want an IndexError", err)
	}
	got := *ie
	if !strings.HasPrefix(got.Reason, want.Reason) {
		t.Fatalf("reason %q, want %q…", got.Reason, want.Reason)
	}
	got.Reason = want.Reason
	if got != want {
		t.Fatalf("Verify named %+v, want %+v", got, want)
	}
}

// Verify checks the indexes and stored heads against the log: an entry
// missing or pointing at the wrong event is named with the event's position,
// stream and ID; an entry pointing at nothing is named with its own key.
func TestVerifyNamesBrokenIndexEntry(t *testing.T) {
	// fill puts position i on stream s(i%3) with ID tid(i); 767 is s2's
	// version 256, which has a stream-index entry (anchorEvery). The heads are
	// stored through headsEvery; s1's last event by then is 2047, version 683.
	const n, at = headsEvery + 50, 767
	atStream, atVersion := "s2", uint64(at/3+1)
	ghost := uuid.MustParse("0badc0de-0000-4000-8000-000000000001")
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, l *Ledger)
		want   IndexError // Reason is matched as a prefix
	}{
		{"stream entry deleted", func(t *testing.T, l *Ledger) {
			_ = l.db.Delete(appendStreamKey(nil, atStream, atVersion), pebble.Sync)
		}, IndexError{Index: "stream", Position: at, Stream: atStream, Version: atVersion, ID: tid(at), Reason: "entry missing"}},
		{"stream entry redirected", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(appendStreamKey(nil, atStream, atVersion), putU64(at+3), pebble.Sync)
		}, IndexError{Index: "stream", Position: at, Stream: atStream, Version: atVersion, ID: tid(at), Reason: "entry points at position 770"}},
		{"id entry deleted", func(t *testing.T, l *Ledger) {
			_ = l.db.Delete(idKey(tid(at)), pebble.Sync)
		}, IndexError{Index: "id", Position: at, Stream: atStream, Version: atVersion, ID: tid(at), Reason: "entry missing"}},
		{"id entry redirected", func(t *testing.T, l *Ledger) {
			v := append(putU64(at+1), append(putU64(at+1), putU64(at+1)...)...)
			_ = l.db.Set(idKey(tid(at)), v, pebble.Sync)
		}, IndexError{Index: "id", Position: at, Stream: atStream, Version: atVersion, ID: tid(at), Reason: "entry points at position 768"}},
		{"stream entry for a ghost event", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(appendStreamKey(nil, "ghost", 1), putU64(at), pebble.Sync)
		}, IndexError{Index: "stream", Position: at, Stream: "ghost", Version: 1, Reason: "entry points at position 767, which holds"}},
		{"stream entry beyond the log", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(appendStreamKey(nil, "s1", 9999), putU64(10000), pebble.Sync)
		}, IndexError{Index: "stream", Position: 10000, Stream: "s1", Version: 9999, Reason: "entry points at no event"}},
		{"stream entry for a version without one", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(appendStreamKey(nil, atStream, atVersion-1), putU64(at-3), pebble.Sync)
		}, IndexError{Index: "stream", Reason: "index has more entries than the"}},
		{"head entry deleted", func(t *testing.T, l *Ledger) {
			_ = l.db.Delete(headKey("s1"), pebble.Sync)
		}, IndexError{Index: "head", Position: 2047, Stream: "s1", Version: 683, Reason: "entry missing"}},
		{"head entry stale", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(headKey("s1"), headVal(682, 2044), pebble.Sync)
		}, IndexError{Index: "head", Position: 2044, Stream: "s1", Version: 682, Reason: "entry differs from the stream's last event through position 2048: version 683 at 2047"}},
		{"head entry for a ghost stream", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(headKey("ghost"), headVal(1, at), pebble.Sync)
		}, IndexError{Index: "head", Position: at, Stream: "ghost", Version: 1, Reason: "entry for a stream with no event"}},
		{"id entry for a ghost event", func(t *testing.T, l *Ledger) {
			v := append(putU64(at), append(putU64(at), putU64(at)...)...)
			_ = l.db.Set(idKey(ghost), v, pebble.Sync)
		}, IndexError{Index: "id", Position: at, ID: ghost, Reason: "entry points at position 767, which holds"}},
		{"id entry at position 0", func(t *testing.T, l *Ledger) {
			_ = l.db.Set(idKey(ghost), make([]byte, 24), pebble.Sync)
		}, IndexError{Index: "id", Position: 0, ID: ghost, Reason: "entry points at no event"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openMem(t)
			l.snapMax = 0 // the heads go to their 'h' entries
			fill(t, l, n)
			if r, err := l.EventAt(bg, at); err != nil || r.Stream != atStream || r.Version != atVersion {
				t.Fatalf("precondition: event %d is %q v%d (%v)", at, r.Stream, r.Version, err)
			}
			before, err := l.Verify(bg)
			if err != nil {
				t.Fatalf("Verify before tampering: %v", err)
			}
			tc.tamper(t, l)
			_, err = l.Verify(bg)
			wantIndexError(t, err, tc.want)
			// The chain is intact: CheckDigest does not look at indexes.
			if err := l.CheckDigest(bg, before); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Reads through a damaged index entry or stored head report an IndexError:
// never another event, never ErrNotFound for an event that exists, never a
// wait forever.
func TestReadsThroughDamagedIndex(t *testing.T) {
	const n, at = headsEvery, 767 // s2 version 256, an anchor; s2's head is 2048, version 683
	atStream, atVersion := "s2", uint64(at/3+1)
	// Each case gets its own deadline (set below, before its read): a
	// read that waits instead of failing ends there, and a slow machine
	// (the race detector under load) does not eat later cases' time.
	var ctx context.Context
	for _, tc := range []struct {
		name   string
		tamper func(l *Ledger)
		read   func(l *Ledger) error
	}{
		{"id entry redirected", func(l *Ledger) {
			v := append(putU64(at+1), append(putU64(at+1), putU64(at+1)...)...)
			_ = l.db.Set(idKey(tid(at)), v, pebble.Sync)
		}, func(l *Ledger) error { _, err := l.EventByID(ctx, tid(at)); return err }},
		{"id entry past the log", func(l *Ledger) {
			v := append(putU64(1000), append(putU64(1000), putU64(1000)...)...)
			_ = l.db.Set(idKey(tid(at)), v, pebble.Sync)
		}, func(l *Ledger) error { _, err := l.EventByID(ctx, tid(at)); return err }},
		{"id entry just past the log", func(l *Ledger) {
			v := append(putU64(n+1), append(putU64(n+1), putU64(n+1)...)...)
			_ = l.db.Set(idKey(tid(at)), v, pebble.Sync)
		}, func(l *Ledger) error { _, err := l.EventByID(bg, tid(at)); return err }},
		{"stream head just past the log", func(l *Ledger) {
			// ReadStream with no deadline: waiting for position n+1 to
			// become durable would never end.
			_ = l.db.Set(headKey(atStream), headVal(683, n+1), pebble.Sync)
		}, func(l *Ledger) error {
			for _, err := range l.ReadStream(bg, atStream, 0) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"stream entry just past the log", func(l *Ledger) {
			_ = l.db.Set(appendStreamKey(nil, atStream, atVersion), putU64(n+1), pebble.Sync)
		}, func(l *Ledger) error {
			for _, err := range l.ReadStream(bg, atStream, 0) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"stream head past the log", func(l *Ledger) {
			_ = l.db.Set(headKey(atStream), headVal(683, 10000), pebble.Sync)
		}, func(l *Ledger) error { _, err := l.StreamVersion(ctx, atStream); return err }},
		{"stream head at another stream's event", func(l *Ledger) {
			_ = l.db.Set(headKey(atStream), headVal(683, 2047), pebble.Sync)
		}, func(l *Ledger) error {
			for _, err := range l.ReadStream(ctx, atStream, 0) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"stream version on a head at another stream's event", func(l *Ledger) {
			_ = l.db.Set(headKey(atStream), headVal(700, 2048), pebble.Sync) // 2048 holds s2 version 683
		}, func(l *Ledger) error { _, err := l.StreamVersion(ctx, atStream); return err }},
		{"append on a stream head at another stream's event", func(l *Ledger) {
			_ = l.db.Set(headKey(atStream), headVal(683, 2047), pebble.Sync)
		}, func(l *Ledger) error {
			_, err := l.Append(ctx, atStream, ExpectAny, NewEvent{Data: testNote{}})
			if err == nil && l.lastPos != n {
				err = fmt.Errorf("appended at %d", l.lastPos)
			}
			return err
		}},
		{"stream entry at another stream's event", func(l *Ledger) {
			_ = l.db.Set(appendStreamKey(nil, atStream, atVersion), putU64(1000), pebble.Sync)
		}, func(l *Ledger) error {
			for _, err := range l.ReadStream(ctx, atStream, 0) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, l := reopenedLedger(t)
			tc.tamper(l)
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			err := tc.read(l)
			var ie *IndexError
			if !errors.As(err, &ie) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read after tampering: %v, want an IndexError", err)
			}
		})
	}
}

// Open reads the last ID-index key (the bound of the lookup skip). Damage
// there must not keep the ledger from opening: the skip is turned off, the
// ledger opens (read-write and read-only), Verify names the damage as
// ErrCorrupt, and no retry is mistaken for a new append.
func TestOpenWithDamagedIDIndex(t *testing.T) {
	fs, reg, l := flushedLedger(t, 200)
	levels, err := l.db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	var idTables []string
	for _, tables := range levels {
		for _, tb := range tables {
			if tb.Smallest.UserKey[0] == prefixID {
				idTables = append(idTables, fs.PathJoin("db", fmt.Sprintf("%06d.sst", tb.FileNum)))
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(idTables) == 0 {
		t.Fatal("no table of the ID index")
	}
	for _, path := range idTables {
		f, err := fs.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(f)
		_ = f.Close()
		for i := range len(data) - 64 { // every block; the footer stays, so the file is still a table
			data[i] ^= 0x5a
		}
		w, _ := fs.Create(path, vfs.WriteCategoryUnspecified)
		_, _ = w.Write(data)
		_ = w.Close()
	}
	for _, ro := range []bool{false, true} {
		l, err := Open("db", &Options{FS: fs, Registry: reg, ReadOnly: ro})
		if err != nil {
			t.Fatalf("Open (read-only %v) with a damaged ID index: %v", ro, err)
		}
		if hi, lo := l.maxID.load(); hi != ^uint64(0) || lo != ^uint64(0) {
			t.Errorf("read-only %v: lookup bound %x%x, want all ones (skip off)", ro, hi, lo)
		}
		if _, err := l.Verify(bg); !errors.Is(err, ErrCorrupt) {
			t.Errorf("read-only %v: Verify = %v, want ErrCorrupt", ro, err)
		}
		if !ro {
			if _, err := l.Append(bg, "s200", ExpectAny, NewEvent{ID: tid(200), Data: testNote{}}); err == nil {
				t.Error("a retry of event 200 through a damaged ID index was appended as new")
			}
		}
		_ = l.Close()
	}
}
