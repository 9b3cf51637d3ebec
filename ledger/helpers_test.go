package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"github.com/cockroachdb/pebble/v2/vfs"
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

// openFS opens the ledger "db" on fs and closes it when the test ends.
func openFS(t testing.TB, fs vfs.FS, reg *Registry) *Ledger {
	t.Helper()
	l, err := Open("db", &Options{FS: fs, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
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

// appendRecordBody appends a record's canonical bytes (everything but the
// hash) as the ledger writes them: tests build and rewrite records with it.
func appendRecordBody(dst []byte, r *record) []byte {
	f := r.format
	if f == 0 {
		f = recordFormat
	}
	dst = append(dst, f)
	dst = binary.BigEndian.AppendUint64(dst, r.pos)
	dst = binary.BigEndian.AppendUint64(dst, r.version)
	dst = append(dst, r.id[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.time))
	dst = binary.BigEndian.AppendUint16(dst, r.schema)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.stream)))
	dst = append(dst, r.stream...)
	dst = append(dst, byte(len(r.typ)))
	dst = append(dst, r.typ...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.data)))
	dst = append(dst, r.data...)
	if f == recordFormat {
		dst = binary.BigEndian.AppendUint64(dst, r.prev)
	}
	return dst
}
