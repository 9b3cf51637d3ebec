package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

func testAppendAndRead(t *testing.T, s ledger.Log) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	r := mustAppend(t, s, "a", ledger.ExpectNoStream, ev(1), ledger.NewEvent{ID: id(2), Data: Noted{"x"}, Time: at})
	if r.First != 1 || r.Last != 2 || !slices.Equal(r.Versions, []uint64{2}) || r.Version() != 2 {
		t.Fatalf("result %+v, want positions 1..2, version 2", r)
	}
	r = mustAppend(t, s, "b", ledger.ExpectAny, ledger.NewEvent{ID: id(3), Data: &Opened{N: 3}})
	if r.First != 3 || r.Last != 3 || r.Version() != 1 {
		t.Fatalf("second result %+v", r)
	}
	all := collect(t, s.ReadAll(ctx, 0))
	if len(all) != 3 {
		t.Fatalf("ReadAll gave %d events after acknowledged appends, want 3", len(all))
	}
	want := []struct {
		stream string
		ver    uint64
		typ    string
		data   any
	}{{"a", 1, "ledgertest.opened", Opened{1}}, {"a", 2, "ledgertest.noted", Noted{"x"}}, {"b", 1, "ledgertest.opened", Opened{3}}}
	for i, w := range want {
		e := all[i]
		if e.Position != uint64(i+1) || e.Stream != w.stream || e.Version != w.ver || e.Type != w.typ || e.Schema != 1 || e.ID != id(i+1) {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if e.Data != w.data {
			t.Errorf("event %d data %#v, want %#v", i, e.Data, w.data)
		}
		if len(e.Raw) == 0 || e.Time.IsZero() {
			t.Errorf("event %d has no raw payload or time", i)
		}
	}
	if !all[1].Time.Equal(at) {
		t.Errorf("explicit time %v came back as %v", at, all[1].Time)
	}
	if v, err := s.StreamVersion(ctx, "a"); err != nil || v != 2 {
		t.Errorf("StreamVersion(a) = %d, %v; want 2", v, err)
	}
	if v, err := s.StreamVersion(ctx, "none"); err != nil || v != 0 {
		t.Errorf("StreamVersion(none) = %d, %v; want 0", v, err)
	}
	if got := collect(t, s.ReadStream(ctx, "none", 0)); len(got) != 0 {
		t.Errorf("empty stream yielded %d events", len(got))
	}
	if name, schema, ok := s.Registry().Lookup(Noted{}); !ok || name != "ledgertest.noted" || schema != 1 {
		t.Errorf("Registry().Lookup(Noted{}) = %q, %d, %v: not the registry the store was opened with", name, schema, ok)
	}
}

func testExpectedVersion(t *testing.T, s ledger.Log) {
	mustAppend(t, s, "two", ledger.ExpectAny, ev(1), ev(2))
	n := 100
	for _, tc := range []struct {
		stream string
		expect ledger.Expect
		ok     bool
		actual uint64
	}{
		{"empty", ledger.ExpectAny, true, 0},
		{"two", ledger.ExpectAny, true, 2},
		{"empty", ledger.ExpectNoStream, true, 0},
		{"two", ledger.ExpectNoStream, false, 2},
		{"empty", ledger.ExpectVersion(0), true, 0},
		{"empty", ledger.ExpectExists, false, 0},
		{"two", ledger.ExpectExists, true, 2},
		{"two", ledger.ExpectVersion(2), true, 2},
		{"two", ledger.ExpectVersion(1), false, 2},
		{"two", ledger.ExpectVersion(3), false, 2},
		{"empty", ledger.ExpectVersion(1), false, 0},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.stream, tc.expect), func(t *testing.T) {
			stream := tc.stream
			n += 10
			if stream == "two" {
				// Rebuild a two-event stream per case so every case sees version 2.
				stream = fmt.Sprintf("two-%d", n)
				mustAppend(t, s, stream, ledger.ExpectNoStream, ev(n), ev(n+1))
			} else {
				stream = fmt.Sprintf("empty-%d", n+5)
			}
			_, err := s.Append(ctx, stream, tc.expect, ev(n+2))
			if tc.ok {
				if err != nil {
					t.Fatalf("append with %v: %v", tc.expect, err)
				}
				return
			}
			var ce *ledger.ConflictError
			if !errors.Is(err, ledger.ErrConflict) || !errors.As(err, &ce) {
				t.Fatalf("append with %v: %v, want a ConflictError", tc.expect, err)
			}
			if ce.Stream != stream || ce.Expected != tc.expect || ce.Actual != tc.actual {
				t.Fatalf("conflict %+v, want stream %s expected %v actual %d", ce, stream, tc.expect, tc.actual)
			}
			if _, err := s.EventByID(ctx, id(n+2)); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("the event of a conflicting append is findable: %v", err)
			}
			if v, _ := s.StreamVersion(ctx, stream); v != tc.actual {
				t.Fatalf("a conflicting append moved %s from version %d to %d", stream, tc.actual, v)
			}
		})
	}
}

