package events_test

import (
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/vmihailenco/msgpack/v5"
)

// Events written before reasons had a type stored them as msgpack strings;
// they read back as the same reason.
func TestStoredReasonStringsStillRead(t *testing.T) {
	type oldUnlock struct {
		Key, Lock, By string
		Door          uint8
		Source        string
		Granted       bool
		Reason        string `msgpack:",omitempty"`
		Uses          uint32
	}
	for _, name := range []string{"outside_window", "door_not_permitted", "lock_bad_nonce", "blackout", ""} {
		b, err := msgpack.Marshal(oldUnlock{Key: "k", Lock: "l", By: "a", Door: 2, Reason: name})
		if err != nil {
			t.Fatal(err)
		}
		var ev events.UnlockAttempted
		if err := msgpack.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		want, _ := access.ParseReason(name)
		if ev.Reason != want || ev.Reason.Name() != name || ev.Door != access.Inner {
			t.Errorf("%q read as %v (%q), door %v", name, ev.Reason, ev.Reason.Name(), ev.Door)
		}
	}
}

// Every catalogue name is unique: a name is the type of every stored event.
func TestCatalogueNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, ty := range events.Types() {
		if seen[ty.Name] {
			t.Fatalf("%q twice", ty.Name)
		}
		seen[ty.Name] = true
	}
}
