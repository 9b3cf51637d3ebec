package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestIntercom pins the example's output to testdata/intercom.golden (go test
// ./examples/intercom -update rewrites it after a deliberate change): two runs
// print the same bytes, they equal the golden file, and the root secret never appears.
// Run itself fails if an unlock decision differs from the decision the example expects.
func TestIntercom(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "intercom", out)
	golden.NoSecrets(t, out, false, "example root secret: use your secret manager!")
}
