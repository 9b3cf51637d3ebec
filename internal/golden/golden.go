// Package golden pins an example's output to a file under testdata, so what
// users see is deterministic and every change to it shows up in review.
// Tests only: run `go test ./examples/<name> -update` after a deliberate
// change to rewrite the file.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata with the current output")

// Check compares got with testdata/<name>.golden byte for byte (or rewrites
// it with -update) and reports the first differing line.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
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
			t.Fatalf("output differs from %s at line %d:\n got: %q\nwant: %q\n(go test -update rewrites it after a deliberate change)", path, i+1, gl, wl)
		}
	}
}

// Twice runs an example twice and returns its output; the two runs must print
// the same bytes (no wall-clock time, random value or temporary path leaks
// into the output).
func Twice(t testing.TB, run func(w *bytes.Buffer) error) []byte {
	t.Helper()
	var a, b bytes.Buffer
	if err := run(&a); err != nil {
		t.Fatal(err)
	}
	if err := run(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two runs differ:\n--- first\n%s\n--- second\n%s", a.String(), b.String())
	}
	return a.Bytes()
}

// NoSecrets fails the test if out contains any of the secrets, and, with
// redacted set, if it never shows a generated one as [REDACTED].
func NoSecrets(t testing.TB, out []byte, redacted bool, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("the output contains the secret %q", s)
		}
	}
	if redacted && !bytes.Contains(out, []byte("[REDACTED]")) {
		t.Error("the output does not show the generated secret as [REDACTED]")
	}
}
