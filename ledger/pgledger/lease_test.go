package pgledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/internal/pgtest"
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

// A released lease is free at once, for this Store and for another process
// (a rebuild releases and takes its lease again straight away: it must not
// wait a PollInterval each time). The session a released lease leaves
// behind serves the next lease, and the released holder can no longer write
// through it.
func TestLeaseReleasedIsFreeAtOnceAndFenced(t *testing.T) {
	reg := testRegistry(t)
	dsn := pgtest.Database(t)
	slow := &Options{PollInterval: 10 * time.Second}
	a := openDB(t, dsn, reg, slow)
	b := openDB(t, dsn, reg, slow)
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()

	for i, s := range []*Store{a, a, b, a, b, b} {
		start := time.Now()
		held, release, err := s.Lease(ctx, "models")
		if err != nil {
			t.Fatalf("lease %d: %v", i, err)
		}
		if d := time.Since(start); d >= 5*time.Second {
			t.Fatalf("lease %d took %v after the previous one was released: it waited for a poll", i, d)
		}
		var sb ledger.StateBatch
		sb.Set([]byte("row"), fmt.Appendf(nil, "by holder %d", i))
		sb.SetCheckpoint("models", uint64(i+1))
		if err := s.ApplyState(held, &sb); err != nil {
			t.Fatalf("holder %d's batch: %v", i, err)
		}
		release()
		if err := held.Err(); err == nil {
			t.Fatalf("holder %d's lease context did not end on release", i)
		}
		var locks int
		if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
			int64(uint32(classLease))).Scan(&locks); err != nil {
			t.Fatal(err)
		}
		if locks != 0 {
			t.Fatalf("the lease of holder %d is still held after its release returned", i)
		}
	}

	// The first holder's session now serves a new lease: a batch of the
	// released holder must not commit through it.
	old, releaseOld, err := a.Lease(ctx, "models")
	if err != nil {
		t.Fatal(err)
	}
	releaseOld()
	cur, releaseCur, err := a.Lease(ctx, "models")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseCur()
	if err := a.applyLeased(bg, "models", a.leaseOf(old, "models"), &pgx.Batch{}); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("a batch through a released lease: %v, want ErrUnavailable", err)
	}
	var late ledger.StateBatch
	late.Set([]byte("row"), []byte("late"))
	late.SetCheckpoint("models", 99)
	if err := a.ApplyState(context.WithoutCancel(old), &late); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("a batch under a released lease: %v, want ErrUnavailable", err)
	}
	if cp, err := b.Checkpoint(cur, "models"); err != nil || cp != 6 {
		t.Fatalf("checkpoint = %d, %v, want 6", cp, err)
	}
	if v, err := b.GetState(ctx, []byte("row")); err != nil || string(v) != "by holder 5" {
		t.Fatalf("row = %q, %v, want the last holder's", v, err)
	}

	// A spare session cut while it idles is replaced, not an error.
	b.lmu.Lock()
	spares := len(b.spare)
	b.lmu.Unlock()
	if spares == 0 {
		t.Fatal("no spare session after a lease ended")
	}
	var cut int
	if err := a.pool.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle' AND query LIKE '%pg_advisory_unlock%'").Scan(&cut); err != nil || cut == 0 {
		t.Fatalf("cut the idle spare sessions: %d cut, %v", cut, err)
	}
	_, releaseB, err := b.Lease(ctx, "other")
	if err != nil {
		t.Fatalf("lease on a store whose spare session was cut: %v", err)
	}
	releaseB()
}
