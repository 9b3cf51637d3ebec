package commands_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// BenchmarkAuditIngest: IngestAudit of full batches (16 records of granted
// offline unlocks of one key) on a durable on-disk ledger — verify the
// chain, append the records and the key's use count in one AppendMulti,
// wait for the projections (history rows, status row) — against the
// ledger's own durable Append of the same number of AuditRecorded events in
// the same run; the -mem pair does the same on Pebble over vfs.NewMem (no
// fsync: the CPU cost). Figures are records/s; see BENCHMARKS.md (repository root).
//
//	go test ./commands -run '^$' -bench AuditIngest -benchtime 2000x -count 3
func BenchmarkAuditIngest(b *testing.B) {
	for _, disk := range []bool{true, false} {
		store := diskEnv
		suffix := ""
		if !disk { // Pebble on vfs.NewMem: no fsync, the CPU cost alone
			store, suffix = func(b *testing.B) *env { return newEnv(b) }, "-mem"
		}
		benchAuditIngest(b, store, suffix)
	}
}

func benchAuditIngest(b *testing.B, store func(*testing.B) *env, suffix string) {
	b.Run("ingest"+suffix, func(b *testing.B) {
		e := newLockEnvOn(b, store(b))
		ann := e.shareTo("k1", "ann", 1, settings("k1"))
		batches := make([][]byte, 0, b.N)
		for range b.N {
			for range lockproto.MaxAuditBatch {
				if d := e.visit(e.lock, ann, 0); !d.Granted {
					b.Fatalf("refused: %v", d.Reason)
				}
			}
			batches = append(batches, e.lock.DrainAudit())
		}
		b.ResetTimer()
		start := time.Now()
		for _, batch := range batches {
			res, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: batch})
			if err != nil || res.New != lockproto.MaxAuditBatch {
				b.Fatalf("%+v %v", res, err)
			}
		}
		b.ReportMetric(float64(b.N*lockproto.MaxAuditBatch)/time.Since(start).Seconds(), "records/s")
	})
	b.Run("ledger-append"+suffix, func(b *testing.B) {
		e := store(b)
		evs := make([]ledger.NewEvent, lockproto.MaxAuditBatch)
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			for j := range evs {
				evs[j] = ledger.NewEvent{Data: events.AuditRecorded{Lock: "front", Key: "k1", By: "ann", Seq: uint32(i*len(evs) + j + 1),
					LockTime: e.now, Kind: lockproto.AuditUnlock, Granted: true, Door: access.Main}}
			}
			if _, err := e.l.Append(bg, "lockaudit-front", ledger.ExpectAny, evs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/time.Since(start).Seconds(), "records/s")
	})
}
