package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/quickstart.golden with the tour's output")

// TestQuickstart pins the whole tour: its output must equal the golden file
// byte for byte, so it is deterministic (fixed clock, IDs and random source)
// and any change in what users see shows up in review.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "quickstart.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./examples/quickstart -update to create it)", err)
	}
	if got := out.Bytes(); !bytes.Equal(got, want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(g) || i < len(w); i++ {
			var gl, wl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(w) {
				wl = w[i]
			}
			if gl != wl {
				t.Fatalf("output differs from %s at line %d:\n got: %q\nwant: %q\n(go test ./examples/quickstart -update rewrites it after a deliberate change)", golden, i+1, gl, wl)
			}
		}
	}
	// The secrets the tour types in never appear; generated codes and PINs
	// print as [REDACTED].
	for _, s := range []string{"731946", "ann's personal password", "cid's personal password", "bob's guess"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("the output contains the secret %q", s)
		}
	}
	if !strings.Contains(out.String(), "[REDACTED]") {
		t.Error("the output does not show the share code as [REDACTED]")
	}
}
