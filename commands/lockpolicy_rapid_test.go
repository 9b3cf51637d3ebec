package commands_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

// The lock and the ledger agree. A random policy goes through the
// commands (CreateKey, ShareKey, DownloadKey with the phone's key) to a
// signed credential; the reference lock, its clock set by signed time syncs
// and its zone rules delivered through the ledger's pending admin messages,
// decides random unlock attempts at random instants (around DST changes, in
// DST zones). Its decision is compared with policy's Allowed given the uses
// it granted so far.
//
// Documented limits of the compact form (policy/doc.go), which is what the
// credential carries:
//
//   - exact (CompactFrom(download time) returns nil): the lock grants exactly when Allowed
//     does;
//   - lossy (ErrLossy: an absolute blackout after the start cuts validity
//     at its start; more distinct windows — after subtracting weekly
//     blackouts — than the 4 a credential holds drop the smallest): the
//     credential is narrower, so the lock may refuse where Allowed grants,
//     never the reverse;
//   - not compact (ErrNotCompact: no open minute in the week, validity made
//     empty by blackouts): no credential is issued, DownloadKey fails with
//     ErrInvalid.
//
// In every case the lock's decision equals policy.Compact.Allowed of the
// credential's compact form at the lock's time and UTC offset: the lock
// enforces exactly what was issued.
func TestPropLockAgreesWithPolicy(t *testing.T) {
	e := newLockEnv(t)
	var cases, exact, lossy, notCompact, lossyRefusedMore int
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		lock := fmt.Sprintf("p%d", cases)
		pol, base := drawKeyPolicy(rt)
		e.now = base.Add(-2 * 24 * time.Hour)
		rtc := time.Duration(0)
		p, err := lockproto.NewPairing(commands.LockUUID(lock), e.issuer.PublicKey(), e.rnd)
		if err != nil {
			rt.Fatal(err)
		}
		pub, _ := p.LockPublicKey()
		if err := e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: lock, Owner: "bill", Name: lock, Zone: pol.Zone, Slots: 1, LockKey: pub}); err != nil {
			rt.Fatal(err)
		}
		l, err := lockproto.NewLock(p, &lockproto.Config{Clock: func() time.Duration { return rtc }, Rand: e.rnd})
		if err != nil {
			rt.Fatal(err)
		}
		if _, err := e.svc.SendZoneRules(bg, commands.SendZoneRules{ID: e.id(), Lock: lock, By: "bill", From: e.now, Until: base.AddDate(0, 0, 30)}); err != nil {
			rt.Fatal(err)
		}
		st := settings("prop")
		st.Policy = pol
		key := "pk" + lock
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: lock, By: "bill", Kind: events.KindShare, Settings: st}); err != nil {
			rt.Fatalf("create: %v", err)
		}
		if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: key, By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
			rt.Fatal(err)
		}
		hk, err := lockproto.GenerateHolderKey(e.rnd)
		if err != nil {
			rt.Fatal(err)
		}
		compact, cerr := pol.CompactFrom(e.now) // what the issuer carries: validity from the download on
		before := e.l.DurablePosition()
		res, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: key, By: "ann", HolderKey: hk.PublicKey()})
		if errors.Is(cerr, policy.ErrNotCompact) {
			notCompact++
			if !errors.Is(err, commands.ErrInvalid) || e.l.DurablePosition() != before {
				rt.Fatalf("a policy with no compact form was issued or recorded as downloaded: %v", err)
			}
			return
		}
		if err != nil {
			rt.Fatalf("download: %v", err)
		}
		if (res.Narrowed != nil) != errors.Is(cerr, policy.ErrLossy) || res.Narrowed != nil && !errors.Is(res.Narrowed, policy.ErrLossy) {
			rt.Fatalf("DownloadResult.Narrowed = %v, the compact form's loss %v", res.Narrowed, cerr)
		}
		if cerr == nil {
			exact++
		} else if errors.Is(cerr, policy.ErrLossy) {
			lossy++
		} else {
			rt.Fatalf("compact: %v", cerr)
		}
		cred, err := lockproto.VerifyCredential(res.Credential, e.issuer.PublicKey())
		if err != nil || cred.Policy != compact {
			rt.Fatalf("credential %+v carries %+v, want %+v (%v)", cred, cred.Policy, compact, err)
		}
		h, err := lockproto.NewHolder(hk, res.Credential, pub)
		if err != nil {
			rt.Fatal(err)
		}
		challenge := func() lockproto.Challenge {
			rtc += time.Second
			b, err := l.Challenge()
			if err != nil {
				rt.Fatal(err)
			}
			ch, err := lockproto.DecodeChallenge(b)
			if err != nil {
				rt.Fatal(err)
			}
			return ch
		}
		for _, m := range res.Admin { // the zone rules ride with the download
			if err := l.HandleAdmin(m); err != nil {
				rt.Fatalf("admin: %v", err)
			}
		}
		zr, err := lockproto.ZoneRulesFor(propZone(rt, pol.Zone), e.now, base.AddDate(0, 0, 30))
		if err != nil {
			rt.Fatal(err)
		}
		var uses uint32
		var mark int64 // the lock's high-water mark of time: syncs may go back, it does not
		for i := range rapid.IntRange(1, 12).Draw(rt, "attempts") {
			at := base.Add(time.Duration(rapid.IntRange(-24*60, 15*24*60).Draw(rt, "at")) * time.Minute)
			sync, err := e.issuer.TimeSync(commands.LockUUID(lock), challenge().Nonce, at)
			if err != nil {
				rt.Fatal(err)
			}
			if err := l.HandleAdmin(sync); err != nil {
				rt.Fatalf("time sync: %v", err)
			}
			req, err := h.Unlock(challenge(), 0)
			if err != nil {
				rt.Fatal(err)
			}
			d := l.HandleUnlock(req)
			want := pol.Allowed(at, uses)
			off, ok := zr.OffsetAt(uint32(at.Unix()))
			if !ok {
				rt.Fatalf("zone rules do not cover %v", at)
			}
			mark = max(mark, at.Unix()+1) // the lock decides a second after the sync
			if compact.NotAfter != 0 && mark >= int64(compact.NotAfter) {
				// The lock once trusted a time past the credential's end:
				// expired for good, whatever this sync says.
				if d.Granted || d.Reason != access.Expired {
					rt.Fatalf("attempt %d at %v after the lock saw %v past the end: %v", i, at, time.Unix(mark, 0), d.Reason)
				}
				continue
			}
			if cw := compact.Allowed(at, off, uses); d.Granted != (cw == access.Granted) {
				rt.Fatalf("attempt %d at %v: lock %v, its credential's compact form %v", i, at, d.Reason, cw)
			}
			switch {
			case cerr == nil && d.Granted != (want == access.Granted):
				rt.Fatalf("attempt %d at %v (%v) uses %d: lock %v, policy %v (exact compact form)", i, at, at.In(propZone(rt, pol.Zone)), uses, d.Reason, want)
			case d.Granted && want != access.Granted:
				rt.Fatalf("attempt %d at %v: the lock granted what policy refuses (%v): the credential is wider", i, at, want)
			case !d.Granted && want == access.Granted: // only with a lossy form (checked above)
				lossyRefusedMore++
				if cw := compact.Allowed(at, off, uses); !documentedLoss(&pol, &compact, cw) {
					rt.Fatalf("attempt %d at %v: the lock refused (%v) beyond the documented losses of the compact form %+v", i, at, cw, compact)
				}
			}
			if d.Granted {
				uses++
			}
		}
	})
	t.Logf("%d cases: %d exact, %d lossy (%d attempts the lock refused more), %d not compact", cases, exact, lossy, lossyRefusedMore, notCompact)
	if exact == 0 {
		t.Fatal("no exact case drawn")
	}
}

