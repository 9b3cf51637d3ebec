package evidence_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/evidence"
)

// testdata/bundle.json is written by the proofs package's tests
// (KEYLEDGER_WRITE_TESTDATA=1 go test ./proofs -run ExportedBundle): 40
// events, positions 1, 3, 7 and 40, a consistency proof from size 20,
// signed with the key of the all-zero seed.
var logKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)

func golden(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenBundleVerifies(t *testing.T) {
	b, err := evidence.Decode(bytes.NewReader(golden(t)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.Verify(b, evidence.Options{Key: logKey})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Head.Size != 40 || rep.Events != 4 {
		t.Fatalf("report %+v", rep)
	}
	r, err := evidence.ParseRecord(b.Events[0].Record)
	if err != nil || r.Position != 1 || r.Version != 1 || r.Prev != 0 || r.Type != "test.noted" {
		t.Fatalf("record %+v, %v", r, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	g := string(golden(t))
	for name, c := range map[string]string{
		"not JSON":         "{",
		"another format":   strings.Replace(g, `"keyledger/evidence"`, `"other"`, 1),
		"a later version":  strings.Replace(g, `"version": 1`, `"version": 2`, 1),
		"version 0":        strings.Replace(g, `"version": 1`, `"version": 0`, 1),
		"an unknown field": strings.Replace(g, `"version": 1`, `"version": 1, "extra": 1`, 1),
		"a short hash":     strings.Replace(g, `"root": "`, `"root": "00`, 1),
		"trailing data":    g + "{}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := evidence.Decode(strings.NewReader(c))
			var e *evidence.Error
			if !errors.Is(err, evidence.ErrFormat) || !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error matching ErrFormat", err)
			}
		})
	}
}

func TestParseRecordRefuses(t *testing.T) {
	b, err := evidence.Decode(bytes.NewReader(golden(t)))
	if err != nil {
		t.Fatal(err)
	}
	good := b.Events[2].Record // position 7, version 3: has a back-pointer
	for name, rec := range map[string][]byte{
		"empty":       nil,
		"format 1":    append([]byte{1}, good[1:]...),
		"truncated":   good[:len(good)-1],
		"extended":    append(bytes.Clone(good), 0),
		"position 0":  append(append([]byte{2}, make([]byte, 8)...), good[9:]...),
		"long stream": append(append(bytes.Clone(good[:43]), 0xff, 0xff), good[45:]...),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := evidence.ParseRecord(rec)
			if !errors.Is(err, evidence.ErrRecord) {
				t.Fatalf("got %v, want ErrRecord", err)
			}
		})
	}
}

// FuzzDecode: whatever the bytes, Decode and Verify return (no panic), and
// every error is typed.
func FuzzDecode(f *testing.F) {
	f.Add(golden(f))
	f.Add([]byte(`{"format":"keyledger/evidence","version":1,"events":[{"position":1,"proof":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := evidence.Decode(bytes.NewReader(data))
		var e *evidence.Error
		if err != nil {
			if !errors.As(err, &e) || !errors.Is(err, evidence.ErrFormat) {
				t.Fatalf("untyped decode error %v", err)
			}
			return
		}
		if _, err := evidence.Verify(b, evidence.Options{Key: logKey}); err != nil && !errors.As(err, &e) {
			t.Fatalf("untyped verify error %v", err)
		}
	})
}
