package commands_test

import (
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
)

// Digital keys are made by the account managers of a site, not only by the
// lock's owner: the owner names managers per lock; a manager picks one of
// the locks it manages and a user registered in the system (found by
// e-mail), creates a digital key for them, and edits, revokes and deletes
// the digital keys of those locks. Other kinds of key, and locks it does
// not manage, stay out of its reach; managers are named by the owner alone.
func TestAccountManagersMakeDigitalKeys(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), []given{
		{"account-mia", events.AccountRegistered{Account: "mia", Name: "Mia", Email: "Mia@Example.com"}},
		{"lock-office", events.LockRegistered{Lock: "office", Owner: "mia", Name: "Office", Zone: "Europe/Berlin", Doors: access.Main}},
	})...)
	manager := func(add bool, by, account string) func() error {
		c := commands.AccountManager{ID: e.id(), Lock: "front", By: by, Account: account}
		if add {
			return func() error { return e.svc.AddAccountManager(bg, c) }
		}
		return func() error { return e.svc.RemoveAccountManager(bg, c) }
	}
	create := func(key, by, lock string, kind events.Kind, user string) func() error {
		return func() error {
			c := commands.CreateKey{ID: e.id(), Key: key, Lock: lock, By: by, Kind: kind, Settings: settings(key)}
			if kind == events.KindDigital {
				c.For = user
			}
			_, err := e.svc.CreateKey(bg, c)
			return err
		}
	}

	// Only the owner names managers, of registered accounts other than itself.
	e.refused(manager(true, "ann", "bob"), commands.ErrNotPermitted)
	e.refused(manager(true, "bill", "nobody"), commands.ErrNotFound)
	e.refused(manager(true, "bill", "bill"), commands.ErrInvalid)
	e.refused(manager(false, "bill", "ann"), commands.ErrNotFound)
	e.then(manager(true, "bill", "ann"), events.LockManagerAdded{Lock: "front", Account: "ann", By: "bill"})
	e.refused(manager(true, "bill", "ann"), commands.ErrExists)

	// The manager's choices: the locks it manages, the registered users.
	locks, err := e.proj.ManagedLocks(bg, "ann")
	if err != nil || len(locks) != 1 || locks[0].Lock != "front" || len(locks[0].Managers) != 1 || locks[0].Managers[0] != "ann" {
		t.Fatalf("ann manages %+v %v", locks, err)
	}
	if owned, err := e.proj.ManagedLocks(bg, "bill"); err != nil || len(owned) != 1 || owned[0].Lock != "front" {
		t.Fatalf("bill manages %+v %v", owned, err)
	}
	users, err := e.proj.AccountsByEmail(bg, "mia@example.COM")
	if err != nil || len(users) != 1 || users[0] != (projections.AccountRow{Account: "mia", Name: "Mia", Email: "Mia@Example.com"}) {
		t.Fatalf("found by e-mail %+v %v", users, err)
	}
	if none, err := e.proj.AccountsByEmail(bg, "nobody@example.com"); err != nil || len(none) != 0 {
		t.Fatalf("unknown address found %+v %v", none, err)
	}
	if all, err := e.proj.Accounts(bg, "", 0); err != nil || len(all) != 4 || all[0].Account != "ann" || all[3].Account != "mia" {
		t.Fatalf("registered users %+v %v", all, err)
	}
	if page, err := e.proj.Accounts(bg, "bill", 1); err != nil || len(page) != 1 || page[0].Account != "bob" {
		t.Fatalf("users after bill %+v %v", page, err)
	}

	// A digital key for a registered user, made by the manager.
	e.then(create("d1", "ann", "front", events.KindDigital, "mia"),
		events.KeyCreated{Key: "d1", Lock: "front", Owner: "bill", By: "ann", Kind: events.KindDigital, Credential: events.CredentialApp,
			Settings: settings("d1"), Holder: "mia"})
	e.refused(create("d2", "ann", "front", events.KindDigital, "nobody"), commands.ErrNotFound)
	// Not other kinds, not locks it does not manage, not for someone who manages nothing.
	e.refused(create("i1", "ann", "front", events.KindIntercom, ""), commands.ErrNotPermitted)
	e.refused(create("d3", "ann", "office", events.KindDigital, "bob"), commands.ErrNotPermitted)
	e.refused(create("d4", "bob", "front", events.KindDigital, "mia"), commands.ErrNotPermitted)

	// It manages the lock's digital keys, the owner's too.
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d5", Lock: "front", By: "bill", Kind: events.KindDigital, For: "bob", Settings: settings("d5")}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "d5", By: "ann", Settings: commands.SettingsPatch{Name: new("by the manager")}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "d5", By: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteKey(bg, commands.KeyCommand{ID: e.id(), Key: "d5", By: "ann"}); err != nil {
		t.Fatal(err)
	}
	// The site's digital-keys table: the same for the owner and the manager.
	for _, who := range []string{"bill", "ann"} {
		table, err := e.proj.DigitalKeys(bg, who, e.now)
		if err != nil || len(table) != 1 || table[0].Key != "d1" || table[0].CreatedBy != "ann" || table[0].Owner != "bill" {
			t.Fatalf("%s's digital keys %+v %v", who, table, err)
		}
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Key: "d1"})
	if err != nil || len(page.Entries) == 0 || page.Entries[0].Account != "ann" || page.Entries[0].Subject != "mia" {
		t.Fatalf("history of d1 %+v %v", page.Entries, err)
	}

	// Removed, it makes and manages nothing more; its keys stay.
	e.then(manager(false, "bill", "ann"), events.LockManagerRemoved{Lock: "front", Account: "ann", By: "bill"})
	e.refused(create("d6", "ann", "front", events.KindDigital, "mia"), commands.ErrNotPermitted)
	e.refused(func() error { return e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "d1", By: "ann"}) }, commands.ErrNotPermitted)
	if locks, err := e.proj.ManagedLocks(bg, "ann"); err != nil || len(locks) != 0 {
		t.Fatalf("ann still manages %+v %v", locks, err)
	}
	if table, err := e.proj.DigitalKeys(bg, "bill", e.now); err != nil || len(table) != 1 {
		t.Fatalf("bill's table after the manager left %+v %v", table, err)
	}
	lh, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front", Account: ""})
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, h := range lh.Entries {
		if h.Type == "lock.manager_added" || h.Type == "lock.manager_removed" {
			named = append(named, h.Type+" "+h.Subject+" by "+h.Account)
		}
	}
	if !deepEqual(named, []string{"lock.manager_added ann by bill", "lock.manager_removed ann by bill"}) {
		t.Fatalf("lock history of managers %q", named)
	}
}
