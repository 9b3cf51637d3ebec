package proofs_test

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
)

// Export two events with proofs under a signed head; a third party checks
// the bundle with the log's public key only.
func Example() {
	ctx := context.Background()
	reg := ledger.NewRegistry()
	_ = reg.Register("test.noted", 1, noted{})
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	for i := range 5 {
		if _, err := l.Append(ctx, "door-7", ledger.ExpectAny, ledger.NewEvent{Data: noted{N: i}}); err != nil {
			panic(err)
		}
	}

	tree := proofs.New(l, nil) // in a server: go tree.Run(ctx)
	if _, err := tree.Update(ctx); err != nil {
		panic(err)
	}
	logKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // a dedicated log key
	bundle, err := proofs.Export(ctx, tree, proofs.Request{Positions: []uint64{2, 4}, Key: logKey})
	if err != nil {
		panic(err)
	}

	rep, err := evidence.Verify(bundle, evidence.Options{Key: logKey.Public().(ed25519.PublicKey)})
	fmt.Println(rep.Events, "events proved in the log of size", rep.Head.Size, err)
	bundle.Events[0].Record[20] ^= 1 // change the event's ID
	_, err = evidence.Verify(bundle, evidence.Options{Key: logKey.Public().(ed25519.PublicKey)})
	fmt.Println(err != nil)
	// Output:
	// 2 events proved in the log of size 5 <nil>
	// true
}
