package commands_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

func (e *lockEnv) unlockOnline(key, by string) access.Reason {
	e.t.Helper()
	r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: key, By: by, Door: access.MainDoor})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Reason
}

func (e *lockEnv) status(key string) projections.KeyStatus {
	e.t.Helper()
	s, err := e.proj.KeyStatus(bg, key, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// A downloaded share key, suspended: refused online at once, at the lock
// once a phone delivered the pending suspend message, and after its resume
// it opens again as before (slot, holder, uses kept). Status, key list and
// history show the suspension.
func TestSuspendedShareKeyAtTheLock(t *testing.T) {
	e := newLockEnv(t)
	p := e.shareTo("k1", "ann", 1, settings("k1"))
	if d := e.visit(e.lock, p, 0); !d.Granted {
		t.Fatalf("before: %+v", d)
	}
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if r := e.unlockOnline("k1", "ann"); r != access.KeySuspended {
		t.Fatalf("online while suspended: %v", r)
	}
	if s := e.status("k1"); s.Status != projections.StatusSuspended || !s.Suspended || s.InWindow {
		t.Fatalf("status while suspended: %+v", s)
	}
	list, err := e.proj.KeyList(bg, "front", e.now)
	if err != nil || len(list) != 1 || list[0].Status.Status != projections.StatusSuspended || !list[0].Suspended {
		t.Fatalf("key list while suspended: %+v, %v", list, err)
	}
	if d := e.visit(e.lock, p, 0); !d.Granted {
		t.Fatalf("the lock has not heard of the suspension yet: %+v", d)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.visit(e.lock, p, 0); d.Reason != access.KeySuspended {
		t.Fatalf("at the lock after the suspension reached it: %+v", d)
	}
	if r := e.upload(e.lock, "front"); len(r.Applied) == 0 {
		t.Fatalf("the upload shows no admin message applied: %+v", r)
	}
	if n := len(e.pending("front")); n != 0 {
		t.Fatalf("%d messages still pending after the upload", n)
	}
	if err := e.svc.ResumeKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if r := e.unlockOnline("k1", "ann"); r != access.Granted {
		t.Fatalf("online after the resume: %v", r)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.visit(e.lock, p, 0); !d.Granted {
		t.Fatalf("at the lock after the resume: %+v", d)
	}
	if s := e.status("k1"); s.Status != projections.StatusActive || s.Suspended || s.State != events.StateDownloaded {
		t.Fatalf("status after the resume: %+v", s)
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Key: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, h := range page.Entries {
		if h.Type == "key.suspended" || h.Type == "key.resumed" {
			seen = append(seen, h.Type)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("history shows %v, want the suspension and the resume", seen)
	}
}

// The rules: who may suspend and resume, in which states, typed errors,
// and command IDs as every other key command.
func TestSuspendRules(t *testing.T) {
	e := newLockEnv(t)
	e.shareTo("k1", "ann", 1, settings("k1"))
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Settings: settings("d1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "s1", Lock: "front", By: "bill", Kind: events.KindShare,
		Settings: settings("s1")}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddAccountManager(bg, commands.AccountManager{ID: e.id(), Lock: "front", By: "bill", Account: "bob"}); err != nil {
		t.Fatal(err)
	}
	again := e.id()
	for _, tc := range []struct {
		name    string
		do      func(context.Context, commands.KeyCommand) error
		c       commands.KeyCommand
		want    error
		wantErr any
	}{
		{"suspend", e.svc.SuspendKey, commands.KeyCommand{ID: again, Key: "k1", By: "bill"}, nil, nil},
		{"the same command again", e.svc.SuspendKey, commands.KeyCommand{ID: again, Key: "k1", By: "bill"}, nil, nil},
		{"its ID for another key", e.svc.SuspendKey, commands.KeyCommand{ID: again, Key: "d1", By: "bill"}, commands.ErrIDReused, nil},
		{"suspended already", e.svc.SuspendKey, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}, commands.ErrSuspended, new(*commands.SuspensionError)},
		{"resume", e.svc.ResumeKey, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}, nil, nil},
		{"not suspended", e.svc.ResumeKey, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}, commands.ErrNotSuspended, new(*commands.SuspensionError)},
		{"not downloaded yet", e.svc.SuspendKey, commands.KeyCommand{ID: e.id(), Key: "s1", By: "bill"}, commands.ErrForbidden, new(*commands.StateError)},
		{"a manager, digital key", e.svc.SuspendKey, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bob"}, nil, nil},
		{"a manager, share key", e.svc.SuspendKey, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bob"}, commands.ErrNotPermitted, nil},
		{"a stranger", e.svc.ResumeKey, commands.KeyCommand{ID: e.id(), Key: "d1", By: "ann"}, commands.ErrNotPermitted, nil},
		{"no such key", e.svc.SuspendKey, commands.KeyCommand{ID: e.id(), Key: "nope", By: "bill"}, commands.ErrNotFound, nil},
		{"revoke a suspended key", e.svc.RevokeKey, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}, nil, nil},
		{"resume a revoked key", e.svc.ResumeKey, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}, commands.ErrForbidden, new(*commands.StateError)},
	} {
		err := tc.do(bg, tc.c)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if tc.wantErr != nil && !errors.As(err, tc.wantErr) {
			t.Errorf("%s: %T is not %T", tc.name, err, tc.wantErr)
		}
	}
}

// A PIN key suspended: refused by the backend's keypad and, once the
// message is delivered, by the lock's keypad; resumed, both take it again.
func TestSuspendedPINKey(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482915"), Settings: settings("p1")}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	pin := func() access.Reason {
		r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "gate", PIN: secret.FromString("482915"), Door: access.MainDoor})
		if err != nil {
			t.Fatal(err)
		}
		return r.Reason
	}
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "p1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.pending("front") {
		if bytes.Contains(m, []byte("482915")) {
			t.Fatal("the PIN is in a lock message")
		}
	}
	e.deliver(e.lock, e.pending("front"))
	if r, d := pin(), e.lock.EnterCode(0, []byte("482915")); r != access.KeySuspended || d.Reason != access.KeySuspended {
		t.Fatalf("suspended: online %v, at the lock %+v", r, d)
	}
	if err := e.svc.ResumeKey(bg, commands.KeyCommand{ID: e.id(), Key: "p1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if r, d := pin(), e.lock.EnterCode(0, []byte("482915")); r != access.Granted || !d.Granted {
		t.Fatalf("resumed: online %v, at the lock %+v", r, d)
	}
}

