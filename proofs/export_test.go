package proofs_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
	"pgregory.net/rapid"
)

// fixedClock stamps heads at one instant, so bundles are repeatable.
func fixedClock() time.Time { return time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC) }

// exported builds a log of n events, a tree over it, and a bundle of the
// given positions with a consistency proof from the head of size since.
func exported(t testbackend.TB, n int, positions []uint64, since uint64) (*evidence.Bundle, evidence.SignedHead) {
	t.Helper()
	ctx := context.Background()
	store := testbackend.Open(t, registry(t), func() time.Time { return fixedClock().Add(-time.Hour) })
	tr := proofs.New(store, &proofs.Options{Clock: fixedClock})
	appendN(t, store, int(since), 3, 0)
	update(t, tr)
	old, err := tr.Sign(ctx, since, testKey)
	if err != nil {
		t.Fatalf("sign the earlier head: %v", err)
	}
	appendN(t, store, n-int(since), 3, 1)
	update(t, tr)
	b, err := proofs.Export(ctx, tr, proofs.Request{
		Positions: positions, Key: testKey, Since: []evidence.Head{old.Head},
		Render: func(ev ledger.Event) (json.RawMessage, error) { return json.Marshal(ev.Data) },
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return b, old
}

func roundTrip(t testbackend.TB, b *evidence.Bundle) (*evidence.Bundle, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := evidence.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return got, buf.Bytes()
}

func TestExportedBundleVerifies(t *testing.T) {
	b, old := exported(t, 40, []uint64{7, 3, 40, 3, 1}, 20)
	got, raw := roundTrip(t, b)
	if len(got.Events) != 4 || got.Events[0].Position != 1 || got.Events[3].Position != 40 {
		t.Fatalf("events %+v, want positions 1, 3, 7, 40", got.Events)
	}
	rep, err := evidence.Verify(got, evidence.Options{Key: testKey.Public().(ed25519.PublicKey), Trusted: &old})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Head.Size != 40 || rep.Events != 4 || !rep.ExtendsTrusted {
		t.Fatalf("report %+v", rep)
	}
	if os.Getenv("KEYLEDGER_WRITE_TESTDATA") != "" {
		if err := os.WriteFile(filepath.Join("..", "evidence", "testdata", "bundle.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	b, old := exported(t, 30, []uint64{5, 29}, 10)
	pub := testKey.Public().(ed25519.PublicKey)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	forged := old
	forged.Root[0] ^= 1
	forged = evidence.Sign(forged.Head, testKey) // a head of the same size, signed, with another root
	unknown := evidence.Sign(evidence.Head{Size: 11, Root: old.Root}, testKey)
	newer := evidence.Sign(evidence.Head{Size: 31, Root: old.Root}, testKey)
	for _, c := range []struct {
		name string
		opts evidence.Options
		want error
	}{
		{"no key", evidence.Options{}, evidence.ErrKey},
		{"another key", evidence.Options{Key: other.Public().(ed25519.PublicKey)}, evidence.ErrKey},
		{"a forked trusted head", evidence.Options{Key: pub, Trusted: &forged}, evidence.ErrConsistency},
		{"no proof from the trusted size", evidence.Options{Key: pub, Trusted: &unknown}, evidence.ErrConsistency},
		{"a trusted head newer than the bundle", evidence.Options{Key: pub, Trusted: &newer}, evidence.ErrConsistency},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := evidence.Verify(b, c.opts)
			mustFail(t, c.want, err)
		})
	}
	t.Run("a head signed by another key", func(t *testing.T) {
		c := *b
		c.Head = evidence.Sign(b.Head.Head, other)
		c.Head.Key = evidence.PublicKey(pub)
		_, err := evidence.Verify(&c, evidence.Options{Key: pub})
		mustFail(t, evidence.ErrSignature, err)
	})
}

// Any change to what a bundle proves (an event's record, summary or
// position, a proof hash, the head's size, root, time or signature, a
// consistency proof or the head it starts from) makes Verify fail with a
// typed error.
func TestTamperedBundleFails(t *testing.T) {
	b, old := exported(t, 25, []uint64{2, 9, 17, 25}, 12)
	pub := testKey.Public().(ed25519.PublicKey)
	rapid.Check(t, func(rt *rapid.T) {
		opts := evidence.Options{Key: pub}
		if rapid.Bool().Draw(rt, "trusted") {
			opts.Trusted = &old
		}
		c, _ := roundTrip(rt, b)
		e := &c.Events[rapid.IntRange(0, len(c.Events)-1).Draw(rt, "event")]
		want := evidence.ErrRecord
		switch rapid.IntRange(0, 12).Draw(rt, "what") {
		case 0:
			e.Record[rapid.IntRange(0, len(e.Record)-1).Draw(rt, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
		case 1:
			e.Position++
			want = evidence.ErrFormat // may collide with the next event; else ErrRecord
		case 2:
			e.Summary.Stream += "x"
		case 3:
			e.Summary.Time = "2020-01-01T00:00:00Z"
		case 4:
			e.Proof[rapid.IntRange(0, len(e.Proof)-1).Draw(rt, "hash")][rapid.IntRange(0, 31).Draw(rt, "byte")] ^= 1
			want = evidence.ErrInclusion
		case 5:
			e.Proof = e.Proof[:len(e.Proof)-1]
			want = evidence.ErrInclusion
		case 6:
			c.Head.Size++
			want = evidence.ErrSignature
		case 7:
			c.Head.Root[rapid.IntRange(0, 31).Draw(rt, "byte")] ^= 1
			want = evidence.ErrSignature
		case 8:
			c.Head.Time = c.Head.Time.Add(time.Nanosecond)
			want = evidence.ErrSignature
		case 9:
			c.Head.Signature[rapid.IntRange(0, len(c.Head.Signature)-1).Draw(rt, "byte")] ^= 1
			want = evidence.ErrSignature
		case 10:
			p := c.Consistency[0].Proof
			p[rapid.IntRange(0, len(p)-1).Draw(rt, "hash")][rapid.IntRange(0, 31).Draw(rt, "byte")] ^= 1
			want = evidence.ErrConsistency
		case 11:
			c.Consistency[0].FromRoot[rapid.IntRange(0, 31).Draw(rt, "byte")] ^= 1
			want = evidence.ErrConsistency
		case 12:
			c.Consistency[0].FromSize++
			want = evidence.ErrConsistency
		}
		_, err := evidence.Verify(c, opts)
		if want == evidence.ErrFormat && errors.Is(err, evidence.ErrRecord) {
			want = evidence.ErrRecord
		}
		mustFail(rt, want, err)
	})
}

// A bit flipped anywhere in an encoded bundle is refused with a typed
// error, unless it left everything Verify checks as it was (a flip in
// the unverified data, or in a hex digit's case).
func TestFlippedBitInTheFile(t *testing.T) {
	b, old := exported(t, 20, []uint64{4, 13}, 8)
	_, raw := roundTrip(t, b)
	pub := testKey.Public().(ed25519.PublicKey)
	rapid.Check(t, func(rt *rapid.T) {
		bad := bytes.Clone(raw)
		bad[rapid.IntRange(0, len(bad)-1).Draw(rt, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
		c, err := evidence.Decode(bytes.NewReader(bad))
		if err == nil {
			opts := evidence.Options{Key: pub}
			if rapid.Bool().Draw(rt, "trusted") {
				opts.Trusted = &old
			}
			_, err = evidence.Verify(c, opts)
		}
		var e *evidence.Error
		if err != nil {
			if !errors.As(err, &e) {
				rt.Fatalf("untyped error %v", err)
			}
			return
		}
		if !sameProof(c, b) {
			rt.Fatalf("a changed bundle verified:\n%s", bad)
		}
	})
}

func sameProof(a, b *evidence.Bundle) bool {
	strip := func(x *evidence.Bundle) *evidence.Bundle {
		y := *x
		y.Events = nil
		for _, e := range x.Events {
			e.Data, e.Note = nil, ""
			y.Events = append(y.Events, e)
		}
		y.Head.Time = y.Head.Time.UTC()
		return &y
	}
	return reflect.DeepEqual(strip(a), strip(b))
}
