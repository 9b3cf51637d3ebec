package commands_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// pinKey creates a digital PIN key for account on the front door with the
// PIN given, open from now for a week on the main door.
func pinKey(t *testing.T, e *env, key, account, pin string) {
	t.Helper()
	st := settings(key)
	st.Policy.Start, st.Policy.End = e.now, e.now.AddDate(0, 0, 7)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindDigital,
		For: account, Credential: events.CredentialPIN, PIN: secret.FromString(pin), Settings: st}); err != nil {
		t.Fatal(err)
	}
}

func typed(e *env, panel, pin string, door access.Door) (commands.PINUnlockResult, error) {
	return e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: panel, PIN: secret.FromString(pin), Door: door})
}

// A keypad that talks to the backend sends the digits typed: the PIN finds
// its key on the lock, and that key's state, doors and schedule decide, as
// if its user had presented it. The attempt is the key's, with source
// "keypad" and the panel; a revoked key's PIN is just a wrong code.
func TestUnlockByPINFindsTheKeyAndItsRulesDecide(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	pinKey(t, e, "d1", "ann", "482913")
	e.then(func() error {
		r, err := typed(e, "panel-1", "482913", access.MainDoor)
		if err == nil && (!r.Granted || r.Key != "d1" || r.Uses != 1 || r.Failures != 0) {
			t.Errorf("right code: %+v", r)
		}
		return err
	}, events.UnlockAttempted{Key: "d1", Lock: "front", By: "ann", Door: access.Main, Source: "keypad", Panel: "panel-1", Granted: true, Uses: 1})
	if r, err := typed(e, "panel-1", "482913", access.InnerDoor); err != nil || r.Granted || r.Reason != access.WrongDoor || r.Key != "d1" {
		t.Fatalf("a door the key lacks: %+v %v", r, err)
	}
	e.now = e.now.AddDate(0, 0, 8)
	if r, err := typed(e, "panel-1", "482913", access.MainDoor); err != nil || r.Granted || r.Reason != access.Expired {
		t.Fatalf("after the key's end: %+v %v", r, err)
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Account: "ann"})
	if err != nil || len(page.Entries) == 0 {
		t.Fatal(err)
	}
	if last := page.Entries[len(page.Entries)-1]; last.Source != "keypad" || last.Panel != "panel-1" || last.Key != "d1" || last.Reason != access.Expired {
		t.Fatalf("holder's history %+v", last)
	}
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if r, err := typed(e, "panel-1", "482913", access.MainDoor); err != nil || r.Granted || r.Reason != access.WrongPIN || r.Key != "" {
		t.Fatalf("a revoked key's PIN: %+v %v", r, err)
	}
}

// Wrong codes are counted per keypad and lock: the MaxPINFailures-th in a
// row records the alarm and locks that keypad out of the lock for
// PINLockoutDuration, during which even the right code is refused unread
// and nothing is recorded; other keypads are not locked out; a right code
// clears the count; after the lockout the count starts again.
func TestWrongCodesLockTheKeypadOut(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	pinKey(t, e, "d1", "ann", "482913")
	for i := 1; i < commands.MaxPINFailures; i++ {
		r, err := typed(e, "panel-1", "111111", access.MainDoor)
		if err != nil || r.Granted || r.Reason != access.WrongPIN || r.Failures != uint32(i) || !r.LockedUntil.IsZero() {
			t.Fatalf("wrong code %d: %+v %v", i, r, err)
		}
	}
	// A right code clears the count.
	e.then(func() error { _, err := typed(e, "panel-1", "482913", access.MainDoor); return err },
		events.UnlockAttempted{Key: "d1", Lock: "front", By: "ann", Door: access.Main, Source: "keypad", Panel: "panel-1", Granted: true, Uses: 1},
		events.KeypadFailuresCleared{Lock: "front", Panel: "panel-1"})
	for i := 1; i < commands.MaxPINFailures; i++ {
		if r, _ := typed(e, "panel-1", "2222", access.MainDoor); r.Failures != uint32(i) {
			t.Fatalf("count after clearing: %+v", r)
		}
	}
	until := e.now.Add(commands.PINLockoutDuration)
	e.then(func() error {
		r, err := typed(e, "panel-1", "2222", access.MainDoor)
		if err == nil && (r.Reason != access.WrongPIN || !r.LockedUntil.Equal(until)) {
			t.Errorf("the last wrong code: %+v", r)
		}
		return err
	}, events.KeypadCodeRejected{Lock: "front", Panel: "panel-1", Door: access.Main, Failures: commands.MaxPINFailures},
		events.KeypadLockedOut{Lock: "front", Panel: "panel-1", Failures: commands.MaxPINFailures, Until: until.Local()}) // as decoded
	// Locked out: the right code is refused unread, and nothing is recorded.
	e.then(func() error {
		r, err := typed(e, "panel-1", "482913", access.MainDoor)
		if err == nil && (r.Granted || r.Reason != access.LockedOut || !r.LockedUntil.Equal(until) || r.Key != "") {
			t.Errorf("while locked out: %+v", r)
		}
		return err
	})
	// Another keypad of the lock is not locked out.
	if r, err := typed(e, "panel-2", "482913", access.MainDoor); err != nil || !r.Granted {
		t.Fatalf("another keypad: %+v %v", r, err)
	}
	// After the lockout the count starts again.
	e.now = until
	if r, err := typed(e, "panel-1", "3333", access.MainDoor); err != nil || r.Reason != access.WrongPIN || r.Failures != 1 {
		t.Fatalf("after the lockout: %+v %v", r, err)
	}
	// The lock's history shows the wrong codes and the alarm, with the panel.
	page, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	wrong, alarms := 0, 0
	for _, h := range page.Entries {
		switch h.Type {
		case "keypad.code_rejected":
			if h.Reason != access.WrongPIN || h.Panel != "panel-1" || h.Source != "keypad" || h.Granted {
				t.Fatalf("wrong code in history %+v", h)
			}
			wrong++
		case "keypad.locked_out":
			if h.Reason != access.LockedOut || h.Panel != "panel-1" {
				t.Fatalf("alarm in history %+v", h)
			}
			alarms++
		}
	}
	if wrong != 2*commands.MaxPINFailures || alarms != 1 {
		t.Fatalf("history: %d wrong codes, %d alarms", wrong, alarms)
	}
	if st := e.svc.Stats(); st.PINsRejected != 2*commands.MaxPINFailures || st.KeypadLockouts != 1 || st.Unlocks[access.WrongPIN] != 2*commands.MaxPINFailures {
		t.Fatalf("stats %+v", st)
	}
	// A rebuild from the log alone gives the same rows.
	before := dumpRows(t, e)
	if err := e.proj.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	if !deepEqual(before, dumpRows(t, e)) {
		t.Fatal("a rebuild gives other rows")
	}
}

