package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// A group's history is the owner's and, while accepted, a member's with
// OpViewHistory; nobody else's.
func TestCanViewHistory(t *testing.T) {
	e := newOnlineEnv(t, t.TempDir())
	e.setUpGarage()
	svc := e.svc
	_, err := svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString("1234-5678"), Duration: 24 * time.Hour})
	e.must(err)
	e.must(e.createOnline("client", tuesdayClient()))
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "bob", By: "bill"}))

	check := func(step, lock, by string, want error) {
		t.Helper()
		err := svc.CanViewHistory(bg, lock, by)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s: CanViewHistory(%q, %q) = %v, want %v", step, lock, by, err, want)
		}
	}
	check("owner", "garage", "bill", nil)
	check("invited, not accepted", "garage", "ann", commands.ErrNotPermitted)
	e.must(svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-pass-2026"), LockName: "garage"}))
	check("accepted with the default permissions", "garage", "ann", nil)
	e.must(svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: e.id(), Lock: "garage", Account: "ann", By: "bill",
		Permissions: events.Permissions{Doors: access.Main, Ops: events.OpUnlock}}))
	check("history permission withdrawn", "garage", "ann", commands.ErrNotPermitted)
	e.must(svc.DeclineInvitation(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "bob", By: "bob"}))
	check("declined", "garage", "bob", commands.ErrNotPermitted)
	check("stranger", "garage", "eve", commands.ErrNotPermitted)
	check("unknown lock", "attic", "bill", commands.ErrNotFound)
	check("empty account", "garage", "", commands.ErrInvalid)
}
