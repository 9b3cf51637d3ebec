package ledger

import (
	"bytes"
	"fmt"
	"testing"
)

// A StateBatch reused after Reset applies its new contents, never the
// earlier ones its memory held, and copies what it is given.
func TestStateBatchReuse(t *testing.T) {
	l := openMem(t)
	var sb StateBatch
	val := []byte("value-0")
	for round := range 5 {
		sb.Reset()
		for i := range 300 { // past the first buffer: copies span two
			val = fmt.Appendf(val[:0], "round %d value %d %s", round, i, bytes.Repeat([]byte{'v'}, i))
			sb.Set(fmt.Appendf(nil, "k/%03d", i), val)
		}
		val = append(val[:0], "changed after Set"...)
		sb.Set([]byte("empty"), nil)
		sb.Delete([]byte("gone"))
		if err := l.ApplyState(bg, &sb); err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			got, err := l.GetState(bg, fmt.Appendf(nil, "k/%03d", i))
			want := fmt.Sprintf("round %d value %d %s", round, i, bytes.Repeat([]byte{'v'}, i))
			if err != nil || string(got) != want {
				t.Fatalf("round %d key %d: %q, %v; want %q", round, i, got, err, want)
			}
		}
		for op := range sb.Ops() {
			if op.Kind == OpSet && string(op.Key) == "empty" && (op.Value == nil || len(op.Value) != 0) {
				t.Fatalf("Set of a nil value: op value %#v, want empty and non-nil", op.Value)
			}
		}
	}
}

// Filling a reset StateBatch again allocates nothing: read models apply
// one batch after another through one StateBatch.
func TestStateBatchReuseAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var sb StateBatch
	key, val := []byte("p/h/k/some-key/day"), bytes.Repeat([]byte{1}, 16*1024)
	fill := func() {
		sb.Reset()
		for range 8 {
			sb.Set(key, val)
		}
		sb.Delete(key)
		sb.SetCheckpoint("sub", 1)
	}
	fill()
	if allocs := testing.AllocsPerRun(20, fill); allocs != 0 {
		t.Fatalf("%.0f allocations to fill a reset StateBatch, want 0", allocs)
	}
}
