package proofs_test

// Benchmarks of proof generation and checking. BENCHMARKS.md (section
// Proofs) comes from one run:
//
//	go test ./proofs -run '^$' -bench . -benchtime 2s
//	KEYLEDGER_BENCH_1M=1 go test ./proofs -run '^$' -bench 'Inclusion' -benchtime 2s
//
// Inclusion proofs read O(log n) stored hashes: the time per proof at 1M
// events should be about log2(1M)/log2(10k) = 1.5 times the one at 10k,
// not 100 times.

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
)

var bg = context.Background()

// benchTree returns an on-disk ledger of n events (1000 per append, over
// 100 streams) with its tree up to date.
func benchTree(b *testing.B, n int) (*ledger.Ledger, *proofs.Tree) {
	b.Helper()
	dir := b.TempDir()
	l, err := ledger.Open(dir, &ledger.Options{Registry: registry(b)})
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]ledger.NewEvent, 1000)
	for i := range evs {
		evs[i] = ledger.NewEvent{Data: noted{Text: strings.Repeat("k", 64)}}
	}
	for i := range n / len(evs) {
		if _, err := l.Append(bg, fmt.Sprintf("s%d", i%100), ledger.ExpectAny, evs...); err != nil {
			b.Fatal(err)
		}
	}
	update(b, proofs.New(l, nil))
	// Reopen, so the benchmark reads a settled store rather than racing the
	// compactions the build started.
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l, err = ledger.Open(dir, &ledger.Options{Registry: registry(b)}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l, proofs.New(l, nil)
}

// counting counts the state reads of a tree: the stored hashes a proof
// reads.
type counting struct {
	*ledger.Ledger
	gets int
}

func (c *counting) GetState(ctx context.Context, key []byte) ([]byte, error) {
	c.gets++
	return c.Ledger.GetState(ctx, key)
}

func sizes() []int {
	s := []int{10_000}
	if os.Getenv("KEYLEDGER_BENCH_1M") != "" {
		s = append(s, 1_000_000)
	}
	return s
}

// BenchmarkInclusion: one inclusion proof of a random event in the tree of
// the whole log, and its check.
func BenchmarkInclusion(b *testing.B) {
	for _, n := range sizes() {
		l, tr := benchTree(b, n)
		size := uint64(n)
		// Random positions: at 1M events the log and the index outgrow
		// Pebble's 64 MiB block cache, so most proofs read a few blocks
		// from the files; gets/op counts the stored hashes read (the
		// tree's upper levels are cached in memory after their first read).
		b.Run(fmt.Sprintf("prove/events=%d", n), func(b *testing.B) {
			c := &counting{Ledger: l}
			tr := proofs.New(c, nil)
			r := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				if _, err := tr.Inclusion(bg, 1+r.Uint64N(size), size); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.gets)/float64(b.N), "gets/op")
		})
		// One position again and again: the blocks are cached, what is left
		// is the work per hash read.
		b.Run(fmt.Sprintf("prove-same/events=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := tr.Inclusion(bg, size/3, size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("verify/events=%d", n), func(b *testing.B) {
			pos := uint64(n) / 3
			bundle, err := proofs.Export(bg, tr, proofs.Request{Positions: []uint64{pos}, Key: testKey})
			if err != nil {
				b.Fatal(err)
			}
			e := bundle.Events[0]
			for b.Loop() {
				if err := evidence.VerifyInclusion(e.Record, pos, e.Proof, bundle.Head.Head); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = l
	}
}

// BenchmarkBundle: export and verify a bundle of 1,000 events from a log
// of 10k (the verify target is 50 ms).
func BenchmarkBundle(b *testing.B) {
	_, tr := benchTree(b, 10_000)
	pos := make([]uint64, 1000)
	for i := range pos {
		pos[i] = uint64(1 + i*10)
	}
	req := proofs.Request{Positions: pos, Key: testKey}
	b.Run("export/events=1000", func(b *testing.B) {
		for b.Loop() {
			if _, err := proofs.Export(bg, tr, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	bundle, err := proofs.Export(bg, tr, req)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify/events=1000", func(b *testing.B) {
		opts := evidence.Options{Key: testKey.Public().(ed25519.PublicKey)}
		for b.Loop() {
			if _, err := evidence.Verify(bundle, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUpdate: the cost per event of keeping the tree (leaf and subtree
// hashes written to the state space), rebuilding it over 10k events.
func BenchmarkUpdate(b *testing.B) {
	_, tr := benchTree(b, 10_000)
	for b.Loop() {
		if _, err := tr.Rebuild(bg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/event")
}
