package ledger

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// A read the disk fails is ErrIO with the cause, never ErrCorrupt: a caller
// can tell a failing disk (retry, alert) from damaged data (restore).
func TestReadErrorsAreIO(t *testing.T) {
	base := vfs.NewMem()
	fault := &pathFault{paths: []string{".sst"}, kinds: []errorfs.OpKind{errorfs.OpFileRead, errorfs.OpFileReadAt}}
	reg := testRegistry(t)
	l, err := Open("db", &Options{FS: errorfs.Wrap(base, fault), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, headsEvery) // the heads are stored: after the reopen StreamVersion reads them
	var sb StateBatch
	sb.Set([]byte("k"), []byte("v"))
	if err := l.ApplyState(bg, &sb); err != nil {
		t.Fatal(err)
	}
	if err := l.CompactState(bg, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen with a cold cache, then fail every table read.
	if l, err = Open("db", &Options{FS: errorfs.Wrap(base, fault), Registry: reg}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fault.on.Store(true)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrIO) || !errors.Is(err, errorfs.ErrInjected) || errors.Is(err, ErrCorrupt) {
			t.Errorf("%s under read faults: %v; want ErrIO wrapping the injected error, not ErrCorrupt", what, err)
		}
	}
	_, err = l.EventAt(bg, 1)
	check("EventAt", err)
	_, err = l.EventByID(bg, tid(2))
	check("EventByID", err)
	_, err = l.StreamVersion(bg, "s1")
	check("StreamVersion", err)
	_, err = l.Verify(bg)
	check("Verify", err)
	_, err = l.GetState(bg, []byte("k"))
	check("GetState", err)
	for _, err := range l.ReadAll(bg, 0) {
		if err != nil {
			check("ReadAll", err)
			break
		}
	}
	for _, err := range l.ReadStream(bg, "s2", 0) {
		if err != nil {
			check("ReadStream", err)
			break
		}
	}
	if fault.hits.Load() == 0 {
		t.Fatal("no read fault was injected")
	}
	// Reads are not writes: the ledger has not failed, and works once the disk does.
	fault.on.Store(false)
	if errors.Is(l.Err(), ErrFailed) || errors.Is(l.Err(), ErrCorrupt) {
		t.Fatalf("read faults failed the ledger or were reported as damage: %v", l.Err())
	}
	if _, err := l.EventAt(bg, 1); err != nil {
		t.Fatalf("EventAt after the faults: %v", err)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatalf("Verify after the faults: %v", err)
	}
}
