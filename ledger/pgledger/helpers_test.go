package pgledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
)

var bg = context.Background()

// dsns remembers the database of each store a test opened, so a second
// instance can open the same one.
var dsns sync.Map // *Store -> string

// openDB opens a store on dsn; the test closes it when it ends.
func openDB(t testing.TB, dsn string, reg *ledger.Registry, opts *Options) *Store {
	t.Helper()
	o := Options{Registry: reg, PollInterval: 100 * time.Millisecond}
	if opts != nil {
		o = *opts
		if o.Registry == nil {
			o.Registry = reg
		}
	}
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	s, err := Open(ctx, dsn, &o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	dsns.Store(s, dsn)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// open opens a store on a fresh database.
func open(t testing.TB, reg *ledger.Registry) *Store {
	t.Helper()
	return openDB(t, pgtest.Database(t), reg, nil)
}

// second opens another instance on s's database, as a second process would.
func second(t testing.TB, s *Store, reg *ledger.Registry) *Store {
	t.Helper()
	dsn, ok := dsns.Load(s)
	if !ok {
		t.Fatal("second instance of a store this test did not open")
	}
	return openDB(t, dsn.(string), reg, nil)
}

type testNote struct{ Text string }

type testCount struct{ N int }

func testRegistry(t testing.TB) *ledger.Registry {
	t.Helper()
	reg := ledger.NewRegistry()
	if err := errors.Join(reg.Register("test.note", 1, testNote{}), reg.Register("test.count", 1, testCount{})); err != nil {
		t.Fatal(err)
	}
	return reg
}

// tid is a caller-supplied event ID.
func tid(n uint64) uuid.UUID {
	var u uuid.UUID
	u[0] = 0xbb
	for i := range 8 {
		u[15-i] = byte(n >> (8 * i))
	}
	return u
}

func collect(t testing.TB, seq func(func(ledger.Event, error) bool)) []ledger.Event {
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
