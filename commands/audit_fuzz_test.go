package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
)

// FuzzIngestAudit: arbitrary bytes uploaded as a lock's audit batch never
// panic; they are refused with ErrAudit or ErrInvalid (nothing appended), or
// they are authentic records, which are recorded at most once.
func FuzzIngestAudit(f *testing.F) {
	e := newLockEnv(f)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	for range 3 {
		e.now = e.now.Add(time.Minute)
		e.visit(e.lock, ann, 0)
	}
	f.Add(e.lock.AuditFrom(1))
	f.Add(e.lock.AuditFrom(3))
	f.Add(e.lock.DrainAudit()) // ends with the drain's clock reading
	f.Add([]byte{1, 0x30})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, batch []byte) {
		pos := e.l.DurablePosition()
		res, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: batch})
		if err != nil {
			if !errors.Is(err, commands.ErrAudit) && !errors.Is(err, commands.ErrInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			if e.l.DurablePosition() != pos {
				t.Fatal("a refused upload appended events")
			}
			return
		}
		if res.New < 0 || res.New > 16 || res.Duplicates < 0 {
			t.Fatalf("result %+v", res)
		}
	})
}
