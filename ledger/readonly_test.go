package ledger

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestReadOnlyOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	l, err := Open(dir, &Options{Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, "s", ExpectNoStream, tev(1), tev(2)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(dir, &Options{ReadOnly: true, Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := len(readAll(t, ro)); got != 2 {
		t.Fatalf("read-only ledger shows %d events, want 2", got)
	}
	if _, err := ro.Verify(bg); err != nil {
		t.Fatalf("Verify on a read-only ledger: %v", err)
	}
	if _, err := ro.Append(bg, "s", ExpectAny, tev(3)); err == nil {
		t.Fatal("append to a read-only ledger succeeded")
	}
	var b StateBatch
	b.Set([]byte("k"), []byte("v"))
	if err := ro.ApplyState(bg, &b); err == nil {
		t.Fatal("state write to a read-only ledger succeeded")
	}

	if _, err := Open(t.TempDir(), &Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of an empty directory made a ledger")
	} else if !errors.Is(err, ErrNotFound) {
		t.Logf("empty dir: %v", err)
	}
}
