package projections

import (
	"encoding/binary"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The compact layout gives back the entries written, in order; the older
// layout (16 bytes per entry) reads as it always did.
func TestHistoryRowLayouts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(t, "n")
		var want []histRef
		pos := rapid.Uint64Range(1, 1<<40).Draw(t, "first")
		for range n {
			want = append(want, histRef{pos: pos, ns: rapid.Int64().Draw(t, "ns")})
			pos += rapid.Uint64Range(1, 1<<20).Draw(t, "step")
		}
		compact := []byte{histCompact}
		var old []byte
		var pp uint64
		var pn int64
		for _, r := range want {
			compact = appendHistEntry(compact, pp, pn, r.pos, r.ns)
			pp, pn = r.pos, r.ns
			old = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(old, r.pos), uint64(r.ns))
		}
		if len(compact) > 1+maxHistEntry*n {
			t.Fatalf("%d entries took %d bytes", n, len(compact))
		}
		for _, v := range [][]byte{compact, append(slices.Clip(compact), histPad), old} {
			got, ok := histEntries(nil, v)
			if !ok || !slices.Equal(got, want) {
				t.Fatalf("%x: got %v %v, want %v", v, got, ok, want)
			}
		}
	})
}

func TestHistoryRowsMalformed(t *testing.T) {
	for _, v := range [][]byte{
		{0},                       // older layout, not a whole entry
		{2, 1, 2},                 // no such layout
		{histCompact, 0x80},       // position cut short
		{histCompact, 1},          // no time
		{histCompact, 1, 2, 0, 2}, // position does not increase
		{histCompact, 1, 2, 0, 0}, // padding before the end
		append([]byte{histCompact, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0), // position past 2^64
	} {
		if got, ok := histEntries(nil, v); ok {
			t.Errorf("%x read as %v", v, got)
		}
	}
}

// FuzzHistoryRow: any value decodes without a panic, a compact one to
// increasing positions, and a value that decodes reads the same once
// written again in the compact layout.
func FuzzHistoryRow(f *testing.F) {
	f.Add([]byte{histCompact, 5, 2, 1, 3})
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, ok := histEntries(nil, v)
		if !ok {
			return
		}
		for i, r := range got {
			if r.pos == 0 || (i > 0 && r.pos <= got[i-1].pos) {
				if v[0] == histCompact {
					t.Fatalf("%x: positions %v do not increase", v, got)
				}
				return // the older layout was never checked for it; it never wrote such rows
			}
		}
		again := []byte{histCompact}
		var pp uint64
		var pn int64
		for _, r := range got {
			again = appendHistEntry(again, pp, pn, r.pos, r.ns)
			pp, pn = r.pos, r.ns
		}
		if back, ok := histEntries(nil, again); !ok || !slices.Equal(back, got) {
			t.Fatalf("%x: %v, written again %x: %v %v", v, got, again, back, ok)
		}
	})
}
