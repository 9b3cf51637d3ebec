package commands_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// grantedAppUnlock creates digital key key for ann with st and returns the
// command ID of a granted unlock of its main door at an intercom.
func (e *lockEnv) grantedAppUnlock(key string, st events.Settings) uuid.UUID {
	e.t.Helper()
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Settings: st}); err != nil {
		e.t.Fatal(err)
	}
	u := commands.Unlock{ID: e.id(), Key: key, By: "ann", Source: "intercom"}
	if r, err := e.svc.Unlock(bg, u); err != nil || !r.Granted {
		e.t.Fatalf("unlock: %+v %v", r, err)
	}
	return u.ID
}

func (e *lockEnv) lockChallenge() []byte {
	e.t.Helper()
	chb, err := e.lock.Challenge()
	if err != nil {
		e.t.Fatal(err)
	}
	return chb
}

// A granted decision opens the door once: another challenge for it is
// refused with a typed error, and a relay's retry with the same challenge
// gets a frame for the same nonce, which the lock takes once.
func TestRemoteOpenOncePerDecision(t *testing.T) {
	single := settings("s1")
	single.Policy.Uses = policy.UsesN(1)
	for _, tc := range []struct {
		name     string
		decision func(e *lockEnv) uuid.UUID
	}{
		{"app key", func(e *lockEnv) uuid.UUID { return e.grantedAppUnlock("d1", settings("d1")) }},
		{"single-use app key", func(e *lockEnv) uuid.UUID { return e.grantedAppUnlock("s1", single) }},
		{"PIN at a panel", func(e *lockEnv) uuid.UUID {
			if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
				For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("737373"), Settings: settings("p1")}); err != nil {
				t.Fatal(err)
			}
			c := commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "lobby", PIN: secret.FromString("737373")}
			if r, err := e.svc.UnlockByPIN(bg, c); err != nil || !r.Granted {
				t.Fatalf("%+v %v", r, err)
			}
			return c.ID
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLockEnv(t)
			decision := tc.decision(e)
			chb := e.lockChallenge()
			req := commands.RemoteOpen{Decision: decision, Challenge: chb, Relay: lockproto.RelayIntercom}
			frame, err := e.svc.RemoteOpen(bg, req)
			if err != nil {
				t.Fatal(err)
			}
			retry, err := e.svc.RemoteOpen(bg, req) // the relay lost the answer
			if err != nil {
				t.Fatalf("the same request again: %v", err)
			}
			if d := e.lock.HandleRemoteOpen(retry); !d.Granted {
				t.Fatalf("the retried frame: %+v", d)
			}
			if d := e.lock.HandleRemoteOpen(frame); d.Granted || d.Reason != access.BadNonce {
				t.Fatalf("the first frame after the retried one: %+v", d)
			}
			for i := range 3 {
				var used *commands.RemoteOpenUsedError
				f, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: decision, Challenge: e.lockChallenge(), Relay: lockproto.RelayIntercom})
				if !errors.Is(err, commands.ErrRemoteOpenUsed) || !errors.As(err, &used) || used.Decision != decision || used.Field != "challenge" || f != nil {
					t.Fatalf("another challenge %d: %v (frame %d bytes)", i, err, len(f))
				}
			}
			req.Relay = lockproto.RelayPhone
			if _, err := e.svc.RemoteOpen(bg, req); !errors.Is(err, commands.ErrRemoteOpenUsed) {
				t.Fatalf("the same challenge by another relay: %v", err)
			}
		})
	}
}

// A decision of a key that may no longer unlock, or no longer opens the
// door, gets no frame, though the lock's revocation list cannot name a key
// without a slot.
func TestRemoteOpenRefusedAfterTheKeyChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *lockEnv) error
		want   error
	}{
		{"revoked", func(e *lockEnv) error {
			return e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"})
		}, commands.ErrForbidden},
		{"deleted", func(e *lockEnv) error {
			return e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"})
		}, commands.ErrForbidden},
		{"door taken away", func(e *lockEnv) error {
			doors := access.Inner
			return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "d1", By: "bill", Settings: commands.SettingsPatch{Doors: &doors}})
		}, commands.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLockEnv(t)
			decision := e.grantedAppUnlock("d1", settings("d1"))
			if err := tc.change(e); err != nil {
				t.Fatal(err)
			}
			e.deliver(e.lock, e.pending("front"))
			frame, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: decision, Challenge: e.lockChallenge()})
			if !errors.Is(err, tc.want) || frame != nil {
				t.Fatalf("got %d bytes, %v; want %v", len(frame), err, tc.want)
			}
		})
	}
}

// The lock's audit record of a remote open names the key of a digital key
// (no slot, no code at the lock), in the key's and the lock's history.
func TestRemoteOpenAuditNamesTheKey(t *testing.T) {
	e := newLockEnv(t)
	decision := e.grantedAppUnlock("d1", settings("d1"))
	frame, err := e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: decision, Challenge: e.lockChallenge(), Relay: lockproto.RelayIntercom})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.lock.HandleRemoteOpen(frame); !d.Granted {
		t.Fatalf("%+v", d)
	}
	e.upload(e.lock, "front")
	for _, q := range []projections.HistoryQuery{{Key: "d1", Limit: 100}, {Lock: "front", Limit: 100}} {
		page, err := e.proj.History(bg, q)
		if err != nil {
			t.Fatal(err)
		}
		var opens []projections.HistoryEntry
		for _, h := range page.Entries {
			if h.Offline && h.Source == "remote open" {
				opens = append(opens, h)
			}
		}
		if len(opens) != 1 || opens[0].Key != "d1" || !opens[0].Granted || opens[0].Door != access.Main {
			t.Fatalf("%+v: remote opens in history: %+v", q, opens)
		}
	}
}

// Relays racing with their own challenges for one decision: one frame.
// (As many relays as the lock keeps challenges live: an older challenge
// is evicted, and a frame bound to it would rightly be refused.)
func TestRemoteOpenRacesYieldOneFrame(t *testing.T) {
	e := newLockEnv(t)
	decision := e.grantedAppUnlock("d1", settings("d1"))
	const n = lockproto.MaxOutstandingNonces
	chs := make([][]byte, n)
	for i := range chs {
		chs[i] = e.lockChallenge()
	}
	frames := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames[i], errs[i] = e.svc.RemoteOpen(bg, commands.RemoteOpen{Decision: decision, Challenge: chs[i]})
		}()
	}
	wg.Wait()
	signed := 0
	for i, err := range errs {
		switch {
		case err == nil:
			signed++
		case !errors.Is(err, commands.ErrRemoteOpenUsed):
			t.Fatalf("relay %d: %v", i, err)
		}
	}
	if signed != 1 {
		t.Fatalf("%d frames signed for one decision", signed)
	}
	opened := 0
	for _, f := range frames {
		if f != nil && e.lock.HandleRemoteOpen(f).Granted {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("%d opens", opened)
	}
}
