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
// fsync: the CPU cost). Figures are records/s and CPU time per batch of 16
// (cpu-ns/op, of the process: projections and Pebble included; for ingest,
// of the uploads only); see BENCHMARKS.md (repository root).
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
		// The lock keeps at most AuditRingSize unacknowledged records and
		// refuses grants beyond them, so the records are made (untimed) in
		// rounds of half the ring, uploaded (timed), and the last upload's
		// acknowledgement goes back to the lock (untimed), as a phone
		// carries it in a deployment.
		const perRound = lockproto.AuditRingSize / 2 / lockproto.MaxAuditBatch
		batches := make([][]byte, 0, perRound)
		var cpu time.Duration // of the uploads only
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; {
			b.StopTimer()
			batches = batches[:0]
			for range min(perRound, b.N-done) {
				for range lockproto.MaxAuditBatch {
					if d := e.visit(e.lock, ann, 0); !d.Granted {
						b.Fatalf("refused: %v", d.Reason)
					}
				}
				batches = append(batches, e.lock.DrainAudit())
			}
			b.StartTimer()
			start := cpuTime()
			var ack []byte
			for _, batch := range batches {
				res, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: batch})
				if err != nil || res.New != lockproto.MaxAuditBatch || res.Ack == nil {
					b.Fatalf("%+v %v", res, err)
				}
				ack = res.Ack
			}
			cpu += cpuTime() - start
			b.StopTimer()
			if err := e.lock.HandleAuditAck(ack); err != nil {
				b.Fatalf("acknowledgement refused: %v", err)
			}
			b.StartTimer()
			done += len(batches)
		}
		b.ReportMetric(float64(b.N*lockproto.MaxAuditBatch)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("ledger-append"+suffix, func(b *testing.B) {
		e := store(b)
		evs := make([]ledger.NewEvent, lockproto.MaxAuditBatch)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := range b.N {
			for j := range evs {
				evs[j] = ledger.NewEvent{Data: events.AuditRecorded{Lock: "front", Key: "k1", By: "ann", Seq: uint32(i*len(evs) + j + 1),
					LockTime: e.now, Kind: lockproto.AuditUnlock, Granted: true, Door: access.Main}}
			}
			if _, err := e.l.Append(bg, "lockaudit-front", ledger.ExpectAny, evs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "records/s")
		reportCPU(b, cpu)
	})
}
