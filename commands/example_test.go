package commands_test

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

// Share a key To Code, download it with the code, unlock, and read its status.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	reg := ledger.NewRegistry()
	_ = events.Register(reg)
	l, _ := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg, Clock: clock})
	defer l.Close()
	proj, _ := projections.Open(l, nil)
	defer proj.Close()
	svc, _ := commands.New(l, &commands.Options{Clock: clock, Projections: proj,
		Root: []byte("example root secret from your secret manager")})
	n := 0
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "example-%d", n)) }

	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 4})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "guest", Lock: "front", By: "bill", Kind: events.KindShare})
	share, _ := svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "guest", By: "bill", Method: events.ShareToCode})
	fmt.Println("code:", share.Code) // a Secret prints redacted; Reveal() gives the owner the code

	st, _ := proj.KeyStatus(ctx, "guest", now)
	fmt.Println("before download:", st.Sharing)

	_, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "guest", By: "guest-phone", Code: share.Code})
	fmt.Println("download:", err)
	r, _ := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: "guest", By: "guest-phone"})
	fmt.Println("unlock granted:", r.Granted, "uses:", r.Uses)

	err = svc.RevokeKey(ctx, commands.KeyCommand{ID: id(), Key: "guest", By: "bill"})
	fmt.Println(err)

	st, _ = proj.KeyStatus(ctx, "guest", now)
	fmt.Println("after download:", st.Sharing, st.Status)
	// Output:
	// code: [REDACTED]
	// before download: sharing
	// download: <nil>
	// unlock granted: true uses: 1
	// commands: cannot revoke share key "guest": it is downloaded
	// after download: shared ACTIVE
}
