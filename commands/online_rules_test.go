package commands_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// groupReady: network on for 30 days, online key "client" (always open,
// main door), Ann a member with password "ann-pass-2026".
func groupReady(t *testing.T) *onlineEnv {
	e := newOnlineEnv(t, "")
	e.setUpGarage()
	_, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: 30 * 24 * time.Hour})
	e.must(err)
	e.must(e.createOnline("client", events.Settings{Name: "Client", Doors: access.Main}))
	e.must(e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
	e.must(e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-pass-2026")}))
	return e
}

func (e *onlineEnv) invite(account, by string) error {
	return e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: account, By: by})
}

func (e *onlineEnv) unlock(by, pw string) commands.UnlockResult {
	e.t.Helper()
	r, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: "client", By: by, Password: secret.FromString(pw)})
	e.must(err)
	return r
}

// refusedNothing checks err matches target and that nothing was appended.
func (e *onlineEnv) refusedNothing(pos uint64, err, target error) {
	e.t.Helper()
	if !errors.Is(err, target) {
		e.t.Fatalf("error %v, want %v", err, target)
	}
	if got := e.eventsSince(pos); len(got) != 0 {
		e.t.Fatalf("a refused command appended %#v", got)
	}
}

func TestOnlineKeyBoundOfFiveAccounts(t *testing.T) {
	e := groupReady(t)
	for _, a := range []string{"bob", "cid", "dee", "eve"} { // Ann + 4 = 5
		e.must(e.invite(a, "bill"))
	}
	pos := e.mark()
	err := e.invite("fay", "bill")
	var gf *commands.GroupFullError
	if !errors.As(err, &gf) || gf.Key != "client" || gf.Max != 5 {
		t.Fatalf("6th account: %v", err)
	}
	e.refusedNothing(pos, err, commands.ErrGroupFull)
	if want := `commands: online key "client" is already assigned to 5 accounts (the maximum)`; err.Error() != want {
		t.Errorf("message %q", err)
	}
	// A withdrawn invitation frees its seat; an expired one too.
	e.must(e.svc.WithdrawInvitation(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "bob", By: "bill"}))
	e.must(e.invite("fay", "bill"))
	e.refusedNothing(e.mark(), e.invite("gus", "bill"), commands.ErrGroupFull)
	e.now = e.now.Add(commands.DefaultInvitationTTL)
	e.must(e.invite("gus", "bill")) // cid, dee, eve, fay expired: seats free
}

func TestInvitationTransitions(t *testing.T) {
	e := groupReady(t)
	svc := e.svc
	cmd := func(a string) commands.InvitationCommand {
		return commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: a, By: "bill"}
	}
	accept := func(a string) error {
		return svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: a, Password: secret.FromString("long-enough-pw")})
	}
	wantState := func(err error, st events.InvitationState) {
		t.Helper()
		var ie *commands.InvitationError
		if !errors.As(err, &ie) || ie.State != st || !errors.Is(err, commands.ErrForbidden) {
			t.Fatalf("error %v, want an InvitationError in state %v", err, st)
		}
	}
	// Withdrawn, then accepted: refused, naming the state.
	e.must(e.invite("bob", "bill"))
	e.must(svc.WithdrawInvitation(bg, cmd("bob")))
	pos := e.mark()
	err := accept("bob")
	wantState(err, events.InviteWithdrawn)
	e.refusedNothing(pos, err, commands.ErrForbidden)
	wantState(svc.DeclineInvitation(bg, cmd("bob")), events.InviteWithdrawn)
	wantState(svc.WithdrawInvitation(bg, cmd("bob")), events.InviteWithdrawn)

	// Declined, then accepted or declined again.
	e.must(e.invite("cid", "bill"))
	e.must(svc.DeclineInvitation(bg, cmd("cid")))
	wantState(accept("cid"), events.InviteDeclined)
	wantState(svc.DeclineInvitation(bg, cmd("cid")), events.InviteDeclined)

	// Expired (evaluated at command time): the expiry is recorded.
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "dee", By: "bill", TTL: time.Hour}))
	e.now = e.now.Add(time.Hour)
	pos = e.mark()
	wantState(accept("dee"), events.InviteExpired)
	if got := e.eventsSince(pos); len(got) != 1 || got[0] != (events.InvitationExpired{Lock: "garage", Key: "client", Account: "dee"}) {
		t.Fatalf("expiry recorded as %#v", got)
	}
	wantState(accept("dee"), events.InviteExpired)

	// Never invited.
	wantState(accept("eve"), events.InviteNone)
	// Re-inviting after a decline works; inviting a member or pending twice does not.
	e.must(e.invite("cid", "bill"))
	e.refusedNothing(e.mark(), e.invite("cid", "bill"), commands.ErrExists)
	e.refusedNothing(e.mark(), e.invite("ann", "bill"), commands.ErrExists)
	e.refusedNothing(e.mark(), e.invite("nobody", "bill"), commands.ErrNotFound)
	e.refusedNothing(e.mark(), e.invite("bill", "bill"), commands.ErrInvalid)
	e.refusedNothing(e.mark(), e.invite("fay", "ann"), commands.ErrNotPermitted) // no management rights
	e.refusedNothing(e.mark(), svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "nokey", Account: "fay", By: "bill"}), commands.ErrNotFound)
	// Short passwords are refused before anything is hashed or stored.
	e.refusedNothing(e.mark(), svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "cid", Password: secret.FromString("short")}), commands.ErrInvalid)

	// Management rights: the owner grants them; a manager invites but cannot grant them.
	e.must(svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "ann", By: "bill",
		Permissions: events.Permissions{Doors: access.Main, Ops: events.OpUnlock | events.OpManage}}))
	e.must(e.invite("fay", "ann"))
	err = svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "fay", By: "ann",
		Permissions: events.Permissions{Doors: access.Main, Ops: events.OpManage}})
	e.refusedNothing(e.mark(), err, commands.ErrNotPermitted)
	err = svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "fay", By: "bill",
		Permissions: events.Permissions{Doors: access.Inner, Ops: events.OpUnlock}})
	e.refusedNothing(e.mark(), err, commands.ErrInvalid) // the key does not open the inner door
}

