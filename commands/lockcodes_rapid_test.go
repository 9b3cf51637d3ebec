package commands_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// The lock's keypad and the server decide a PIN alike. A PIN key with a
// random policy is created through the commands; its set-PIN message
// reaches the reference lock through the pending admin messages. At random
// increasing instants the same PIN is typed at the lock's keypad (its clock
// set by a signed time sync) and sent to UnlockByPIN (the server's
// decision, counting its own uses). Where the policy has an exact compact
// form the two decisions are the same, and so are the reasons of a policy
// without blackouts (a blackout reaches the lock as the windows or validity
// around it, so the lock names another schedule reason); a lossy form may
// only refuse more (and once it refused an open the server counted, the two
// use counts part, so the comparison of a use-limited key ends there).
func TestPropKeypadAgreesWithServer(t *testing.T) {
	e := newLockEnv(t)
	var cases, exact int
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		lock := fmt.Sprintf("kp%d", cases)
		pol, base := drawKeyPolicy(rt)
		e.now = base.Add(-2 * 24 * time.Hour)
		rtc := time.Duration(0)
		p, err := lockproto.NewPairing(commands.LockUUID(lock), e.issuer.PublicKey(), e.rnd)
		if err != nil {
			rt.Fatal(err)
		}
		pub, _ := p.LockPublicKey()
		if err := e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: lock, Owner: "bill", Name: lock, Zone: pol.Zone, Slots: 1,
			LockKey: pub, AuditKey: secret.New(p.AuditKey[:])}); err != nil {
			rt.Fatal(err)
		}
		l, err := lockproto.NewLock(p, &lockproto.Config{Clock: func() time.Duration { return rtc }, Rand: e.rnd})
		if err != nil {
			rt.Fatal(err)
		}
		if _, err := e.svc.SendZoneRules(bg, commands.SendZoneRules{ID: e.id(), Lock: lock, By: "bill", From: e.now, Until: base.AddDate(0, 0, 30)}); err != nil {
			rt.Fatal(err)
		}
		st := settings("kp")
		st.Policy = pol
		compact, cerr := pol.CompactFrom(e.now)
		_, err = e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k" + lock, Lock: lock, By: "bill", Kind: events.KindDigital,
			For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("271828"), Settings: st})
		pending, perr := e.svc.PendingAdmin(bg, lock)
		if perr != nil {
			rt.Fatal(perr)
		}
		if errors.Is(cerr, policy.ErrNotCompact) {
			if !errors.Is(err, policy.ErrNotCompact) || !errors.Is(err, commands.ErrInvalid) {
				rt.Fatalf("a PIN its lock can never open: create returned %v, want a refusal wrapping policy.ErrNotCompact", err)
			}
			if len(pending) != 1 { // the zone rules only
				rt.Fatalf("a PIN that never opens was sent to the lock")
			}
			return
		}
		if err != nil {
			rt.Fatalf("create: %v", err)
		}
		for _, m := range pending {
			if err := l.HandleAdmin(m); err != nil {
				rt.Fatalf("admin: %v", err)
			}
		}
		if cerr == nil {
			exact++
		}
		offsets := make([]int, rapid.IntRange(1, 10).Draw(rt, "attempts"))
		for i := range offsets {
			offsets[i] = rapid.IntRange(-24*60, 15*24*60).Draw(rt, "at")
		}
		slices.Sort(offsets)
		last := e.now
		for i, m := range offsets {
			at := base.Add(time.Duration(m) * time.Minute)
			if !at.After(last) {
				continue
			}
			last, e.now = at, at
			rtc += time.Second
			b, err := l.Challenge()
			if err != nil {
				rt.Fatal(err)
			}
			ch, _ := lockproto.DecodeChallenge(b)
			sync, err := e.issuer.TimeSync(commands.LockUUID(lock), ch.Nonce, at)
			if err != nil {
				rt.Fatal(err)
			}
			if err := l.HandleAdmin(sync); err != nil {
				rt.Fatalf("time sync: %v", err)
			}
			d := l.EnterCode(0, []byte("271828"))
			r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: lock, Panel: "panel", PIN: secret.FromString("271828")})
			if err != nil {
				rt.Fatal(err)
			}
			switch {
			case cerr == nil && (d.Granted != r.Granted || (d.Reason != r.Reason && len(pol.Blackouts) == 0 && len(pol.Periods) == 0)):
				// (with blackouts or dated periods only the decisions must agree:
				// a blackout reaches the lock as the windows or validity around
				// it, dated periods narrow its validity, so the reason differs)
				rt.Fatalf("attempt %d at %v: lock %v (uses %d), server %v (uses %d); compact %+v", i, at, d.Reason, d.Uses, r.Reason, r.Uses, compact)
			case d.Granted && !r.Granted:
				rt.Fatalf("attempt %d at %v: the lock granted what the server refuses (%v)", i, at, r.Reason)
			}
			if r.Granted && !d.Granted && pol.Uses.Limited {
				// A narrower form refused an open the server granted and counted:
				// from here the two count different opens against the limit.
				return
			}
		}
	})
	t.Logf("%d cases, %d with an exact compact form", cases, exact)
	if exact == 0 {
		t.Fatal("no exact case drawn")
	}
}
