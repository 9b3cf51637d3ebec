package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestOfflineCode pins the example's output to testdata/offlinecode.golden
// (go test ./examples/offlinecode -update rewrites it after a deliberate
// change): two runs print the same bytes, they equal the golden file, the
// lock decides each code alone, and the audit attributes every use to its
// code.
func TestOfflineCode(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "offlinecode", out)
	for _, s := range []string{
		"the delivery driver again: refused: offline code already used",
		"one digit mistyped: refused: not a code of this lock",
		"stay-smith for the Smiths         revoked, pending at the lock until 2026-03-07 00:00 UTC",
		"the Smiths come back: refused: offline code revoked",
		"Tue 03 16:01 stay-smith             granted",
		"stay-smith for the Smiths         revoked\n",
	} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("the output lacks %q", s)
		}
	}
}