// Bad input is a typed error and records nothing: a code of 3 or 7
// digits or with a non-digit, no panel, an unknown lock or door. Nothing
// the service records or returns holds a code, right or wrong.
func TestUnlockByPINBadInputAndNoCodeAnywhere(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	pinKey(t, e, "d1", "ann", "482913")
	for _, c := range []commands.UnlockByPIN{
		{Lock: "front", Panel: "p", PIN: secret.FromString("123")},
		{Lock: "front", Panel: "p", PIN: secret.FromString("1234567")},
		{Lock: "front", Panel: "p", PIN: secret.FromString("12a4")},
		{Lock: "front", PIN: secret.FromString("1234")},
		{Lock: "front", Panel: "p", PIN: secret.FromString("1234"), Door: 5},
	} {
		c.ID = e.id()
		err := e.refused(func() error { _, err := e.svc.UnlockByPIN(bg, c); return err }, commands.ErrInvalid)
		var ve *commands.ValidationError
		if !errors.As(err, &ve) || strings.Contains(err.Error(), "123") {
			t.Fatalf("%v: want a *ValidationError without the code", err)
		}
	}
	e.refused(func() error {
		_, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "back", Panel: "p", PIN: secret.FromString("482913")})
		return err
	}, commands.ErrNotFound)
	for _, pin := range []string{"482913", "975310"} {
		if _, err := typed(e, "p", pin, access.MainDoor); err != nil {
			t.Fatal(err)
		}
	}
	for ev, err := range e.l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatal(err)
		}
		for _, pin := range []string{"482913", "975310"} {
			if bytes.Contains(ev.Raw, []byte(pin)) {
				t.Fatalf("a code in event %d (%s)", ev.Position, ev.Type)
			}
		}
	}
}

// A keypad sends digits, not a key: an unlock by key ID from source
// "keypad" — which granted a PIN key to its holder without any PIN — is
// refused as invalid and records nothing.
func TestUnlockByKeyIDFromAKeypadIsRefused(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	pinKey(t, e, "d1", "ann", "482913")
	for _, src := range []string{"keypad", "Keypad"} {
		err := e.refused(func() error {
			_, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "d1", By: "ann", Source: src})
			return err
		}, commands.ErrInvalid)
		var ve *commands.ValidationError
		if !errors.As(err, &ve) || ve.Field != "source" {
			t.Fatalf("%v: want a *ValidationError for the source", err)
		}
	}
}

// Two keypads typing the PIN of a single-use key at once: exactly one is
// granted, the other refused as exhausted, and the key shows one use.
func TestUnlockByPINSingleUseConcurrent(t *testing.T) {
	for round := range 5 {
		e := newEnv(t)
		e.given(frontLock()...)
		st := settings("once")
		st.Policy.Uses = policy.SingleUse
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "once", Lock: "front", By: "bill", Kind: events.KindDigital,
			For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482913"), Settings: st}); err != nil {
			t.Fatal(err)
		}
		results := make([]commands.PINUnlockResult, 2)
		var wg sync.WaitGroup
		for i := range results {
			id := e.id()
			wg.Go(func() {
				r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: id, Lock: "front", Panel: fmt.Sprintf("panel-%d", i), PIN: secret.FromString("482913")})
				if err != nil {
					t.Error(err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		granted := 0
		for _, r := range results {
			if r.Granted {
				granted++
			} else if r.Reason != access.Exhausted {
				t.Fatalf("round %d: refused with %v", round, r.Reason)
			}
		}
		if granted != 1 {
			t.Fatalf("round %d: %d granted of a single-use key", round, granted)
		}
		if s, _ := e.proj.KeyStatus(bg, "once", e.now); s.Uses != 1 || s.Status != projections.StatusExhausted {
			t.Fatalf("round %d: status %+v", round, s)
		}
	}
}