func TestPasswordLockout(t *testing.T) {
	e := groupReady(t)
	for i := 1; i < commands.MaxPasswordFailures; i++ {
		if r := e.unlock("ann", "not-my-password"); r.Granted || r.Reason != access.WrongPassword {
			t.Fatalf("wrong password %d: %+v", i, r)
		}
	}
	// A correct password before the limit clears the count.
	if r := e.unlock("ann", "ann-pass-2026"); !r.Granted {
		t.Fatalf("right password: %+v", r)
	}
	for i := 1; i <= commands.MaxPasswordFailures; i++ {
		e.unlock("ann", "not-my-password")
	}
	pos := e.mark()
	if r := e.unlock("ann", "ann-pass-2026"); r.Granted || r.Reason != access.LockedOut {
		t.Fatalf("locked out member with the right password: %+v", r)
	}
	if got := e.eventsSince(pos); len(got) != 1 {
		t.Fatalf("a locked-out attempt is recorded once: %#v", got)
	}
	gs, err := e.svc.GroupStatus(bg, "garage", e.now)
	e.must(err)
	if !gs.Members[0].LockedOut || !gs.Members[0].LockedUntil.Equal(e.now.Add(commands.LockoutDuration)) {
		t.Fatalf("status %+v", gs.Members[0])
	}
	e.now = e.now.Add(commands.LockoutDuration)
	if r := e.unlock("ann", "ann-pass-2026"); !r.Granted {
		t.Fatalf("after the lockout: %+v", r)
	}
}

// Network management ends with its duration, evaluated at command time: the
// first command after it records the end and shreds the code.
func TestNetworkDurationEnds(t *testing.T) {
	e := groupReady(t)
	g, err := e.svc.GroupStatus(bg, "garage", e.now)
	e.must(err)
	var sealed secret.Sealed
	for ev, err := range e.l.ReadStream(bg, "group-garage", 1) {
		e.must(err)
		if on, ok := ev.Data.(events.NetworkManagementOn); ok {
			sealed = on.MasterCode
		}
	}
	e.now = g.Network.Until
	pos := e.mark()
	if r := e.unlock("ann", "ann-pass-2026"); r.Granted || r.Reason != access.NetworkOff {
		t.Fatalf("unlock after the duration: %+v", r)
	}
	evs := e.eventsSince(pos)
	if off, ok := evs[0].(events.NetworkManagementOff); !ok || off.Reason != access.Expired || off.Shredded != sealedKey(t, sealed) {
		t.Fatalf("expiry recorded as %#v", evs)
	}
	if _, err := e.vault.Open(bg, sealed, nil); !errors.Is(err, secret.ErrShredded) {
		t.Fatalf("master code after expiry: %v", err)
	}
	if r := e.unlock("ann", "ann-pass-2026"); r.Reason != access.NetworkOff {
		t.Fatalf("second unlock: %+v", r)
	}
	e.refusedNothing(e.mark(), e.svc.TurnOffNetwork(bg, commands.TurnOffNetwork{ID: e.id(), Lock: "garage", By: "bill"}), commands.ErrNetworkOff)
	// Turning it on again works, and members operate again.
	_, err = e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString("NEW-CODE-1"), Duration: time.Hour})
	e.must(err)
	if r := e.unlock("ann", "ann-pass-2026"); !r.Granted {
		t.Fatalf("after turning on again: %+v", r)
	}
}

