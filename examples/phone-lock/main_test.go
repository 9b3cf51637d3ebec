package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestPhoneLock pins the example's output to testdata/phone-lock.golden (go test
// ./examples/phone-lock -update rewrites it after a deliberate change): two runs
// print the same bytes, they equal the golden file, and the old key loses after the reset while the audit flows back once.
func TestPhoneLock(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "phone-lock", out)
	for _, s := range []string{"refused: superseded", "0 new, 10 already known", "k-alice: reset, REVOKED, 2 use(s) counted"} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("the output lacks %q", s)
		}
	}
}
