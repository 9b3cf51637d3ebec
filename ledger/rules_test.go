package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"
)

func TestRegistryRules(t *testing.T) {
	type A struct{ X int }
	type B struct{ Y int }
	for _, tc := range []struct {
		name string
		do   func(r *Registry) error
		want error
	}{
		{"ok", func(r *Registry) error { return r.Register("b", 1, B{}) }, nil},
		{"same name", func(r *Registry) error { return r.Register("a", 2, B{}) }, ErrDuplicateType},
		{"same type", func(r *Registry) error { return r.Register("a2", 1, A{}) }, ErrDuplicateType},
		{"pointer of a registered type", func(r *Registry) error { return r.Register("a3", 1, &A{}) }, ErrDuplicateType},
		{"empty name", func(r *Registry) error { return r.Register("", 1, B{}) }, ErrInvalid},
		{"NUL in name", func(r *Registry) error { return r.Register("b\x00", 1, B{}) }, ErrInvalid},
		{"long name", func(r *Registry) error { return r.Register(strings.Repeat("n", 256), 1, B{}) }, ErrInvalid},
		{"schema 0", func(r *Registry) error { return r.Register("b", 0, B{}) }, ErrInvalid},
		{"nil prototype", func(r *Registry) error { return r.Register("b", 1, nil) }, ErrInvalid},
		{"upcaster for unknown type", func(r *Registry) error { return r.RegisterUpcaster("zz", 1, identity) }, ErrUnknownType},
		{"upcaster at current schema", func(r *Registry) error { return r.RegisterUpcaster("a", 1, identity) }, ErrInvalid},
		{"nil upcaster", func(r *Registry) error { return r.RegisterUpcaster("a", 1, nil) }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			if err := r.Register("a", 1, A{}); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(r); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	var zero Registry // the zero value works too
	if err := zero.Register("a", 1, A{}); err != nil {
		t.Fatal(err)
	}
	if name, schema, ok := zero.Lookup(&A{}); !ok || name != "a" || schema != 1 {
		t.Fatalf("Lookup(*A) = %q %d %v", name, schema, ok)
	}
}

func identity(b []byte) ([]byte, error) { return b, nil }

// Schema evolution: events written at schema 1 are read at schema 3 through
// two upcasters; an unregistered type reads back raw; a newer schema or a
// missing upcaster is an error.
type accountV1 struct{ Name string }

type accountV3 struct {
	First, Last string
	Email       string
}

func TestUpcasting(t *testing.T) {
	fs := vfs.NewMem()
	old := NewRegistry()
	if err := errors.Join(old.Register("account.created", 1, accountV1{}), old.Register("other", 1, testNote{})); err != nil {
		t.Fatal(err)
	}
	l, err := Open("db", &Options{FS: fs, Registry: old})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "acc", ExpectAny, NewEvent{ID: tid(1), Data: accountV1{Name: "Ada Lovelace"}}, NewEvent{ID: tid(2), Data: testNote{"x"}}); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()

	reopen := func(reg *Registry) *Ledger {
		l, err := Open("db", &Options{FS: fs, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	cur := NewRegistry()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cur.Register("account.created", 3, &accountV3{}))
	must(cur.RegisterUpcaster("account.created", 1, func(b []byte) ([]byte, error) {
		var v1 accountV1
		if err := msgpack.Unmarshal(b, &v1); err != nil {
			return nil, err
		}
		first, last, _ := strings.Cut(v1.Name, " ")
		return msgpack.Marshal(map[string]string{"First": first, "Last": last})
	}))
	must(cur.RegisterUpcaster("account.created", 2, func(b []byte) ([]byte, error) {
		var m map[string]string
		if err := msgpack.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		m["Email"] = "unknown"
		return msgpack.Marshal(m)
	}))
	l = reopen(cur)
	evs := readAll(t, l)
	got, ok := evs[0].Data.(*accountV3)
	if !ok || *got != (accountV3{First: "Ada", Last: "Lovelace", Email: "unknown"}) || evs[0].Schema != 1 {
		t.Fatalf("upcast event: %#v (schema %d)", evs[0].Data, evs[0].Schema)
	}
	if evs[1].Type != "other" || evs[1].Data != nil || len(evs[1].Raw) == 0 {
		t.Fatalf("unregistered type: %+v", evs[1])
	}
	_ = l.Close()

	missing := NewRegistry()
	must(missing.Register("account.created", 3, accountV3{}))
	must(missing.RegisterUpcaster("account.created", 2, identity))
	l = reopen(missing)
	if _, err := l.EventAt(bg, 1); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("missing upcaster: %v", err)
	}
	_ = l.Close()
	// A program that knows only an older schema than the stored one refuses it.
	l, err = Open("db", &Options{FS: fs, Registry: old})
	must(err)
	if _, err := l.Append(bg, "acc2", ExpectAny, NewEvent{ID: tid(3), Data: accountV1{"x"}}); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	newer := NewRegistry()
	must(newer.Register("account.created", 1, accountV3{}))
	l = reopen(newer)
	// The stored event claims schema 2; this program registers only schema 1.
	v := rawRecord(t, l, 3)
	r, _ := decodeRecord(v)
	r.schema = 2
	body := appendRecordBody(nil, &r)
	h := ChainHash([32]byte{}, body) // chain is irrelevant to decoding
	_ = l.db.Set(logKey(3), append(body, h[:]...), pebble.Sync)
	if _, err := l.EventAt(bg, 3); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("newer schema than registered: %v", err)
	}
}

func TestUpcasterDuplicate(t *testing.T) {
	r := NewRegistry()
	if err := r.Register("x", 3, accountV3{}); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterUpcaster("x", 1, identity); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterUpcaster("x", 1, identity); !errors.Is(err, ErrDuplicateType) {
		t.Fatalf("second upcaster for one schema: %v", err)
	}
}

func TestOpenRules(t *testing.T) {
	if _, err := Open("", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open with no directory: %v", err)
	}
	t.Run("foreign database", func(t *testing.T) {
		fs := vfs.NewMem()
		db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Set([]byte("hello"), []byte("world"), pebble.Sync)
		_ = db.Close()
		if _, err := Open("db", &Options{FS: fs}); !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("Open of a non-ledger database: %v", err)
		}
	})
	t.Run("unknown marker", func(t *testing.T) {
		fs := vfs.NewMem()
		l, err := Open("db", &Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		_ = l.db.Set(formatKey, []byte("keyledger/ledger v99"), pebble.Sync)
		_ = l.Close()
		_, err = Open("db", &Options{FS: fs})
		if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "v99") {
			t.Fatalf("Open of a future format: %v", err)
		}
	})
	t.Run("pinned pebble format", func(t *testing.T) {
		l := openMem(t)
		if got := l.db.FormatMajorVersion(); got != pebbleFormat {
			t.Fatalf("format major version %v, want %v", got, pebbleFormat)
		}
	})
	t.Run("on disk, reopen", func(t *testing.T) {
		dir := t.TempDir()
		l, err := Open(dir, &Options{Registry: testRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		fill(t, l, 10)
		d, _ := l.Head(bg)
		_ = l.Close()
		l, err = Open(dir, &Options{Registry: testRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if h, _ := l.Head(bg); h != d {
			t.Fatalf("head after reopen %v, before %v", h, d)
		}
		if r, err := l.Append(bg, "s1", ExpectAny, tev(100)); err != nil || r.First != 11 {
			t.Fatalf("append after reopen: %+v %v", r, err)
		}
	})
}

// Pebble's informational lines ("Found 0 WALs", …) must not reach the log.
func TestPebbleIsQuiet(t *testing.T) {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	dir := t.TempDir()
	for range 2 {
		l, err := Open(dir, &Options{Registry: testRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		fill(t, l, 5)
		_ = l.db.Flush()
		_ = l.Close()
	}
	if buf.Len() > 0 {
		t.Fatalf("Pebble wrote to the log:\n%s", buf.String())
	}
}

// syncGate blocks WAL syncs while closed.
type syncGate struct {
	mu      sync.Mutex
	blocked chan struct{} // nil when open
	entered chan struct{}
}

func (g *syncGate) String() string { return "sync-gate" }

// gatedLedger opens a ledger on fs (in directory "db") whose WAL syncs a
// gate can block. Cleanup opens the gate before closing the ledger, so a
// failing test does not hang in Close behind a blocked sync.
func gatedLedger(t *testing.T, fs vfs.FS, reg *Registry) (*Ledger, *syncGate) {
	t.Helper()
	gate := &syncGate{entered: make(chan struct{}, 1)}
	l, err := Open("db", &Options{FS: errorfs.Wrap(fs, gate), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gate.open(); _ = l.Close() })
	return l, gate
}

// block makes WAL syncs wait until open.
func (g *syncGate) block() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked = make(chan struct{})
}

// open lets syncs through again.
func (g *syncGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked != nil {
		close(g.blocked)
		g.blocked = nil
	}
}

func (g *syncGate) MaybeError(op errorfs.Op) error {
	if !strings.HasSuffix(op.Path, ".log") || (op.Kind != errorfs.OpFileSync && op.Kind != errorfs.OpFileSyncData) {
		return nil
	}
	g.mu.Lock()
	ch := g.blocked
	g.mu.Unlock()
	if ch != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-ch
	}
	return nil
}

// Pebble makes a batch readable before its WAL sync; the ledger must not.
func TestNothingVisibleBeforeDurable(t *testing.T) {
	l, gate := gatedLedger(t, vfs.NewMem(), testRegistry(t))
	if _, err := l.Append(bg, "s", ExpectNoStream, tev(1)); err != nil {
		t.Fatal(err)
	}
	followed := make(chan Event, 10)
	fctx, fcancel := context.WithCancel(bg)
	defer fcancel()
	go func() {
		for e, err := range l.Follow(fctx, 1) {
			if err != nil {
				return
			}
			followed <- e
		}
	}()
	if e := <-followed; e.Position != 1 {
		t.Fatalf("follower got %d", e.Position)
	}

	gate.block()
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(bg, "s", ExpectVersion(1), tev(2))
		done <- err
	}()
	<-gate.entered // a WAL sync is stuck: maybe a late one of the first append's
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		_, c, err := l.db.Get(logKey(2))
		if err == nil {
			c.Close()
			break // the batch is applied; its sync waits behind the stuck one
		}
		if time.Now().After(deadline) {
			t.Fatalf("precondition: Pebble should show the record before its sync: %v", err)
		}
	}
	if l.DurablePosition() != 1 {
		t.Fatalf("durable position %d before the sync", l.DurablePosition())
	}
	if n := len(readAll(t, l)); n != 1 {
		t.Fatalf("ReadAll shows %d events before the sync", n)
	}
	short, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	if _, err := l.EventAt(short, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EventAt of an unsynced event: %v, want to wait", err)
	}
	if _, err := l.StreamVersion(short, "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("StreamVersion with an unsynced event: %v, want to wait", err)
	}
	// The expected-version check does see the pending append.
	_, err := l.Append(bg, "s", ExpectVersion(1), tev(3))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Actual != 2 {
		t.Fatalf("append behind a pending one: %v, want conflict with actual 2", err)
	}
	select {
	case e := <-followed:
		t.Fatalf("follower saw position %d before its sync", e.Position)
	case <-time.After(20 * time.Millisecond):
	}

	gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e := <-followed; e.Position != 2 {
		t.Fatalf("follower got %d after the sync", e.Position)
	}
	if v, err := l.StreamVersion(bg, "s"); err != nil || v != 2 {
		t.Fatalf("StreamVersion after the sync: %d %v", v, err)
	}
}

func TestCloseWakesFollowers(t *testing.T) {
	l := openMem(t)
	done := make(chan error, 1)
	go func() {
		for _, err := range l.Follow(bg, 1) {
			done <- err
			return
		}
	}()
	time.Sleep(10 * time.Millisecond)
	_ = l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("follower ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the follower")
	}
}

// A loop body may call any method, including Close, without deadlocking.
func TestCloseInsideReadLoop(t *testing.T) {
	l := openMem(t)
	fill(t, l, readChunk+100) // two chunks: the second finds the ledger closed
	n := 0
	var last error
	for _, err := range l.ReadAll(bg, 0) {
		if err != nil {
			last = err
			break
		}
		if n++; n == 10 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(last, ErrClosed) || n < 10 || n > readChunk {
		t.Fatalf("after Close in the loop: %d events, last error %v", n, last)
	}
}

type testMapped struct{ M map[string]int }

// A retry carries the same payload, but msgpack writes map keys in Go's
// random order: the comparison must look at values, not only bytes. A changed
// map value is a reuse of the ID.
func TestRetryComparesPayloadValues(t *testing.T) {
	reg := testRegistry(t)
	if err := reg.Register("test.mapped", 1, testMapped{}); err != nil {
		t.Fatal(err)
	}
	l, err := Open("", &Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := map[string]int{}
	for i := range 40 {
		m[fmt.Sprintf("k%02d", i)] = i
	}
	ev := NewEvent{ID: tid(1), Data: testMapped{M: m}}
	first, err := l.Append(bg, "s", ExpectNoStream, ev)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := l.Append(bg, "s", ExpectNoStream, ev)
		if err != nil || again.First != first.First {
			t.Fatalf("retry with an equal map: %+v, %v", again, err)
		}
	}
	m2 := make(map[string]int, len(m))
	for k, v := range m {
		m2[k] = v
	}
	m2["k07"] = -7
	_, err = l.Append(bg, "s", ExpectNoStream, NewEvent{ID: tid(1), Data: testMapped{M: m2}})
	var re *IDReusedError
	if !errors.As(err, &re) || re.ID != tid(1) || re.Position != 1 || re.Differs != "payload" {
		t.Fatalf("retry with a changed map value: %v, want IDReusedError for the payload at 1", err)
	}
}

// Generated IDs are UUIDv7 carrying the ledger clock, so later appends sort
// after earlier ones (the ID index grows at its end); within a millisecond
// they differ in their random bits.
func TestGeneratedIDsAreV7(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	l, err := Open("", &Options{InMemory: true, Registry: testRegistry(t), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ids []uuid.UUID
	for i := range 3 {
		now = now.Add(time.Duration(i) * time.Millisecond) // +0, +1, +2 ms
		res, err := l.Append(bg, "s", ExpectAny, NewEvent{Data: testNote{}}, NewEvent{Data: testNote{}})
		if err != nil {
			t.Fatal(err)
		}
		for p := res.First; p <= res.Last; p++ {
			ev, err := l.EventAt(bg, p)
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID.Version() != 7 || ev.ID.Variant() != uuid.RFC4122 {
				t.Fatalf("position %d: ID %s is version %d, variant %v", p, ev.ID, ev.ID.Version(), ev.ID.Variant())
			}
			sec, nsec := ev.ID.Time().UnixTime()
			if got := time.Unix(sec, nsec); !got.Equal(now) {
				t.Fatalf("position %d: ID time %v, want the append's %v", p, got.UTC(), now)
			}
			ids = append(ids, ev.ID)
		}
	}
	if ids[0] == ids[1] {
		t.Fatalf("two events of one append got the same ID %s", ids[0])
	}
	for i := 2; i < len(ids); i += 2 { // each append's IDs sort after the previous append's
		if bytes.Compare(ids[i][:], ids[i-1][:]) <= 0 || bytes.Compare(ids[i][:], ids[i-2][:]) <= 0 {
			t.Fatalf("ID %s of a later millisecond sorts before %s", ids[i], ids[i-1])
		}
	}
	if _, err := l.EventByID(bg, ids[3]); err != nil {
		t.Fatalf("EventByID of a generated ID: %v", err)
	}
}

// Flushes and compactions cut tables where the key kind changes, so the log,
// the two indexes and the state space never share a table (see splitByKind).
func TestTablesHoldOneKind(t *testing.T) {
	l := openMem(t)
	l.headsEvery = 1000
	for i := range 21 { // 2100 events: the heads merged at 1000, a snapshot at 2000
		l.snapMax = maxSnapshot
		if i == 9 {
			l.snapMax = 0
		}
		evs := make([]NewEvent, 100)
		for j := range evs {
			evs[j] = tev(uint64(i*100 + j + 1))
		}
		if _, err := l.Append(bg, fmt.Sprintf("s%d", i%3), ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
		var b StateBatch
		b.Set([]byte(fmt.Sprintf("row%d", i)), []byte("v"))
		b.SetCheckpoint("p", uint64(i*100+100))
		if err := l.ApplyState(bg, &b); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			if err := l.db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.db.Compact(bg, []byte{0}, []byte{0xff}, true); err != nil {
		t.Fatal(err)
	}
	levels, err := l.db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[byte]bool{}
	for _, tables := range levels {
		for _, tb := range tables {
			lo, hi := tb.Smallest.UserKey, tb.Largest.UserKey
			if lo[0] != hi[0] {
				t.Fatalf("a table holds keys %q .. %q of two kinds", lo, hi)
			}
			kinds[lo[0]] = true
		}
	}
	for _, k := range []byte{prefixMeta, prefixCheckpoint, prefixHead, prefixHeadsSnap, prefixID, prefixLog, prefixStream, prefixState} {
		if !kinds[k] {
			t.Fatalf("no table holds keys of kind %q (have %v)", k, kinds)
		}
	}
}

// The lookup before the lock skips IDs above the largest one sequenced; that
// bound survives a reopen, so retrying the newest append is still a retry and
// reusing its ID elsewhere is still refused.
func TestRetryOfNewestIDAfterReopen(t *testing.T) {
	fs := vfs.NewMem()
	open := func() *Ledger {
		l, err := Open("d", &Options{FS: fs, Registry: testRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	first, err := l.Append(bg, "a", ExpectAny, tev(10), tev(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	defer l.Close()
	again, err := l.Append(bg, "a", ExpectAny, tev(10), tev(20))
	if err != nil || again.First != first.First || again.Last != first.Last {
		t.Fatalf("retry after reopen = %+v, %v; want %+v", again, err, first)
	}
	if _, err := l.Append(bg, "b", ExpectAny, tev(20)); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("newest ID reused in one event: %v, want ErrDuplicateID", err)
	}
	var reused *IDReusedError
	if _, err := l.Append(bg, "b", ExpectAny, NewEvent{ID: tid(20), Data: testNote{}}, NewEvent{ID: tid(10), Data: testNote{}}); !errors.As(err, &reused) && !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("newest IDs reused in another stream: %v", err)
	}
	if _, err := l.Append(bg, "a", ExpectAny, tev(30)); err != nil {
		t.Fatalf("an ID above the newest: %v", err)
	}
	if _, err := l.Append(bg, "a", ExpectAny, tev(30)); err != nil {
		t.Fatalf("retry of it: %v", err)
	}
	if v, _ := l.StreamVersion(bg, "a"); v != 3 {
		t.Fatalf("stream a at version %d, want 3 (no duplicates)", v)
	}
}

// A generated ID read back from the log and appended again is a reused ID,
// though generated IDs skip the recent-ID window: the lookup bound covers
// them.
func TestGeneratedIDReusedIsRefused(t *testing.T) {
	l := openMem(t)
	res, err := l.Append(bg, "a", ExpectAny, NewEvent{Data: testNote{Text: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := l.EventAt(bg, res.First)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "b", ExpectAny, NewEvent{ID: ev.ID, Data: testNote{Text: "x"}}); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("generated ID %s appended again to another stream: %v, want ErrDuplicateID", ev.ID, err)
	}
	if _, err := l.Append(bg, "a", ExpectAny, NewEvent{ID: ev.ID, Data: testNote{Text: "x"}}); err != nil {
		t.Fatalf("the same event under its read-back ID is a retry: %v", err)
	}
	if v, _ := l.StreamVersion(bg, "a"); v != 1 {
		t.Fatalf("stream a at version %d, want 1", v)
	}
}

// A retry long after its append, once the recent-ID window has moved on, is
// found by the lookup before the lock: the bound of the lookup skip counts
// every ID sequenced, not just those read at Open.
func TestRetryBeyondRecentWindow(t *testing.T) {
	l := openMem(t)
	first, err := l.Append(bg, "a", ExpectAny, tev(1<<40))
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]NewEvent, 1000)
	for n := uint64(1); n <= recentWindow+1000; n += uint64(len(evs)) {
		for i := range evs {
			evs[i] = tev(n + uint64(i))
		}
		if _, err := l.Append(bg, "b", ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	again, err := l.Append(bg, "a", ExpectAny, tev(1<<40))
	if err != nil || again.First != first.First {
		t.Fatalf("retry beyond the recent window = %+v, %v; want position %d", again, err, first.First)
	}
	if v, _ := l.StreamVersion(bg, "a"); v != 1 {
		t.Fatalf("stream a at version %d, want 1 (the retry was appended again)", v)
	}
}
