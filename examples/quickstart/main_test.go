package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestQuickstart pins the example's output to testdata/quickstart.golden (go test
// ./examples/quickstart -update rewrites it after a deliberate change): two runs
// print the same bytes, they equal the golden file, and no secret the tour types in appears (generated codes and PINs print as [REDACTED]).
func TestQuickstart(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "quickstart", out)
	golden.NoSecrets(t, out, true, "731946", "ann's personal password", "cid's personal password", "bob's guess")
}
