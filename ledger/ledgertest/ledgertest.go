// Package ledgertest is the conformance suite for ledger storage backends, in
// the spirit of testing/fstest: a backend passes Run to be used in place of
// the ledger on Pebble. Each storage role has its own part (RunLog, RunFeed,
// RunState, RunVerifier), so a backend of only some roles can be checked.
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, ledgertest.Backend[*mybackend.Store]{
//			Open: func(t *testing.T, reg *ledger.Registry) *mybackend.Store {
//				s, err := mybackend.Open(newDatabase(t), reg)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			},
//			OpenSecond: func(t *testing.T, first *mybackend.Store, reg *ledger.Registry) *mybackend.Store {
//				s, err := mybackend.Open(first.Database(), reg)
//				...
//			},
//		})
//	}
//
// The suite checks what the roles promise to code above them, including that
// the hash chain is the ledger's (AppendCanonical, ChainHash): the same
// events give the same Head on every backend.
package ledgertest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/ledger"
)

// Backend opens stores of the backend under test; S is its store type.
type Backend[S io.Closer] struct {
	// Open returns a new, empty store that uses reg. The suite closes it
	// when the test ends.
	Open func(t *testing.T, reg *ledger.Registry) S
	// OpenSecond returns another instance on the storage of first, as a
	// second process would open it (its own connections and caches), using
	// reg. The suite closes it. Nil skips the tests of two instances; a
	// ledger on Pebble has none, since one process owns its directory.
	OpenSecond func(t *testing.T, first S, reg *ledger.Registry) S
}

// Run runs every role's part of the suite. Each subtest opens its own store.
func Run[S interface {
	ledger.Log
	ledger.Feed
	ledger.StateStore
	ledger.Verifier
	io.Closer
}](t *testing.T, b Backend[S]) {
	t.Run("Log", func(t *testing.T) { RunLog(t, b) })
	t.Run("Feed", func(t *testing.T) { RunFeed(t, b) })
	t.Run("State", func(t *testing.T) { RunState(t, b) })
	t.Run("Verifier", func(t *testing.T) { RunVerifier(t, b) })
}

// RunLog checks the Log role: appends, expected versions, conditions,
// idempotent retries, reads and concurrent writers.
func RunLog[S interface {
	ledger.Log
	io.Closer
}](t *testing.T, b Backend[S]) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s ledger.Log)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"ExpectedVersion", testExpectedVersion},
		{"AppendMultiAtomic", testAppendMultiAtomic},
		{"ConditionOnly", testConditionOnly},
		{"Idempotency", testIdempotency},
		{"RetryAfterUnknownOutcome", testRetryUnknownOutcome},
		{"InvalidArguments", testInvalid},
		{"ReadFrom", testReadFrom},
		{"PointReads", testPointReads},
		{"ConcurrentAppends", func(t *testing.T, s ledger.Log) { testConcurrent(t, s, s) }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, b)) })
	}
	t.Run("Closed", func(t *testing.T) { s := open(t, b); testLogClosed(t, s, s) })
	t.Run("TwoInstances", func(t *testing.T) {
		s, s2 := openTwo(t, b)
		testLogTwo(t, s, s2)
	})
}

// RunFeed checks the Feed role (with the Log that feeds it and the
// StateStore that keeps checkpoints): delivery in order of durable events
// only, resumption after a checkpoint, waiting for more.
func RunFeed[S interface {
	ledger.Log
	ledger.Feed
	ledger.StateStore
	io.Closer
}](t *testing.T, b Backend[S]) {
	t.Run("Durable", func(t *testing.T) { testDurable(t, open(t, b)) })
	t.Run("Subscribe", func(t *testing.T) { testSubscribe(t, open(t, b)) })
	t.Run("FollowRaw", func(t *testing.T) { testFollowRaw(t, open(t, b)) })
	t.Run("Closed", func(t *testing.T) { s := open(t, b); testFeedClosed(t, s, s) })
	t.Run("TwoInstances", func(t *testing.T) {
		s, s2 := openTwo(t, b)
		testFeedTwo(t, s, s2)
	})
}

