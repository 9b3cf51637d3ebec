package commands_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// keyStatus is the key's status in the read model at the env's time.
func (e *lockEnv) keyStatus(key string) projections.KeyStatus {
	e.t.Helper()
	s, err := e.proj.KeyStatus(bg, key, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// An online key's unlocks are recorded on its lock's group stream: the
// expiry after its first use counts from the first of them, and the server
// refuses it as the status shows it, expired.
func TestAfterFirstUseOnlineKeyExpires(t *testing.T) {
	e := newOnlineEnv(t, "")
	e.setUpGarage()
	_, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: 30 * 24 * time.Hour})
	e.must(err)
	st := events.Settings{Name: "Client", Doors: access.Main}
	st.Policy.AfterFirstUse = time.Hour
	e.must(e.createOnline("client", st))
	e.must(e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
	e.must(e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-pass-2026")}))
	t0 := e.now
	if r := e.unlock("ann", "ann-pass-2026"); !r.Granted {
		t.Fatalf("first use: %v", r.Reason)
	}
	e.now = t0.Add(50 * time.Minute)
	if r := e.unlock("ann", "ann-pass-2026"); !r.Granted {
		t.Fatalf("50 min after the first use: %v", r.Reason)
	}
	e.now = t0.Add(3 * time.Hour)
	if r := e.unlock("ann", "ann-pass-2026"); r.Granted || r.Reason != access.Expired {
		t.Fatalf("3 h after the first use of a key that expires 1 h after it: granted %v (%v), want Expired", r.Granted, r.Reason)
	}
	s, err := e.proj.KeyStatus(bg, "client", e.now)
	if err != nil || s.Status != projections.StatusExpired || !s.End.Equal(t0.Add(time.Hour)) {
		t.Fatalf("status: %v end %v (%v), want EXPIRED at first use + 1h", s.Status, s.End, err)
	}
}

// The first use is the earliest granted use, not the first the server
// learnt of: a use at the lock whose audit arrives after an online use
// moves it earlier, and the expiry counts from it.
func TestAfterFirstUseEarliestUseCounts(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	st := settings("one hour")
	st.Policy.AfterFirstUse = time.Hour
	k := e.shareTo("k1", "ann", 0, st)
	e.now = t0.Add(10 * time.Minute)
	if d := e.visit(e.lock, k, 0); !d.Granted {
		t.Fatalf("at the lock: %v", d.Reason)
	}
	e.now = t0.Add(30 * time.Minute)
	if r := e.online("k1"); !r.Granted {
		t.Fatalf("online before the audit: %v", r.Reason)
	}
	e.upload(e.lock, "front")
	if s := e.keyStatus("k1"); !s.End.Equal(t0.Add(70 * time.Minute)) {
		t.Fatalf("status after the audit: end %v, want the use at the lock + 1h", s.End)
	}
	e.now = t0.Add(80 * time.Minute)
	if r := e.online("k1"); r.Reason != access.Expired {
		t.Fatalf("online 70 min after the use at the lock: %v, want Expired", r.Reason)
	}
	if s := e.keyStatus("k1"); s.Status != projections.StatusExpired {
		t.Fatalf("status: %v, want EXPIRED", s.Status)
	}
}
