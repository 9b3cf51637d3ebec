package ledger

import (
	"errors"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// versionBefore answers the stream's version before any position, in a
// store upgraded from format 1 whose streams then grew past anchors in
// format 2.
func TestVersionBefore(t *testing.T) {
	fs, reg := vfs.NewMem(), testRegistry(t)
	writeV1(t, fs, []string{"a", "b"}, 2*anchorEvery+10)
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 * anchorEvery {
		s := []string{"a", "a", "b", "c"}[i%4]
		if _, err := l.Append(bg, s, ExpectAny, tev(uint64(100000+i))); err != nil {
			t.Fatal(err)
		}
	}
	evs := readAll(t, l)
	last := uint64(len(evs))
	positions := map[string][]uint64{}
	for _, e := range evs {
		positions[e.Stream] = append(positions[e.Stream], e.Position)
	}
	for pos := uint64(1); pos <= last+1; pos += 7 {
		for _, s := range []string{"a", "b", "c", "none"} {
			want, _ := slices.BinarySearch(positions[s], pos)
			if got, err := l.versionBefore(bg, s, pos); err != nil || got != uint64(want) {
				t.Fatalf("versionBefore(%s, %d) = %d, %v; want %d", s, pos, got, err, want)
			}
		}
	}
	// An anchor entry the search relies on pointing at another stream's
	// event is an IndexError, not a wrong version.
	a := positions["a"]
	_ = l.db.Set(appendStreamKey(nil, "a", 2*anchorEvery), putU64(positions["b"][len(positions["b"])-1]), pebble.Sync)
	var ie *IndexError
	if _, err := l.versionBefore(bg, "a", a[anchorEvery+10]); !errors.As(err, &ie) || ie.Index != "stream" || ie.Version != 2*anchorEvery {
		t.Fatalf("damaged anchor: %v, want an IndexError on stream a version %d", err, 2*anchorEvery)
	}
}