// Removing a member shreds their password hash; retried commands are idempotent.
func TestRemoveMemberAndRetries(t *testing.T) {
	e := groupReady(t)
	var sealed secret.Sealed
	for ev, err := range e.l.ReadStream(bg, "group-garage", 1) {
		e.must(err)
		if a, ok := ev.Data.(events.InvitationAccepted); ok {
			sealed = a.Password
		}
	}
	id := e.id()
	rm := commands.InvitationCommand{ID: id, Lock: "garage", Account: "ann", By: "bill"}
	e.must(e.svc.RemoveMember(bg, rm))
	pos := e.mark()
	e.must(e.svc.RemoveMember(bg, rm)) // same command ID: same outcome, nothing new
	if got := e.eventsSince(pos); len(got) != 0 {
		t.Fatalf("retry appended %#v", got)
	}
	if _, err := e.vault.Open(bg, sealed, nil); !errors.Is(err, secret.ErrShredded) {
		t.Fatalf("password hash after removal: %v", err)
	}
	if r := e.unlock("ann", "ann-pass-2026"); r.Reason != access.NotMember {
		t.Fatalf("removed member: %+v", r)
	}
	e.refusedNothing(e.mark(), e.svc.RemoveMember(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "ann", By: "bill"}), commands.ErrForbidden)
	// Retried unlock: the original decision comes back.
	uid := e.id()
	r1, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: uid, Key: "client", By: "ann", Password: secret.FromString("x")})
	e.must(err)
	r2, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: uid, Key: "client", By: "ann", Password: secret.FromString("x")})
	e.must(err)
	if r1 != r2 {
		t.Fatalf("retried unlock %+v != %+v", r1, r2)
	}
	e.must(e.svc.SweepGroup(bg, "garage"))
}

func TestOnlineErrorsNameNoSecret(t *testing.T) {
	e := groupReady(t)
	_, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "ann", MasterCode: secret.FromString("SECRET-42"), Duration: time.Hour})
	err2 := e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("SECRET-PW-43")})
	_, err3 := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString("SECRET-44"), Duration: -1})
	for _, err := range []error{err, err2, err3} {
		if err == nil {
			t.Fatal("expected an error")
		}
		if s := fmt.Sprint(err); strings.Contains(s, "SECRET") {
			t.Errorf("error names a secret: %s", s)
		}
	}
}

func TestChangePasswordAndRehash(t *testing.T) {
	e := groupReady(t)
	cp := func(old, nw string) error {
		return e.svc.ChangePassword(bg, commands.ChangePassword{ID: e.id(), Lock: "garage", Account: "ann", Old: secret.FromString(old), New: secret.FromString(nw)})
	}
	pos := e.mark()
	err := cp("not-the-password", "new-password-1")
	if !errors.Is(err, commands.ErrNotPermitted) {
		t.Fatalf("wrong old password: %v", err)
	}
	if got := e.eventsSince(pos); len(got) != 1 || got[0].(events.PasswordRejected).Failures != 1 {
		t.Fatalf("a wrong old password counts as a failure: %#v", got)
	}
	e.must(cp("ann-pass-2026", "new-password-1"))
	if r := e.unlock("ann", "ann-pass-2026"); r.Reason != access.WrongPassword {
		t.Fatalf("old password after change: %+v", r)
	}
	if r := e.unlock("ann", "new-password-1"); !r.Granted {
		t.Fatalf("new password: %+v", r)
	}

	// Raising the argon2id parameters: the next successful login rehashes.
	stronger := secret.PasswordParams{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	v2, err := secret.NewVault(&secret.Options{Root: secret.New([]byte("keyledger online-key test root, not for production")),
		Keystore: commands.NewLedgerKeystore(e.l), Password: stronger})
	e.must(err)
	svc2, err := commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: v2, Projections: e.proj})
	e.must(err)
	pos = e.mark()
	r, err := svc2.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: "client", By: "ann", Password: secret.FromString("new-password-1")})
	e.must(err)
	if !r.Granted {
		t.Fatalf("unlock with raised parameters: %+v", r)
	}
	var set events.MemberPasswordSet
	for _, ev := range e.eventsSince(pos) {
		if s, ok := ev.(events.MemberPasswordSet); ok {
			set = s
		}
	}
	if !set.Rehash || len(set.Password) == 0 {
		t.Fatalf("no rehash recorded")
	}
	if _, err := v2.Open(bg, set.Password, nil); !errors.Is(err, secret.ErrAuthentication) {
		t.Fatalf("the sealed hash is bound to its member: %v", err)
	}
	pos = e.mark()
	r, err = svc2.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: "client", By: "ann", Password: secret.FromString("new-password-1")})
	e.must(err)
	if got := e.eventsSince(pos); !r.Granted || len(got) != 1 {
		t.Fatalf("second login rehashes again: %+v %#v", r, got)
	}
}

