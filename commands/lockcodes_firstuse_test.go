package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// createPIN creates a PIN key of the front lock with st.
func (e *lockEnv) createPIN(key, pin string, st events.Settings) error {
	_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString(pin), Settings: st})
	return err
}

func (e *lockEnv) unlockByPIN(pin string) commands.PINUnlockResult {
	e.t.Helper()
	r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "panel", PIN: secret.FromString(pin)})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// A PIN key used first at the lock and then online, then edited: the set
// message the edit sends ends an hour after the key's creation, never an
// hour after the online use, so the lock refuses past the real first use
// + 1h even before its audit arrives.
func TestAfterFirstUsePINEditCountsFromCreation(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	st := settings("pin")
	st.Policy.AfterFirstUse = time.Hour
	if err := e.createPIN("p1", "5151", st); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	e.now = t0.Add(5 * time.Minute)
	if d := e.lock.EnterCode(0, []byte("5151")); !d.Granted {
		t.Fatalf("first use at the lock: %v", d.Reason)
	}
	e.now = t0.Add(30 * time.Minute)
	if r := e.unlockByPIN("5151"); !r.Granted {
		t.Fatalf("online: %v", r.Reason)
	}
	e.now = t0.Add(45 * time.Minute)
	doors := access.Main
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Doors: &doors}}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	e.now = t0.Add(80 * time.Minute)
	if d := e.lock.EnterCode(0, []byte("5151")); d.Granted {
		t.Fatalf("the lock opened 75 min after the first use of a key that expires 1 h after it")
	}
	e.upload(e.lock, "front")
	if r := e.unlockByPIN("5151"); r.Reason != access.Expired {
		t.Fatalf("online after the audit: %v, want Expired", r.Reason)
	}
}

// A key whose Start is a week after its creation, expiring a day after
// its first use: its PIN's set message is sent and opens at the lock once
// it starts, and a share key with that policy downloads; both count the
// day from the Start.
func TestAfterFirstUseFutureStart(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	week := 7 * 24 * time.Hour
	st := settings("pin")
	st.Policy.Start, st.Policy.End, st.Policy.AfterFirstUse = t0.Add(week), t0.Add(2*week), 24*time.Hour
	if err := e.createPIN("p1", "5151", st); err != nil {
		t.Fatal(err)
	}
	m := e.pending("front")
	if len(m) == 0 {
		t.Fatal("no set message for the PIN")
	}
	a, err := lockproto.DecodeAdmin(m[len(m)-1])
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(int64(a.Policy.NotAfter), 0); !got.Equal(t0.Add(week + 24*time.Hour)) {
		t.Fatalf("set message ends %v, want Start + 1 day", got)
	}
	e.deliver(e.lock, m)
	e.now = t0.Add(week + time.Hour)
	if d := e.lock.EnterCode(0, []byte("5151")); !d.Granted {
		t.Fatalf("at the lock after the Start: %v", d.Reason)
	}
	e.now = t0
	sh := settings("share")
	sh.Policy = st.Policy
	if k := e.shareTo("k1", "ann", 0, sh); !errors.Is(k.res.Narrowed, policy.ErrLossy) {
		t.Fatalf("share key download: narrowed %v, want the expiry counted from the Start", k.res.Narrowed)
	}
}

// A PIN or card key whose policy its lock can never carry (no open minute
// in the week) is refused at creation with policy.ErrNotCompact, not
// created without its set message.
func TestPINKeyTheLockCannotCarryIsRefused(t *testing.T) {
	e := newLockEnv(t)
	st := settings("never")
	st.Policy.Windows = []policy.Window{{Days: policy.Weekend, From: 60, To: 120}}
	st.Policy.Blackouts = []policy.Blackout{{Days: policy.Weekend, From: 0, To: 180}}
	err := e.createPIN("p1", "5151", st)
	if !errors.Is(err, policy.ErrNotCompact) || !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("create: %v, want a refusal wrapping policy.ErrNotCompact", err)
	}
}

// An edit after which the lock's end for a PIN key would already be past
// is refused while the PIN still opens there, as an End edit into the
// past is; once the lock's end has passed too, an edit sends nothing.
func TestAfterFirstUseEditEndAlreadyPast(t *testing.T) {
	e := newLockEnv(t)
	t0 := e.now
	st := settings("pin")
	st.Policy.AfterFirstUse = 4 * time.Hour
	if err := e.createPIN("p1", "5151", st); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	e.now = t0.Add(10 * time.Minute)
	if d := e.lock.EnterCode(0, []byte("5151")); !d.Granted {
		t.Fatal(d.Reason)
	}
	e.upload(e.lock, "front")
	e.now = t0.Add(2 * time.Hour)
	p := st.Policy
	p.AfterFirstUse = time.Hour
	err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Policy: &p}})
	if !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("shortening to 1 h after first use at t0+2h: %v, want refused", err)
	}
	end := st.Policy
	end.End = t0.Add(time.Hour)
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Policy: &end}}); !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("End edit into the past: %v, want refused", err)
	}
	e.now = t0.Add(5 * time.Hour) // the lock's entry ended at creation + 4h
	before := len(e.pending("front"))
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Policy: &p}}); err != nil {
		t.Fatalf("edit after the lock's end: %v", err)
	}
	if n := len(e.pending("front")); n != before {
		t.Fatalf("an edit after the lock's end sent a set message (%d pending, was %d)", n, before)
	}
}
