package ledger

import (
	"bytes"
	"fmt"
	"testing"
)

// TestReadAllKeepsWhatItShould: Stream, Type and Data stay the caller's after
// the loop, across chunks and many streams; Raw is right while the body
// runs, and an append to it does not reach the next event's payload.
func TestReadAllKeepsWhatItShould(t *testing.T) {
	l := openMem(t)
	const n = 3*readChunk + 17
	for i := range n {
		var data any = testNote{Text: fmt.Sprintf("note %d", i)}
		if i%3 == 0 {
			data = testOpened{N: i}
		}
		if _, err := l.Append(bg, fmt.Sprintf("stream-%d", i%(readChunk+5)), ExpectAny, NewEvent{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	var kept []Event
	for ev, err := range l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.EventAt(bg, ev.Position)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Raw, want.Raw) {
			t.Fatalf("position %d: Raw %x, want %x", ev.Position, ev.Raw, want.Raw)
		}
		_ = append(ev.Raw, 0xc1, 0xc1, 0xc1) // must not land in the next payload
		kept = append(kept, ev)
	}
	if len(kept) != n {
		t.Fatalf("read %d events, want %d", len(kept), n)
	}
	for i, ev := range kept {
		stream, typ := fmt.Sprintf("stream-%d", i%(readChunk+5)), "test.note"
		var data any = testNote{Text: fmt.Sprintf("note %d", i)}
		if i%3 == 0 {
			typ, data = "test.opened", testOpened{N: i}
		}
		if ev.Stream != stream || ev.Type != typ || ev.Data != data {
			t.Fatalf("event %d after the loop: %q %q %#v, want %q %q %#v", i+1, ev.Stream, ev.Type, ev.Data, stream, typ, data)
		}
	}
}

// TestReadAllAllocations pins the allocations of a bulk read: the decoded
// value, which holds its string, nothing per event beyond that.
func TestReadAllAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := openMem(t)
	const n = 4 * readChunk
	evs := make([]NewEvent, n)
	for i := range evs {
		evs[i] = NewEvent{Data: testNote{Text: "a note of some length"}}
	}
	if _, err := l.Append(bg, "s", ExpectAny, evs...); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		for _, err := range l.ReadAll(bg, 0) {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if per := allocs / n; per > 1.05 {
		t.Fatalf("%.0f allocations for %d events: %.2f per event, want 1 (a testNote with its string inside)", allocs, n, per)
	}
	name, schema, payload, err := l.Registry().Encode(testNote{Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = l.Registry().Decode(name, schema, payload) }); allocs > 1 {
		t.Fatalf("Registry.Decode: %.0f allocations, want 1", allocs)
	}
}

// TestAppendAllocations pins what an append allocates: its result's
// Versions and, for a large batch, one more in Pebble; nothing per event
// (records are built in pooled memory). On disk: the in-memory filesystem
// allocates as its files grow.
func TestAppendAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, err := Open(t.TempDir(), &Options{Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	one := []NewEvent{{Data: testNote{Text: "x"}}}
	hundred := make([]NewEvent, 100)
	for i := range hundred {
		hundred[i] = NewEvent{Data: testNote{Text: "x"}}
	}
	for _, c := range []struct {
		name string
		evs  []NewEvent
		max  float64
	}{{"one event", one, 1}, {"100 events", hundred, 2}} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := l.Append(bg, "s", ExpectAny, c.evs...); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > c.max {
			t.Errorf("%s: %.1f allocations per append, want at most %.0f", c.name, allocs, c.max)
		}
	}
}
