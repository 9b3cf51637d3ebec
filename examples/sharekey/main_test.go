package main

import (
	"bytes"
	"context"
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
