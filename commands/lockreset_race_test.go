package commands_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

// An app key created while the lock is being reset (it writes no lock
// event, so the reset's append does not conflict with it) is either
// created after the reset, and stays, or before it in the log, and is then
// revoked for the reset like every key the reset named.
func TestKeyCreatedDuringResetIsEndedIfBefore(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	for i := range 40 {
		key := fmt.Sprintf("d%d", i)
		var wg sync.WaitGroup
		var resetErr, createErr error
		resetID, createID := e.id(), e.id()
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, resetErr = e.svc.ResetLock(bg, commands.ResetLock{ID: resetID, Lock: "front", By: "bill"})
		}()
		go func() {
			defer wg.Done()
			_, createErr = e.svc.CreateKey(bg, commands.CreateKey{ID: createID, Key: key, Lock: "front", By: "bill", Kind: events.KindDigital,
				For: "ann", Credential: events.CredentialApp, Settings: settings(key)})
		}()
		wg.Wait()
		if resetErr != nil || createErr != nil {
			t.Fatalf("reset %v, create %v", resetErr, createErr)
		}
		var created, reset uint64
		revoked := false
		for ev, err := range e.l.ReadAll(bg, 0) {
			if err != nil {
				t.Fatal(err)
			}
			switch d := ev.Data.(type) {
			case events.KeyCreated:
				if d.Key == key {
					created = ev.Position
				}
			case events.LockReset:
				reset = ev.Position // the last one: this round's
			case events.KeyRevoked:
				if d.Key == key && d.Reason == access.LockReset {
					revoked = true
				}
			}
		}
		if (created < reset) != revoked {
			t.Fatalf("round %d: key created at %d, reset at %d, revoked for the reset: %v", i, created, reset, revoked)
		}
	}
}