// RunState checks the StateStore role: atomic batches, reads, scans,
// checkpoints and compaction.
func RunState[S interface {
	ledger.StateStore
	io.Closer
}](t *testing.T, b Backend[S]) {
	t.Run("State", func(t *testing.T) { testState(t, open(t, b)) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, open(t, b)) })
	t.Run("Closed", func(t *testing.T) { s := open(t, b); testStateClosed(t, s, s) })
	t.Run("TwoInstances", func(t *testing.T) {
		s, s2 := openTwo(t, b)
		testStateTwo(t, s, s2)
	})
}

// RunVerifier checks the Verifier role (over the Log it verifies): digests,
// the ledger's hash chain, verification after concurrent appends.
func RunVerifier[S interface {
	ledger.Log
	ledger.Verifier
	io.Closer
}](t *testing.T, b Backend[S]) {
	t.Run("Digest", func(t *testing.T) { testDigest(t, open(t, b)) })
	t.Run("SameChain", func(t *testing.T) { testSameChain(t, open(t, b)) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testVerifyConcurrent(t, open(t, b)) })
	t.Run("Closed", func(t *testing.T) { s := open(t, b); testVerifierClosed(t, s, s) })
	t.Run("TwoInstances", func(t *testing.T) {
		s, s2 := openTwo(t, b)
		testVerifierTwo(t, s, s2)
	})
}

// open opens a new store with the suite's registry and closes it at cleanup.
func open[S io.Closer](t *testing.T, b Backend[S]) S {
	t.Helper()
	s := b.Open(t, newRegistry(t))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openTwo opens a store and a second instance on its storage, or skips.
func openTwo[S io.Closer](t *testing.T, b Backend[S]) (S, S) {
	t.Helper()
	if b.OpenSecond == nil {
		t.Skip("the backend has no second instance on one storage (Backend.OpenSecond is nil)")
	}
	s := open(t, b)
	s2 := b.OpenSecond(t, s, newRegistry(t))
	t.Cleanup(func() { _ = s2.Close() })
	return s, s2
}

// Opened and Noted are the event types the suite registers.
type Opened struct{ N int }

// Noted is the suite's second event type.
type Noted struct{ Text string }

// Unregistered is a type the suite never registers.
type Unregistered struct{ X int }

func newRegistry(t *testing.T) *ledger.Registry {
	t.Helper()
	reg := ledger.NewRegistry()
	if err := errors.Join(reg.Register("ledgertest.opened", 1, Opened{}), reg.Register("ledgertest.noted", 1, Noted{})); err != nil {
		t.Fatal(err)
	}
	return reg
}

var ctx = context.Background()

func id(n int) uuid.UUID {
	var u uuid.UUID
	u[0] = 0xaa
	u[13], u[14], u[15] = byte(n>>16), byte(n>>8), byte(n)
	return u
}

func ev(n int) ledger.NewEvent { return ledger.NewEvent{ID: id(n), Data: Opened{N: n}} }

func evs(from, to int) []ledger.NewEvent {
	var out []ledger.NewEvent
	for n := from; n <= to; n++ {
		out = append(out, ev(n))
	}
	return out
}

func mustAppend(t *testing.T, s ledger.Log, stream string, e ledger.Expect, evs ...ledger.NewEvent) ledger.AppendResult {
	t.Helper()
	r, err := s.Append(ctx, stream, e, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return r
}

func collect(t *testing.T, seq func(func(ledger.Event, error) bool)) []ledger.Event {
	t.Helper()
	var out []ledger.Event
	for e, err := range seq {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// logLen is the number of events ReadAll yields.
func logLen(t *testing.T, s ledger.Log) int {
	t.Helper()
	return len(collect(t, s.ReadAll(ctx, 0)))
}

func seqErr[T any](seq func(func(T, error) bool)) error {
	for _, err := range seq {
		return err
	}
	return nil
}

// closedErrs checks that Close, then every call, returns ErrClosed.
func closedErrs(t *testing.T, c io.Closer, calls map[string]func() error) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls["Close"] = c.Close
	for name, call := range calls {
		if err := call(); !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