// ResetLock ends every key of the lock, online and at the lock; keys made
// afterwards work; the reset is idempotent by command ID and counts epochs.
func TestResetLock(t *testing.T) {
	e := newLockEnv(t)
	old := e.shareTo("k1", "ann", 1, settings("k1"))
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482915"), Settings: settings("p1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "bob", Settings: settings("d1")}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Fatalf("PIN before the reset: %+v", d)
	}
	if _, err := e.svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "front", By: "ann"}); !errors.Is(err, commands.ErrNotPermitted) {
		t.Fatalf("a reset by someone else: %v", err)
	}
	id := e.id()
	res, err := e.svc.ResetLock(bg, commands.ResetLock{ID: id, Lock: "front", By: "bill"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Epoch != 1 || len(res.Keys) != 3 || res.Admin == nil {
		t.Fatalf("reset: %+v", res)
	}
	if again, err := e.svc.ResetLock(bg, commands.ResetLock{ID: id, Lock: "front", By: "bill"}); err != nil || again.Epoch != 1 {
		t.Fatalf("the same reset again: %+v, %v", again, err)
	}
	if r := e.unlockOnline("k1", "ann"); r != access.LockReset {
		t.Fatalf("online after the reset: %v", r)
	}
	r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "gate", PIN: secret.FromString("482915"), Door: access.MainDoor})
	if err != nil || r.Granted {
		t.Fatalf("PIN online after the reset: %+v, %v", r, err)
	}
	for _, k := range res.Keys {
		if s := e.status(k); s.Status != projections.StatusRevoked {
			t.Errorf("%s after the reset: %+v", k, s)
		}
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.visit(e.lock, old, 0); d.Reason != access.Superseded {
		t.Fatalf("old share key at the lock after the reset: %+v", d)
	}
	if d := e.lock.EnterCode(0, []byte("482915")); d.Reason != access.WrongPIN {
		t.Fatalf("old PIN at the lock after the reset: %+v", d)
	}
	e.upload(e.lock, "front")
	for _, k := range []string{"k1", "p1"} {
		if got := e.sync(k); got != events.SyncRemoved {
			t.Errorf("%s at the lock after the upload: %v", k, got)
		}
		if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: k, By: "bill"}); err != nil {
			t.Errorf("delete %s: %v", k, err)
		}
	}
	// A key made after the reset opens, online and at the lock, in the
	// slot the old key held.
	fresh := e.shareTo("k2", "bob", 1, settings("k2"))
	if r := e.unlockOnline("k2", "bob"); r != access.Granted {
		t.Fatalf("new key online: %v", r)
	}
	if d := e.visit(e.lock, fresh, 0); !d.Granted {
		t.Fatalf("new key at the lock: %+v", d)
	}
	if res, err := e.svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "front", By: "bill"}); err != nil || res.Epoch != 2 || len(res.Keys) != 1 {
		t.Fatalf("second reset: %+v, %v", res, err)
	}
	// No event of the reset or the suspension holds the PIN.
	for ev, err := range e.l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Data.(type) {
		case events.LockReset, events.KeySuspended, events.KeyResumed, events.KeyRevoked, events.AdminIssued:
			if bytes.Contains(ev.Raw, []byte("482915")) {
				t.Fatalf("%s holds the PIN", ev.Type)
			}
		}
	}
}

