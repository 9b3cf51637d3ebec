package commands_test

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

func raceID(n *atomic.Uint64) uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], n.Add(1))
	u[0] = 0x7a
	return u
}

// Concurrent wrong passwords: the lockout counter loses no attempt.
func TestConcurrentWrongPasswordsLockOutExactly(t *testing.T) {
	e := groupReady(t)
	var n atomic.Uint64
	var wg sync.WaitGroup
	var mu sync.Mutex
	reasons := map[access.Reason]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				r, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: raceID(&n), Key: "client", By: "ann", Password: secret.FromString("wrong-password")})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				reasons[r.Reason]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if reasons[access.WrongPassword] != commands.MaxPasswordFailures || reasons[access.LockedOut] != 24-commands.MaxPasswordFailures {
		t.Fatalf("reasons %v", reasons)
	}
}

// Unlocks racing a removal and network management being turned off: no
// unlock is granted after either in the log.
func TestConcurrentUnlocksNeverAfterRemovalOrOff(t *testing.T) {
	e := groupReady(t)
	var n atomic.Uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: raceID(&n), Key: "client", By: "ann", Password: secret.FromString("ann-pass-2026")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for n.Load() < 20 {
		runtimeGosched()
	}
	e.must(e.svc.RemoveMember(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "ann", By: "bill"}))
	for n.Load() < 40 {
		runtimeGosched()
	}
	close(stop)
	wg.Wait()
	removed := false
	granted := 0
	for ev, err := range e.l.ReadStream(bg, "group-garage", 1) {
		e.must(err)
		switch d := ev.Data.(type) {
		case events.MemberRemoved:
			removed = true
		case events.UnlockAttempted:
			if d.Granted {
				if removed {
					t.Fatalf("unlock granted at version %d after the removal", ev.Version)
				}
				granted++
			}
		}
	}
	if !removed || granted == 0 {
		t.Fatalf("removed=%v granted=%d: the race did not happen", removed, granted)
	}
}

func runtimeGosched() { runtime.Gosched() }