func testAppendMultiAtomic(t *testing.T, s ledger.Log) {
	r, err := s.AppendMulti(ctx,
		ledger.StreamAppend{Stream: "x", Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{ev(1), ev(2)}},
		ledger.StreamAppend{Stream: "y", Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{ev(3)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if r.First != 1 || r.Last != 3 || !slices.Equal(r.Versions, []uint64{2, 1}) {
		t.Fatalf("multi result %+v", r)
	}
	_, err = s.AppendMulti(ctx,
		ledger.StreamAppend{Stream: "x", Expect: ledger.ExpectVersion(2), Events: []ledger.NewEvent{ev(4)}},
		ledger.StreamAppend{Stream: "y", Expect: ledger.ExpectVersion(5), Events: []ledger.NewEvent{ev(5)}},
	)
	var ce *ledger.ConflictError
	if !errors.As(err, &ce) || ce.Stream != "y" || ce.Actual != 1 {
		t.Fatalf("multi conflict: %v", err)
	}
	if n := logLen(t, s); n != 3 {
		t.Fatalf("a failed multi-append left %d events, want 3", n)
	}
	if v, _ := s.StreamVersion(ctx, "x"); v != 2 {
		t.Fatalf("stream x at version %d after a failed multi-append, want 2", v)
	}
	if _, err := s.EventByID(ctx, id(4)); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("event of a failed append is findable: %v", err)
	}
	// Positions follow request order across streams.
	all := collect(t, s.ReadAll(ctx, 0))
	if all[0].Stream != "x" || all[1].Stream != "x" || all[2].Stream != "y" {
		t.Fatalf("order %s %s %s", all[0].Stream, all[1].Stream, all[2].Stream)
	}
}

func cond(stream string, e ledger.Expect) ledger.StreamAppend {
	return ledger.StreamAppend{Stream: stream, Expect: e}
}

func onto(stream string, e ledger.Expect, evs ...ledger.NewEvent) ledger.StreamAppend {
	return ledger.StreamAppend{Stream: stream, Expect: e, Events: evs}
}

// A stream without events in an AppendMulti is a condition: checked in the
// same atomic append, nothing appended to it.
func testConditionOnly(t *testing.T, s ledger.Log) {
	mustAppend(t, s, "c", ledger.ExpectNoStream, ev(1))
	r, err := s.AppendMulti(ctx, cond("c", ledger.ExpectVersion(1)), onto("s", ledger.ExpectNoStream, ev(2)))
	if err != nil {
		t.Fatalf("append guarded by a holding condition: %v", err)
	}
	if r.First != 2 || r.Last != 2 || !slices.Equal(r.Versions, []uint64{1, 1}) {
		t.Fatalf("result %+v, want position 2, versions [1 1] (the condition's stream unchanged)", r)
	}
	if v, _ := s.StreamVersion(ctx, "c"); v != 1 {
		t.Fatalf("the condition's stream moved to version %d", v)
	}
	if got := collect(t, s.ReadStream(ctx, "c", 0)); len(got) != 1 {
		t.Fatalf("the condition's stream has %d events, want 1", len(got))
	}
	// A condition on a stream without events; the stream stays without.
	if r, err = s.AppendMulti(ctx, onto("s", ledger.ExpectVersion(1), ev(3)), cond("none", ledger.ExpectNoStream)); err != nil || !slices.Equal(r.Versions, []uint64{2, 0}) {
		t.Fatalf("condition on an empty stream: %+v, %v; want versions [2 0]", r, err)
	}
	if v, _ := s.StreamVersion(ctx, "none"); v != 0 {
		t.Fatalf("a condition created stream none at version %d", v)
	}
	before := logLen(t, s)
	for _, tc := range []struct {
		name    string
		appends []ledger.StreamAppend
		stream  string
		actual  uint64
	}{
		{"version", []ledger.StreamAppend{onto("s", ledger.ExpectAny, ev(4)), cond("c", ledger.ExpectVersion(0))}, "c", 1},
		{"first", []ledger.StreamAppend{cond("c", ledger.ExpectNoStream), onto("s", ledger.ExpectAny, ev(4))}, "c", 1},
		{"exists", []ledger.StreamAppend{onto("s", ledger.ExpectAny, ev(4)), cond("none", ledger.ExpectExists)}, "none", 0},
	} {
		t.Run("failing/"+tc.name, func(t *testing.T) {
			_, err := s.AppendMulti(ctx, tc.appends...)
			var ce *ledger.ConflictError
			if !errors.As(err, &ce) || ce.Stream != tc.stream || ce.Actual != tc.actual {
				t.Fatalf("got %v, want a ConflictError on %s at version %d", err, tc.stream, tc.actual)
			}
			if n := logLen(t, s); n != before {
				t.Fatalf("an append whose condition failed wrote: %d events, want %d", n, before)
			}
			if _, err := s.EventByID(ctx, id(4)); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("an event of an append whose condition failed is findable: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		appends []ledger.StreamAppend
	}{
		{"only a condition", []ledger.StreamAppend{cond("c", ledger.ExpectVersion(1))}},
		{"only conditions, one failing", []ledger.StreamAppend{cond("c", ledger.ExpectVersion(1)), cond("s", ledger.ExpectVersion(7))}},
		{"a stream as condition and with events", []ledger.StreamAppend{cond("c", ledger.ExpectVersion(1)), onto("c", ledger.ExpectAny, ev(4))}},
		{"a condition on a bad stream name", []ledger.StreamAppend{cond("", ledger.ExpectAny), onto("s", ledger.ExpectAny, ev(4))}},
		{"a bad expectation", []ledger.StreamAppend{cond("c", ledger.Expect(-7)), onto("s", ledger.ExpectAny, ev(4))}},
	} {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			if _, err := s.AppendMulti(ctx, tc.appends...); !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if n := logLen(t, s); n != before {
				t.Fatalf("an invalid append wrote: %d events, want %d", n, before)
			}
		})
	}
	// A retry returns the original result, the condition's version as it
	// was checked then, though the stream moved on and the condition fails now.
	orig := []ledger.StreamAppend{cond("c", ledger.ExpectVersion(1)), onto("s", ledger.ExpectVersion(2), ev(5))}
	first, err := s.AppendMulti(ctx, orig...)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "c", ledger.ExpectVersion(1), ev(6))
	again, err := s.AppendMulti(ctx, orig...)
	if err != nil || again.First != first.First || again.Last != first.Last || !slices.Equal(again.Versions, []uint64{1, 3}) {
		t.Fatalf("retry: %+v, %v; want the original %+v with versions [1 3]", again, err, first)
	}
}

func testIdempotency(t *testing.T, s ledger.Log) {
	mustAppend(t, s, "pre", ledger.ExpectAny, ev(50))
	first := mustAppend(t, s, "s", ledger.ExpectNoStream, ev(1), ev(2))
	mustAppend(t, s, "s", ledger.ExpectVersion(2), ev(3))
	// The retry's expected version is stale now; it still returns the original result.
	again, err := s.Append(ctx, "s", ledger.ExpectNoStream, ev(1), ev(2))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.First != first.First || again.Last != first.Last || !slices.Equal(again.Versions, first.Versions) {
		t.Fatalf("retry result %+v, original %+v", again, first)
	}
	if n := logLen(t, s); n != 4 {
		t.Fatalf("log has %d events after a retry, want 4", n)
	}
	for _, tc := range []struct {
		name string
		try  func() error
	}{
		{"subset", func() error { _, err := s.Append(ctx, "s", ledger.ExpectAny, ev(1)); return err }},
		{"superset", func() error { _, err := s.Append(ctx, "s", ledger.ExpectAny, ev(1), ev(2), ev(9)); return err }},
		{"new then old", func() error { _, err := s.Append(ctx, "s", ledger.ExpectAny, ev(9), ev(1)); return err }},
		{"reordered", func() error { _, err := s.Append(ctx, "s", ledger.ExpectAny, ev(2), ev(1)); return err }},
		{"other stream", func() error { _, err := s.Append(ctx, "t", ledger.ExpectAny, ev(3)); return err }},
		{"two appends", func() error { _, err := s.Append(ctx, "s", ledger.ExpectAny, ev(2), ev(3)); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.try(); !errors.Is(err, ledger.ErrDuplicateID) {
				t.Fatalf("got %v, want ErrDuplicateID", err)
			}
		})
	}
	if n := logLen(t, s); n != 4 {
		t.Fatalf("log has %d events after refused overlaps, want 4", n)
	}
	// Same IDs, same shape, different content: not a retry but a reuse of the IDs.
	changed := func(n int, data any) ledger.NewEvent { return ledger.NewEvent{ID: id(n), Data: data} }
	for _, tc := range []struct {
		name string
		try  func() error
	}{
		{"other payload", func() error {
			_, err := s.Append(ctx, "s", ledger.ExpectAny, ev(1), changed(2, Opened{N: 999}))
			return err
		}},
		{"other type", func() error {
			_, err := s.Append(ctx, "s", ledger.ExpectAny, changed(1, Noted{Text: "1"}), ev(2))
			return err
		}},
		{"other stream", func() error { _, err := s.Append(ctx, "s2", ledger.ExpectAny, ev(1), ev(2)); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) { wantReused(t, tc.try(), first, "s") })
	}
	if n := logLen(t, s); n != 4 {
		t.Fatalf("log has %d events after refused reuses, want 4", n)
	}
	// A multi-stream retry returns each stream's version.
	m := []ledger.StreamAppend{
		{Stream: "m1", Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{ev(10)}},
		{Stream: "m2", Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{ev(11), ev(12)}},
	}
	r1, err := s.AppendMulti(ctx, m...)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.AppendMulti(ctx, m...)
	if err != nil || r2.First != r1.First || !slices.Equal(r2.Versions, []uint64{1, 2}) {
		t.Fatalf("multi retry %+v, %v; original %+v", r2, err, r1)
	}
}

// wantReused checks err is an *IDReusedError naming an event of orig on stream.
func wantReused(t *testing.T, err error, orig ledger.AppendResult, stream string) {
	t.Helper()
	if !errors.Is(err, ledger.ErrIDReused) || !errors.Is(err, ledger.ErrDuplicateID) {
		t.Fatalf("got %v, want ErrIDReused (and ErrDuplicateID)", err)
	}
	var re *ledger.IDReusedError
	if !errors.As(err, &re) || re.Position < orig.First || re.Position > orig.Last || re.Stream != stream {
		t.Fatalf("got %#v, want an *IDReusedError naming the stored event", err)
	}
}

// The retry contract after ErrUnknownOutcome: the caller does not know
// whether its append committed, and repeats it with the same event IDs.
func testRetryUnknownOutcome(t *testing.T, s ledger.Log) {
	// The append committed, but its answer was lost; others appended since.
	lost := mustAppend(t, s, "acct", ledger.ExpectNoStream, ev(1), ev(2))
	mustAppend(t, s, "acct", ledger.ExpectVersion(2), ev(3))
	mustAppend(t, s, "other", ledger.ExpectAny, ev(4))
	got, err := s.Append(ctx, "acct", ledger.ExpectNoStream, ev(1), ev(2))
	if err != nil || got.First != lost.First || got.Last != lost.Last || !slices.Equal(got.Versions, lost.Versions) {
		t.Fatalf("retry of a committed append: %+v, %v; want the original %+v", got, err, lost)
	}
	// The same IDs with another payload are not a retry.
	_, err = s.Append(ctx, "acct", ledger.ExpectNoStream, ev(1), ledger.NewEvent{ID: id(2), Data: Opened{N: -2}})
	wantReused(t, err, lost, "acct")

	// With a condition on a stream that moves on past the stream index's
	// steps (a long stream), the retry still reports the version checked.
	for i := 0; i < 300; i += 100 {
		mustAppend(t, s, "long", ledger.ExpectAny, evs(1000+i, 1099+i)...)
	}
	guarded := []ledger.StreamAppend{cond("long", ledger.ExpectVersion(300)), onto("x", ledger.ExpectNoStream, ev(5))}
	lost, err = s.AppendMulti(ctx, guarded...)
	if err != nil || !slices.Equal(lost.Versions, []uint64{300, 1}) {
		t.Fatalf("guarded append: %+v, %v", lost, err)
	}
	for i := 0; i < 300; i += 100 {
		mustAppend(t, s, "long", ledger.ExpectAny, evs(2000+i, 2099+i)...)
	}
	if got, err = s.AppendMulti(ctx, guarded...); err != nil || got.First != lost.First || !slices.Equal(got.Versions, lost.Versions) {
		t.Fatalf("retry of a guarded append: %+v, %v; want the original %+v", got, err, lost)
	}

	// The append never committed (lost before its commit): the retry appends.
	if _, err := s.EventByID(ctx, id(6)); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("event 6 before its append: %v", err)
	}
	r := mustAppend(t, s, "fresh", ledger.ExpectNoStream, ev(6))
	if again := mustAppend(t, s, "fresh", ledger.ExpectNoStream, ev(6)); again.First != r.First || again.Version() != 1 {
		t.Fatalf("second retry %+v, want %+v", again, r)
	}
}

func testInvalid(t *testing.T, s ledger.Log) {
	long := string(make([]byte, 2000))
	for _, tc := range []struct {
		name string
		try  func() error
		want error
	}{
		{"empty stream", func() error { _, err := s.Append(ctx, "", ledger.ExpectAny, ev(1)); return err }, ledger.ErrInvalid},
		{"NUL in stream", func() error { _, err := s.Append(ctx, "a\x00b", ledger.ExpectAny, ev(1)); return err }, ledger.ErrInvalid},
		{"long stream", func() error { _, err := s.Append(ctx, long, ledger.ExpectAny, ev(1)); return err }, ledger.ErrInvalid},
		{"bad UTF-8", func() error { _, err := s.Append(ctx, "\xff", ledger.ExpectAny, ev(1)); return err }, ledger.ErrInvalid},
		{"no events", func() error { _, err := s.Append(ctx, "a", ledger.ExpectAny); return err }, ledger.ErrInvalid},
		{"no streams", func() error { _, err := s.AppendMulti(ctx); return err }, ledger.ErrInvalid},
		{"bad expectation", func() error { _, err := s.Append(ctx, "a", ledger.Expect(-7), ev(1)); return err }, ledger.ErrInvalid},
		{"same ID twice", func() error { _, err := s.Append(ctx, "a", ledger.ExpectAny, ev(1), ev(1)); return err }, ledger.ErrInvalid},
		{"stream twice", func() error {
			_, err := s.AppendMulti(ctx, onto("a", ledger.ExpectAny, ev(1)), onto("a", ledger.ExpectAny, ev(2)))
			return err
		}, ledger.ErrInvalid},
		{"unregistered type", func() error {
			_, err := s.Append(ctx, "a", ledger.ExpectAny, ledger.NewEvent{ID: id(1), Data: Unregistered{}})
			return err
		}, ledger.ErrUnknownType},
		{"nil data", func() error { _, err := s.Append(ctx, "a", ledger.ExpectAny, ledger.NewEvent{ID: id(1)}); return err }, ledger.ErrUnknownType},
		{"bad stream name to read", func() error { _, err := s.StreamVersion(ctx, ""); return err }, ledger.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.try(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if n := logLen(t, s); n != 0 {
		t.Fatalf("invalid appends wrote %d events", n)
	}
}

func testReadFrom(t *testing.T, s ledger.Log) {
	for i := 1; i <= 600; i++ { // more than one internal read chunk
		stream := "odd"
		if i%2 == 0 {
			stream = "even"
		}
		mustAppend(t, s, stream, ledger.ExpectAny, ev(i))
	}
	for _, tc := range []struct {
		from uint64
		n    int
	}{{0, 600}, {1, 600}, {300, 301}, {600, 1}, {601, 0}, {5000, 0}} {
		got := collect(t, s.ReadAll(ctx, tc.from))
		if len(got) != tc.n {
			t.Errorf("ReadAll(%d) gave %d events, want %d", tc.from, len(got), tc.n)
		}
		for i, e := range got {
			if e.Position != max(tc.from, 1)+uint64(i) {
				t.Fatalf("ReadAll(%d)[%d] at position %d", tc.from, i, e.Position)
			}
		}
	}
	for _, tc := range []struct {
		from uint64
		n    int
	}{{0, 300}, {1, 300}, {299, 2}, {300, 1}, {301, 0}} {
		got := collect(t, s.ReadStream(ctx, "even", tc.from))
		if len(got) != tc.n {
			t.Errorf("ReadStream(even, %d) gave %d events, want %d", tc.from, len(got), tc.n)
		}
		for i, e := range got {
			if e.Stream != "even" || e.Version != max(tc.from, 1)+uint64(i) || e.Data != (Opened{N: int(2 * e.Version)}) {
				t.Fatalf("ReadStream(even, %d)[%d] = %+v", tc.from, i, e)
			}
		}
	}
	// Stopping early is allowed and the store stays usable.
	n := 0
	for range s.ReadAll(ctx, 0) {
		if n++; n == 3 {
			break
		}
	}
	mustAppend(t, s, "odd", ledger.ExpectVersion(300), ev(601))
	// A cancelled context ends the iteration with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range s.ReadAll(cctx, 0) {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled ReadAll yielded %v", err)
		}
	}
}

func testPointReads(t *testing.T, s ledger.Log) {
	mustAppend(t, s, "p", ledger.ExpectAny, ev(1), ev(2))
	e, err := s.EventAt(ctx, 2)
	if err != nil || e.ID != id(2) || e.Version != 2 {
		t.Fatalf("EventAt(2) = %+v, %v", e, err)
	}
	e, err = s.EventByID(ctx, id(1))
	if err != nil || e.Position != 1 || e.Data != (Opened{N: 1}) {
		t.Fatalf("EventByID = %+v, %v", e, err)
	}
	for _, pos := range []uint64{0, 3, 1 << 40} {
		if _, err := s.EventAt(ctx, pos); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("EventAt(%d): %v, want ErrNotFound", pos, err)
		}
	}
	if _, err := s.EventByID(ctx, id(99)); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("EventByID(unknown): %v, want ErrNotFound", err)
	}
}

