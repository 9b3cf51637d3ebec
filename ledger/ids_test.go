package ledger

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"pgregory.net/rapid"
)

// A generated ID keeps the UUIDv7 shape and its millisecond whatever
// position and flags are written into it, and gives them back.
func TestGeneratedIDLayout(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms := rapid.Int64Range(0, math.MaxInt64/1_000_000).Draw(t, "ms")
		random := rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "random")
		pos := rapid.Uint64Range(1, maxLocated).Draw(t, "pos")
		first, last := rapid.Bool().Draw(t, "first"), rapid.Bool().Draw(t, "last")
		id := locateID(newV7(ms*1e6, random), pos, first, last)
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d, variant %v", id, id.Version(), id.Variant())
		}
		if sec, nsec := id.Time().UnixTime(); sec*1000+nsec/1e6 != ms {
			t.Fatalf("%s: time %d.%09d, want %d ms", id, sec, nsec, ms)
		}
		if p, f, l := idLocation(id); p != pos || f != first || l != last {
			t.Fatalf("%s names %d %v %v, want %d %v %v", id, p, f, l, pos, first, last)
		}
	})
	if p, _, _ := idLocation(tid(5)); p != 0 {
		t.Fatalf("an ID of another shape names position %d", p)
	}
}

func idEntries(t *testing.T, l *Ledger) int {
	t.Helper()
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// An event with a generated ID is one key: EventByID finds it through the
// position its ID names, before and after a reopen, and Verify accepts it.
func TestGeneratedIDsNeedNoEntry(t *testing.T) {
	fs := vfs.NewMem()
	open := func() *Ledger {
		l, err := Open("d", &Options{FS: fs, Registry: testRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	for _, n := range []int{1, 3, 2} {
		evs := make([]NewEvent, n)
		for i := range evs {
			evs[i] = NewEvent{Data: testNote{Text: fmt.Sprint(i)}}
		}
		if _, err := l.Append(bg, "g", ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(bg, "c", ExpectAny, tev(1)); err != nil {
		t.Fatal(err)
	}
	if n := idEntries(t, l); n != 1 {
		t.Fatalf("%d ID-index entries, want 1 (the caller's ID)", n)
	}
	check := func(l *Ledger) {
		t.Helper()
		for _, ev := range readAll(t, l) {
			got, err := l.EventByID(bg, ev.ID)
			if err != nil || got.Position != ev.Position {
				t.Fatalf("EventByID(%s) = position %d, %v; want %d", ev.ID, got.Position, err, ev.Position)
			}
		}
		if _, err := l.Verify(bg); err != nil {
			t.Fatal(err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	defer l.Close()
	check(l)
}

// An ID of the generated shape is taken as located only if the record at
// the position it names holds exactly it; otherwise it is a caller's ID
// like any other, with an entry.
func TestForgedLocatedID(t *testing.T) {
	l := openMem(t)
	res, err := l.Append(bg, "s", ExpectAny, NewEvent{Data: testNote{}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := l.EventAt(bg, res.First)
	if err != nil {
		t.Fatal(err)
	}
	forged := ev.ID
	forged[9] ^= 1 // same position and flags, other random bits
	if _, err := l.EventByID(bg, forged); !errors.Is(err, ErrNotFound) {
		t.Fatalf("EventByID of a forged ID: %v, want ErrNotFound", err)
	}
	future := locateID(forged, 10, true, true) // a position not yet written
	for _, id := range []uuid.UUID{forged, future} {
		res, err := l.Append(bg, "s", ExpectAny, NewEvent{ID: id, Data: testNote{Text: "caller"}})
		if err != nil {
			t.Fatalf("append with caller ID %s: %v", id, err)
		}
		got, err := l.EventByID(bg, id)
		if err != nil || got.Position != res.First || got.ID != id {
			t.Fatalf("EventByID(%s) = %d %s, %v; want position %d", id, got.Position, got.ID, err, res.First)
		}
	}
	for range 7 { // positions 4..10: the ledger's own event at 10
		if _, err := l.Append(bg, "s", ExpectAny, NewEvent{Data: testNote{}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := l.EventByID(bg, future); err != nil || got.Position != 3 {
		t.Fatalf("EventByID of the caller's ID naming position 10: %d, %v; want its own event at 3", got.Position, err)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// Appending read-back generated IDs again is a retry only if it repeats a
// whole append: its first and last events are marked in their IDs.
func TestRetryWithGeneratedIDs(t *testing.T) {
	l := openMem(t)
	note := func(s string) NewEvent { return NewEvent{Data: testNote{Text: s}} }
	a, err := l.AppendMulti(bg,
		StreamAppend{Stream: "x", Expect: ExpectAny, Events: []NewEvent{note("a1"), note("a2")}},
		StreamAppend{Stream: "y", Expect: ExpectAny, Events: []NewEvent{note("a3")}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Append(bg, "x", ExpectAny, note("b1"))
	if err != nil {
		t.Fatal(err)
	}
	evs := readAll(t, l)
	back := func(i int) NewEvent { return NewEvent{ID: evs[i].ID, Data: evs[i].Data} }
	cases := []struct {
		name    string
		appends []StreamAppend
		want    *AppendResult
		err     error
	}{
		{"the whole append", []StreamAppend{{Stream: "x", Expect: ExpectVersion(9), Events: []NewEvent{back(0), back(1)}},
			{Stream: "y", Expect: ExpectAny, Events: []NewEvent{back(2)}}}, &a, nil},
		{"a one-event append", []StreamAppend{{Stream: "x", Expect: ExpectNoStream, Events: []NewEvent{back(3)}}}, &b, nil},
		{"its first events", []StreamAppend{{Stream: "x", Expect: ExpectAny, Events: []NewEvent{back(0), back(1)}}}, nil, ErrDuplicateID},
		{"its last event", []StreamAppend{{Stream: "y", Expect: ExpectAny, Events: []NewEvent{back(2)}}}, nil, ErrDuplicateID},
		{"its middle event", []StreamAppend{{Stream: "x", Expect: ExpectAny, Events: []NewEvent{back(1)}}}, nil, ErrDuplicateID},
		{"two appends", []StreamAppend{{Stream: "x", Expect: ExpectAny, Events: []NewEvent{back(0), back(1)}},
			{Stream: "y", Expect: ExpectAny, Events: []NewEvent{back(2), back(3)}}}, nil, ErrDuplicateID},
		{"with a new event after", []StreamAppend{{Stream: "x", Expect: ExpectAny, Events: []NewEvent{back(3), tev(9)}}}, nil, ErrDuplicateID},
		{"another payload", []StreamAppend{{Stream: "x", Expect: ExpectAny, Events: []NewEvent{{ID: evs[3].ID, Data: testNote{Text: "other"}}}}}, nil, ErrIDReused},
		{"another stream", []StreamAppend{{Stream: "z", Expect: ExpectAny, Events: []NewEvent{back(3)}}}, nil, ErrIDReused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := l.AppendMulti(bg, c.appends...)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("%v, want %v", err, c.err)
				}
				return
			}
			if err != nil || res.First != c.want.First || res.Last != c.want.Last || fmt.Sprint(res.Versions) != fmt.Sprint(c.want.Versions) {
				t.Fatalf("%+v, %v; want the original %+v", res, err, *c.want)
			}
		})
	}
	if got := len(readAll(t, l)); got != 4 {
		t.Fatalf("%d events after the retries, want 4", got)
	}
}

// A format-2 store (generated IDs random, each with an entry) opens: read-only
// as it is, read-write with its marker moved to format 3 and nothing else
// rewritten. Old and new events are found by ID, and it verifies.
func TestUpgradeFromV2(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	l, err := Open("d", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	var old []uuid.UUID
	for i := range 5 {
		random := make([]byte, 16)
		_, _ = rand.Read(random)
		id := newV7(time.Now().UnixNano(), random) // as format 2 generated them
		old = append(old, id)
		if _, err := l.Append(bg, fmt.Sprintf("s%d", i%2), ExpectAny, NewEvent{ID: id, Data: testNote{}}); err != nil {
			t.Fatal(err)
		}
	}
	saved, err := l.Head(bg)
	if err != nil || l.Close() != nil {
		t.Fatal(err)
	}
	marker := func() string {
		t.Helper()
		po := pebbleOptions()
		po.FS = fs
		db, err := pebble.Open("d", po)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		v, closer, err := db.Get(formatKey)
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		return string(v)
	}
	func() { // the store as format 2 left it
		po := pebbleOptions()
		po.FS = fs
		db, err := pebble.Open("d", po)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(db.Set(formatKey, []byte(formatMarkerV2), pebble.Sync), db.Close()); err != nil {
			t.Fatal(err)
		}
	}()

	ro, err := Open("d", &Options{FS: fs, Registry: reg, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Verify(bg); err != nil {
		t.Fatalf("read-only Verify of a format-2 store: %v", err)
	}
	_ = ro.Close()
	if m := marker(); m != formatMarkerV2 {
		t.Fatalf("a read-only open wrote marker %q", m)
	}

	l, err = Open("d", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Append(bg, "s0", ExpectAny, NewEvent{Data: testNote{}}, NewEvent{Data: testNote{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range old {
		if _, err := l.EventByID(bg, id); err != nil {
			t.Fatalf("EventByID of a format-2 ID: %v", err)
		}
	}
	for p := res.First; p <= res.Last; p++ {
		ev, err := l.EventAt(bg, p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := l.EventByID(bg, ev.ID); err != nil || got.Position != p {
			t.Fatalf("EventByID of a new generated ID: %d, %v", got.Position, err)
		}
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckDigest(bg, saved); err != nil {
		t.Fatalf("the digest saved before the upgrade: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m := marker(); m != formatMarker {
		t.Fatalf("marker after a read-write open: %q, want %q", m, formatMarker)
	}
}
