package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestLifecycle pins the example's output to testdata/lifecycle.golden (go
// test ./examples/lifecycle -update rewrites it after a deliberate change):
// two runs print the same bytes, they equal the golden file, and the lock
// enforces passage mode, dated periods, the expiry after first use, the
// suspension and the reset of every key on its own.
func TestLifecycle(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "lifecycle", out)
	for _, s := range []string{
		"a courier pushes the handle → granted",
		"a courier pushes the handle → refused: the door is not in passage mode now",
		"cleo  types a PIN → refused: outside the key's dated periods",
		"cleo  types a PIN → refused: the key is suspended",
		"vic   types a PIN → refused: expired",
		"cleo  types a PIN → refused: wrong PIN",
		"max   types a PIN → granted",
		"anyone: passage mode",
	} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("the output lacks %q", s)
		}
	}
}
