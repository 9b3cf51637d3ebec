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

var update = flag.Bool("update", false, "rewrite testdata/phone-lock.golden with the example's output")

// TestPhoneLock pins the example's output byte for byte (fixed clock, seeded
// keys and nonces), so it stays deterministic and every change in what it
// shows is reviewed. The walk-through itself asserts nothing; the golden
// file does: the reset key refused as superseded, each audit record once,
// the offline uses counted.
func TestPhoneLock(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "phone-lock.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./examples/phone-lock -update to create it)", err)
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
				t.Fatalf("output differs from %s at line %d:\n got: %q\nwant: %q\n(go test ./examples/phone-lock -update rewrites it after a deliberate change)", golden, i+1, gl, wl)
			}
		}
	}
	for _, s := range []string{"refused: superseded", "0 new, 9 already known", "k-alice: reset, REVOKED, 2 use(s) counted"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the output lacks %q", s)
		}
	}
}
