package lockproto

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// A door opened in passage mode: the schedule's check on the lock's clock
// and zone, one audit record (its tag is one HMAC-SHA256), no persist
// (tests have none). Target: at most 3 times one audit record's tag, 0
// allocations. Each iteration also times the tag of one record under the
// lock's audit key, interleaved: x-audit-tag is the ratio.
func BenchmarkOpenFree(b *testing.B) {
	w := newWorld(b)
	w.syncTime(3600)
	p := Passage{Doors: 1, N: MaxPassagePeriods}
	for i := range p.Periods {
		p.Periods[i] = officeHours()
	}
	// The last period frees the door: every one is looked at.
	p.Periods[0] = policy.Compact{NotBefore: uint32(t0.Add(-2 * time.Hour).Unix()), NotAfter: uint32(t0.Add(-time.Hour).Unix())}
	p.Periods[1].Windows[0].Days = policy.Weekdays(1) // Sunday only
	w.must(w.setPassage(p))
	rec := AuditRecord{Kind: AuditPassage, Seq: 1}
	var prev [AuditTagSize]byte
	var open, base time.Duration
	b.ReportAllocs()
	for b.Loop() {
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		t1 := time.Now()
		d := w.lock.OpenFree(0)
		t2 := time.Now()
		prev = w.lock.audit.tag(testLock, &prev, &rec)
		open, base = open+t2.Sub(t1), base+time.Since(t2)
		if !d.Granted {
			b.Fatalf("%+v", d)
		}
	}
	b.ReportMetric(float64(open)/float64(base), "x-audit-tag")
}

func TestOpenFreeAllocs(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.must(w.setPassage(Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{officeHours()}}))
	if n := testing.AllocsPerRun(200, func() {
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		if d := w.lock.OpenFree(0); !d.Granted {
			t.Fatalf("%+v", d)
		}
		w.lock.OpenFree(1) // a refusal, tallied
	}); n != 0 {
		t.Errorf("OpenFree: %v allocations", n)
	}
}
