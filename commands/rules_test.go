package commands_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// reach returns the events that bring key k of a kind into state st (nil if
// that kind never is in st).
func reach(kind events.Kind, st events.State) []given {
	const k = "k"
	created := given{"key-k", events.KeyCreated{Key: k, Lock: "front", Owner: "bill", Kind: kind, Credential: events.CredentialApp, Settings: settings(k)}}
	var base []given
	switch kind {
	case events.KindShare:
		base = shareKeyCreated(k, 1, 0)
	case events.KindDigital:
		c := created.data.(events.KeyCreated)
		c.Holder = "ann"
		base = []given{{"key-k", c}}
		if st == events.StateCreated || st == events.StateReset || st >= events.StateDeactivationPending && st != events.StateDeleted {
			return nil
		}
	case events.KindOnline: // never shared: created, then deleted
		if st != events.StateCreated && st != events.StateDeleted {
			return nil
		}
		base = []given{created}
	default:
		base = []given{created}
	}
	share := []given{sharedToID(k, "ann")}
	if kind == events.KindDigital {
		share = nil
	}
	dl := []given{downloaded(k, "ann")}
	rel := []given{{"lock-front", events.SlotReleased{Lock: "front", Key: k, Slot: 1, Generation: 1}}}
	if kind != events.KindShare {
		rel = nil
	}
	switch st {
	case events.StateCreated:
		return base
	case events.StateSharing:
		return cat(base, share)
	case events.StateDownloaded:
		return cat(base, share, dl)
	case events.StateRevoked:
		return cat(base, share, []given{{"key-k", events.KeyRevoked{Key: k, Lock: "front", By: "bill"}}}, rel)
	case events.StateReset:
		if kind != events.KindShare {
			return nil
		}
		return cat(base, share, dl, []given{{"key-k", events.KeyReset{Key: k, Lock: "front", By: "bill", Slot: 1, Generation: 1}}}, rel)
	case events.StateDeactivationPending, events.StateDeactivated:
		if kind != events.KindShare {
			return nil
		}
		evs := cat(base, share, dl, []given{{"key-k", events.DeactivationRequested{Key: k, Lock: "front", By: "bill", Slot: 1}}})
		if st == events.StateDeactivated {
			evs = cat(evs, []given{{"key-k", events.DeactivationConfirmed{Key: k, Lock: "front", By: "bill", Slot: 1, Generation: 1}}}, rel)
		}
		return evs
	case events.StateDeleted:
		return cat(base, []given{{"key-k", events.KeyDeleted{Key: k, Lock: "front", By: "bill"}}})
	}
	return nil
}

// TestTransitionMatrix tries every action on every kind in every state: what
// the rules table forbids is refused with a StateError naming the state and
// appends nothing; what it allows goes through.
func TestTransitionMatrix(t *testing.T) {
	kinds := []events.Kind{events.KindShare, events.KindDigital, events.KindIntercom, events.KindOnline}
	states := []events.State{events.StateCreated, events.StateSharing, events.StateDownloaded, events.StateRevoked,
		events.StateReset, events.StateDeactivationPending, events.StateDeactivated, events.StateDeleted}
	actions := []events.Action{events.ActShare, events.ActDownload, events.ActEdit, events.ActRevoke, events.ActReset,
		events.ActRequestDeactivation, events.ActConfirmDeactivation, events.ActDelete}
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

func do(e *env, a events.Action) error {
	kc := commands.KeyCommand{ID: e.id(), Key: "k", By: "bill"}
	switch a {
	case events.ActShare:
		_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k", By: "bill", Method: events.ShareToID, Account: "bob"})
		return err
	case events.ActDownload:
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k", By: "ann"})
		return err
	case events.ActEdit:
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k", By: "bill", Settings: commands.AllSettings(settings("renamed"))})
	case events.ActRevoke:
		return e.svc.RevokeKey(bg, kc)
	case events.ActReset:
		return e.svc.ResetKey(bg, kc)
	case events.ActRequestDeactivation:
		return e.svc.RequestDeactivation(bg, kc)
	case events.ActConfirmDeactivation:
		return e.svc.ConfirmDeactivation(bg, kc)
	case events.ActDelete:
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
		{Key: "", Lock: "front", By: "bill", Kind: events.KindShare},
		{Key: "k", Lock: "front", By: "bill", Kind: 9},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindIntercom, Slot: 1},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindIntercom, Credential: events.CredentialPIN},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindDigital},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindDigital, For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("12a4")},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindDigital, For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("123")},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: events.Settings{Category: 42}},
		{Key: "k", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: events.Settings{Doors: 8}},
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
			_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "x", Lock: "front", By: "ann", Kind: events.KindIntercom})
			return err
		},
		"share": func() error {
			_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k", By: "ann", Method: events.ShareToCode})
			return err
		},
		"edit": func() error {
			return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "k", By: "ann", Settings: commands.SettingsPatch{Name: new("x")}})
		},
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
