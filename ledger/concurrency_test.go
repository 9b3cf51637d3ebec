package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Appenders, readers, a subscriber and state writers run together (meant for
// -race); then Close runs while they are still going. Nothing panics, every
// call either succeeds or returns ErrClosed, and the log stays gap-free.
func TestConcurrentUseAndClose(t *testing.T) {
	l, err := Open("", &Options{InMemory: true, Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var acked atomic.Int64
	var wg sync.WaitGroup
	report := func(what string, err error) bool {
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", what, err)
		}
		return false
	}
	for w := range 6 {
		wg.Go(func() {
			for i := uint64(0); ; i++ {
				stream := fmt.Sprintf("w%d", w%3) // pairs of writers share a stream
				_, err := l.Append(ctx, stream, ExpectAny, tev(uint64(w+1)<<32|i))
				if errors.Is(err, ErrConflict) {
					continue
				}
				if !report("append", err) {
					return
				}
				acked.Add(1)
			}
		})
	}
	wg.Go(func() { // optimistic writer on a contended stream
		for {
			v, err := l.StreamVersion(ctx, "w0")
			if !report("version", err) {
				return
			}
			_, err = l.Append(ctx, "w0", ExpectVersion(v), NewEvent{Data: testNote{"cas"}})
			if errors.Is(err, ErrConflict) {
				continue
			}
			if !report("cas append", err) {
				return
			}
		}
	})
	wg.Go(func() { // subscriber with checkpoints
		var sb StateBatch
		for e, err := range l.Subscribe(ctx, "sub") {
			if !report("subscribe", err) {
				return
			}
			sb.Reset()
			sb.Set([]byte(fmt.Sprint("seen/", e.Position%50)), []byte(e.Stream))
			sb.SetCheckpoint("sub", e.Position)
			if !report("apply", l.ApplyState(ctx, &sb)) {
				return
			}
		}
	})
	wg.Go(func() { // readers
		for {
			var last uint64
			for e, err := range l.ReadAll(ctx, 0) {
				if !report("readall", err) {
					return
				}
				if e.Position != last+1 {
					t.Errorf("ReadAll jumped from %d to %d", last, e.Position)
					return
				}
				last = e.Position
			}
			for _, err := range l.ReadStream(ctx, "w1", 0) {
				if !report("readstream", err) {
					return
				}
			}
			for _, err := range l.ScanState(ctx, []byte("seen/")) {
				if !report("scan", err) {
					return
				}
			}
			if _, err := l.Head(bg); !report("head", err) {
				return
			}
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for acked.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatalf("Verify under load: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close under load: %v", err)
	}
	cancel()
	wg.Wait()
	if acked.Load() < 100 {
		t.Fatalf("only %d appends acknowledged", acked.Load())
	}
}
