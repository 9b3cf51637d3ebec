package projections_test

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

// The key list of a lock and one key's status at an instant.
func ExampleProjections_KeyStatus() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	reg := ledger.NewRegistry()
	_ = events.Register(reg)
	l, _ := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg, Clock: clock})
	defer l.Close()
	proj, _ := projections.Open(l, nil)
	defer proj.Close()
	svc, _ := commands.New(l, &commands.Options{Clock: clock, Projections: proj})
	n := 0
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "status-%d", n)) }
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 2})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "k2", Lock: "front", By: "bill", Kind: events.KindShare})
	_, _ = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"})
	_, _ = svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "k1", By: "ann"})
	_, _ = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "k2", By: "bill", Method: events.ShareToID, Account: "ann"})
	fmt.Println(svc.RevokeKey(ctx, commands.KeyCommand{ID: id(), Key: "k2", By: "bill"})) // before download: allowed

	keys, _ := proj.KeyList(ctx, "front", now)
	for _, k := range keys {
		fmt.Println(k.Key, k.Slot, k.Status.Sharing, k.Status.Status)
	}
	st, _ := proj.KeyStatus(ctx, "k1", now.Add(24*time.Hour))
	fmt.Println("k1 tomorrow:", st.Status, st.Sharing, "in window:", st.InWindow)
	// Output:
	// <nil>
	// k1 1 shared ACTIVE
	// k2 2 not shared REVOKED
	// k1 tomorrow: ACTIVE shared in window: true
}
