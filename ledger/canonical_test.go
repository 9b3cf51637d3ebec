package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/keyledger/keyledger/ledger"
)

// The chain of a ledger on disk, recomputed from its events with the
// exported pieces only (ReadAll, AppendCanonical, ChainHash), is its Head,
// after a reopen too: what another backend needs to give the same digests.
func TestChainRecomputedFromEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg := ledger.NewRegistry()
	if err := errors.Join(reg.Register("example.key_granted", 1, KeyGranted{}), reg.Register("example.key_revoked", 1, KeyRevoked{})); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		key := fmt.Sprintf("key-%d", i%5)
		var err error
		if i%3 == 0 {
			_, err = l.AppendMulti(ctx,
				ledger.StreamAppend{Stream: "lock-front", Expect: ledger.ExpectAny, Events: []ledger.NewEvent{{Data: KeyGranted{Lock: "front", Holder: key}}}},
				ledger.StreamAppend{Stream: "audit", Expect: ledger.ExpectAny},
				ledger.StreamAppend{Stream: key, Expect: ledger.ExpectAny, Events: []ledger.NewEvent{{Data: &KeyRevoked{Reason: fmt.Sprint(i)}}, {Data: KeyGranted{}}}})
		} else {
			_, err = l.Append(ctx, key, ledger.ExpectAny, ledger.NewEvent{Data: KeyGranted{Lock: "back", Holder: fmt.Sprint(i)}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, l *ledger.Ledger) {
		t.Helper()
		var chain ledger.Digest
		prev := map[string]uint64{}
		var buf []byte
		for ev, err := range l.ReadAll(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			if buf, err = ledger.AppendCanonical(buf[:0], &ev, prev[ev.Stream]); err != nil {
				t.Fatalf("%s: position %d: %v", when, ev.Position, err)
			}
			chain = ledger.Digest{Position: ev.Position, Hash: ledger.ChainHash(chain.Hash, buf)}
			prev[ev.Stream] = ev.Position
		}
		head, err := l.Head(ctx)
		if err != nil || head != chain || chain.Position != 1000 {
			t.Fatalf("%s: Head = %v, %v; recomputed %v (1000 events)", when, head, err, chain)
		}
		if d, err := l.Verify(ctx); err != nil || d != head {
			t.Fatalf("%s: Verify = %v, %v", when, d, err)
		}
	}
	check("open", l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = ledger.Open(dir, &ledger.Options{Registry: reg}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check("reopened", l)
}
