package commands_test

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// DeleteKey of an online key racing invitations, acceptances, edits and
// online unlocks of it: the deletion and the end of its members and
// invitations are one append, so in the group's log nothing of the key
// follows its removal, and no member or open invitation of it survives.
func TestConcurrentDeleteOfAnOnlineKey(t *testing.T) {
	e := groupReady(t)
	var n atomic.Uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	worker := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(); err != nil && !errors.Is(err, commands.ErrForbidden) && !errors.Is(err, commands.ErrNotFound) &&
					!errors.Is(err, commands.ErrExists) && !errors.Is(err, commands.ErrGroupFull) {
					t.Error(err)
					return
				}
			}
		}()
	}
	worker(func() error { // one goroutine only draws randomness: the test vault's reader is not safe for concurrent use
		err := e.svc.InviteMember(bg, commands.InviteMember{ID: raceID(&n), Lock: "garage", Key: "client", Account: "bob", By: "bill"})
		if err != nil {
			return err
		}
		return e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: raceID(&n), Lock: "garage", Account: "bob", Password: secret.FromString("bob-pass-2026")})
	})
	for _, a := range []string{"cid", "dee"} {
		worker(func() error {
			return e.svc.InviteMember(bg, commands.InviteMember{ID: raceID(&n), Lock: "garage", Key: "client", Account: a, By: "bill"})
		})
	}
	worker(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: raceID(&n), Key: "client", By: "bill", Settings: commands.SettingsPatch{Name: new(fmt.Sprint("client ", n.Load()))}})
	})
	worker(func() error {
		_, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: raceID(&n), Key: "client", By: "ann", Password: secret.FromString("ann-pass-2026")})
		return err
	})
	for n.Load() < 30 {
		runtimeGosched()
	}
	e.must(e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "client", By: "bill"}))
	for start := n.Load(); n.Load() < start+30; {
		runtimeGosched()
	}
	close(stop)
	wg.Wait()

	removed := false
	for ev, err := range e.l.ReadStream(bg, "group-garage", 1) {
		e.must(err)
		switch d := ev.Data.(type) {
		case events.OnlineKeyRemoved:
			removed = true
		case events.MemberInvited, events.InvitationAccepted, events.OnlineKeyEdited:
			if removed {
				t.Fatalf("%T at version %d after the key's removal", d, ev.Version)
			}
		case events.UnlockAttempted:
			if removed && d.Granted {
				t.Fatalf("unlock granted at version %d after the key's removal", ev.Version)
			}
		}
	}
	gs, err := e.svc.GroupStatus(bg, "garage", e.now)
	e.must(err)
	for _, m := range gs.Members {
		if m.State == events.InvitePending || m.State == events.InviteAccepted {
			t.Fatalf("%s is still %v after the key's deletion", m.Account, m.State)
		}
	}
	if !removed || len(gs.Keys) != 0 {
		t.Fatalf("removed=%v keys=%+v", removed, gs.Keys)
	}
}
