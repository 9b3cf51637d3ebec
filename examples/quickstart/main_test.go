package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/internal/golden"
)

// tempLedger matches the temporary ledger directory the tour prints, which
// differs on every run.
var tempLedger = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `[/\\]keyledger-quickstart-[0-9]+`)

// TestQuickstart pins the example's output to testdata/quickstart.golden (go test
// ./examples/quickstart -update rewrites it after a deliberate change): two runs
// print the same bytes once the temporary ledger directory is replaced by
// $TMPDIR/keyledger-quickstart-N, they equal the golden file, and no secret the
// tour types in appears (generated codes and PINs print as [REDACTED]).
func TestQuickstart(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error {
		var b bytes.Buffer
		err := run(context.Background(), &b, "")
		if !tempLedger.Match(b.Bytes()) {
			t.Errorf("the output does not name the temporary ledger directory in %s", os.TempDir())
		}
		w.Write(tempLedger.ReplaceAll(b.Bytes(), []byte("$$TMPDIR/keyledger-quickstart-N")))
		return err
	})
	golden.Check(t, "quickstart", out)
	golden.NoSecrets(t, out, true, "731946", "ann's personal password", "cid's personal password", "bob's guess")
}

// With -keep DIR the tour writes its ledger to DIR and leaves it there: the
// output names DIR and the CLI commands that inspect it, and DIR opens as a
// ledger whose hash chain verifies to the head digest the tour printed. A
// directory that is not empty is refused before anything is written.
func TestQuickstartKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tour")
	var b bytes.Buffer
	if err := run(context.Background(), &b, dir); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"ledger directory: " + dir + " (kept)", "go run ./cmd/keyledger verify " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`head digest (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no head digest in the output")
	}
	st, err := keyledger.Open(dir, nil)
	if err != nil {
		t.Fatalf("open the kept ledger: %v", err)
	}
	defer st.Close()
	head, err := st.Ledger.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if head.String() != m[1] {
		t.Fatalf("kept ledger's head %s, the tour printed %s", head, m[1])
	}

	b.Reset()
	if err := run(context.Background(), &b, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second tour into %s: %v, want a refusal of the non-empty directory", dir, err)
	}
}
