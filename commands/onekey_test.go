package commands_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// One key model: CreateKey, EditKey and DeleteKey serve every kind. Per
// kind, the table states what each appends for a fresh key (the stream and
// type of every event, in order: the kind's row of the rules table adds to
// the key's own event), whether making it needs network management on, and
// that only the lock's owner may (not a group manager, not a member). After
// the deletion neither edit nor delete is allowed.
func TestKindsCreateEditDelete(t *testing.T) {
	cases := []struct {
		name         string
		kind         events.Kind
		create       commands.CreateKey // ID, Key, Lock, By and Kind are filled in
		needsNetwork bool
		created      []string
		edited       []string
		deleted      []string
	}{
		{name: "share", kind: events.KindShare,
			created: []string{"key-k KeyCreated", "lock-garage SlotAssigned"},
			edited:  []string{"key-k KeyEdited"},
			deleted: []string{"key-k KeyDeleted", "lock-garage SlotReleased"}},
		{name: "digital", kind: events.KindDigital, create: commands.CreateKey{For: "dee"},
			created: []string{"key-k KeyCreated"},
			edited:  []string{"key-k KeyEdited"},
			deleted: []string{"key-k KeyDeleted"}},
		{name: "digital with a PIN", kind: events.KindDigital, create: commands.CreateKey{For: "dee", Credential: events.CredentialPIN},
			created: []string{"key-k KeyCreated", "lock-garage PINClaimed"},
			edited:  []string{"key-k KeyEdited"},
			deleted: []string{"key-k KeyDeleted", "lock-garage PINReleased"}},
		{name: "intercom", kind: events.KindIntercom,
			created: []string{"key-k KeyCreated"},
			edited:  []string{"key-k KeyEdited"},
			deleted: []string{"key-k KeyDeleted"}},
		// An online key joins its lock's group in the same append; its
		// deletion removes its member Eve (her password hash shredded) and
		// withdraws Fay's open invitation.
		{name: "online", kind: events.KindOnline, needsNetwork: true,
			created: []string{"key-k KeyCreated", "group-garage OnlineKeyAdded"},
			edited:  []string{"key-k KeyEdited", "group-garage OnlineKeyEdited"},
			deleted: []string{"key-k KeyDeleted", "group-garage MemberRemoved", "group-garage InvitationWithdrawn", "group-garage OnlineKeyRemoved"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := groupReady(t) // Ann is a member of online key "client"; the owner makes her a manager
			e.must(e.svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "ann", By: "bill",
				Permissions: events.Permissions{Doors: access.Main, Ops: events.OpUnlock | events.OpManage}}))
			create := func(key, by string) error {
				c := tc.create
				c.ID, c.Key, c.Lock, c.By, c.Kind = e.id(), key, "garage", by, tc.kind
				_, err := e.svc.CreateKey(bg, c)
				return err
			}
			edit := func(by string) error {
				return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k", By: by, Settings: commands.SettingsPatch{Name: new("renamed")}})
			}
			del := func(by string) error { return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "k", By: by}) }
			for _, by := range []string{"ann", "bob"} { // a manager of the group, a stranger
				e.refusedNothing(e.mark(), create("k", by), commands.ErrNotPermitted)
			}
			pos := e.mark()
			e.must(create("k", "bill"))
			if got := e.appended(pos); !slices.Equal(got, tc.created) {
				t.Fatalf("create appended %q, want %q", got, tc.created)
			}
			for _, by := range []string{"ann", "bob"} {
				e.refusedNothing(e.mark(), edit(by), commands.ErrNotPermitted)
				e.refusedNothing(e.mark(), del(by), commands.ErrNotPermitted)
			}
			pos = e.mark()
			e.must(edit("bill"))
			if got := e.appended(pos); !slices.Equal(got, tc.edited) {
				t.Fatalf("edit appended %q, want %q", got, tc.edited)
			}
			if tc.kind == events.KindOnline {
				e.must(e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "k", Account: "eve", By: "bill"}))
				e.must(e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "eve", Password: secret.FromString("eve-pass-2026")}))
				e.must(e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "k", Account: "fay", By: "bill"}))
			}
			pos = e.mark()
			e.must(del("bill"))
			if got := e.appended(pos); !slices.Equal(got, tc.deleted) {
				t.Fatalf("delete appended %q, want %q", got, tc.deleted)
			}
			for name, err := range map[string]error{"edit": edit("bill"), "delete": del("bill")} {
				var se *commands.StateError
				if !errors.As(err, &se) || se.State != events.StateDeleted || se.Kind != tc.kind {
					t.Fatalf("%s after delete: %v, want a StateError naming the deleted %v key", name, err, tc.kind)
				}
			}

			// Network management off: only online keys are refused.
			e.must(e.svc.TurnOffNetwork(bg, commands.TurnOffNetwork{ID: e.id(), Lock: "garage", By: "bill"}))
			if tc.needsNetwork {
				e.refusedNothing(e.mark(), create("k2", "bill"), commands.ErrNetworkOff)
			} else {
				e.must(create("k2", "bill"))
			}
		})
	}
}

// Allows states the rules table for online keys: the owner edits or deletes
// them while they exist; every other key action belongs to the group.
func TestAllowsOnline(t *testing.T) {
	all := []events.Action{events.ActShare, events.ActDownload, events.ActEdit, events.ActRevoke, events.ActReset,
		events.ActRequestDeactivation, events.ActConfirmDeactivation, events.ActDelete, events.ActUnlock}
	for _, st := range []events.State{events.StateCreated, events.StateDeleted} {
		for _, a := range all {
			want := st == events.StateCreated && (a == events.ActEdit || a == events.ActDelete)
			if got := commands.Allows(events.KindOnline, st, a); got != want {
				t.Errorf("Allows(online, %v, %v) = %v, want %v", st, a, got, want)
			}
		}
	}
}

// appended lists "stream Type" of every event after position pos.
func (e *onlineEnv) appended(pos uint64) []string {
	e.t.Helper()
	var out []string
	for ev, err := range e.l.ReadAll(bg, pos+1) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev.Stream+" "+reflect.TypeOf(ev.Data).Name())
	}
	return out
}
