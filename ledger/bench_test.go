package ledger

// Benchmarks with raw-Pebble baselines in the same file, so each ratio in
// BENCHMARKS.md (repository root) comes from one run. On-disk benchmarks use b.TempDir().
//
//	go test ./ledger -run '^$' -bench . -benchtime 1s -count 3
//	KEYLEDGER_BENCH_1M=1 go test ./ledger -run '^$' -bench Open -benchtime 20x

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// benchPayload is a typical small event.
var benchPayload = testNote{Text: strings.Repeat("k", 64)}

func benchLedger(b *testing.B) *Ledger {
	b.Helper()
	l, err := Open(b.TempDir(), &Options{Registry: testRegistry(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

// rawDB opens Pebble with the same settings the ledger uses.
func rawDB(b *testing.B) *pebble.DB {
	b.Helper()
	db, err := pebble.Open(b.TempDir(), pebbleOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// rawValues returns the bytes the ledger stores for benchPayload events,
// 4096 of them with the per-event fields (ID, time, chain hash) varied, so the
// baseline writes what the ledger writes and Pebble's compression sees the
// same redundancy. Cycling through them keeps their cost out of the loop.
func rawValues(b *testing.B) [][]byte {
	b.Helper()
	l, err := Open("", &Options{InMemory: true, Registry: testRegistry(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(bg, "writer-1", ExpectAny, NewEvent{Data: benchPayload}); err != nil {
		b.Fatal(err)
	}
	tmpl, closer, err := l.db.Get(logKey(1))
	if err != nil {
		b.Fatal(err)
	}
	defer closer.Close()
	vs := make([][]byte, 4096)
	for i := range vs {
		v := bytes.Clone(tmpl)
		_, _ = rand.Read(v[17:41])               // ID and time
		_, _ = rand.Read(v[len(v)-sha256.Size:]) // chain hash
		vs[i] = v
	}
	return vs
}

// BenchmarkAppend1: one writer, one event per durable append.
func BenchmarkAppend1(b *testing.B) {
	b.Run("raw-synced-set", func(b *testing.B) {
		db, vs := rawDB(b), rawValues(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := db.Set(logKey(uint64(i)), vs[i%len(vs)], pebble.Sync); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ledger", func(b *testing.B) {
		l := benchLedger(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Append(bg, "s", ExpectAny, NewEvent{Data: benchPayload}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ledger-ids", func(b *testing.B) { // caller-supplied IDs: each append checks the ID index
		l := benchLedger(b)
		b.ReportAllocs()
		for i := uint64(1); b.Loop(); i++ {
			if _, err := l.Append(bg, "s", ExpectAny, NewEvent{ID: tid(i), Data: benchPayload}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppend64: 64 concurrent writers on distinct streams.
func BenchmarkAppend64(b *testing.B) {
	b.Run("raw-synced-set", func(b *testing.B) {
		db, vs := rawDB(b), rawValues(b)
		var n atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(64 / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := n.Add(1)
				if err := db.Set(logKey(k), vs[k%uint64(len(vs))], pebble.Sync); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, ids := range []bool{false, true} {
		name := "ledger"
		if ids {
			name = "ledger-ids"
		}
		b.Run(name, func(b *testing.B) {
			l := benchLedger(b)
			var w, n atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(64 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				stream := fmt.Sprintf("writer-%d", w.Add(1))
				for pb.Next() {
					ev := NewEvent{Data: benchPayload}
					if ids {
						ev.ID = tid(n.Add(1))
					}
					if _, err := l.Append(bg, stream, ExpectAny, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAppend100: 100 events per durable append; compare events/s.
func BenchmarkAppend100(b *testing.B) {
	b.Run("raw-synced-batch", func(b *testing.B) {
		db, vs := rawDB(b), rawValues(b)
		b.ReportAllocs()
		k := uint64(0)
		for b.Loop() {
			batch := db.NewBatch()
			for range 100 {
				k++
				_ = batch.Set(logKey(k), vs[k%uint64(len(vs))], nil)
			}
			if err := batch.Commit(pebble.Sync); err != nil {
				b.Fatal(err)
			}
			_ = batch.Close()
		}
		b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	})
	for _, ids := range []bool{false, true} {
		name := "ledger"
		if ids {
			name = "ledger-ids"
		}
		b.Run(name, func(b *testing.B) {
			l := benchLedger(b)
			evs := make([]NewEvent, 100)
			n := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				for i := range evs {
					evs[i] = NewEvent{Data: benchPayload}
					if ids {
						n++
						evs[i].ID = tid(n)
					}
				}
				if _, err := l.Append(bg, "s", ExpectAny, evs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReadAll: read and decode 10,000 events per op.
func BenchmarkReadAll(b *testing.B) {
	const n = 10000
	l := benchLedger(b)
	evs := make([]NewEvent, 1000)
	for i := range evs {
		evs[i] = NewEvent{Data: benchPayload}
	}
	for range n / len(evs) {
		if _, err := l.Append(bg, "s", ExpectAny, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("raw-iterate-decode", func(b *testing.B) {
		// The same stored records, iterated directly; only the payload is decoded.
		b.ReportAllocs()
		for b.Loop() {
			it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
			if err != nil {
				b.Fatal(err)
			}
			count := 0
			for ok := it.First(); ok; ok = it.Next() {
				v := it.Value()
				payload := v[len(v)-40-len(rawPayload) : len(v)-40] // before back-pointer and hash
				var p testNote
				if err := msgpack.Unmarshal(payload, &p); err != nil {
					b.Fatal(err)
				}
				count++
			}
			_ = it.Close()
			if count != n {
				b.Fatalf("read %d", count)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("ledger", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			count := 0
			for e, err := range l.ReadAll(bg, 0) {
				if err != nil || e.Data == nil {
					b.Fatal(err)
				}
				count++
			}
			if count != n {
				b.Fatalf("read %d", count)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
	})
}

var rawPayload, _ = msgpack.Marshal(benchPayload)

// BenchmarkOpen: Open+Close of a ledger holding 10k events (and 1M with
// KEYLEDGER_BENCH_1M=1). Time and allocations must not grow with the log.
func BenchmarkOpen(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("KEYLEDGER_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			reg := testRegistry(b)
			l, err := Open(dir, &Options{Registry: reg})
			if err != nil {
				b.Fatal(err)
			}
			evs := make([]NewEvent, 1000)
			for i := range evs {
				evs[i] = NewEvent{Data: benchPayload}
			}
			for i := range n / len(evs) {
				if _, err := l.Append(bg, fmt.Sprintf("s%d", i%100), ExpectAny, evs...); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			// The baseline opens the same directory with raw Pebble: the gap is
			// what the ledger adds (format marker, last record, stored heads).
			// "ledger-after-crash" opens it as a crash leaves it at worst: the
			// heads stored headsEvery-1 positions before the end, so Open
			// replays that many records.
			for _, name := range []string{"raw-pebble", "ledger", "ledger-after-crash"} {
				raw := name == "raw-pebble"
				if name == "ledger-after-crash" {
					db, err := pebble.Open(dir, pebbleOptions())
					if err != nil {
						b.Fatal(err)
					}
					if err := db.Set(headsKey, putU64(uint64(n-headsEvery+1)), pebble.Sync); err != nil {
						b.Fatal(err)
					}
					if err := db.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					var heap uint64
					var ms runtime.MemStats
					for b.Loop() {
						b.StopTimer()
						runtime.GC()
						runtime.ReadMemStats(&ms)
						before := ms.HeapAlloc
						b.StartTimer()
						var closer func() error
						if raw {
							db, err := pebble.Open(dir, pebbleOptions())
							if err != nil {
								b.Fatal(err)
							}
							closer = db.Close
						} else {
							l, err := Open(dir, &Options{Registry: reg})
							if err != nil {
								b.Fatal(err)
							}
							if l.DurablePosition() != uint64(n) {
								b.Fatalf("opened at %d", l.DurablePosition())
							}
							if replayed := len(l.dirty) > 0; replayed != (name == "ledger-after-crash") {
								b.Fatalf("%s: %d heads replayed", name, len(l.dirty))
							}
							l.readOnly = true // keep Close from storing the heads: every Open replays
							closer = l.Close
						}
						b.StopTimer()
						runtime.ReadMemStats(&ms)
						heap = max(heap, ms.HeapAlloc-min(ms.HeapAlloc, before))
						_ = closer()
						b.StartTimer()
					}
					b.ReportMetric(float64(heap), "heap-bytes")
				})
			}
		})
	}
}

// BenchmarkReadStream: read a whole stream of 20 events (a typical key's
// history) and of 2000 events, each interleaved with other streams' events.
// The baseline gets the same records from raw Pebble by their known
// positions and decodes their payloads: the gap is finding them (the walk
// back from the head) and building Events.
func BenchmarkReadStream(b *testing.B) {
	for _, n := range []int{20, 2000} {
		l := benchLedger(b)
		var positions [][]byte
		for i := range n {
			res, err := l.Append(bg, "key", ExpectAny, NewEvent{Data: benchPayload})
			if err != nil {
				b.Fatal(err)
			}
			positions = append(positions, logKey(res.First))
			if _, err := l.Append(bg, fmt.Sprintf("other-%d", i%7), ExpectAny, NewEvent{Data: benchPayload}, NewEvent{Data: benchPayload}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("events=%d/raw-get-decode", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, k := range positions {
					v, closer, err := l.db.Get(k)
					if err != nil {
						b.Fatal(err)
					}
					var p testNote
					if err := msgpack.Unmarshal(v[len(v)-40-len(rawPayload):len(v)-40], &p); err != nil {
						b.Fatal(err)
					}
					_ = closer.Close()
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run(fmt.Sprintf("events=%d/ledger", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				count := 0
				for _, err := range l.ReadStream(bg, "key", 0) {
					if err != nil {
						b.Fatal(err)
					}
					count++
				}
				if count != n {
					b.Fatalf("read %d", count)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
