package lockproto

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

// For any code the issuer can express and any instant, the lock grants
// exactly when the policy model grants the code's validity (its
// granularity, one use, its weekly window on the lock's wall clock in
// Europe/Berlin, across DST changes); a one-time code opens once; and once
// the lock applied a revocation, the code never opens again.
func TestOfflineCodeMatchesPolicyProperty(t *testing.T) {
	loc, err := policy.LoadZone("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(rt *rapid.T) {
		c := drawCode(rt)
		if c.Kind == CodeErase {
			c.Kind = CodePeriod
		}
		// Keep codes within the next few years, so the instants are too.
		switch c.Unit {
		case CodeHour:
			c.Start %= 5 * 365 * 24
		case CodeDay:
			c.Start %= 5 * 365
		case CodeWeek:
			c.Start %= 5 * 52
		}
		from, to := c.Validity()
		// Instants on whole hours, a second either side, or at the edges of
		// the validity: where the decisions change.
		span := (int64(to-from) + 4*86400) / 3600
		base := int64(from) - 2*86400 + 3600*rapid.Int64Range(0, span).Draw(rt, "hour")
		switch rapid.IntRange(0, 3).Draw(rt, "edge") {
		case 1:
			base = int64(from)
		case 2:
			base = int64(to)
		}
		at := time.Unix(base+rapid.SampledFrom([]int64{-1, 0, 1, 1800}).Draw(rt, "second"), 0).UTC()
		revoke := rapid.IntRange(0, 3).Draw(rt, "revoke") == 0

		w := newWorld(t)
		w.serverT = at.Add(-time.Duration(rapid.IntRange(0, 3*24*3600).Draw(rt, "revokedBefore")) * time.Second)
		w.resync()
		z, err := ZoneRulesFor(loc, w.serverT.Add(-24*time.Hour), at.Add(24*time.Hour))
		w.must(err)
		w.seq++
		m, err := w.issuer.TimeZone(testLock, w.seq, z)
		w.must(err)
		w.must(w.lock.HandleAdmin(m))
		if revoke {
			w.seq++
			m, err := w.issuer.RevokeCode(testLock, w.seq, c.Seq, to)
			w.must(err)
			w.must(w.lock.HandleAdmin(m))
		}
		w.advance(at.Sub(w.serverT))
		w.lock.st.AuditAcked = w.lock.st.AuditSeq

		sched, err := policy.Compile(c.Policy("Europe/Berlin"))
		if err != nil {
			rt.Fatalf("policy of %+v: %v", c, err)
		}
		digits := w.code(c)
		for use := uint32(0); use < 2; use++ {
			d := w.lock.EnterCode(0, digits)
			want := sched.Allowed(at, use) == access.Granted && !revoke
			if d.Granted != want {
				rt.Fatalf("use %d of %+v at %v (revoked %v): lock %v (%v), policy %v", use, c, at, revoke, d.Granted, d.Reason, sched.Allowed(at, use))
			}
			if c.Kind != CodeOneTime {
				break
			}
		}
	})
}