// As of an instant: a suspended key is not among those who could open,
// except while the lock has not applied the suspension of a credential it
// holds (StillAtLock); after the resume it is again. After a reset every
// key is gone once the lock applied it.
func TestAsOfSuspensionAndReset(t *testing.T) {
	e := newLockEnv(t)
	p := e.shareTo("k1", "ann", 1, settings("k1"))
	e.deliver(e.lock, e.pending("front"))
	e.visit(e.lock, p, 0)
	e.upload(e.lock, "front") // the credential is applied at the lock
	step := func() time.Time { e.now = e.now.Add(time.Hour); return e.now }
	before := step()
	step()
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	pending := step()
	step()
	e.deliver(e.lock, e.pending("front"))
	e.visit(e.lock, p, 0)
	e.upload(e.lock, "front")
	inside := step()
	step()
	if err := e.svc.ResumeKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	after := step()
	step()
	if _, err := e.svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "front", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	resetPending := step()
	step()
	e.deliver(e.lock, e.pending("front"))
	e.visit(e.lock, p, 0)
	e.upload(e.lock, "front")
	afterReset := step()

	x, err := asof.Open(e.l)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, tc := range []struct {
		name        string
		at          time.Time
		want, still bool
	}{
		{"before the suspension", before, true, false},
		{"suspended, the lock not told yet", pending, true, true},
		{"suspended, the lock applied it", inside, false, false},
		{"after the resume", after, true, false},
		{"reset, the lock not told yet", resetPending, true, true},
		{"after the reset reached the lock", afterReset, false, false},
	} {
		ans, err := x.WhoCouldOpen(bg, "front", access.MainDoor, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		got := len(ans.Openings) == 1 && ans.Openings[0].Key == "k1"
		if got != tc.want || got && ans.Openings[0].StillAtLock != tc.still {
			t.Errorf("%s: %+v, want open %v (still at lock %v)", tc.name, ans.Openings, tc.want, tc.still)
		}
	}
}

// A remote open asked for a decision granted before the key was
// suspended is not signed.
func TestNoRemoteOpenForASuspendedKey(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Settings: settings("d1")}); err != nil {
		t.Fatal(err)
	}
	granted := commands.Unlock{ID: e.id(), Key: "d1", By: "ann", Door: access.MainDoor, Source: "intercom"}
	if r, err := e.svc.Unlock(bg, granted); err != nil || !r.Granted {
		t.Fatalf("unlock: %+v %v", r, err)
	}
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	chb, err := e.lock.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: granted.ID, Challenge: chb, Relay: lockproto.RelayIntercom})
	var se *commands.StateError
	if !errors.As(err, &se) || se.Reason != access.KeySuspended || !errors.Is(err, commands.ErrForbidden) {
		t.Fatalf("remote open of a suspended key: %v", err)
	}
}

// Online keys: a suspended one is refused to its members, a reset lock's
// one too (and it may then be deleted); a new online key works.
func TestSuspendAndResetOnlineKeys(t *testing.T) {
	e := newOnlineEnv(t, "")
	e.setUpGarage()
	svc := e.svc
	e.must(func() error {
		_, err := svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString("123456"), Duration: 24 * time.Hour})
		return err
	}())
	member := func(key, account string) {
		e.must(e.createOnline(key, events.Settings{Name: key, Doors: access.Main}))
		e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: key, Account: account, By: "bill"}))
		e.must(svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: account, Password: secret.FromString(account + "-pass-2026")}))
	}
	unlock := func(key, account string) access.Reason {
		r, err := svc.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: key, By: account, Password: secret.FromString(account + "-pass-2026"), Door: access.MainDoor})
		e.must(err)
		return r.Reason
	}
	member("o1", "ann")
	if r := unlock("o1", "ann"); r != access.Granted {
		t.Fatalf("before: %v", r)
	}
	e.must(svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: "o1", By: "bill"}))
	if r := unlock("o1", "ann"); r != access.KeySuspended {
		t.Fatalf("suspended: %v", r)
	}
	e.must(svc.ResumeKey(bg, commands.KeyCommand{ID: e.id(), Key: "o1", By: "bill"}))
	if r := unlock("o1", "ann"); r != access.Granted {
		t.Fatalf("resumed: %v", r)
	}
	res, err := svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "garage", By: "bill"})
	if err != nil || len(res.Keys) != 1 || res.Admin != nil {
		t.Fatalf("reset: %+v, %v", res, err)
	}
	if r := unlock("o1", "ann"); r != access.LockReset {
		t.Fatalf("after the reset: %v", r)
	}
	e.must(svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "o1", By: "bill"}))
	member("o2", "bob")
	if r := unlock("o2", "bob"); r != access.Granted {
		t.Fatalf("a key made after the reset: %v", r)
	}
}

