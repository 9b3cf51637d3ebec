package evidence_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"slices"
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
		"not JSON":                             "{",
		"another format":                       strings.Replace(g, `"keyledger/evidence"`, `"other"`, 1),
		"a later version":                      strings.Replace(g, `"version": 1`, `"version": 3`, 1),
		"a question in version 1":              strings.Replace(g, `"version": 1`, `"version": 1, "question": {"ask": "?", "answer": [], "positions": [1], "signature": ""}`, 1),
		"a question citing an event not in it": strings.Replace(g, `"version": 1`, `"version": 2, "question": {"ask": "?", "answer": [], "positions": [2], "signature": ""}`, 1),
		"a question's positions out of order":  strings.Replace(g, `"version": 1`, `"version": 2, "question": {"ask": "?", "answer": [], "positions": [3, 1], "signature": ""}`, 1),
		"version 0":                            strings.Replace(g, `"version": 1`, `"version": 0`, 1),
		"an unknown field":                     strings.Replace(g, `"version": 1`, `"version": 1, "extra": 1`, 1),
		"a short hash":                         strings.Replace(g, `"root": "`, `"root": "00`, 1),
		"trailing data":                        g + "{}",
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

// A question signed with the head is version 2 and verifies; a version 1
// bundle still does (a verifier of this version reads both), and a
// question altered, or signed under another head, does not.
func TestQuestionSignedWithTheHead(t *testing.T) {
	b, err := evidence.Decode(bytes.NewReader(golden(t)))
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	q := evidence.Question{Ask: "who could open the main door of lock front at 2026-03-02T12:00:00Z",
		Answer: []string{"ann  ann-week"}, Positions: []uint64{7, 1, 7}}
	b.Question = evidence.SignQuestion(q, b.Head.Head, key)
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if b.Version != 2 || !bytes.Contains(buf.Bytes(), []byte(`"version": 2`)) {
		t.Fatalf("a bundle with a question written as version %d", b.Version)
	}
	signed := buf.String()
	got, err := evidence.Decode(strings.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.Verify(got, evidence.Options{Key: logKey})
	if err != nil || !rep.Question || !slices.Equal(got.Question.Positions, []uint64{1, 7}) {
		t.Fatalf("verify: %+v, %v; positions %v", rep, err, got.Question.Positions)
	}
	for name, c := range map[string]string{
		"the question":  strings.Replace(signed, "lock front", "lock back", 1),
		"the answer":    strings.Replace(signed, "ann  ann-week", "bob  ann-week", 1),
		"the citations": strings.Replace(signed, "\n   1,\n", "\n", 1),
	} {
		if c == signed {
			t.Fatalf("%s: nothing replaced", name)
		}
		b, err := evidence.Decode(strings.NewReader(c))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := evidence.Verify(b, evidence.Options{Key: logKey}); !errors.Is(err, evidence.ErrQuestion) {
			t.Errorf("%s altered: %v, want ErrQuestion", name, err)
		}
	}
	other := b.Head.Head
	other.Size--
	b.Question = evidence.SignQuestion(q, other, key)
	if _, err := evidence.Verify(b, evidence.Options{Key: logKey}); !errors.Is(err, evidence.ErrQuestion) {
		t.Errorf("a question signed under another head: %v, want ErrQuestion", err)
	}
	b.Question = nil
	buf.Reset()
	if err := b.Encode(&buf); err != nil || !bytes.Contains(buf.Bytes(), []byte(`"version": 1`)) {
		t.Fatalf("a bundle without a question: %v, not written as version 1", err)
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
	f.Add([]byte(`{"format":"keyledger/evidence","version":2,"events":[{"position":1,"proof":[]}],"question":{"ask":"?","answer":["a"],"positions":[1],"signature":""}}`))
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
