package commands_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// online unlocks key as ann at the env's current time.
func (e *lockEnv) online(key string) commands.UnlockResult {
	e.t.Helper()
	r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: key, By: "ann"})
	if err != nil {
		e.t.Fatalf("unlock %s: %v", key, err)
	}
	return r
}

// A key with two dated periods opens inside either, online and at the
// lock, and is refused between them with OutsidePeriods by both.
func TestDatedPeriodsOnlineAndAtLock(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	st := settings("periods")
	st.Policy.Periods = []policy.Period{{Start: t0, End: t0.Add(24 * time.Hour)}, {Start: t0.Add(72 * time.Hour), End: t0.Add(96 * time.Hour)}}
	ph := e.shareTo("k1", "ann", 0, st)
	if ph.res.Narrowed != nil {
		t.Fatalf("two periods fit a credential exactly: %v", ph.res.Narrowed)
	}
	for _, c := range []struct {
		at   time.Duration
		want access.Reason
	}{
		{time.Hour, access.Granted},
		{36 * time.Hour, access.OutsidePeriods},
		{80 * time.Hour, access.Granted},
		{100 * time.Hour, access.Expired}, // after the last period: the credential's validity ends with it
	} {
		e.now = t0.Add(c.at)
		if r := e.online("k1"); r.Reason != c.want && !(c.want == access.Expired && r.Reason == access.OutsidePeriods) {
			t.Errorf("online at t0+%v: %v, want %v", c.at, r.Reason, c.want)
		}
		if d := e.visit(e.lock, ph, 0); d.Reason != c.want {
			t.Errorf("lock at t0+%v: %v, want %v", c.at, d.Reason, c.want)
		}
	}
	for _, c := range []struct {
		at     time.Duration
		status projections.Status
		next   time.Time
	}{
		{36 * time.Hour, projections.StatusActive, t0.Add(72 * time.Hour)}, // between the periods: the next one
		{100 * time.Hour, projections.StatusExpired, time.Time{}},          // after the last
	} {
		s, err := e.proj.KeyStatus(bg, "k1", t0.Add(c.at))
		if err != nil || s.Status != c.status || s.InWindow || !s.NextOpen.Equal(c.next) {
			t.Errorf("status at t0+%v: %+v %v, want %v next %v", c.at, s, err, c.status, c.next)
		}
	}
}

// A key that expires 2 h after its first use opens online for 2 h after
// it, counted from its first online use, or from the lock's time of its
// first use at the lock once the audit brings it; the lock, which cannot
// know the first use, ends it 2 h after the download.
func TestAfterFirstUseOnlineAndAtLock(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	st := settings("two hours")
	st.Policy.AfterFirstUse = 2 * time.Hour
	k1 := e.shareTo("k1", "ann", 0, st)
	var ce *policy.CompactError
	if !errors.As(k1.res.Narrowed, &ce) || !errors.Is(ce, policy.ErrLossy) || !strings.Contains(ce.What, "expires after first use") {
		t.Fatalf("download: narrowed %v, want the expiry after first use counted from issuance", k1.res.Narrowed)
	}
	k2 := e.shareTo("k2", "ann", 0, st)
	status := func(key string) projections.KeyStatus {
		t.Helper()
		s, err := e.proj.KeyStatus(bg, key, e.now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := status("k1"); s.AfterFirstUse != 2*time.Hour || !s.End.IsZero() || s.Summary() != "ACTIVE, expires 2 h after first use" {
		t.Fatalf("before the first use: %+v (%q)", s, s.Summary())
	}

	// k2 is first used at the lock, 30 min after issuance; the audit
	// reaches the ledger half an hour later and names the lock's time.
	e.now = t0.Add(30 * time.Minute)
	if d := e.visit(e.lock, k2, 0); !d.Granted {
		t.Fatalf("k2 at the lock: %v", d.Reason)
	}
	e.now = t0.Add(time.Hour)
	e.upload(e.lock, "front")
	if r := e.online("k1"); !r.Granted { // k1's first use
		t.Fatalf("first use online: %v", r.Reason)
	}
	if s := status("k1"); s.AfterFirstUse != 0 || !s.End.Equal(t0.Add(3*time.Hour)) || s.Summary() != "ACTIVE" {
		t.Fatalf("after the first use: %+v", s)
	}
	list, err := e.proj.KeyList(bg, "front", e.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list {
		if v.Key == "k2" && (!v.FirstUsed.Equal(t0.Add(30*time.Minute)) || !v.Status.End.Equal(t0.Add(150*time.Minute))) {
			t.Fatalf("k2 in the key list: first used %v, end %v", v.FirstUsed, v.Status.End)
		}
	}
	e.now = t0.Add(2*time.Hour + 20*time.Minute)
	if r := e.online("k2"); !r.Granted {
		t.Fatalf("k2 online 1h50 after its first use at the lock: %v", r.Reason)
	}
	e.now = t0.Add(150 * time.Minute)
	if r := e.online("k1"); !r.Granted {
		t.Fatalf("1h30 after the first use: %v", r.Reason)
	}
	if d := e.visit(e.lock, k1, 0); d.Reason != access.Expired {
		t.Fatalf("lock 2h30 after issuance: %v, want Expired", d.Reason)
	}
	if r := e.online("k2"); r.Reason != access.Expired {
		t.Fatalf("k2 online 2h after its first use at the lock (30 min before the audit's upload + 2h): %v, want Expired", r.Reason)
	}
	e.now = t0.Add(3 * time.Hour)
	if r := e.online("k1"); r.Reason != access.Expired {
		t.Fatalf("2h after the first use: %v, want Expired", r.Reason)
	}
	if s := status("k1"); s.Status != projections.StatusExpired {
		t.Fatalf("status 2h after the first use: %v", s.Status)
	}
}

// A PIN key that expires an hour after its first use: its set message ends
// an hour after the key's creation, and so does the one an edit after an
// online first use sends (an earlier use at the lock may not be uploaded
// yet); an edit once that end is past sends nothing (and is not refused).
func TestAfterFirstUsePINKeyEdits(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	st := settings("pin")
	st.Policy.AfterFirstUse = time.Hour
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("5151"), Settings: st}); err != nil {
		t.Fatal(err)
	}
	setEnd := func() time.Time {
		t.Helper()
		m := e.pending("front")
		a, err := lockproto.DecodeAdmin(m[len(m)-1])
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(int64(a.Policy.NotAfter), 0)
	}
	if end := setEnd(); !end.Equal(t0.Add(time.Hour)) {
		t.Fatalf("set message ends %v, want creation + 1h", end)
	}
	e.now = t0.Add(30 * time.Minute)
	if r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "panel", PIN: secret.FromString("5151")}); err != nil || !r.Granted {
		t.Fatalf("first use online: %+v %v", r, err)
	}
	e.now = t0.Add(45 * time.Minute)
	doors := access.Inner
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Doors: &doors}}); err != nil {
		t.Fatal(err)
	}
	if end := setEnd(); !end.Equal(t0.Add(time.Hour)) {
		t.Fatalf("edited set message ends %v, want creation + 1h", end)
	}
	before := len(e.pending("front"))
	e.now = t0.Add(2 * time.Hour)
	doors = access.Main
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Doors: &doors}}); err != nil {
		t.Fatalf("edit after the end: %v", err)
	}
	if n := len(e.pending("front")); n != before {
		t.Fatalf("an edit after the end sent a set message (%d pending, was %d)", n, before)
	}
}
