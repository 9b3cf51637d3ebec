package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestOnlinekey pins the example's output to testdata/onlinekey.golden (go test
// ./examples/onlinekey -update rewrites it after a deliberate change): two runs
// print the same bytes, they equal the golden file, and no master code, password or root secret appears.
// Run itself fails if an unlock reason differs from the online-key rules or the master
// code can still be revealed after network management is off.
func TestOnlinekey(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "onlinekey", out)
	golden.NoSecrets(t, out, true, "731946", "ann's personal password", "cid's personal password", "a wrong password", "bob's guess",
		"example root secret: production roots come from a secret manager")
}
