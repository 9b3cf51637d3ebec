package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestSharekey pins the example's output to testdata/sharekey.golden (go test
// ./examples/sharekey -update rewrites it after a deliberate change): two runs
// print the same bytes, they equal the golden file, and the root secret never appears while the share code shows as [REDACTED].
// Run itself fails if Ann's unlocks, the edit after download or the pending
// deactivation come out wrong.
func TestSharekey(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "sharekey", out)
	golden.NoSecrets(t, out, true, "example root secret: use your secret manager!")
}

// The slot table ("Share Key Management") has the same columns here as in
// the quickstart, in the same order.
func TestSlotTableColumnsAsInQuickstart(t *testing.T) {
	header := func(file string) []string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "Share Key Management") && i+1 < len(lines) {
				return strings.Fields(lines[i+1])
			}
		}
		t.Fatalf("%s has no slot table", file)
		return nil
	}
	here, there := header("testdata/sharekey.golden"), header("../quickstart/testdata/quickstart.golden")
	if strings.Join(here, " ") != strings.Join(there, " ") {
		t.Errorf("slot table columns %v, the quickstart's %v", here, there)
	}
}
