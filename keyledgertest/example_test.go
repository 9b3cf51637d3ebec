package keyledgertest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
)

// Steps run on a stack and on the model side by side: each outcome is the
// stack's, checked against the model's; Compare then checks every key's
// row and status and the lock's slots. In a test, Check draws the steps.
func Example() {
	st, err := keyledgertest.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	m, err := keyledgertest.NewMachine(context.Background(), st, keyledgertest.DefaultWorld())
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range []keyledgertest.Step{
		{Op: keyledgertest.OpCreate, Key: "k0", Kind: events.KindShare},
		{Op: keyledgertest.OpShare, Key: "k0", Method: events.ShareToID, Account: "ann"},
		{Op: keyledgertest.OpDownload, Key: "k0", Account: "bob"},
		{Op: keyledgertest.OpDownload, Key: "k0", Right: true}, // the model fills in Ann
		{Op: keyledgertest.OpRevoke, Key: "k0"},
		{Op: keyledgertest.OpUnlock, Key: "k0", Right: true},
		{Op: keyledgertest.OpReset, Key: "k0"},
		{Op: keyledgertest.OpUnlock, Key: "k0", Right: true},
	} {
		out, err := m.Do(s) // an error: the stack and the model disagree
		if err != nil {
			log.Fatal(err)
		}
		switch {
		case out.Err != nil:
			fmt.Printf("%-9s refused: %v\n", s.Op, out.Err)
		case s.Op == keyledgertest.OpUnlock:
			fmt.Printf("%-9s granted=%v (%v), uses %d\n", s.Op, out.Granted, out.Reason, out.Uses)
		default:
			fmt.Printf("%-9s ok\n", s.Op)
		}
	}
	fmt.Println("compare:", m.Compare())
	k := m.Model.Keys["k0"]
	fmt.Println("model:", k.State, k.Sharing(), "slot", k.Slot, "uses", k.Uses, "slot generation now", m.Model.Slots[0].Generation)
	// Output:
	// create    ok
	// share     ok
	// download  refused: commands: not permitted: key "k0" was not shared with "bob"
	// download  ok
	// revoke    refused: commands: cannot revoke share key "k0": it is downloaded
	// unlock    granted=true (granted), uses 1
	// reset     ok
	// unlock    granted=false (reset), uses 1
	// compare: <nil>
	// model: reset shared slot 1 uses 1 slot generation now 1
}
