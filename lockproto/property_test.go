package lockproto

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

func drawCompact(t *rapid.T, base time.Time) policy.Compact {
	var p policy.Compact
	day := int64(24 * 3600)
	if rapid.Bool().Draw(t, "hasStart") {
		p.NotBefore = uint32(base.Unix() + rapid.Int64Range(-3*day, 5*day).Draw(t, "start"))
	}
	if rapid.Bool().Draw(t, "hasEnd") {
		lo := base.Unix() - 2*day
		if p.NotBefore != 0 {
			lo = int64(p.NotBefore) + 1
		}
		p.NotAfter = uint32(rapid.Int64Range(lo, lo+20*day).Draw(t, "end"))
	}
	p.UseLimit = uint16(rapid.IntRange(0, 4).Draw(t, "limit"))
	p.NumWindows = uint8(rapid.IntRange(0, policy.MaxCompactWindows).Draw(t, "windows"))
	for i := 0; i < int(p.NumWindows); i++ {
		from := uint16(rapid.IntRange(0, 1439).Draw(t, "from"))
		to := uint16(rapid.IntRange(1, 1440).Filter(func(v int) bool { return v != int(from) }).Draw(t, "to"))
		p.Windows[i] = policy.CompactWindow{Days: policy.Weekdays(rapid.IntRange(1, 127).Draw(t, "days")), From: from, To: to}
	}
	// Dated periods: sorted, disjoint, around the steps' two weeks.
	p.NumPeriods = uint8(rapid.IntRange(0, policy.MaxCompactPeriods).Draw(t, "periods"))
	at := base.Unix() - day
	for i := 0; i < int(p.NumPeriods); i++ {
		from := at + rapid.Int64Range(0, 4*day).Draw(t, "periodGap")
		at = from + rapid.Int64Range(1, 3*day).Draw(t, "periodLen")
		p.Periods[i] = policy.CompactPeriod{From: uint32(from), To: uint32(at)}
	}
	return p
}

// The reference lock decides exactly as policy.Compact.Allowed on its own
// clock and offset, plus use counting (only grants count).
func TestLockAgreesWithPolicy(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t)
		offset := int32(rapid.IntRange(-48, 56).Draw(rt, "offsetQuarterHours") * 900)
		w.syncTime(offset)
		c := baseCredential(w.key)
		c.Policy = drawCompact(rt, w.serverT)
		h, _ := w.holder(c)
		var uses uint32
		for i := range rapid.IntRange(1, 25).Draw(rt, "steps") {
			w.advance(time.Duration(rapid.Int64Range(0, 24*3600).Draw(rt, "advanceSeconds")) * time.Second)
			at := w.serverT
			want := c.Policy.Allowed(at, int(offset), uses)
			d, _ := w.unlock(h, 0)
			if d.Granted != (want == access.Granted) {
				rt.Fatalf("step %d at %v (offset %d, uses %d): lock %v, policy %v", i, at, offset, uses, d.Reason, want)
			}
			if !d.Granted && d.Reason != fromPolicy(want) {
				rt.Fatalf("step %d: lock reason %v, policy reason %v", i, d.Reason, want)
			}
			if d.Granted && c.Policy.UseLimit > 0 {
				uses++
			}
		}
	})
}

// The keypad decides a right code exactly as policy.Compact.Allowed on the
// lock's own clock and offset, with its own use count (only grants count),
// as it does a credential.
func TestKeypadAgreesWithPolicy(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t)
		offset := int32(rapid.IntRange(-48, 56).Draw(rt, "offsetQuarterHours") * 900)
		w.syncTime(offset)
		e := w.pinEntry(1, "482915")
		e.Policy = drawCompact(rt, w.serverT)
		card := rapid.Bool().Draw(rt, "card")
		if card {
			w.must(w.setCard(1, testUID, 0b01))
			w.seq++
			m, err := w.issuer.SetCard(testLock, w.seq, CodeEntry{ID: CredentialID{0xC0, 1}, Generation: 2, Doors: 0b01,
				Length: uint8(len(testUID)), Policy: e.Policy, Digest: must(CardDigest(w.pairing.AuditKey, testLock, testUID))})
			w.must(err)
			w.must(w.lock.HandleAdmin(m))
		} else {
			w.must(w.setPIN(e))
		}
		var uses uint32
		for i := range rapid.IntRange(1, 25).Draw(rt, "steps") {
			w.advance(time.Duration(rapid.Int64Range(0, 24*3600).Draw(rt, "advanceSeconds")) * time.Second)
			at := w.serverT
			want := e.Policy.Allowed(at, int(offset), uses)
			var d CodeDecision
			if card {
				d = w.lock.PresentCard(0, testUID)
			} else {
				d = w.lock.EnterCode(0, []byte("482915"))
			}
			if d.Granted != (want == access.Granted) {
				rt.Fatalf("step %d at %v (offset %d, uses %d): lock %v, policy %v", i, at, offset, uses, d.Reason, want)
			}
			if !d.Granted && d.Reason != fromPolicy(want) {
				rt.Fatalf("step %d: lock reason %v, policy reason %v", i, d.Reason, want)
			}
			if d.Granted && e.Policy.UseLimit > 0 {
				uses++
			}
			if d.Uses != uses {
				rt.Fatalf("step %d: lock counted %d uses, want %d", i, d.Uses, uses)
			}
			w.upload()
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
