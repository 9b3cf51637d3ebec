package pgledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

// The same events, with the same IDs and times, give the same head digest
// on PostgreSQL as on Pebble: a digest exported from one checks on the
// other, and each verifies its own chain.
func TestDigestMatchesPebble(t *testing.T) {
	reg := testRegistry(t)
	pg := open(t, reg)
	pb, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pb.Close() })

	at := time.Date(2026, 12, 1, 8, 0, 0, 987654321, time.UTC)
	n := uint64(0)
	next := func(data any) ledger.NewEvent {
		n++
		return ledger.NewEvent{ID: tid(n), Data: data, Time: at.Add(time.Duration(n) * time.Millisecond)}
	}
	var digests []ledger.Digest
	for i := range 40 {
		stream := fmt.Sprintf("key-%d", i%7)
		var appends []ledger.StreamAppend
		switch i % 4 {
		case 0:
			appends = []ledger.StreamAppend{{Stream: stream, Expect: ledger.ExpectAny, Events: []ledger.NewEvent{next(testNote{Text: fmt.Sprint("note ", i)})}}}
		case 1:
			appends = []ledger.StreamAppend{{Stream: stream, Expect: ledger.ExpectAny, Events: []ledger.NewEvent{next(testCount{N: i}), next(&testNote{Text: "grüße"})}}}
		case 2:
			appends = []ledger.StreamAppend{
				{Stream: "lock/front", Expect: ledger.ExpectAny, Events: []ledger.NewEvent{next(testCount{N: -i})}},
				{Stream: "key-0", Expect: ledger.ExpectExists},
				{Stream: stream + "/x", Expect: ledger.ExpectAny, Events: []ledger.NewEvent{next(testNote{})}},
			}
		case 3:
			appends = []ledger.StreamAppend{{Stream: stream, Expect: ledger.ExpectAny, Events: []ledger.NewEvent{next(testNote{Text: string(make([]byte, 3000))})}}}
		}
		r1, err1 := pg.AppendMulti(bg, appends...)
		r2, err2 := pb.AppendMulti(bg, appends...)
		if err1 != nil || err2 != nil {
			t.Fatalf("append %d: PostgreSQL %v, Pebble %v", i, err1, err2)
		}
		if fmt.Sprint(r1) != fmt.Sprint(r2) {
			t.Fatalf("append %d: PostgreSQL %+v, Pebble %+v", i, r1, r2)
		}
		d1, err1 := pg.Head(bg)
		d2, err2 := pb.Head(bg)
		if err1 != nil || err2 != nil || d1 != d2 {
			t.Fatalf("after append %d: PostgreSQL head %v (%v), Pebble head %v (%v)", i, d1, err1, d2, err2)
		}
		digests = append(digests, d1)
	}
	if d, err := pg.Verify(bg); err != nil || d != digests[len(digests)-1] {
		t.Fatalf("Verify on PostgreSQL = %v, %v; want %v", d, err, digests[len(digests)-1])
	}
	for _, d := range []ledger.Digest{digests[0], digests[17], digests[len(digests)-1]} {
		if err := pg.CheckDigest(bg, d); err != nil {
			t.Errorf("PostgreSQL CheckDigest(%v) of Pebble's digest: %v", d, err)
		}
	}
	// Reads give the same events on both.
	a, b := collect(t, pg.ReadAll(bg, 0)), collect(t, pb.ReadAll(bg, 0))
	if len(a) != len(b) {
		t.Fatalf("ReadAll: %d events on PostgreSQL, %d on Pebble", len(a), len(b))
	}
	for i := range a {
		if fmt.Sprintf("%+v", a[i]) != fmt.Sprintf("%+v", b[i]) {
			t.Fatalf("event %d:\nPostgreSQL %+v\nPebble     %+v", i, a[i], b[i])
		}
	}
}
