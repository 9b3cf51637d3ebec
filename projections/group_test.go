package projections_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// Group actions appear in the lock's and the accounts' histories, and a
// rebuild from the log gives the same entries.
func TestGroupHistory(t *testing.T) {
	ctx := context.Background()
	st := keyledgertest.New(t)
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	st.Clock.Set(now)
	p, svc := st.Projections, st.Commands
	var n uint64
	id := func() uuid.UUID {
		n++
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[8:], n)
		return u
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"bill", "ann", "bob"} {
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "garage", Owner: "bill", Name: "Garage", Zone: "Europe/Berlin"}))
	_, err := svc.TurnOnNetwork(ctx, commands.TurnOnNetwork{ID: id(), Lock: "garage", By: "bill", MasterCode: secret.FromString("MASTER-9"), Duration: time.Hour})
	must(err)
	_, err = svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "k", Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: events.Settings{Name: "k"}})
	must(err)
	must(svc.InviteMember(ctx, commands.InviteMember{ID: id(), Lock: "garage", Key: "k", Account: "ann", By: "bill"}))
	must(svc.InviteMember(ctx, commands.InviteMember{ID: id(), Lock: "garage", Key: "k", Account: "bob", By: "bill"}))
	must(svc.AcceptInvitation(ctx, commands.AcceptInvitation{ID: id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-password")}))
	must(svc.DeclineInvitation(ctx, commands.InvitationCommand{ID: id(), Lock: "garage", Account: "bob"}))
	_, err = svc.UnlockOnline(ctx, commands.UnlockOnline{ID: id(), Key: "k", By: "ann", Password: secret.FromString("bad-password")})
	must(err)
	_, err = svc.UnlockOnline(ctx, commands.UnlockOnline{ID: id(), Key: "k", By: "ann", Password: secret.FromString("ann-password")})
	must(err)
	must(svc.RemoveMember(ctx, commands.InvitationCommand{ID: id(), Lock: "garage", Account: "ann", By: "bill"}))
	must(svc.TurnOffNetwork(ctx, commands.TurnOffNetwork{ID: id(), Lock: "garage", By: "bill"}))

	history := func(q projections.HistoryQuery) []string {
		t.Helper()
		page, err := p.History(ctx, q)
		must(err)
		var out []string
		for _, h := range page.Entries {
			out = append(out, h.Type+" "+h.Account+">"+h.Subject+" "+h.Reason.Name())
		}
		return out
	}
	lock := history(projections.HistoryQuery{Lock: "garage"})
	want := []string{
		"lock.registered bill> ",
		"group.network_on bill> ",
		"key.created bill> ",
		"group.member_invited bill>ann ",
		"group.member_invited bill>bob ",
		"group.invitation_accepted ann> ",
		"group.invitation_declined bob> ",
		"group.password_rejected ann> wrong_password",
		"key.unlock_attempted ann> wrong_password",
		"key.unlock_attempted ann> ",
		"group.member_removed bill>ann ",
		"group.network_off bill> turned_off",
	}
	if len(lock) != len(want) {
		t.Fatalf("lock history\n got %q\nwant %q", lock, want)
	}
	for i := range want {
		if lock[i] != want[i] {
			t.Fatalf("lock history[%d] = %q, want %q", i, lock[i], want[i])
		}
	}
	ann := history(projections.HistoryQuery{Account: "ann"})
	if len(ann) != 7 { // registered, invited, accepted, rejected, 2 unlocks, removed
		t.Fatalf("ann's history: %q", ann)
	}
	before := lock
	must(p.Rebuild(ctx))
	if after := history(projections.HistoryQuery{Lock: "garage"}); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rebuilt history differs:\n%q\n%q", after, before)
	}
}
