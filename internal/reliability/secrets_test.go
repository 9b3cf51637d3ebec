package reliability

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// encodings returns the forms in which a secret must not appear on disk:
// plaintext, UTF-16 (both byte orders), hex (both cases), base64 (standard,
// URL, unpadded).
func encodings(s string) map[string][]byte {
	u := utf16.Encode([]rune(s))
	le, be := make([]byte, 2*len(u)), make([]byte, 2*len(u))
	for i, c := range u {
		le[2*i], le[2*i+1] = byte(c), byte(c>>8)
		be[2*i], be[2*i+1] = byte(c>>8), byte(c)
	}
	b := []byte(s)
	return map[string][]byte{
		"plaintext":  b,
		"utf-16le":   le,
		"utf-16be":   be,
		"hex":        []byte(hex.EncodeToString(b)),
		"HEX":        []byte(strings.ToUpper(hex.EncodeToString(b))),
		"base64":     []byte(base64.StdEncoding.EncodeToString(b)),
		"base64url":  []byte(base64.URLEncoding.EncodeToString(b)),
		"base64-raw": []byte(base64.RawStdEncoding.EncodeToString(b)),
	}
}

// TestNoPlaintextSecrets runs the full workload on disk — PINs drawn by
// the library, share codes, members' passwords (and their changes), lock
// master codes — closes the ledger and scans every file of the data
// directory (WAL, sstables, MANIFEST, OPTIONS, …) for each secret in every
// encoding above. The base64 forms of short secrets are searched without
// their last 4 characters' padding subtleties by searching the full
// encoding, which is what a careless log line would contain.
func TestNoPlaintextSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	s, err := openStack(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets := &secretLog{}
	w := &workload{svc: s.svc, run: 1, secrets: secrets, unexpected: fatalOnUnexpected(t)}
	scenarios := 8
	if soak() {
		scenarios = 60
	}
	if err := w.runWorkers(bg, 8, scenarios); err != nil {
		t.Fatal(err)
	}
	if _, err := checkProjections(bg, s); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, k := range secrets.kind {
		kinds[k]++
	}
	for _, k := range []string{"PIN", "share code", "password", "master code"} {
		if kinds[k] == 0 {
			t.Fatalf("the workload generated no %s: the scan would prove nothing (%v)", k, kinds)
		}
	}
	var files []string
	var bytesScanned int64
	contents := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, filepath.Base(p))
		contents[filepath.Base(p)] = b
		bytesScanned += int64(len(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	searches := 0
	for i, sec := range secrets.list {
		for enc, needle := range encodings(sec) {
			for name, b := range contents {
				searches++
				if containsStandalone(b, needle, len(sec) < 8 && enc == "plaintext") {
					t.Errorf("%s #%d found in %s as %s", secrets.kind[i], i, name, enc)
				}
			}
		}
	}
	// The scan must be able to find something: account e-mail addresses are
	// stored in plaintext (not secrets).
	found := false
	for _, b := range contents {
		found = found || bytes.Contains(b, []byte("@example.com"))
	}
	if !found {
		t.Fatalf("the scan does not see plaintext the ledger does store (files %v)", files)
	}
	t.Logf("secrets scanned for: %d (%v); files: %d (%d bytes) %v; encodings: 8; searches: %d; found: 0",
		len(secrets.list), kinds, len(files), bytesScanned, files, searches)
}

// containsStandalone reports whether needle occurs in b. With digitsApart,
// an occurrence inside a longer run of ASCII digits does not count: a 6-digit
// PIN would otherwise "occur" in Pebble's OPTIONS numbers (cache and memtable
// sizes) or in our key IDs by chance, not because it was stored.
func containsStandalone(b, needle []byte, digitsApart bool) bool {
	for off := 0; ; {
		i := bytes.Index(b[off:], needle)
		if i < 0 {
			return false
		}
		i += off
		if !digitsApart {
			return true
		}
		isDigit := func(j int) bool { return j >= 0 && j < len(b) && b[j] >= '0' && b[j] <= '9' }
		if !isDigit(i-1) && !isDigit(i+len(needle)) {
			return true
		}
		off = i + 1
	}
}

func soak() bool { return os.Getenv("KEYLEDGER_SOAK") != "" }
