package proofs_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
)

type noted struct {
	Text string
	N    int
}

func registry(t testbackend.TB) *ledger.Registry {
	reg := ledger.NewRegistry()
	if err := reg.Register("test.noted", 1, noted{}); err != nil {
		t.Fatalf("register: %v", err)
	}
	return reg
}

// testKey is a fixed log key, so runs are repeatable.
var testKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// appendN appends n events spread over streams s0..s(streams-1), one
// append per event.
func appendN(t testbackend.TB, log ledger.Log, n, streams int, seed int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		s := fmt.Sprintf("s%d", (i*7+seed)%streams)
		if _, err := log.Append(ctx, s, ledger.ExpectAny, ledger.NewEvent{Data: noted{Text: fmt.Sprintf("event %d/%d", seed, i), N: i}}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// model is the reference: the log's canonical records, read with the
// ledger's exported pieces, and RFC 9162's tree hash computed recursively.
type model struct{ records [][]byte }

func readModel(t testbackend.TB, log ledger.Log) model {
	t.Helper()
	var m model
	prev := map[string]uint64{}
	for ev, err := range log.ReadAll(context.Background(), 1) {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		rec, err := ledger.AppendCanonical(nil, &ev, prev[ev.Stream])
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		prev[ev.Stream] = ev.Position
		m.records = append(m.records, rec)
	}
	return m
}

// root is MTH(D[0:n]) as RFC 9162 section 2.1.1 defines it.
func (m model) root(n uint64) evidence.Hash {
	if n == 0 {
		return sha256.Sum256(nil)
	}
	return mth(m.records[:n])
}

func mth(d [][]byte) evidence.Hash {
	if len(d) == 1 {
		return evidence.LeafHash(d[0])
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	l, r := mth(d[:k]), mth(d[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func update(t testbackend.TB, tr *proofs.Tree) uint64 {
	t.Helper()
	n, err := tr.Update(context.Background())
	if err != nil {
		t.Fatalf("update the tree: %v", err)
	}
	return n
}
