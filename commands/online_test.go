package commands_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

const masterCode = "MC-731946"

// The online-key flow end to end, Given/When/Then, on a ledger on disk; at
// the end every byte of the Pebble directory is scanned for the master code
// and passwords.
func TestOnlineKeyFlow(t *testing.T) {
	dir := t.TempDir()
	e := newOnlineEnv(t, dir)
	e.setUpGarage()
	svc := e.svc

	// Online keys need network management: refused before it is on.
	_, err := svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "client", Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: tuesdayClient()})
	if !errors.Is(err, commands.ErrNetworkOff) {
		t.Fatalf("online key with network management off: %v", err)
	}

	// 3. Turn on network management: only the owner, with the master code.
	_, err = svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "ann", MasterCode: secret.FromString(masterCode), Duration: 30 * 24 * time.Hour})
	if !errors.Is(err, commands.ErrNotPermitted) {
		t.Fatalf("turn on by a non-owner: %v", err)
	}
	pos := e.mark()
	st, err := svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: 30 * 24 * time.Hour})
	e.must(err)
	if !st.On || !st.Until.Equal(e.now.Add(30*24*time.Hour)) {
		t.Fatalf("network status %+v", st)
	}
	evs := e.eventsSince(pos)
	on, ok := evs[0].(events.NetworkManagementOn)
	if len(evs) != 1 || !ok || on.Lock != "garage" || on.By != "bill" || strings.Contains(string(on.MasterCode), masterCode) {
		t.Fatalf("turn on appended %#v", evs)
	}
	code, err := svc.RevealMasterCode(bg, "garage", "bill")
	if err != nil || string(code.Reveal()) != masterCode {
		t.Fatalf("stored master code: %v", err)
	}
	if _, err := svc.RevealMasterCode(bg, "garage", "ann"); !errors.Is(err, commands.ErrNotPermitted) {
		t.Fatalf("reveal by a non-owner: %v", err)
	}

	// Online keys: Tuesday 10–12 for a client; all day but never at night for staff.
	_, err = svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "client", Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: tuesdayClient()})
	e.must(err)
	_, err = svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "staff", Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: staffNoNights()})
	e.must(err)

	// 4. Add a user account: "Join Bill's group" reaches Ann through the outbox.
	pos = e.mark()
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
	want := []any{
		events.MemberInvited{Lock: "garage", Key: "client", Account: "ann", By: "bill", Expires: e.now.Add(commands.DefaultInvitationTTL).Local(), // msgpack decodes times as Local
			Permissions: events.Permissions{Doors: access.Main, Ops: events.OpUnlock | events.OpViewHistory}},
		events.NotificationQueued{Topic: events.TopicGroupInvitation, To: "ann", Email: "ann@example.com", Lock: "garage", Key: "client", Message: "Join Bill's group"},
	}
	if got := e.eventsSince(pos); !reflect.DeepEqual(got, want) {
		t.Fatalf("invite:\n got %#v\nwant %#v", got, want)
	}
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "bob", By: "bill"}))

	// 5a. Ann accepts, with a personal password and her own name for the lock.
	pos = e.mark()
	e.must(svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-pass-2026"), LockName: "Bill's garage"}))
	evs = e.eventsSince(pos)
	acc, ok := evs[0].(events.InvitationAccepted)
	if len(evs) != 1 || !ok || acc.Account != "ann" || acc.Key != "client" || acc.LockName != "Bill's garage" || len(acc.Password) == 0 {
		t.Fatalf("accept appended %#v", evs)
	}
	err = svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-pass-2026")})
	var ie *commands.InvitationError
	if !errors.As(err, &ie) || ie.State != events.InviteAccepted || !errors.Is(err, commands.ErrForbidden) {
		t.Fatalf("accepting twice: %v", err)
	}

	// 5b. Bob declines: Bill is notified.
	pos = e.mark()
	e.must(svc.DeclineInvitation(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "bob"}))
	want = []any{
		events.InvitationDeclined{Lock: "garage", Key: "client", Account: "bob"},
		events.NotificationQueued{Topic: events.TopicGroupDeclined, To: "bill", Email: "bill@example.com", Lock: "garage", Key: "client", Message: "bob declined to join the group of Garage"},
	}
	if got := e.eventsSince(pos); !reflect.DeepEqual(got, want) {
		t.Fatalf("decline:\n got %#v\nwant %#v", got, want)
	}
	pending, err := e.proj.Pending(bg, 100)
	e.must(err)
	topics := map[string]string{}
	for _, n := range pending {
		topics[n.Topic+"/"+n.To] = n.Message
	}
	if topics["group_invitation/ann"] != "Join Bill's group" || topics["group_declined/bill"] == "" {
		t.Fatalf("outbox: %v", topics)
	}

	// Cid is invited to staff and accepts; Bill gives him the inner door too.
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "staff", Account: "cid", By: "bill"}))
	e.must(svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "cid", Password: secret.FromString("cid-pass-2026")}))
	// 7. Per-member permissions.
	e.must(svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "cid", By: "bill",
		Permissions: events.Permissions{Doors: access.Main | access.Inner, Ops: events.OpUnlock}}))
	err = svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "cid", By: "ann",
		Permissions: events.Permissions{Doors: access.Main, Ops: events.OpUnlock}})
	if !errors.Is(err, commands.ErrNotPermitted) {
		t.Fatalf("permissions set by a member without management rights: %v", err)
	}

	// 6. Group status.
	gs, err := svc.GroupStatus(bg, "garage", e.now)
	e.must(err)
	if !gs.Network.On || gs.Owner != "bill" || len(gs.Keys) != 2 || gs.Keys[0].Key != "client" || gs.Keys[0].Accounts != 1 {
		t.Fatalf("group status %+v", gs)
	}
	states := map[string]string{}
	for _, m := range gs.Members {
		states[m.Account] = m.Key + ":" + m.State.String() + ":" + m.Permissions.Doors.String() + ":" + m.Permissions.Ops.String()
	}
	wantStates := map[string]string{
		"ann": "client:accepted:main:unlock+history",
		"bob": "client:declined:main:unlock+history",
		"cid": "staff:accepted:main+inner:unlock",
	}
	if !reflect.DeepEqual(states, wantStates) {
		t.Fatalf("members:\n got %v\nwant %v", states, wantStates)
	}

	// Unlocks inside and outside the weekly window and at night, each
	// authorised against the current state.
	unlock := func(key, by, pw string, door access.Door) commands.UnlockResult {
		t.Helper()
		r, err := svc.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: key, By: by, Password: secret.FromString(pw), Door: door})
		e.must(err)
		return r
	}
	expect := func(r commands.UnlockResult, granted bool, reason access.Reason) {
		t.Helper()
		if r.Granted != granted || (!granted && reason != access.Granted && r.Reason != reason) {
			t.Fatalf("unlock = %+v, want granted=%v reason %q", r, granted, reason)
		}
	}
	window := func(r commands.UnlockResult) { // refused by the schedule (once policy enforces it)
		t.Helper()
		if schedulesEnforced {
			expect(r, false, access.Granted)
		}
	}
	window(unlock("client", "ann", "ann-pass-2026", access.MainDoor)) // 09:00: before the window
	e.now = tuesday9.Add(90 * time.Minute)                            // Tuesday 10:30
	expect(unlock("client", "ann", "ann-pass-2026", access.MainDoor), true, access.Granted)
	expect(unlock("client", "ann", "wrong-password", access.MainDoor), false, access.WrongPassword)
	expect(unlock("client", "ann", "ann-pass-2026", access.InnerDoor), false, access.WrongDoor)
	expect(unlock("client", "bob", "whatever-pw", access.MainDoor), false, access.NotMember)
	expect(unlock("client", "cid", "cid-pass-2026", access.MainDoor), false, access.NotMember)
	expect(unlock("staff", "cid", "cid-pass-2026", access.InnerDoor), true, access.Granted)
	e.now = tuesday9.Add(4 * time.Hour) // 13:00, outside the client's window
	window(unlock("client", "ann", "ann-pass-2026", access.MainDoor))
	expect(unlock("staff", "cid", "cid-pass-2026", access.MainDoor), true, access.Granted)
	e.now = tuesday9.Add(14 * time.Hour) // 23:00: staff is invalid at night
	window(unlock("staff", "cid", "cid-pass-2026", access.MainDoor))
	e.now = tuesday9.Add(7*24*time.Hour + 90*time.Minute) // next Tuesday 10:30
	expect(unlock("client", "ann", "ann-pass-2026", access.MainDoor), true, access.Granted)

	// 8. History: every attempt, granted or denied, with reason and door.
	hist, err := e.proj.History(bg, projections.HistoryQuery{Key: "client"})
	e.must(err)
	var granted, denied int
	for _, h := range hist.Entries {
		if h.Type != "key.unlock_attempted" {
			continue
		}
		if h.Granted {
			granted++
		} else {
			denied++
		}
	}
	wantGranted := 2
	if !schedulesEnforced {
		wantGranted = 4 // 09:00 and 13:00 are not refused yet
	}
	if granted != wantGranted || denied != 8-wantGranted {
		t.Fatalf("client history: %d granted, %d denied: %+v", granted, denied, hist.Entries)
	}

	// Turn network management off: the code is shredded, unlocks are refused.
	wrapped, err := commands.NewLedgerKeystore(e.l).Get(bg, sealedKey(t, on.MasterCode))
	e.must(err)
	pos = e.mark()
	e.must(svc.TurnOffNetwork(bg, commands.TurnOffNetwork{ID: e.id(), Lock: "garage", By: "bill"}))
	evs = e.eventsSince(pos)
	off, ok := evs[0].(events.NetworkManagementOff)
	if len(evs) != 1 || !ok || off.Reason != access.TurnedOff || off.Shredded != sealedKey(t, on.MasterCode) {
		t.Fatalf("turn off appended %#v", evs)
	}
	expect(unlock("client", "ann", "ann-pass-2026", access.MainDoor), false, access.NetworkOff)
	if _, err := e.vault.Open(bg, on.MasterCode, nil); !errors.Is(err, secret.ErrShredded) {
		t.Fatalf("sealed master code after turning off: %v", err)
	}
	if _, err := svc.RevealMasterCode(bg, "garage", "bill"); !errors.Is(err, commands.ErrNetworkOff) {
		t.Fatalf("reveal after off: %v", err)
	}
	gs, err = svc.GroupStatus(bg, "garage", e.now)
	e.must(err)
	if gs.Network.On {
		t.Fatal("group status still shows network management on")
	}

	// No master code or password in plaintext anywhere in the Pebble directory
	// (or the PostgreSQL tables), and the shredded wrapped key is in no
	// sstable (no live row).
	e.must(e.proj.Close())
	e.must(e.l.Close())
	if hits := e.stored([]byte("ann@example.com")); len(hits) == 0 {
		t.Fatal("the scan finds nothing, not even plain event data: it proves nothing")
	}
	for _, s := range []string{masterCode, "ann-pass-2026", "cid-pass-2026", "wrong-password"} {
		if hits := e.stored([]byte(s)); len(hits) > 0 {
			t.Errorf("%d bytes of a secret found in %v", len(s), hits)
		}
	}
	if testbackend.Postgres() {
		if hits := e.stored(wrapped); len(hits) > 0 {
			t.Errorf("the shredded master code's wrapped data key is still stored in %v", hits)
		}
		return
	}
	for _, f := range onPebble(t, dir, wrapped) {
		if strings.HasSuffix(f, ".sst") {
			t.Errorf("the shredded master code's wrapped data key is still in %s", f)
		} else {
			t.Logf("the wrapped key remains in %s (WAL residue, see LedgerKeystore)", f)
		}
	}
}

func sealedKey(t *testing.T, s secret.Sealed) [16]byte {
	t.Helper()
	id, err := s.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
