package pgledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// One process at a time holds a lease; a second waits for it. When the
// holder's connection is cut, its lease ends, the waiter takes over, and
// no state batch of the old holder for that checkpoint commits afterwards:
// two processes never both apply a subscriber's events.
func TestLeaseExcludesAndFencesTheOldHolder(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()

	heldA, releaseA, err := a.Lease(ctx, "models")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseA()
	var sb ledger.StateBatch
	sb.Set([]byte("row"), []byte("by a"))
	sb.SetCheckpoint("models", 5)
	if err := a.ApplyState(heldA, &sb); err != nil {
		t.Fatalf("the holder's batch: %v", err)
	}

	got := make(chan error, 1)
	var heldB context.Context
	var releaseB func()
	go func() {
		var err error
		heldB, releaseB, err = b.Lease(ctx, "models")
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second Store took a held lease (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}

	// Cut the holder's lease session, as a network failure would.
	var pid int32
	if err := a.pool.QueryRow(ctx, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
		int64(uint32(classLease))).Scan(&pid); err != nil {
		t.Fatalf("find the lease's session: %v", err)
	}
	if _, err := a.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the waiter did not take the lease over: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter did not take the lease over within 30 s")
	}
	defer releaseB()
	select {
	case <-heldA.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the old holder's lease context did not end after its session was cut")
	}

	var late ledger.StateBatch
	late.Set([]byte("row"), []byte("late write by a"))
	late.SetCheckpoint("models", 9)
	if err := a.ApplyState(heldA, &late); err == nil {
		t.Fatal("the old holder's batch under its lost lease committed")
	}
	if err := a.applyLeased(bg, "models", a.leaseOf(heldA, "models"), &pgx.Batch{}); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("a batch sent through the lost lease's session: %v, want ErrUnavailable", err)
	}
	if v, err := b.GetState(ctx, []byte("row")); err != nil || string(v) != "by a" {
		t.Fatalf("row = %q, %v: the old holder's late batch committed", v, err)
	}
	if cp, err := b.Checkpoint(heldB, "models"); err != nil || cp != 5 {
		t.Fatalf("checkpoint = %d, %v, want 5", cp, err)
	}
}
