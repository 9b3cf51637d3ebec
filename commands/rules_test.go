package commands_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyledger/keyledger/commands"
)

// reach returns the events that bring key k of a kind into state st (nil if
// that kind never is in st).
func reach(kind commands.Kind, st commands.State) []given {
	const k = "k"
	created := given{"key-k", commands.KeyCreated{Key: k, Lock: "front", Owner: "bill", Kind: kind, Credential: commands.CredentialApp, Settings: settings(k)}}
	var base []given
	switch kind {
	case commands.KindShare:
		base = shareKeyCreated(k, 1, 0)
	case commands.KindDigital:
		c := created.data.(commands.KeyCreated)
		c.Holder = "ann"
		base = []given{{"key-k", c}}
		if st == commands.StateCreated || st == commands.StateReset || st >= commands.StateDeactivationPending && st != commands.StateDeleted {
			return nil
		}
	default:
		base = []given{created}
	}
	share := []given{sharedToID(k, "ann")}
	if kind == commands.KindDigital {
		share = nil
	}
	dl := []given{downloaded(k, "ann")}
	rel := []given{{"lock-front", commands.SlotReleased{Lock: "front", Key: k, Slot: 1, Generation: 1}}}
	if kind != commands.KindShare {
		rel = nil
	}
	switch st {
	case commands.StateCreated:
		return base
	case commands.StateSharing:
		return cat(base, share)
	case commands.StateDownloaded:
		return cat(base, share, dl)
	case commands.StateRevoked:
		return cat(base, share, []given{{"key-k", commands.KeyRevoked{Key: k, Lock: "front", By: "bill"}}}, rel)
	case commands.StateReset:
		if kind != commands.KindShare {
			return nil
		}
		return cat(base, share, dl, []given{{"key-k", commands.KeyReset{Key: k, Lock: "front", By: "bill", Slot: 1, Generation: 1}}}, rel)
	case commands.StateDeactivationPending, commands.StateDeactivated:
		if kind != commands.KindShare {
			return nil
		}
		evs := cat(base, share, dl, []given{{"key-k", commands.DeactivationRequested{Key: k, Lock: "front", By: "bill", Slot: 1}}})
		if st == commands.StateDeactivated {
			evs = cat(evs, []given{{"key-k", commands.DeactivationConfirmed{Key: k, Lock: "front", By: "bill", Slot: 1, Generation: 1}}}, rel)
		}
		return evs
	case commands.StateDeleted:
		return cat(base, []given{{"key-k", commands.KeyDeleted{Key: k, Lock: "front", By: "bill"}}})
	}
	return nil
}

// TestTransitionMatrix tries every action on every kind in every state: what
// the rules table forbids is refused with a StateError naming the state and
// appends nothing; what it allows goes through.
func TestTransitionMatrix(t *testing.T) {
	kinds := []commands.Kind{commands.KindShare, commands.KindDigital, commands.KindIntercom}
	states := []commands.State{commands.StateCreated, commands.StateSharing, commands.StateDownloaded, commands.StateRevoked,
		commands.StateReset, commands.StateDeactivationPending, commands.StateDeactivated, commands.StateDeleted}
	actions := []commands.Action{commands.ActShare, commands.ActDownload, commands.ActEdit, commands.ActRevoke, commands.ActReset,
		commands.ActRequestDeactivation, commands.ActConfirmDeactivation, commands.ActDelete}
	for _, kind := range kinds {
		for _, st := range states {
			evs := reach(kind, st)
			if evs == nil {
				continue
			}
			for _, a := range actions {
				t.Run(fmt.Sprintf("%v/%v/%v", kind, st, a), func(t *testing.T) {
					e := newEnv(t)
					e.given(cat(frontLock(), evs)...)
					run := func() error { return do(e, a) }
					if commands.Allows(kind, st, a) {
						if err := run(); err != nil {
							t.Fatalf("allowed action refused: %v", err)
						}
						return
					}
					err := e.refused(run, commands.ErrForbidden)
					var se *commands.StateError
					if !errors.As(err, &se) || se.State != st || se.Action != a || se.Kind != kind {
						t.Fatalf("error %v does not name state %v", err, st)
					}
				})
			}
		}
	}
}

func do(e *env, a commands.Action) error {
	kc := commands.KeyCommand{ID: e.id(), Key: "k", By: "bill"}
	switch a {
	case commands.ActShare:
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k", By: "bill", Method: commands.ShareToID, Account: "bob"})
		return err
	case commands.ActDownload:
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k", By: "ann"})
		return err
	case commands.ActEdit:
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k", By: "bill", Settings: settings("renamed")})
	case commands.ActRevoke:
		return e.svc.RevokeKey(bg, kc)
	case commands.ActReset:
		return e.svc.ResetKey(bg, kc)
	case commands.ActRequestDeactivation:
		return e.svc.RequestDeactivation(bg, kc)
	case commands.ActConfirmDeactivation:
		return e.svc.ConfirmDeactivation(bg, kc)
	case commands.ActDelete:
		return e.svc.DeleteKey(bg, kc)
	}
	panic("unknown action")
}

func TestUnknownKeyAndValidation(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	e.refused(func() error { return e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "nope", By: "bill"}) }, commands.ErrNotFound)
	e.refused(func() error {
		_, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "nope", By: "ann"})
		return err
	}, commands.ErrNotFound)
	for _, c := range []commands.CreateKey{
		{Key: "", Lock: "front", By: "bill", Kind: commands.KindShare},
		{Key: "k", Lock: "front", By: "bill", Kind: 9},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindIntercom, Slot: 1},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindIntercom, Credential: commands.CredentialPIN},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindDigital},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindDigital, For: "ann", Credential: commands.CredentialPIN, PIN: commands.NewSecret("12a4")},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindDigital, For: "ann", Credential: commands.CredentialPIN, PIN: commands.NewSecret("123")},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindIntercom, Settings: commands.Settings{Category: 42}},
		{Key: "k", Lock: "front", By: "bill", Kind: commands.KindIntercom, Settings: commands.Settings{Doors: 8}},
	} {
		c.ID = e.id()
		err := e.refused(func() error { _, err := e.svc.CreateKey(bg, c); return err }, commands.ErrInvalid)
		var ve *commands.ValidationError
		if !errors.As(err, &ve) || ve.Field == "" {
			t.Fatalf("%v is not a ValidationError naming a field", err)
		}
	}
}

// Only the lock's owner manages its keys: every owner command by someone
// else is ErrNotPermitted and appends nothing.
func TestOnlyOwnerManages(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k", 1, 0), []given{sharedToID("k", "ann")})...)
	kc := func() commands.KeyCommand { return commands.KeyCommand{ID: e.id(), Key: "k", By: "ann"} }
	for name, f := range map[string]func() error{
		"create": func() error {
			_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "x", Lock: "front", By: "ann", Kind: commands.KindIntercom})
			return err
		},
		"share": func() error {
			_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k", By: "ann", Method: commands.ShareToCode})
			return err
		},
		"edit":       func() error { return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k", By: "ann"}) },
		"revoke":     func() error { return e.svc.RevokeKey(bg, kc()) },
		"reset":      func() error { return e.svc.ResetKey(bg, kc()) },
		"deactivate": func() error { return e.svc.RequestDeactivation(bg, kc()) },
		"confirm":    func() error { return e.svc.ConfirmDeactivation(bg, kc()) },
		"delete":     func() error { return e.svc.DeleteKey(bg, kc()) },
		"blackouts": func() error {
			return e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "ann"})
		},
	} {
		t.Run(name, func(t *testing.T) { e.refused(f, commands.ErrNotPermitted) })
	}
}
