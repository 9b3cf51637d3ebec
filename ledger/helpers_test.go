package ledger

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/google/uuid"
)

// Test event types used by the internal tests.
type testOpened struct{ N int }

type testNote struct{ Text string }

func testRegistry(t interface {
	Helper()
	Fatal(...any)
}) *Registry {
	t.Helper()
	reg := NewRegistry()
	if err := errors.Join(reg.Register("test.opened", 1, testOpened{}), reg.Register("test.note", 1, testNote{})); err != nil {
		t.Fatal(err)
	}
	return reg
}

func openMem(t testing.TB) *Ledger {
	t.Helper()
	l, err := Open("", &Options{InMemory: true, Registry: testRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func tid(n uint64) uuid.UUID {
	var u uuid.UUID
	u[0] = 0xbb
	for i := range 8 {
		u[15-i] = byte(n >> (8 * i))
	}
	return u
}

func tev(n uint64) NewEvent { return NewEvent{ID: tid(n), Data: testOpened{N: int(n)}} }

var bg = context.Background()

func readAll(t testing.TB, l *Ledger) []Event {
	t.Helper()
	var out []Event
	for e, err := range l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func runtimeYield() { runtime.Gosched() }
