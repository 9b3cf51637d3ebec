// Package ledgertest is the conformance suite for ledger.Store, in the spirit
// of testing/fstest: every storage backend must pass Run.
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T, reg *ledger.Registry) ledger.Store {
//			s, err := mybackend.Open(..., reg)
//			if err != nil { t.Fatal(err) }
//			return s
//		})
//	}
//
// open must return a new, empty store using reg; Run closes it.
package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/ledger"
)

// Opened and Noted are the event types the suite registers.
type Opened struct{ N int }

// Noted is the suite's second event type.
type Noted struct{ Text string }

// Unregistered is a type the suite never registers.
type Unregistered struct{ X int }

// Run runs the conformance suite. Each subtest opens its own store.
func Run(t *testing.T, open func(t *testing.T, reg *ledger.Registry) ledger.Store) {
	newStore := func(t *testing.T) ledger.Store {
		t.Helper()
		reg := ledger.NewRegistry()
		if err := errors.Join(reg.Register("ledgertest.opened", 1, Opened{}), reg.Register("ledgertest.noted", 1, Noted{})); err != nil {
			t.Fatal(err)
		}
		s := open(t, reg)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s ledger.Store)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"ExpectedVersion", testExpectedVersion},
		{"AppendMultiAtomic", testAppendMultiAtomic},
		{"Idempotency", testIdempotency},
		{"InvalidArguments", testInvalid},
		{"ReadFrom", testReadFrom},
		{"PointReads", testPointReads},
		{"Subscribe", testSubscribe},
		{"State", testState},
		{"Digest", testDigest},
		{"Closed", testClosed},
		{"ConcurrentAppends", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func id(n int) uuid.UUID {
	var u uuid.UUID
	u[0] = 0xaa
	u[14], u[15] = byte(n>>8), byte(n)
	return u
}

func ev(n int) ledger.NewEvent { return ledger.NewEvent{ID: id(n), Data: Opened{N: n}} }

func mustAppend(t *testing.T, s ledger.Store, stream string, e ledger.Expect, evs ...ledger.NewEvent) ledger.AppendResult {
	t.Helper()
	r, err := s.Append(ctx, stream, e, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return r
}

func collect(t *testing.T, seq func(func(ledger.Event, error) bool)) []ledger.Event {
	t.Helper()
	var out []ledger.Event
	for e, err := range seq {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func testAppendAndRead(t *testing.T, s ledger.Store) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	r := mustAppend(t, s, "a", ledger.ExpectNoStream, ev(1), ledger.NewEvent{ID: id(2), Data: Noted{"x"}, Time: at})
	if r.First != 1 || r.Last != 2 || !slices.Equal(r.Versions, []uint64{2}) || r.Version() != 2 {
		t.Fatalf("result %+v, want positions 1..2, version 2", r)
	}
	r = mustAppend(t, s, "b", ledger.ExpectAny, ledger.NewEvent{ID: id(3), Data: &Opened{N: 3}})
	if r.First != 3 || r.Last != 3 || r.Version() != 1 {
		t.Fatalf("second result %+v", r)
	}
	if s.DurablePosition() != 3 {
		t.Fatalf("durable position %d after acknowledged appends, want 3", s.DurablePosition())
	}
	all := collect(t, s.ReadAll(ctx, 0))
	if len(all) != 3 {
		t.Fatalf("ReadAll gave %d events, want 3", len(all))
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
}

func testExpectedVersion(t *testing.T, s ledger.Store) {
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
			before := s.DurablePosition()
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
			if s.DurablePosition() != before {
				t.Fatalf("a conflicting append moved the log from %d to %d", before, s.DurablePosition())
			}
		})
	}
}

func testAppendMultiAtomic(t *testing.T, s ledger.Store) {
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
	if got := collect(t, s.ReadAll(ctx, 0)); len(got) != 3 {
		t.Fatalf("a failed multi-append left %d events, want 3", len(got))
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

func testIdempotency(t *testing.T, s ledger.Store) {
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
	if n := len(collect(t, s.ReadAll(ctx, 0))); n != 4 {
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
	if n := len(collect(t, s.ReadAll(ctx, 0))); n != 4 {
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
		t.Run(tc.name, func(t *testing.T) {
			err := tc.try()
			if !errors.Is(err, ledger.ErrIDReused) || !errors.Is(err, ledger.ErrDuplicateID) {
				t.Fatalf("got %v, want ErrIDReused (and ErrDuplicateID)", err)
			}
			var re *ledger.IDReusedError
			if !errors.As(err, &re) || re.Position < first.First || re.Position > first.Last || re.Stream != "s" {
				t.Fatalf("got %#v, want an *IDReusedError naming the stored event", err)
			}
		})
	}
	if n := len(collect(t, s.ReadAll(ctx, 0))); n != 4 {
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

func testInvalid(t *testing.T, s ledger.Store) {
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
			_, err := s.AppendMulti(ctx, ledger.StreamAppend{Stream: "a", Events: []ledger.NewEvent{ev(1)}},
				ledger.StreamAppend{Stream: "a", Events: []ledger.NewEvent{ev(2)}})
			return err
		}, ledger.ErrInvalid},
		{"unregistered type", func() error {
			_, err := s.Append(ctx, "a", ledger.ExpectAny, ledger.NewEvent{ID: id(1), Data: Unregistered{}})
			return err
		}, ledger.ErrUnknownType},
		{"nil data", func() error { _, err := s.Append(ctx, "a", ledger.ExpectAny, ledger.NewEvent{ID: id(1)}); return err }, ledger.ErrUnknownType},
		{"empty checkpoint name", func() error { _, err := s.Checkpoint(ctx, ""); return err }, ledger.ErrInvalid},
		{"bad checkpoint in batch", func() error {
			var b ledger.StateBatch
			b.SetCheckpoint("", 1)
			return s.ApplyState(ctx, &b)
		}, ledger.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.try(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if s.DurablePosition() != 0 {
		t.Fatalf("invalid appends wrote: position %d", s.DurablePosition())
	}
}

func testReadFrom(t *testing.T, s ledger.Store) {
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

func testPointReads(t *testing.T, s ledger.Store) {
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

func testSubscribe(t *testing.T, s ledger.Store) {
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1), ev(2), ev(3))
	var cp ledger.StateBatch
	cp.SetCheckpoint("sub", 2)
	if err := s.ApplyState(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Checkpoint(ctx, "sub"); err != nil || p != 2 {
		t.Fatalf("Checkpoint = %d, %v", p, err)
	}
	if p, err := s.Checkpoint(ctx, "never"); err != nil || p != 0 {
		t.Fatalf("unknown checkpoint = %d, %v; want 0", p, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan ledger.Event, 10)
	done := make(chan error, 1)
	go func() {
		for e, err := range s.Subscribe(sctx, "sub") {
			if err != nil {
				done <- err
				return
			}
			got <- e
		}
		done <- nil
	}()
	next := func() ledger.Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("subscriber received nothing")
		}
		return ledger.Event{}
	}
	if e := next(); e.Position != 3 {
		t.Fatalf("subscription resumed at position %d, want 3", e.Position)
	}
	mustAppend(t, s, "b", ledger.ExpectAny, ev(4))
	if e := next(); e.Position != 4 || e.Stream != "b" {
		t.Fatalf("live event %+v", e)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription ended with %v, want context.Canceled", err)
	}
	// Follow from an explicit position delivers everything from there, in order.
	fctx, fcancel := context.WithCancel(ctx)
	var ps []uint64
	var last error
	for e, err := range s.Follow(fctx, 3) {
		if err != nil {
			last = err
			break
		}
		if ps = append(ps, e.Position); len(ps) == 2 {
			fcancel()
		}
	}
	fcancel()
	if !slices.Equal(ps, []uint64{3, 4}) || !errors.Is(last, context.Canceled) {
		t.Fatalf("Follow(3) delivered %v and ended with %v", ps, last)
	}
	// Following past the head waits for new events.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer wcancel()
	for e, err := range s.Follow(wctx, 5) {
		if err == nil {
			t.Fatalf("Follow past the head delivered %+v", e)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Follow past the head ended with %v", err)
		}
	}
	// Removing a checkpoint restarts from the beginning.
	cp = ledger.StateBatch{}
	cp.SetCheckpoint("sub", 0)
	if err := s.ApplyState(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Checkpoint(ctx, "sub"); p != 0 {
		t.Fatalf("checkpoint after removal = %d", p)
	}
}

func testState(t *testing.T, s ledger.Store) {
	var b ledger.StateBatch
	for _, k := range []string{"k/1", "k/2", "k/3", "kx", "other"} {
		b.Set([]byte(k), []byte("v"+k))
	}
	b.Delete([]byte("k/2"))
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetState(ctx, []byte("k/1")); err != nil || string(v) != "vk/1" {
		t.Fatalf("GetState = %q, %v", v, err)
	}
	if _, err := s.GetState(ctx, []byte("k/2")); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	keys := func(prefix string) []string {
		var out []string
		for e, err := range s.ScanState(ctx, []byte(prefix)) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(e.Key)+"="+string(e.Value))
		}
		return out
	}
	if got := keys("k/"); !slices.Equal(got, []string{"k/1=vk/1", "k/3=vk/3"}) {
		t.Fatalf("scan k/ = %v", got)
	}
	if got := keys(""); len(got) != 4 {
		t.Fatalf("scan all = %v", got)
	}
	b.Reset()
	b.DeletePrefix([]byte("k"))
	b.Set([]byte("k/9"), []byte("new")) // later operations win within a batch
	b.SetCheckpoint("proj", 7)
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if got := keys(""); !slices.Equal(got, []string{"k/9=new", "other=vother"}) {
		t.Fatalf("after DeletePrefix: %v", got)
	}
	if p, _ := s.Checkpoint(ctx, "proj"); p != 7 {
		t.Fatalf("checkpoint in state batch = %d", p)
	}
	// Many keys: more than one internal scan chunk, in order.
	b.Reset()
	for i := range 700 {
		b.Set(fmt.Appendf(nil, "many/%04d", i), nil)
	}
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	got := keys("many/")
	if len(got) != 700 || !slices.IsSorted(got) {
		t.Fatalf("scan of 700 keys gave %d (sorted %v)", len(got), slices.IsSorted(got))
	}
	b.Reset()
	b.DeletePrefix([]byte("many/"))
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactState(ctx, []byte("many/")); err != nil {
		t.Fatalf("CompactState: %v", err)
	}
	if got := keys("many/"); len(got) != 0 {
		t.Fatalf("deleted keys still scanned: %d", len(got))
	}
	if err := s.ApplyState(ctx, &ledger.StateBatch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func testDigest(t *testing.T, s ledger.Store) {
	empty, err := s.Head(ctx)
	if err != nil || empty.Position != 0 {
		t.Fatalf("Head of an empty log = %v, %v", empty, err)
	}
	if d, err := s.Verify(ctx); err != nil || d != empty {
		t.Fatalf("Verify of an empty log = %v, %v", d, err)
	}
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1), ev(2))
	d2, err := s.Head(ctx)
	if err != nil || d2.Position != 2 {
		t.Fatalf("Head = %v, %v", d2, err)
	}
	mustAppend(t, s, "a", ledger.ExpectAny, ev(3))
	d3, err := s.Verify(ctx)
	if err != nil || d3.Position != 3 || d3.Hash == d2.Hash {
		t.Fatalf("Verify = %v, %v", d3, err)
	}
	if h, _ := s.Head(ctx); h != d3 {
		t.Fatalf("Head %v differs from Verify %v", h, d3)
	}
	for _, d := range []ledger.Digest{empty, d2, d3} {
		if err := s.CheckDigest(ctx, d); err != nil {
			t.Errorf("CheckDigest(%v): %v", d, err)
		}
		p, err := ledger.ParseDigest(d.String())
		if err != nil || p != d {
			t.Errorf("ParseDigest(%s) = %v, %v", d, p, err)
		}
	}
	forged := d2
	forged.Hash[0] ^= 1
	var ce *ledger.CorruptionError
	if err := s.CheckDigest(ctx, forged); !errors.As(err, &ce) || ce.Position != 2 {
		t.Fatalf("forged digest: %v", err)
	}
	beyond := ledger.Digest{Position: 9}
	if err := s.CheckDigest(ctx, beyond); !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("digest beyond the log: %v", err)
	}
	for _, bad := range []string{"", "3", "x:00", "3:zz", "3:0011"} {
		if _, err := ledger.ParseDigest(bad); !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("ParseDigest(%q): %v", bad, err)
		}
	}
}

func testClosed(t *testing.T, s ledger.Store) {
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var b ledger.StateBatch
	b.Set([]byte("k"), nil)
	seqErr := func(seq func(func(ledger.Event, error) bool)) error {
		for _, err := range seq {
			return err
		}
		return nil
	}
	for name, call := range map[string]func() error{
		"Close":  s.Close,
		"Append": func() error { _, err := s.Append(ctx, "a", ledger.ExpectAny, ev(2)); return err },
		"AppendMulti": func() error {
			_, err := s.AppendMulti(ctx, ledger.StreamAppend{Stream: "a", Events: []ledger.NewEvent{ev(2)}})
			return err
		},
		"ReadStream":    func() error { return seqErr(s.ReadStream(ctx, "a", 0)) },
		"StreamVersion": func() error { _, err := s.StreamVersion(ctx, "a"); return err },
		"ReadAll":       func() error { return seqErr(s.ReadAll(ctx, 0)) },
		"Follow":        func() error { return seqErr(s.Follow(ctx, 0)) },
		"Subscribe":     func() error { return seqErr(s.Subscribe(ctx, "x")) },
		"Checkpoint":    func() error { _, err := s.Checkpoint(ctx, "x"); return err },
		"EventAt":       func() error { _, err := s.EventAt(ctx, 1); return err },
		"EventByID":     func() error { _, err := s.EventByID(ctx, id(1)); return err },
		"WaitDurable":   func() error { return s.WaitDurable(ctx, 5) },
		"GetState":      func() error { _, err := s.GetState(ctx, []byte("k")); return err },
		"ScanState": func() error {
			for _, err := range s.ScanState(ctx, nil) {
				return err
			}
			return nil
		},
		"ApplyState":   func() error { return s.ApplyState(ctx, &b) },
		"CompactState": func() error { return s.CompactState(ctx, nil) },
		"Head":         func() error { _, err := s.Head(ctx); return err },
		"Verify":       func() error { _, err := s.Verify(ctx); return err },
		"CheckDigest":  func() error { return s.CheckDigest(ctx, ledger.Digest{}) },
	} {
		if err := call(); !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func testConcurrent(t *testing.T, s ledger.Store) {
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[uint64]int{}
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				// All writers race for the next version of one stream.
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
	if len(wins) != writers*each {
		t.Fatalf("%d distinct versions won, want %d", len(wins), writers*each)
	}
	for v, n := range wins {
		if n != 1 {
			t.Fatalf("version %d won by %d writers", v, n)
		}
	}
	all := collect(t, s.ReadAll(ctx, 0))
	for i, e := range all {
		if e.Position != uint64(i+1) || e.Version != uint64(i+1) {
			t.Fatalf("event %d at position %d version %d", i, e.Position, e.Version)
		}
	}
	if _, err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
