package ledgertest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

type verifierStore interface {
	ledger.Log
	ledger.Verifier
}

func testDigest(t *testing.T, s verifierStore) {
	empty, err := s.Head(ctx)
	if err != nil || empty != (ledger.Digest{}) {
		t.Fatalf("Head of an empty log = %v, %v; want the zero Digest", empty, err)
	}
	if d, err := s.Verify(ctx); err != nil || d != empty {
		t.Fatalf("Verify of an empty log = %v, %v", d, err)
	}
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1), ev(2))
	d2, err := s.Head(ctx)
	if err != nil || d2.Position != 2 {
		t.Fatalf("Head = %v, %v", d2, err)
	}
	mustAppend(t, s, "a", ledger.ExpectAny, ev(3))
	d3, err := s.Verify(ctx)
	if err != nil || d3.Position != 3 || d3.Hash == d2.Hash {
		t.Fatalf("Verify = %v, %v", d3, err)
	}
	if h, _ := s.Head(ctx); h != d3 {
		t.Fatalf("Head %v differs from Verify %v", h, d3)
	}
	for _, d := range []ledger.Digest{empty, d2, d3} {
		if err := s.CheckDigest(ctx, d); err != nil {
			t.Errorf("CheckDigest(%v): %v", d, err)
		}
		p, err := ledger.ParseDigest(d.String())
		if err != nil || p != d {
			t.Errorf("ParseDigest(%s) = %v, %v", d, p, err)
		}
	}
	forged := d2
	forged.Hash[0] ^= 1
	var ce *ledger.CorruptionError
	if err := s.CheckDigest(ctx, forged); !errors.As(err, &ce) || ce.Position != 2 {
		t.Fatalf("forged digest: %v", err)
	}
	beyond := ledger.Digest{Position: 9}
	if err := s.CheckDigest(ctx, beyond); !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("digest beyond the log: %v", err)
	}
	for _, bad := range []string{"", "3", "x:00", "3:zz", "3:0011"} {
		if _, err := ledger.ParseDigest(bad); !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("ParseDigest(%q): %v", bad, err)
		}
	}
}

// sameChainHead is the Head of the events testSameChain appends, as the
// ledger on Pebble computes it. It changes only if the record format does,
// and then every digest exported before would no longer check.
const sameChainHead = "7:a4a374c70c9aeda7782e289bb9c25475431c78777150e31030253d35248c0833"

// The hash chain is the ledger's: Head's hash chains every event's canonical
// bytes (ledger.AppendCanonical, ledger.ChainHash) and payloads are
// Registry.Encode's, so the same events give the same digests on every
// backend.
func testSameChain(t *testing.T, s verifierStore) {
	at := func(n int) time.Time { return time.Date(2026, 5, 6, 7, 8, 9, 123456789+n, time.UTC) }
	e := func(n int, data any) ledger.NewEvent { return ledger.NewEvent{ID: id(n), Data: data, Time: at(n)} }
	mustAppend(t, s, "key-1", ledger.ExpectNoStream, e(1, Opened{N: 1}), e(2, Noted{Text: "grüße"}))
	if _, err := s.AppendMulti(ctx,
		onto("lock/front", ledger.ExpectNoStream, e(3, &Opened{N: -3})),
		cond("key-2", ledger.ExpectNoStream),
		onto("key-1", ledger.ExpectVersion(2), e(4, Noted{}), e(5, Opened{N: 1 << 40})),
	); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "lock/front", ledger.ExpectVersion(1), e(6, Noted{Text: string(make([]byte, 300))}))
	mustAppend(t, s, "key-1", ledger.ExpectVersion(4), e(7, Opened{}))

	var hash [32]byte
	prev := map[string]uint64{}
	var buf []byte
	n := uint64(0)
	for ev, err := range s.ReadAll(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		name, schema, payload, err := s.Registry().Encode(ev.Data)
		if err != nil || name != ev.Type || schema != ev.Schema || !bytes.Equal(payload, ev.Raw) {
			t.Fatalf("position %d: Registry.Encode(%#v) = %q, %d, %x, %v; stored %q, %d, %x",
				ev.Position, ev.Data, name, schema, payload, err, ev.Type, ev.Schema, ev.Raw)
		}
		if buf, err = ledger.AppendCanonical(buf[:0], &ev, prev[ev.Stream]); err != nil {
			t.Fatalf("position %d: %v", ev.Position, err)
		}
		hash = ledger.ChainHash(hash, buf)
		prev[ev.Stream] = ev.Position
		n++
	}
	want := ledger.Digest{Position: n, Hash: hash}
	if got, err := s.Head(ctx); err != nil || got != want {
		t.Fatalf("Head = %v, %v; the chain of the events read back is %v", got, err, want)
	}
	if got := want.String(); got != sameChainHead {
		t.Fatalf("Head = %s, want %s (the ledger's hash chain of these events)", got, sameChainHead)
	}
	if got, err := s.Verify(ctx); err != nil || got != want {
		t.Fatalf("Verify = %v, %v; want %v", got, err, want)
	}
}

func testVerifyConcurrent(t *testing.T, s verifierStore) {
	testConcurrent(t, s, s)
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.Verify(ctx); err != nil || d != head {
		t.Fatalf("Verify after concurrent appends = %v, %v; Head %v", d, err, head)
	}
}

func testVerifierClosed(t *testing.T, s verifierStore, c interface{ Close() error }) {
	mustAppend(t, s, "a", ledger.ExpectAny, ev(1))
	closedErrs(t, c, map[string]func() error{
		"Head":        func() error { _, err := s.Head(ctx); return err },
		"Verify":      func() error { _, err := s.Verify(ctx); return err },
		"CheckDigest": func() error { return s.CheckDigest(ctx, ledger.Digest{}) },
	})
}

// Both instances agree on the head, and a digest one exported checks on the other.
func testVerifierTwo(t *testing.T, a, b verifierStore) {
	mustAppend(t, a, "a", ledger.ExpectAny, ev(1), ev(2))
	d, err := a.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Head(ctx); err != nil || got != d {
		t.Fatalf("second instance: Head = %v, %v; first %v", got, err, d)
	}
	mustAppend(t, b, "a", ledger.ExpectAny, ev(3))
	if err := b.CheckDigest(ctx, d); err != nil {
		t.Fatalf("second instance: CheckDigest of the first's digest: %v", err)
	}
	d3, err := b.Verify(ctx)
	if err != nil || d3.Position != 3 {
		t.Fatalf("second instance: Verify = %v, %v", d3, err)
	}
	if got, err := a.Head(ctx); err != nil || got != d3 {
		t.Fatalf("first instance: Head = %v, %v; second verified %v", got, err, d3)
	}
}
