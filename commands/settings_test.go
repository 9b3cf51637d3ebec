package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// monWedFri8to18 is the schedule of the defect a user met: renaming a key
// open Mon/Wed/Fri 08–18 made it open at all times.
func monWedFri8to18() policy.Policy {
	return policy.Policy{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), // recurring intercom keys are dated
		Windows: []policy.Window{{Days: policy.Days(time.Monday, time.Wednesday, time.Friday), From: 8 * 60, To: 18 * 60}}}
}

// An edit never widens a key by leaving something out: the settings a
// patch sets change, the others keep their value; an edit that sets
// nothing is refused; making a key unlimited takes an explicit empty policy.
func TestEditKeyChangesOnlyWhatItSets(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	st := events.Settings{Name: "Cleaner", Category: events.CategoryEmployee, Doors: access.Main | access.Inner,
		Policy: monWedFri8to18(), Welcome: "Hello"}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom, Settings: st}); err != nil {
		t.Fatal(err)
	}
	row, err := e.proj.Key(bg, "i1")
	if err != nil {
		t.Fatal(err)
	}
	want := row.Settings
	want.Name = "x"
	e.then(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "i1", By: "bill", Settings: commands.SettingsPatch{Name: new("x")}})
	}, events.KeyEdited{Key: "i1", Lock: "front", By: "bill", Settings: want})
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"}); err != nil {
		t.Fatal(err)
	}
	e.now = time.Date(2026, 3, 3, 10, 0, 0, 0, berlin) // a Tuesday
	if r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"}); err != nil || r.Granted || r.Reason != access.OutsideWindow {
		t.Fatalf("renamed key on a Tuesday: %+v, %v; want denied outside its window", r, err)
	}

	err = e.refused(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "i1", By: "bill"})
	}, commands.ErrInvalid)
	var ve *commands.ValidationError
	if !errors.As(err, &ve) || ve.Field != "settings" {
		t.Errorf("an edit that sets nothing: %v", err)
	}

	want.Policy, want.Doors = policy.Policy{Zone: "Europe/Berlin"}, access.Main
	e.then(func() error {
		return e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "i1", By: "bill",
			Settings: commands.SettingsPatch{Policy: new(policy.Policy{}), Doors: new(access.Main)}})
	}, events.KeyEdited{Key: "i1", Lock: "front", By: "bill", Settings: want})
}

// The same rule for online keys: an edit keeps the schedule it omits.
func TestEditOnlineKeyChangesOnlyWhatItSets(t *testing.T) {
	e := groupReady(t)
	e.must(e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "client", By: "bill", Settings: commands.SettingsPatch{Policy: new(tuesday10to12())}}))
	e.must(e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "client", By: "bill", Settings: commands.SettingsPatch{Name: new("Renamed")}}))
	row, err := e.proj.Key(bg, "client")
	if err != nil || row.Settings.Name != "Renamed" || len(row.Settings.Policy.Windows) != 1 || row.Settings.Doors != access.Main {
		t.Fatalf("after renaming: %+v, %v; want the Tuesday window and the main door kept", row.Settings, err)
	}
	if r := e.unlock("ann", "ann-pass-2026"); r.Granted || r.Reason != access.OutsideWindow { // Tuesday 09:00
		t.Fatalf("renamed key before its window: %+v", r)
	}
	e.refusedNothing(e.mark(), e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "client", By: "bill"}), commands.ErrInvalid)
}
