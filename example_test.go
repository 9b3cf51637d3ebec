package keyledger_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// Embed keyledger: open a stack on disk, register an account and a lock,
// create a key and share it To Code, and read its status. The status query
// sees the share as soon as ShareKey returns (read-your-writes).
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keyledger-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := keyledger.Open(dir, &keyledger.Options{
		Root: secret.New([]byte("example root secret: use your secret manager!")),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	svc := st.Commands

	// Every command carries an ID its caller makes: reuse it on a retry.
	err = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	err = svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 3})
	if err != nil {
		log.Fatal(err)
	}
	_, err = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "guest", Lock: "front", By: "bill", Kind: events.KindShare,
		Settings: events.Settings{Name: "Guest", Policy: policy.Policy{Uses: policy.UsesN(3)}}})
	if err != nil {
		log.Fatal(err)
	}
	share, err := svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "guest", By: "bill", Method: events.ShareToCode})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("code:", share.Code) // redacted; share.Code.Reveal() is shown to the owner, once

	status, err := st.Projections.KeyStatus(ctx, "guest", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("guest:", status.Status, status.Sharing, "uses:", status.Uses)
	// Output:
	// code: [REDACTED]
	// guest: ACTIVE sharing uses: 0
}
