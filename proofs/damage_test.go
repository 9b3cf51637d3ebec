package proofs_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
)

// A damaged leaf or subtree row is caught (export recomputes each leaf from
// the log; a missing node is named) and Rebuild repairs it.
func TestDamagedIndex(t *testing.T) {
	ctx := context.Background()
	store := testbackend.Open(t, registry(t), nil)
	appendN(t, store, 40, 3, 0)
	tr := proofs.New(store, nil)
	update(t, tr)
	leaf := func(pos uint64) []byte { return nodeKey(0, pos-1) }
	for name, damage := range map[string]func(*ledger.StateBatch){
		"a leaf's hash": func(b *ledger.StateBatch) { b.Set(leaf(7), make([]byte, 40)) },
		"a leaf's back-pointer": func(b *ledger.StateBatch) {
			v, err := store.GetState(ctx, leaf(7))
			if err != nil {
				t.Fatal(err)
			}
			v[39] ^= 1
			b.Set(leaf(7), v)
		},
		"a missing sibling": func(b *ledger.StateBatch) { b.Delete(leaf(8)) },
		// Level 1, index 2: the sibling of the parent of leaf 6 (position 7).
		"a malformed node": func(b *ledger.StateBatch) { b.Set(nodeKey(1, 2), []byte{1}) },
	} {
		t.Run(name, func(t *testing.T) {
			b := &ledger.StateBatch{}
			damage(b)
			if err := store.ApplyState(ctx, b); err != nil {
				t.Fatal(err)
			}
			_, err := proofs.Export(ctx, tr, proofs.Request{Positions: []uint64{7}, Key: testKey})
			var e *proofs.Error
			if !errors.Is(err, proofs.ErrIndex) || !errors.As(err, &e) {
				t.Fatalf("export over a damaged index: %v, want ErrIndex", err)
			}
			if _, err := tr.Rebuild(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := proofs.Export(ctx, tr, proofs.Request{Positions: []uint64{7}, Key: testKey}); err != nil {
				t.Fatalf("export after Rebuild: %v", err)
			}
		})
	}
}

// Updates from several goroutines, and proofs read meanwhile, agree with
// the model (run with -race).
func TestConcurrentUpdatesAndProofs(t *testing.T) {
	ctx := context.Background()
	store := testbackend.Open(t, registry(t), nil)
	tr := proofs.New(store, nil)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if w == 0 {
					appendN(t, store, 5, 4, w)
				}
				n, err := tr.Update(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n > 0 {
					if _, err := tr.Inclusion(ctx, 1+n/2, n); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	n := update(t, tr)
	m := readModel(t, store)
	if r, err := tr.Root(ctx, n); err != nil || r != m.root(n) {
		t.Fatalf("root %s (%v), want %s", r, err, m.root(n))
	}
}

// nodeKey is the index's key of a node (see tree.go): its position in the
// order nodes complete.
func nodeKey(level uint, index uint64) []byte {
	m := (index + 1) << level
	seq := 2*m - uint64(bits.OnesCount64(m)) - 1 - (uint64(bits.TrailingZeros64(m)) - uint64(level))
	return binary.BigEndian.AppendUint64([]byte("t/n"), seq)
}
