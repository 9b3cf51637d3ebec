package commands_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// The online-key flow in short: network management on with the master
// code, an online key, an invitation accepted with a personal password,
// online unlocks, and network management off (the master code is
// crypto-shredded).
func ExampleService_UnlockOnline() {
	ctx := context.Background()
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	reg := ledger.NewRegistry()
	_ = events.Register(reg)
	l, _ := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg, Clock: clock})
	defer l.Close()
	svc, _ := commands.New(l, &commands.Options{Clock: clock, Root: []byte("example root secret from your secret manager")})
	n := 0
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "online-%d", n)) }

	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "garage", Owner: "bill", Name: "Garage", Zone: "Europe/Berlin"})

	st, _ := svc.TurnOnNetwork(ctx, commands.TurnOnNetwork{ID: id(), Lock: "garage", By: "bill",
		MasterCode: secret.FromString("731946"), Duration: 30 * 24 * time.Hour})
	fmt.Println("network management until", st.Until.Format("2006-01-02"))
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "client", Lock: "garage", By: "bill", Kind: events.KindOnline,
		Settings: events.Settings{Name: "Client"}})
	_ = svc.InviteMember(ctx, commands.InviteMember{ID: id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"})
	_ = svc.AcceptInvitation(ctx, commands.AcceptInvitation{ID: id(), Lock: "garage", Account: "ann",
		Password: secret.FromString("ann's password"), LockName: "Bill's garage"})

	for _, pw := range []string{"ann's password", "a guess"} {
		r, _ := svc.UnlockOnline(ctx, commands.UnlockOnline{ID: id(), Key: "client", By: "ann", Password: secret.FromString(pw)})
		fmt.Println(verdict(r))
	}
	_ = svc.TurnOffNetwork(ctx, commands.TurnOffNetwork{ID: id(), Lock: "garage", By: "bill"})
	r, _ := svc.UnlockOnline(ctx, commands.UnlockOnline{ID: id(), Key: "client", By: "ann", Password: secret.FromString("ann's password")})
	fmt.Println(verdict(r))
	_, err := svc.RevealMasterCode(ctx, "garage", "bill")
	fmt.Println(errors.Is(err, commands.ErrNetworkOff))

	gs, _ := svc.GroupStatus(ctx, "garage", now)
	for _, m := range gs.Members {
		fmt.Println(m.Account, m.Key, m.State, m.Permissions.Ops, m.LockName)
	}
	// Output:
	// network management until 2026-04-02
	// granted
	// denied: wrong_password
	// denied: network_off
	// true
	// ann client accepted unlock+history Bill's garage
}

func verdict(r commands.UnlockResult) string {
	if r.Granted {
		return "granted"
	}
	return "denied: " + r.Reason.Name()
}
