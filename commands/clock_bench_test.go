package commands_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/lockproto"
)

// BenchmarkAuditIngestClock: IngestAudit of 16-record batches on Pebble
// over vfs.NewMem, with the drain's clock reading as the 16th record (15
// unlocks, uploaded with ReadAt) against 16 unlocks and no reading. The
// target is a ratio of at most 1.1 in one run (-count interleaves them):
//
//	go test ./commands -run '^$' -bench AuditIngestClock -benchtime 1000x -count 3
func BenchmarkAuditIngestClock(b *testing.B) {
	for _, reading := range []bool{true, false} {
		b.Run(fmt.Sprintf("reading=%v", reading), func(b *testing.B) {
			e := newLockEnvOn(b, newEnv(b))
			ann := e.shareTo("k1", "ann", 1, settings("k1"))
			unlocks := lockproto.MaxAuditBatch
			if reading {
				unlocks-- // the drain adds the reading: it fits the batch
			}
			const perRound = lockproto.AuditRingSize / 2 / lockproto.MaxAuditBatch
			batches := make([][]byte, 0, perRound)
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				batches = batches[:0]
				for range min(perRound, b.N-done) {
					for range unlocks {
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
					res, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: batch, ReadAt: e.now})
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
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