// testConcurrent races writers on a and b (two instances, or one twice)
// for the versions of a new stream: each version is won once, and the log
// has no gaps.
func testConcurrent(t *testing.T, a, b ledger.Log) {
	before := logLen(t, a)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[uint64]int{}
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range each {
				for {
					v, err := s.StreamVersion(ctx, "hot")
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.Append(ctx, "hot", ledger.ExpectVersion(v), ev(1000*(w+1)+i))
					if errors.Is(err, ledger.ErrConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					wins[v+1]++
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	for v := uint64(1); v <= writers*each; v++ {
		if wins[v] != 1 {
			t.Fatalf("version %d won by %d writers", v, wins[v])
		}
	}
	for _, s := range []ledger.Log{a, b} {
		all := collect(t, s.ReadAll(ctx, 0))
		if len(all) != before+writers*each {
			t.Fatalf("ReadAll gave %d events, want %d", len(all), before+writers*each)
		}
		var hot uint64
		for i, e := range all {
			if e.Position != uint64(i+1) {
				t.Fatalf("event %d at position %d", i, e.Position)
			}
			if e.Stream == "hot" {
				if hot++; e.Version != hot {
					t.Fatalf("hot version %d at position %d, want %d", e.Version, e.Position, hot)
				}
			}
		}
	}
}

func testLogClosed(t *testing.T, s ledger.Log, c interface{ Close() error }) {
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1))
	closedErrs(t, c, map[string]func() error{
		"Append": func() error { _, err := s.Append(ctx, "a", ledger.ExpectAny, ev(2)); return err },
		"AppendMulti": func() error {
			_, err := s.AppendMulti(ctx, onto("a", ledger.ExpectAny, ev(2)))
			return err
		},
		"ReadStream":    func() error { return seqErr(s.ReadStream(ctx, "a", 0)) },
		"StreamVersion": func() error { _, err := s.StreamVersion(ctx, "a"); return err },
		"ReadAll":       func() error { return seqErr(s.ReadAll(ctx, 0)) },
		"EventAt":       func() error { _, err := s.EventAt(ctx, 1); return err },
		"EventByID":     func() error { _, err := s.EventByID(ctx, id(1)); return err },
	})
}

// Two instances on one storage: each sees what the other acknowledged, and
// expected versions and retries hold across them.
func testLogTwo(t *testing.T, a, b ledger.Log) {
	orig := mustAppend(t, a, "s", ledger.ExpectNoStream, ev(1), ev(2))
	if v, err := b.StreamVersion(ctx, "s"); err != nil || v != 2 {
		t.Fatalf("second instance: StreamVersion = %d, %v; want 2", v, err)
	}
	if got := collect(t, b.ReadStream(ctx, "s", 0)); len(got) != 2 || got[1].ID != id(2) {
		t.Fatalf("second instance: ReadStream gave %d events", len(got))
	}
	if n := logLen(t, b); n != 2 {
		t.Fatalf("second instance: ReadAll gave %d events, want 2", n)
	}
	if e, err := b.EventByID(ctx, id(2)); err != nil || e.Position != 2 {
		t.Fatalf("second instance: EventByID = %+v, %v", e, err)
	}
	if e, err := b.EventAt(ctx, 1); err != nil || e.ID != id(1) {
		t.Fatalf("second instance: EventAt = %+v, %v", e, err)
	}
	var ce *ledger.ConflictError
	if _, err := b.Append(ctx, "s", ledger.ExpectNoStream, ev(3)); !errors.As(err, &ce) || ce.Actual != 2 {
		t.Fatalf("second instance, stale expected version: %v, want a conflict at version 2", err)
	}
	if got, err := b.Append(ctx, "s", ledger.ExpectNoStream, ev(1), ev(2)); err != nil || got.First != orig.First || !slices.Equal(got.Versions, orig.Versions) {
		t.Fatalf("retry on the second instance: %+v, %v; want %+v", got, err, orig)
	}
	_, err := b.Append(ctx, "s", ledger.ExpectNoStream, ev(1), ledger.NewEvent{ID: id(2), Data: Noted{"other"}})
	wantReused(t, err, orig, "s")
	r := mustAppend(t, b, "s", ledger.ExpectVersion(2), ev(3))
	if got, err := a.StreamVersion(ctx, "s"); err != nil || got != 3 || r.First != 3 {
		t.Fatalf("first instance after the second appended at %d: version %d, %v", r.First, got, err)
	}
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrent(t, a, b) })
}
