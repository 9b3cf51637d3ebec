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

var update = flag.Bool("update", false, "rewrite testdata/onlinekey.golden with the example's output")

// TestOnlinekey pins the example's output: it must equal the golden file byte
// for byte, so it is deterministic (fixed clock and command IDs) and any
// change in what users see shows up in review. Run itself fails if an unlock decision differs from seed 000 or the master code outlives network management.
func TestOnlinekey(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "onlinekey.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./examples/onlinekey -update to create it)", err)
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
				t.Fatalf("output differs from %s at line %d:\n got: %q\nwant: %q\n(go test ./examples/onlinekey -update rewrites it after a deliberate change)", golden, i+1, gl, wl)
			}
		}
	}
	// The secrets the example types in never appear.
	for _, s := range []string{"731946", "ann's personal password", "cid's personal password", "a wrong password", "bob's guess", "example root secret: production roots come from a secret manager"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("the output contains the secret %q", s)
		}
	}
	if !strings.Contains(out.String(), "[REDACTED]") {
		t.Error("the output does not show the generated secret as [REDACTED]")
	}
}

// TestOnlinekeyDeterministic runs the example twice in one process: the two
// outputs must be identical (no wall-clock time, random value or temporary
// path leaks into what it prints).
func TestOnlinekeyDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := run(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("two runs differ:\n--- first\n%s\n--- second\n%s", a.String(), b.String())
	}
}
