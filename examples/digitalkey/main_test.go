package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestDigitalkey pins the example's output to testdata/digitalkey.golden (go test
// ./examples/digitalkey -update rewrites it after a deliberate change): two runs
// print the same bytes, they equal the golden file, and no secret appears.
// Run itself fails if a status or an unlock differs from what the example expects.
func TestDigitalkey(t *testing.T) {
	out := golden.Twice(t, func(w *bytes.Buffer) error { return run(context.Background(), w) })
	golden.Check(t, "digitalkey", out)
	golden.NoSecrets(t, out, true, "example root secret: use your secret manager!")
	// The PIN is drawn at random, so the test cannot name it: no run of six
	// digits may appear at all.
	if pin := regexp.MustCompile(`[0-9]{6}`).Find(out); pin != nil {
		t.Errorf("the output contains %q, which looks like the PIN", pin)
	}
}