// documentedLoss reports whether the compact form's refusal r of an instant
// the policy allows is one of the losses policy/doc.go lists: validity cut
// at the start of an absolute blackout after the start (Expired at a
// NotAfter equal to such a blackout's start), windows dropped because
// more than MaxCompactWindows remained (OutsideWindow with every window
// slot used), or dated periods dropped because more than
// MaxCompactPeriods remained (Expired at the end of the last one kept).
func documentedLoss(p *policy.Policy, c *policy.Compact, r access.Reason) bool {
	switch r {
	case access.Expired:
		for _, b := range p.Blackouts {
			if b.Days == 0 && c.NotAfter != 0 && b.Start.Unix() == int64(c.NotAfter) {
				return true
			}
		}
		// more dated periods than fit: validity ends with the last one kept
		if c.NumPeriods == policy.MaxCompactPeriods && c.NotAfter == c.Periods[policy.MaxCompactPeriods-1].To {
			return true
		}
	case access.OutsideWindow:
		return c.NumWindows == policy.MaxCompactWindows
	}
	return false
}

func propZone(t *rapid.T, name string) *time.Location {
	loc, err := policy.LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// DST change days of 2026 (and a quiet week), so random instants hit them.
var propBases = []time.Time{
	time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC),  // EU spring
	time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC), // EU autumn
	time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC),   // US spring
	time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC), // US autumn
	time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC),   // Lord Howe back
	time.Date(2026, 6, 12, 0, 0, 0, 0, time.UTC),
}

