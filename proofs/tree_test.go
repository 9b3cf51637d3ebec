package proofs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/proofs"
	"pgregory.net/rapid"
)

// For random logs grown in random steps, and random i <= j <= n: the
// stored tree's roots are RFC 9162's, the inclusion proof of i in the tree
// of j and the consistency proof from i to j verify, and a flipped byte
// in the record, the proof or the root makes them fail with a typed error.
func TestProofsVerifyAndTamperingFails(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		store := testbackend.Open(rt, registry(rt), nil)
		tr := proofs.New(store, nil)
		steps := rapid.IntRange(1, 4).Draw(rt, "steps")
		for s := range steps {
			appendN(rt, store, rapid.IntRange(0, 70).Draw(rt, "events"), rapid.IntRange(1, 5).Draw(rt, "streams"), s)
			if rapid.Bool().Draw(rt, "restart") {
				tr = proofs.New(store, nil) // a new process: the tree is read back from the store
			}
			update(rt, tr)
		}
		m := readModel(rt, store)
		n := uint64(len(m.records))
		if got, _ := tr.Size(ctx); got != n {
			rt.Fatalf("tree size %d, log has %d events", got, n)
		}
		if n == 0 {
			return
		}
		j := rapid.Uint64Range(1, n).Draw(rt, "j")
		i := rapid.Uint64Range(1, j).Draw(rt, "i")
		rootJ, err := tr.Root(ctx, j)
		if err != nil {
			rt.Fatal(err)
		}
		if rootJ != m.root(j) {
			rt.Fatalf("root of size %d: got %s, want %s", j, rootJ, m.root(j))
		}
		headJ := evidence.Head{Size: j, Root: rootJ}
		headI := evidence.Head{Size: i, Root: m.root(i)}
		incl, err := tr.Inclusion(ctx, i, j)
		if err != nil {
			rt.Fatal(err)
		}
		rec := m.records[i-1]
		if err := evidence.VerifyInclusion(rec, i, incl, headJ); err != nil {
			rt.Fatalf("inclusion of %d in %d: %v", i, j, err)
		}
		cons, err := tr.Consistency(ctx, i, j)
		if err != nil {
			rt.Fatal(err)
		}
		if err := evidence.VerifyConsistency(headI, headJ, cons); err != nil {
			rt.Fatalf("consistency %d -> %d: %v", i, j, err)
		}

		// Tampering.
		bad := append([]byte(nil), rec...)
		bad[rapid.IntRange(0, len(bad)-1).Draw(rt, "record byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
		mustFail(rt, evidence.ErrInclusion, evidence.VerifyInclusion(bad, i, incl, headJ))
		flipRoot := headJ
		flipRoot.Root[rapid.IntRange(0, 31).Draw(rt, "root byte")] ^= 1
		mustFail(rt, evidence.ErrInclusion, evidence.VerifyInclusion(rec, i, incl, flipRoot))
		if len(incl) > 0 {
			p := append([]evidence.Hash(nil), incl...)
			p[rapid.IntRange(0, len(p)-1).Draw(rt, "proof hash")][rapid.IntRange(0, 31).Draw(rt, "proof byte")] ^= 1
			mustFail(rt, evidence.ErrInclusion, evidence.VerifyInclusion(rec, i, p, headJ))
		}
		if len(cons) > 0 {
			p := append([]evidence.Hash(nil), cons...)
			p[rapid.IntRange(0, len(p)-1).Draw(rt, "consistency hash")][rapid.IntRange(0, 31).Draw(rt, "consistency byte")] ^= 1
			mustFail(rt, evidence.ErrConsistency, evidence.VerifyConsistency(headI, headJ, p))
		}
		if i < j {
			mustFail(rt, evidence.ErrConsistency, evidence.VerifyConsistency(headI, flipRoot, cons))
		}
	})
}

func mustFail(t interface{ Fatalf(string, ...any) }, want error, err error) {
	var e *evidence.Error
	if !errors.Is(err, want) || !errors.As(err, &e) {
		t.Fatalf("got %v, want an *evidence.Error matching %v", err, want)
	}
}

func TestRebuildGivesTheSameTree(t *testing.T) {
	ctx := context.Background()
	store := testbackend.Open(t, registry(t), nil)
	appendN(t, store, 300, 7, 1)
	tr := proofs.New(store, nil)
	update(t, tr)
	before, err := tr.Root(ctx, 300)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tr.Rebuild(ctx); err != nil || n != 300 {
		t.Fatalf("rebuild: %d, %v", n, err)
	}
	after, err := tr.Root(ctx, 300)
	if err != nil || after != before {
		t.Fatalf("root after rebuild %s (%v), before %s", after, err, before)
	}
}

func TestRequestsOutsideTheTree(t *testing.T) {
	ctx := context.Background()
	store := testbackend.Open(t, registry(t), nil)
	appendN(t, store, 10, 2, 0)
	tr := proofs.New(store, nil)
	if _, err := tr.Root(ctx, 5); !errors.Is(err, proofs.ErrBehind) {
		t.Fatalf("root before any update: %v, want ErrBehind", err)
	}
	update(t, tr)
	for name, err := range map[string]error{
		"position 0":          second(tr.Inclusion(ctx, 0, 10)),
		"position past size":  second(tr.Inclusion(ctx, 11, 10)),
		"consistency reverse": second(tr.Consistency(ctx, 6, 5)),
	} {
		if !errors.Is(err, proofs.ErrRange) {
			t.Errorf("%s: %v, want ErrRange", name, err)
		}
	}
	if _, err := tr.Inclusion(ctx, 3, 11); !errors.Is(err, proofs.ErrBehind) {
		t.Errorf("a tree larger than the index: %v, want ErrBehind", err)
	}
}

func second[T any](_ T, err error) error { return err }

// Run follows the log as it grows.
func TestRunFollowsTheLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	store := testbackend.Open(t, registry(t), nil)
	tr := proofs.New(store, nil)
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	appendN(t, store, 50, 3, 0)
	for {
		n, err := tr.Size(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 50 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	m := readModel(t, store)
	if r, _ := tr.Root(context.Background(), 50); r != m.root(50) {
		t.Fatalf("root %s, want %s", r, m.root(50))
	}
}
