package pgledger

// Benchmarks of the ledger on PostgreSQL, each with the ledger on Pebble
// (on disk, synced) run beside it for the ratio in one run. The bare
// INSERT and raw SELECT baselines are in baseline_bench_test.go.
//
//	KEYLEDGER_PG_DSN=... go test ./ledger/pgledger -run '^$' -bench . -benchtime 2s -count 3

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
)

// pgBenchPayload is a typical small event, as in the ledger's benchmarks.
var pgBenchPayload = testNote{Text: strings.Repeat("k", 64)}

// pgBenchStore opens a store on a fresh database with room for 64 readers.
func pgBenchStore(b *testing.B) *Store {
	b.Helper()
	return openDB(b, pgtest.Database(b), testRegistry(b), &Options{MaxConns: 64})
}

func pebbleBenchLedger(b *testing.B) *ledger.Ledger {
	b.Helper()
	l, err := ledger.Open(b.TempDir(), &ledger.Options{Registry: testRegistry(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

type appender interface {
	Append(ctx context.Context, stream string, expect ledger.Expect, events ...ledger.NewEvent) (ledger.AppendResult, error)
}

// BenchmarkAppend1: one writer, one event per durable append.
func BenchmarkAppend1(b *testing.B) {
	run := func(b *testing.B, l appender, ids bool) {
		var lat []time.Duration
		b.ReportAllocs()
		for i := uint64(1); b.Loop(); i++ {
			e := ledger.NewEvent{Data: pgBenchPayload}
			if ids {
				e.ID = tid(i)
			}
			start := time.Now()
			if _, err := l.Append(bg, "s", ledger.ExpectAny, e); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("postgres", func(b *testing.B) { run(b, pgBenchStore(b), false) })
	b.Run("postgres-ids", func(b *testing.B) { run(b, pgBenchStore(b), true) })
	b.Run("pebble", func(b *testing.B) { run(b, pebbleBenchLedger(b), false) })
}

// BenchmarkAppend64: 64 concurrent writers on distinct streams, one event
// per append; ns/op is per append.
func BenchmarkAppend64(b *testing.B) {
	run := func(b *testing.B, l appender) {
		b.ReportAllocs()
		b.ResetTimer() // not the store's opening
		b.SetParallelism(64 / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			stream := "w-" + uuid.NewString()
			for pb.Next() {
				if _, err := l.Append(bg, stream, ledger.ExpectAny, ledger.NewEvent{Data: pgBenchPayload}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("postgres", func(b *testing.B) { run(b, pgBenchStore(b)) })
	b.Run("pebble", func(b *testing.B) { run(b, pebbleBenchLedger(b)) })
}

// BenchmarkAppend4x16: four stores on one database (four processes' worth
// of committers and connections), 16 concurrent writers each on distinct
// streams; ns/op is per append, to set beside BenchmarkAppend64.
func BenchmarkAppend4x16(b *testing.B) {
	dsn := pgtest.Database(b)
	reg := testRegistry(b)
	stores := make([]*Store, 4)
	for i := range stores {
		stores[i] = openDB(b, dsn, reg, &Options{MaxConns: 16})
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer() // not the stores' opening
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		w := next.Add(1)
		s, stream := stores[w%4], "w-"+uuid.NewString()
		for pb.Next() {
			if _, err := s.Append(bg, stream, ledger.ExpectAny, ledger.NewEvent{Data: pgBenchPayload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendBatch100: 100 events per durable append; compare events/s.
func BenchmarkAppendBatch100(b *testing.B) {
	evs := make([]ledger.NewEvent, 100)
	for i := range evs {
		evs[i] = ledger.NewEvent{Data: pgBenchPayload}
	}
	run := func(b *testing.B, l appender) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Append(bg, "s", ledger.ExpectAny, evs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("postgres", func(b *testing.B) { run(b, pgBenchStore(b)) })
	b.Run("pebble", func(b *testing.B) { run(b, pebbleBenchLedger(b)) })
}

// pgBenchReadAllEvents is how many events BenchmarkReadAll reads per op.
const pgBenchReadAllEvents = 10000

// BenchmarkReadAll: read and decode 10,000 events per op.
func BenchmarkReadAll(b *testing.B) {
	run := func(b *testing.B, l interface {
		appender
		ledger.Log
	}) {
		evs := make([]ledger.NewEvent, 1000)
		for i := range evs {
			evs[i] = ledger.NewEvent{Data: pgBenchPayload}
		}
		for range pgBenchReadAllEvents / len(evs) {
			if _, err := l.Append(bg, "s", ledger.ExpectAny, evs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for e, err := range l.ReadAll(bg, 0) {
				if err != nil || e.Data == nil {
					b.Fatal(err)
				}
				n++
			}
			if n != pgBenchReadAllEvents {
				b.Fatalf("read %d events", n)
			}
		}
		b.ReportMetric(float64(b.N*pgBenchReadAllEvents)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("postgres", func(b *testing.B) { run(b, pgBenchStore(b)) })
	b.Run("pebble", func(b *testing.B) { run(b, pebbleBenchLedger(b)) })
}
