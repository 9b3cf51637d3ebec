package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/ledger"
)

type KeyGranted struct {
	Lock, Holder string
}

type KeyRevoked struct {
	Reason string
}

func exampleLedger() *ledger.Ledger {
	reg := ledger.NewRegistry()
	if err := errors.Join(
		reg.Register("example.key_granted", 1, KeyGranted{}),
		reg.Register("example.key_revoked", 1, KeyRevoked{}),
	); err != nil {
		panic(err)
	}
	l, err := ledger.Open("", &ledger.Options{
		InMemory: true,
		Registry: reg,
		Clock:    func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	return l
}

func id(n byte) uuid.UUID { return uuid.UUID{15: n} }

func Example() {
	ctx := context.Background()
	l := exampleLedger()
	defer l.Close()

	res, err := l.Append(ctx, "key-1", ledger.ExpectNoStream,
		ledger.NewEvent{ID: id(1), Data: KeyGranted{Lock: "front", Holder: "alice"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("appended at position", res.Last, "version", res.Version())

	// A stale expected version is a typed conflict.
	_, err = l.Append(ctx, "key-1", ledger.ExpectNoStream, ledger.NewEvent{ID: id(2), Data: KeyRevoked{}})
	var conflict *ledger.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict:", conflict.Stream, "is at version", conflict.Actual)
	}

	if _, err := l.Append(ctx, "key-1", ledger.ExpectVersion(1),
		ledger.NewEvent{ID: id(3), Data: KeyRevoked{Reason: "lost phone"}}); err != nil {
		panic(err)
	}
	for ev, err := range l.ReadStream(ctx, "key-1", 0) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("v%d %s %+v\n", ev.Version, ev.Type, ev.Data)
	}
	// Output:
	// appended at position 1 version 1
	// conflict: key-1 is at version 1
	// v1 example.key_granted {Lock:front Holder:alice}
	// v2 example.key_revoked {Reason:lost phone}
}

// Retrying an append with the same event IDs returns the original result.
func ExampleLedger_Append_retry() {
	ctx := context.Background()
	l := exampleLedger()
	defer l.Close()
	ev := ledger.NewEvent{ID: id(7), Data: KeyGranted{Lock: "gate", Holder: "bob"}}
	first, _ := l.Append(ctx, "key-7", ledger.ExpectNoStream, ev)
	again, err := l.Append(ctx, "key-7", ledger.ExpectNoStream, ev) // e.g. after a timeout
	fmt.Println(first.Last, again.Last, err, l.DurablePosition())
	// Output: 1 1 <nil> 1
}

// A subscriber commits its own state and its checkpoint in one ApplyState,
// so after a restart it resumes exactly after the last event it applied.
func ExampleLedger_Subscribe() {
	ctx := context.Background()
	l := exampleLedger()
	defer l.Close()
	for i := range byte(3) {
		if _, err := l.Append(ctx, fmt.Sprint("key-", i), ledger.ExpectAny,
			ledger.NewEvent{ID: id(10 + i), Data: KeyGranted{Lock: "front", Holder: fmt.Sprint("user", i)}}); err != nil {
			panic(err)
		}
	}
	project := func(stopAfter int) {
		n := 0
		for ev, err := range l.Subscribe(ctx, "holders") {
			if err != nil {
				return
			}
			var b ledger.StateBatch
			b.Set([]byte("holder/"+ev.Data.(KeyGranted).Holder), []byte(ev.Stream))
			b.SetCheckpoint("holders", ev.Position)
			if err := l.ApplyState(ctx, &b); err != nil {
				panic(err)
			}
			fmt.Println("applied", ev.Position)
			if n++; n == stopAfter {
				break
			}
		}
	}
	project(2) // stops after two events, as if the process ended
	project(1) // resumes at position 3
	for kv, err := range l.ScanState(ctx, []byte("holder/")) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s=%s\n", kv.Key, kv.Value)
	}
	// Output:
	// applied 1
	// applied 2
	// applied 3
	// holder/user0=key-0
	// holder/user1=key-1
	// holder/user2=key-2
}

// Export the head digest; later, CheckDigest proves the log still begins with
// exactly that history.
func ExampleLedger_CheckDigest() {
	ctx := context.Background()
	l := exampleLedger()
	defer l.Close()
	if _, err := l.Append(ctx, "key-1", ledger.ExpectAny, ledger.NewEvent{ID: id(1), Data: KeyGranted{Lock: "front", Holder: "alice"}}); err != nil {
		panic(err)
	}
	saved, _ := l.Head(ctx)
	text := saved.String() // store it somewhere the ledger's operator cannot change

	if _, err := l.Append(ctx, "key-1", ledger.ExpectAny, ledger.NewEvent{ID: id(2), Data: KeyRevoked{Reason: "expired"}}); err != nil {
		panic(err)
	}
	d, _ := ledger.ParseDigest(text)
	fmt.Println("still a prefix:", l.CheckDigest(ctx, d) == nil)
	head, err := l.Verify(ctx)
	fmt.Println("verified up to", head.Position, err)
	// Output:
	// still a prefix: true
	// verified up to 2 <nil>
}

// Another backend reproduces the ledger's digests: it chains each event's
// canonical bytes, which name the position of its stream's previous event.
func ExampleAppendCanonical() {
	ctx := context.Background()
	l := exampleLedger()
	defer l.Close()
	if _, err := l.AppendMulti(ctx,
		ledger.StreamAppend{Stream: "key-1", Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{{Data: KeyGranted{Lock: "front", Holder: "alice"}}}},
		ledger.StreamAppend{Stream: "key-2", Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{{Data: KeyGranted{Lock: "back", Holder: "bob"}}}},
	); err != nil {
		panic(err)
	}
	if _, err := l.Append(ctx, "key-1", ledger.ExpectVersion(1), ledger.NewEvent{Data: KeyRevoked{Reason: "lost"}}); err != nil {
		panic(err)
	}

	var chain ledger.Digest // the empty log's
	previous := map[string]uint64{}
	for ev, err := range l.ReadAll(ctx, 0) {
		if err != nil {
			panic(err)
		}
		canonical, err := ledger.AppendCanonical(nil, &ev, previous[ev.Stream])
		if err != nil {
			panic(err)
		}
		chain = ledger.Digest{Position: ev.Position, Hash: ledger.ChainHash(chain.Hash, canonical)}
		previous[ev.Stream] = ev.Position
	}
	head, _ := l.Head(ctx)
	fmt.Println("same head:", chain == head)
	// Output: same head: true
}
