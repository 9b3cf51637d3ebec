package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

// wait bounds how long the suite waits for something a store must deliver.
const wait = 10 * time.Second

type feedStore interface {
	ledger.Log
	ledger.Feed
}

func testDurable(t *testing.T, s feedStore) {
	if p := s.DurablePosition(); p != 0 {
		t.Fatalf("durable position of an empty log: %d", p)
	}
	r := mustAppend(t, s, "a", ledger.ExpectAny, ev(1), ev(2))
	if p := s.DurablePosition(); p != r.Last {
		t.Fatalf("durable position %d after an acknowledged append through %d", p, r.Last)
	}
	if err := s.WaitDurable(ctx, r.Last); err != nil {
		t.Fatalf("WaitDurable(%d) of a durable position: %v", r.Last, err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := s.WaitDurable(short, r.Last+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDurable past the log: %v, want context.DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		done <- s.WaitDurable(wctx, r.Last+1)
	}()
	mustAppend(t, s, "a", ledger.ExpectAny, ev(3))
	if err := <-done; err != nil {
		t.Fatalf("WaitDurable for the next append: %v", err)
	}
}

// testFollowRaw: a backend that offers FollowRaw (ledger.RawFeed) delivers
// what Follow delivers with Data left nil, and its payloads decode to what
// ReadAll decodes; it waits for new events as Follow does.
func testFollowRaw(t *testing.T, s feedStore) {
	raw, ok := s.(ledger.RawFeed)
	if !ok {
		t.Skip("the backend does not offer FollowRaw")
	}
	mustAppend(t, s, "a", ledger.ExpectAny, evs(1, 5)...)
	mustAppend(t, s, "b", ledger.ExpectAny, ledger.NewEvent{Data: Noted{Text: "note"}})
	var want []ledger.Event
	for e, err := range s.ReadAll(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got, done := deliver(decoded(raw.FollowRaw(fctx, 1), raw.Registry()))
	for _, w := range want {
		e := nextRaw(t, got, done)
		if e.Position != w.Position || e.Stream != w.Stream || e.Version != w.Version || e.ID != w.ID || e.Type != w.Type || !e.Time.Equal(w.Time) {
			t.Fatalf("FollowRaw gave %+v where ReadAll gave %+v", e, w)
		}
		if !reflect.DeepEqual(e.Data, w.Data) {
			t.Fatalf("position %d: FollowRaw's payload decodes to %#v, ReadAll's Data is %#v", e.Position, e.Data, w.Data)
		}
	}
	r := mustAppend(t, s, "a", ledger.ExpectAny, ev(6))
	if e := nextRaw(t, got, done); e.Position != r.First {
		t.Fatalf("FollowRaw gave position %d after the new append at %d", e.Position, r.First)
	}
	cancel()
	<-done
}

// decoded yields seq's events with Data decoded from Raw (valid only in the
// loop body) by reg; an event that comes with Data is an error.
func decoded(seq iter.Seq2[ledger.Event, error], reg *ledger.Registry) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		for e, err := range seq {
			if err == nil && e.Data != nil {
				err = fmt.Errorf("position %d: FollowRaw delivered Data %#v", e.Position, e.Data)
			}
			if err == nil {
				e.Data, err = reg.Decode(e.Type, e.Schema, e.Raw)
				e.Raw = nil
			}
			if err != nil {
				yield(ledger.Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// nextRaw is next that fails the test on the error deliver reports.
func nextRaw(t *testing.T, got <-chan ledger.Event, done <-chan error) ledger.Event {
	t.Helper()
	select {
	case e := <-got:
		return e
	case err := <-done:
		t.Fatalf("FollowRaw ended: %v", err)
	case <-time.After(wait):
		t.Fatal("FollowRaw delivered nothing")
	}
	return ledger.Event{}
}

// next receives from got or fails after wait.
func next(t *testing.T, got <-chan ledger.Event) ledger.Event {
	t.Helper()
	select {
	case e := <-got:
		return e
	case <-time.After(wait):
		t.Fatal("subscriber received nothing")
	}
	return ledger.Event{}
}

// deliver runs seq on a goroutine, sending events to the returned channel
// and the error that ended it (nil if it ended by itself) to done.
func deliver(seq func(func(ledger.Event, error) bool)) (got chan ledger.Event, done chan error) {
	got, done = make(chan ledger.Event, 100), make(chan error, 1)
	go func() {
		for e, err := range seq {
			if err != nil {
				done <- err
				return
			}
			got <- e
		}
		done <- nil
	}()
	return got, done
}

func testSubscribe(t *testing.T, s interface {
	feedStore
	ledger.StateStore
}) {
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1), ev(2), ev(3))
	var cp ledger.StateBatch
	cp.SetCheckpoint("sub", 2)
	if err := s.ApplyState(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got, done := deliver(s.Subscribe(sctx, "sub"))
	if e := next(t, got); e.Position != 3 {
		t.Fatalf("subscription resumed at position %d, want 3", e.Position)
	}
	mustAppend(t, s, "b", ledger.ExpectAny, ev(4))
	if e := next(t, got); e.Position != 4 || e.Stream != "b" {
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
	// Without a checkpoint, or after removing it, a subscription starts at 1.
	cp = ledger.StateBatch{}
	cp.SetCheckpoint("sub", 0)
	if err := s.ApplyState(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sub", "never"} {
		sctx, cancel := context.WithCancel(ctx)
		got, done := deliver(s.Subscribe(sctx, name))
		if e := next(t, got); e.Position != 1 {
			t.Fatalf("subscription %s without a checkpoint started at %d", name, e.Position)
		}
		cancel()
		<-done
	}
}

func testFeedClosed(t *testing.T, s feedStore, c interface{ Close() error }) {
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1))
	closedErrs(t, c, map[string]func() error{
		"Follow":      func() error { return seqErr(s.Follow(ctx, 0)) },
		"Subscribe":   func() error { return seqErr(s.Subscribe(ctx, "x")) },
		"WaitDurable": func() error { return s.WaitDurable(ctx, 5) },
	})
}

// A second instance learns of the first one's appends and checkpoints
// without appending itself.
func testFeedTwo(t *testing.T, a, b interface {
	feedStore
	ledger.StateStore
}) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got, done := deliver(b.Follow(fctx, 1))
	r := mustAppend(t, a, "a", ledger.ExpectAny, ev(1), ev(2))
	for want := uint64(1); want <= r.Last; want++ {
		if e := next(t, got); e.Position != want || e.ID != id(int(want)) {
			t.Fatalf("second instance followed %+v, want position %d", e, want)
		}
	}
	cancel()
	<-done
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	if err := b.WaitDurable(wctx, r.Last); err != nil {
		t.Fatalf("second instance: WaitDurable(%d): %v", r.Last, err)
	}
	if p := b.DurablePosition(); p < r.Last {
		t.Fatalf("second instance: durable position %d after WaitDurable(%d)", p, r.Last)
	}
	var cp ledger.StateBatch
	cp.SetCheckpoint("sub", 1)
	if err := a.ApplyState(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	got, done = deliver(b.Subscribe(sctx, "sub"))
	if e := next(t, got); e.Position != 2 {
		t.Fatalf("second instance resumed the first one's subscriber at %d, want 2", e.Position)
	}
	scancel()
	<-done
}
