package ledger

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// filesContaining lists the files under dir whose bytes contain needle.
func filesContaining(t *testing.T, fs vfs.FS, dir string, needle []byte) []string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		f, err := fs.Open(fs.PathJoin(dir, name))
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(f)
		_ = f.Close()
		if bytes.Contains(data, needle) {
			out = append(out, name)
		}
	}
	return out
}

// Crypto-shredding relies on CompactState: a deleted key's value must leave
// the tables. What may remain is the WAL (documented on CompactState).
func TestCompactStateRemovesDeletedValues(t *testing.T) {
	fs := vfs.NewMem()
	l, err := Open("db", &Options{FS: fs, Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	secret := []byte("SECRET-DATA-KEY-0123456789abcdef")
	var b StateBatch
	b.Set([]byte("keys/1"), secret)
	b.Set([]byte("keys/2"), []byte("keep"))
	if err := l.ApplyState(bg, &b); err != nil {
		t.Fatal(err)
	}
	fill(t, l, 50)
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	tables := func() (n []string) {
		for _, f := range filesContaining(t, fs, "db", secret) {
			if strings.HasSuffix(f, ".sst") {
				n = append(n, f)
			}
		}
		return n
	}
	if len(tables()) == 0 {
		t.Fatal("precondition: the value should be in a table")
	}
	b.Reset()
	b.Delete([]byte("keys/1"))
	if err := l.ApplyState(bg, &b); err != nil {
		t.Fatal(err)
	}
	if err := l.CompactState(bg, []byte("keys/")); err != nil {
		t.Fatal(err)
	}
	if left := tables(); len(left) != 0 {
		t.Fatalf("deleted value still in tables %v after CompactState", left)
	}
	if v, err := l.GetState(bg, []byte("keys/2")); err != nil || string(v) != "keep" {
		t.Fatalf("neighbour key: %q %v", v, err)
	}
	if _, err := l.Verify(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("files still holding the bytes (WAL, documented): %v", filesContaining(t, fs, "db", secret))
}

// A WAL fault during ApplyState fails the ledger like one during Append.
func TestWALFaultDuringApplyState(t *testing.T) {
	base := vfs.NewCrashableMem()
	fault := &walFault{kinds: []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}}
	reg := testRegistry(t)
	l, err := Open("db", &Options{FS: errorfs.Wrap(base, fault), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	var b StateBatch
	b.Set([]byte("a"), []byte("1"))
	b.SetCheckpoint("p", 0)
	if err := l.ApplyState(bg, &b); err != nil {
		t.Fatal(err)
	}
	fault.on.Store(true)
	b.Reset()
	b.Set([]byte("a"), []byte("2"))
	if err := l.ApplyState(bg, &b); !errors.Is(err, ErrFailed) {
		t.Fatalf("ApplyState during a sync fault: %v, want ErrFailed", err)
	}
	fault.on.Store(false)
	if _, err := l.Append(bg, "s", ExpectAny, tev(1)); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after the failure: %v", err)
	}
	_ = l.Close()
	l2, err := Open("db", &Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if v, err := l2.GetState(bg, []byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("after reopen a = %q, %v; want the acknowledged 1", v, err)
	}
}
