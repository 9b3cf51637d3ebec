package projections_test

import (
	"context"
	"fmt"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

// The key list of a lock and one key's status at an instant.
func ExampleProjections_KeyStatus() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	stack, _ := keyledger.Open("", &keyledger.Options{Clock: clock}) // in memory
	defer stack.Close()
	svc, proj := stack.Commands, stack.Projections
	id := commands.NewID
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
