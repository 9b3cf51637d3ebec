// Command quickstart demonstrates the ledger: open in a temporary directory,
// append, read, subscribe, verify and print the head digest.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/ledger"
)

// KeyGranted and KeyRevoked are demo event payloads.
type KeyGranted struct {
	Lock   string
	Holder string
}

type KeyRevoked struct {
	Reason string
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keyledger-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	reg := ledger.NewRegistry()
	if err := errors.Join(
		reg.Register("demo.key_granted", 1, KeyGranted{}),
		reg.Register("demo.key_revoked", 1, KeyRevoked{}),
	); err != nil {
		return err
	}
	// A fixed clock keeps the output (and so the head digest) the same on every run.
	clock := func() time.Time { return time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC) }
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg, Clock: clock})
	if err != nil {
		return err
	}
	defer l.Close()

	id := func(n byte) uuid.UUID { return uuid.UUID{15: n} } // fixed IDs: deterministic demo
	if _, err := l.Append(ctx, "key-1", ledger.ExpectNoStream,
		ledger.NewEvent{ID: id(1), Data: KeyGranted{Lock: "front-door", Holder: "alice"}}); err != nil {
		return err
	}
	res, err := l.Append(ctx, "key-1", ledger.ExpectVersion(1),
		ledger.NewEvent{ID: id(2), Data: KeyRevoked{Reason: "moved out"}})
	if err != nil {
		return err
	}
	fmt.Printf("appended key-1 up to version %d at position %d\n", res.Version(), res.Last)

	// A retry with the same event ID is answered from the log, not written twice.
	again, err := l.Append(ctx, "key-1", ledger.ExpectVersion(1),
		ledger.NewEvent{ID: id(2), Data: KeyRevoked{Reason: "moved out"}})
	if err != nil {
		return err
	}
	fmt.Printf("retry returned the original position %d\n", again.Last)

	// A stale expected version is a typed conflict.
	_, err = l.Append(ctx, "key-1", ledger.ExpectVersion(1), ledger.NewEvent{ID: id(3), Data: KeyRevoked{}})
	var conflict *ledger.ConflictError
	if errors.As(err, &conflict) {
		fmt.Printf("conflict: stream %s expected %v, actual version %d\n", conflict.Stream, conflict.Expected, conflict.Actual)
	}

	fmt.Println("stream key-1:")
	for ev, err := range l.ReadStream(ctx, "key-1", 0) {
		if err != nil {
			return err
		}
		fmt.Printf("  v%d %s %+v\n", ev.Version, ev.Type, ev.Data)
	}

	// A subscriber catches up from its checkpoint and then follows live appends.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan ledger.Event)
	go func() {
		defer close(seen)
		for ev, err := range l.Subscribe(subCtx, "demo") {
			if err != nil {
				return
			}
			seen <- ev
		}
	}()
	for range 2 {
		ev := <-seen
		fmt.Printf("subscriber caught up: position %d %s\n", ev.Position, ev.Type)
	}
	if _, err := l.Append(ctx, "key-2", ledger.ExpectNoStream,
		ledger.NewEvent{ID: id(4), Data: KeyGranted{Lock: "front-door", Holder: "bob"}}); err != nil {
		return err
	}
	ev := <-seen
	fmt.Printf("subscriber live: position %d %s %+v\n", ev.Position, ev.Type, ev.Data)
	var cp ledger.StateBatch
	cp.SetCheckpoint("demo", ev.Position)
	if err := l.ApplyState(ctx, &cp); err != nil {
		return err
	}
	cancel()
	for range seen {
	}

	head, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("verified %d events; head digest %s\n", head.Position, head)
	return l.CheckDigest(ctx, head)
}