var propZones = []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"}

func drawRange(t *rapid.T, label string) (policy.Weekdays, uint16, uint16) {
	days := policy.Weekdays(rapid.IntRange(1, 127).Draw(t, label+"days"))
	step := rapid.SampledFrom([]int{1, 15, 30, 60}).Draw(t, label+"step")
	from := rapid.IntRange(0, 1439/step).Draw(t, label+"from") * step
	to := rapid.IntRange(1, 1440/step).Draw(t, label+"to") * step
	if to == from {
		to = (from + step) % 1440
		if to == 0 {
			to = 1440
		}
	}
	return days, uint16(from), uint16(to)
}

// drawKeyPolicy draws validity, a use limit, up to 5 weekly windows (more
// than a credential holds), weekly and absolute blackouts, in a zone.
func drawKeyPolicy(t *rapid.T) (policy.Policy, time.Time) {
	base := rapid.SampledFrom(propBases).Draw(t, "base")
	p := policy.Policy{Zone: rapid.SampledFrom(propZones).Draw(t, "zone")}
	if rapid.Bool().Draw(t, "start") {
		p.Start = base.Add(time.Duration(rapid.IntRange(0, 7*24*60).Draw(t, "startMin")) * time.Minute)
	}
	if rapid.Bool().Draw(t, "end") {
		p.End = base.Add(time.Duration(rapid.IntRange(7*24*60+1, 14*24*60).Draw(t, "endMin")) * time.Minute)
	}
	if rapid.Bool().Draw(t, "limited") {
		p.Uses = policy.UsesN(uint32(rapid.IntRange(1, 5).Draw(t, "n")))
	}
	for i := rapid.IntRange(0, 5).Draw(t, "windows"); i > 0; i-- {
		d, f, to := drawRange(t, "w")
		p.Windows = append(p.Windows, policy.Window{Days: d, From: f, To: to})
	}
	for i := rapid.IntRange(0, 2).Draw(t, "weeklyBlackouts"); i > 0; i-- {
		d, f, to := drawRange(t, "b")
		p.Blackouts = append(p.Blackouts, policy.Blackout{Days: d, From: f, To: to})
	}
	if rapid.Bool().Draw(t, "absBlackout") {
		s := base.Add(time.Duration(rapid.IntRange(0, 10*24*60).Draw(t, "absStart")) * time.Minute)
		p.Blackouts = append(p.Blackouts, policy.Blackout{Start: s, End: s.Add(time.Duration(rapid.IntRange(1, 3*24*60).Draw(t, "absLen")) * time.Minute)})
	}
	for i := rapid.SampledFrom([]int{0, 0, 1, 2, 3, 4}).Draw(t, "periods"); i > 0; i-- { // 4: more than a credential holds
		s := base.Add(time.Duration(rapid.IntRange(-24*60, 13*24*60).Draw(t, "periodStart")) * time.Minute)
		p.Periods = append(p.Periods, policy.Period{Start: s, End: s.Add(time.Duration(rapid.IntRange(1, 3*24*60).Draw(t, "periodLen")) * time.Minute)})
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("drawn policy invalid: %v", err)
	}
	return p, base
}