func TestEditAndDeleteOnlineKey(t *testing.T) {
	e := groupReady(t)
	e.must(e.invite("bob", "bill"))
	// Owner only; the new settings apply to the next unlock.
	err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "client", By: "ann", Settings: commands.SettingsPatch{Name: new("x")}})
	e.refusedNothing(e.mark(), err, commands.ErrNotPermitted)
	e.must(e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "client", By: "bill",
		Settings: commands.SettingsPatch{Policy: new(tuesday10to12())}}))
	if r := e.unlock("ann", "ann-pass-2026"); r.Granted && schedulesEnforced { // 09:00 Tuesday: before the window
		t.Fatalf("edit not applied: %+v", r)
	}
	var sealed secret.Sealed
	for ev, err := range e.l.ReadStream(bg, "group-garage", 1) {
		e.must(err)
		if a, ok := ev.Data.(events.InvitationAccepted); ok {
			sealed = a.Password
		}
	}
	e.must(e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "client", By: "bill"}))
	gs, err := e.svc.GroupStatus(bg, "garage", e.now)
	e.must(err)
	if len(gs.Keys) != 0 || gs.Members[0].State != events.InviteRemoved || gs.Members[1].State != events.InviteWithdrawn {
		t.Fatalf("after delete: %+v", gs)
	}
	if _, err := e.vault.Open(bg, sealed, nil); !errors.Is(err, secret.ErrShredded) {
		t.Fatalf("member password after key deletion: %v", err)
	}
	if r := e.unlock("ann", "ann-pass-2026"); r.Granted || r.Reason != access.NotMember {
		t.Fatalf("unlock of a deleted key: %+v", r)
	}
	e.refusedNothing(e.mark(), e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "client", By: "bill"}), commands.ErrForbidden)
	e.refusedNothing(e.mark(), e.invite("cid", "bill"), commands.ErrNotFound)
}

// A crash between the append of NetworkManagementOff and its shred leaves
// the data key behind; SweepGroup (or retrying the command) finishes it.
func TestSweepGroupAfterCrashBeforeShred(t *testing.T) {
	e := groupReady(t)
	var sealed secret.Sealed
	for ev, err := range e.l.ReadStream(bg, "group-garage", 1) {
		e.must(err)
		if on, ok := ev.Data.(events.NetworkManagementOn); ok {
			sealed = on.MasterCode
		}
	}
	// The event as TurnOffNetwork appends it, without the shred that follows.
	_, err := e.l.Append(bg, "group-garage", ledger.ExpectAny, ledger.NewEvent{Data: events.NetworkManagementOff{
		Lock: "garage", By: "bill", Reason: access.TurnedOff, Shredded: sealedKey(t, sealed)}})
	e.must(err)
	if _, err := e.vault.Open(bg, sealed, nil); errors.Is(err, secret.ErrShredded) {
		t.Fatal("test premise: the key should still exist")
	}
	e.must(e.svc.SweepGroup(bg, "garage"))
	if _, err := e.vault.Open(bg, sealed, nil); !errors.Is(err, secret.ErrShredded) {
		t.Fatalf("after SweepGroup: %v", err)
	}
}

// CheckNetwork records a due expiry without any other command.
func TestCheckNetwork(t *testing.T) {
	e := groupReady(t)
	st, err := e.svc.CheckNetwork(bg, commands.CheckNetwork{ID: e.id(), Lock: "garage"})
	e.must(err)
	if !st.On {
		t.Fatalf("before the end: %+v", st)
	}
	e.now = st.Until
	pos := e.mark()
	st, err = e.svc.CheckNetwork(bg, commands.CheckNetwork{ID: e.id(), Lock: "garage"})
	e.must(err)
	if got := e.eventsSince(pos); st.On || len(got) != 1 || got[0].(events.NetworkManagementOff).Reason != access.Expired {
		t.Fatalf("at the end: %+v, %#v", st, got)
	}
	pos = e.mark()
	_, err = e.svc.CheckNetwork(bg, commands.CheckNetwork{ID: e.id(), Lock: "garage"})
	e.must(err)
	if got := e.eventsSince(pos); len(got) != 0 {
		t.Fatalf("expiry recorded twice: %#v", got)
	}
}