// A key created while a reset was being decided (so the reset could not
// name it) is older than the reset in the log: every decision refuses it
// as reset.
func TestKeyOlderThanAResetItMissedIsRefused(t *testing.T) {
	e := newEnv(t)
	e.given(append(frontLock(),
		given{"key-d1", events.KeyCreated{Key: "d1", Lock: "front", Owner: "bill", Kind: events.KindDigital, Credential: events.CredentialApp,
			Holder: "ann", Settings: settings("d1")}},
		given{"lock-front", events.LockReset{Lock: "front", By: "bill", Epoch: 1}},
		given{"key-d2", events.KeyCreated{Key: "d2", Lock: "front", Owner: "bill", Kind: events.KindDigital, Credential: events.CredentialApp,
			Holder: "ann", Settings: settings("d2")}},
	)...)
	for key, want := range map[string]access.Reason{"d1": access.LockReset, "d2": access.Granted} {
		r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: key, By: "ann", Door: access.MainDoor})
		if err != nil || r.Reason != want {
			t.Errorf("%s: %+v, %v; want %v", key, r, err, want)
		}
	}
}

// A deactivation still pending when the lock is reset ends with the
// reset: its slot is free at once, and the lock applying the reset
// removes every key that was at the lock, the ones already on their way
// out too.
func TestResetLockEndsAPendingDeactivation(t *testing.T) {
	e := newLockEnv(t)
	e.shareTo("k1", "ann", 1, settings("k1"))
	e.shareTo("k2", "bob", 2, settings("k2"))
	e.deliver(e.lock, e.pending("front"))
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "front", By: "bill"})
	if err != nil || len(res.Keys) != 1 || res.Keys[0] != "k1" {
		t.Fatalf("reset: %+v, %v", res, err)
	}
	fresh := e.shareTo("k3", "bob", 1, settings("k3")) // k1's slot
	e.deliver(e.lock, e.pending("front"))
	e.upload(e.lock, "front")
	for _, k := range []string{"k1", "k2"} {
		if got := e.sync(k); got != events.SyncRemoved {
			t.Errorf("%s after the reset reached the lock: %v", k, got)
		}
	}
	if d := e.visit(e.lock, fresh, 0); !d.Granted {
		t.Fatalf("the key made after the reset: %+v", d)
	}
	if s := e.status("k3"); s.State != events.StateDownloaded {
		t.Fatalf("k3: %+v", s)
	}
}

// A reset revokes every offline code of the lock, at the lock too; a code
// issued afterwards must end after the last end the reset revoked.
func TestResetLockRevokesOfflineCodes(t *testing.T) {
	e := newLockEnv(t)
	e.enableCodes()
	old := e.issueCode("stay-1", lockproto.CodePeriod, e.now, e.now.Add(3*time.Hour))
	if d := e.lock.EnterCode(0, old.Digits.Reveal()); !d.Granted {
		t.Fatalf("before the reset: %+v", d)
	}
	if _, err := e.svc.ResetLock(bg, commands.ResetLock{ID: e.id(), Lock: "front", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if s := e.codeStatus("stay-1"); s == "active" {
		t.Fatalf("the code after the reset: %s", s)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, old.Digits.Reveal()); d.Reason != access.CodeRevoked {
		t.Fatalf("at the lock after the reset: %+v", d)
	}
	_, err := e.svc.IssueOfflineCode(bg, commands.IssueOfflineCode{ID: e.id(), Lock: "front", By: "bill", Code: "stay-2",
		Kind: lockproto.CodePeriod, Unit: lockproto.CodeHour, From: e.now, To: e.now.Add(2 * time.Hour)})
	if !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("a code ending before the reset's end: %v", err)
	}
	fresh := e.issueCode("stay-3", lockproto.CodePeriod, e.now, e.now.Add(5*time.Hour))
	if d := e.lock.EnterCode(0, fresh.Digits.Reveal()); !d.Granted {
		t.Fatalf("a code issued after the reset: %+v", d)
	}
}
