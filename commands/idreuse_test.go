package commands_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// reuseEnv is what a command-ID case needs: a service over a ledger with
// fixtures in place (base: Bill's paired lock "front", Ann and Bob; group:
// Bill's lock "garage" with network management on, online key "client" and
// Ann a member).
type reuseEnv struct {
	svc *commands.Service
	l   ledger.Backend
	id  func() uuid.UUID
	now *time.Time
}

func reuseBase(t *testing.T) reuseEnv {
	e := newLockEnv(t)
	return reuseEnv{svc: e.svc, l: e.l, id: e.id, now: &e.now}
}

func reuseGroup(t *testing.T) reuseEnv {
	e := groupReady(t)
	return reuseEnv{svc: e.svc, l: e.l, id: e.id, now: &e.now}
}

func (r reuseEnv) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A command ID names one command. Sent again with the same command (a
// retry) it appends nothing and returns the first outcome, also where the
// command draws a code or PIN or seals a secret anew on every run. Sent
// with a different command (another kind, or one field changed) it is
// refused with ErrIDReused, an *IDReusedError naming the ID and the field,
// appends nothing and shows no secret.
func TestCommandIDRetriedIsANoOpAndReusedIsRefused(t *testing.T) {
	berlinNoon := time.Date(2026, 3, 2, 12, 0, 0, 0, berlin)
	cases := []struct {
		name  string
		env   func(*testing.T) reuseEnv
		setup func(*testing.T, reuseEnv)
		// run sends the command (other: the different one) with id and
		// returns its outcome without secrets.
		run    func(r reuseEnv, id uuid.UUID, other bool) (string, error)
		field  string
		secret string // must not appear in the error
	}{
		{name: "RegisterAccount", env: reuseBase, field: "account",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.RegisterAccount{ID: id, Account: "dan", Name: "Dan", Email: "dan@example.com"}
				if other {
					c = commands.RegisterAccount{ID: id, Account: "eve", Name: "Eve", Email: "eve@example.com"}
				}
				return "", r.svc.RegisterAccount(bg, c)
			}},
		{name: "AddContact", env: reuseBase, field: "contact",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.AddContact{ID: id, Account: "bill", Contact: "ann"}
				if other {
					c.Contact = "bob"
				}
				return "", r.svc.AddContact(bg, c)
			}},
		{name: "DeleteContact", env: reuseBase, field: "contact",
			setup: func(t *testing.T, r reuseEnv) {
				r.must(t, r.svc.AddContact(bg, commands.AddContact{ID: r.id(), Account: "bill", Contact: "ann"}))
				r.must(t, r.svc.AddContact(bg, commands.AddContact{ID: r.id(), Account: "bill", Contact: "bob"}))
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.DeleteContact{ID: id, Account: "bill", Contact: "ann"}
				if other {
					c.Contact = "bob"
				}
				return "", r.svc.DeleteContact(bg, c)
			}},
		{name: "RegisterLock", env: reuseBase, field: "name",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.RegisterLock{ID: id, Lock: "back", Owner: "bill", Name: "Back door", Zone: "Europe/Berlin", Slots: 1}
				if other {
					c.Name = "Cellar"
				}
				return "", r.svc.RegisterLock(bg, c)
			}},
		{name: "RegisterLock with an audit key", env: reuseBase, field: "audit key", secret: "SECRET-AUDIT-KEY-B-32-BYTES-LONG",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				key := "SECRET-AUDIT-KEY-A-32-BYTES-LONG"
				if other {
					key = "SECRET-AUDIT-KEY-B-32-BYTES-LONG"
				}
				return "", r.svc.RegisterLock(bg, commands.RegisterLock{ID: id, Lock: "back", Owner: "bill", Name: "Back door",
					Zone: "Europe/Berlin", Slots: 1, AuditKey: secret.New([]byte(key))})
			}},
		{name: "SetLockBlackouts", env: reuseBase, field: "blackouts",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				b := policy.Blackout{Start: berlinNoon, End: berlinNoon.Add(time.Hour)}
				if other {
					b.End = b.End.Add(time.Hour)
				}
				return "", r.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: id, Lock: "front", By: "bill", Blackouts: []policy.Blackout{b}})
			}},
		{name: "SendZoneRules", env: reuseBase, field: "period",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.SendZoneRules{ID: id, Lock: "front", By: "bill", From: *r.now, Until: r.now.AddDate(1, 0, 0)}
				if other {
					c.Until = r.now.AddDate(2, 0, 0)
				}
				msg, err := r.svc.SendZoneRules(bg, c)
				return fmt.Sprintf("%x", msg), err
			}},
		{name: "CreateKey", env: reuseBase, field: "key",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.CreateKey{ID: id, Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings("k1")}
				if other {
					c.Key = "k2"
				}
				res, err := r.svc.CreateKey(bg, c)
				return fmt.Sprint(res.Key, res.Slot, res.Generation), err
			}},
		{name: "AddAccountManager", env: reuseBase, field: "account",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.AccountManager{ID: id, Lock: "front", By: "bill", Account: "ann"}
				if other {
					c.Account = "bob"
				}
				return "", r.svc.AddAccountManager(bg, c)
			}},
		{name: "AddAccountManager, then RemoveAccountManager", env: reuseBase, field: "command",
			setup: func(t *testing.T, r reuseEnv) {
				r.must(t, r.svc.AddAccountManager(bg, commands.AccountManager{ID: r.id(), Lock: "front", By: "bill", Account: "bob"}))
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.AccountManager{ID: id, Lock: "front", By: "bill", Account: "ann"}
				if other {
					c.Account = "bob"
					return "", r.svc.RemoveAccountManager(bg, c)
				}
				return "", r.svc.AddAccountManager(bg, c)
			}},
		{name: "CreateKey by an account manager", env: reuseBase, field: "by",
			setup: func(t *testing.T, r reuseEnv) {
				r.must(t, r.svc.AddAccountManager(bg, commands.AccountManager{ID: r.id(), Lock: "front", By: "bill", Account: "ann"}))
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.CreateKey{ID: id, Key: "d1", Lock: "front", By: "ann", Kind: events.KindDigital, For: "bob"}
				if other {
					c.By = "bill"
				}
				res, err := r.svc.CreateKey(bg, c)
				return res.Key, err
			}},
		{name: "CreateKey with a drawn PIN", env: reuseBase, field: "for",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.CreateKey{ID: id, Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital, For: "ann",
					Credential: events.CredentialPIN, PINDigits: 6}
				if other {
					c.For = "bob"
				}
				res, err := r.svc.CreateKey(bg, c)
				return res.Key, err
			}},
		{name: "CreateKey with a chosen PIN", env: reuseBase, field: "pin", secret: "918273",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				pin := "564738"
				if other {
					pin = "918273"
				}
				res, err := r.svc.CreateKey(bg, commands.CreateKey{ID: id, Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
					For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString(pin)})
				return res.Key, err
			}},
		{name: "CreateKey with a card", env: reuseBase, field: "card", secret: "CARD-B",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				card := "CARD-A"
				if other {
					card = "CARD-B"
				}
				res, err := r.svc.CreateKey(bg, commands.CreateKey{ID: id, Key: "c1", Lock: "front", By: "bill", Kind: events.KindDigital,
					For: "ann", Credential: events.CredentialKeycard, Card: secret.FromString(card)})
				return res.Key, err
			}},
		{name: "ShareKey to an account", env: reuseBase, field: "account",
			setup: createShareKey("k1"),
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.ShareKey{ID: id, Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"}
				if other {
					c.Account = "bob"
				}
				res, err := r.svc.ShareKey(bg, c)
				return fmt.Sprint(res.Key, res.Method, res.Account), err
			}},
		{name: "ShareKey to a drawn code", env: reuseBase, field: "email",
			setup: createShareKey("k1"),
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.ShareKey{ID: id, Key: "k1", By: "bill", Method: events.ShareToCode, Email: "guest@example.com"}
				if other {
					c.Email = "other@example.com"
				}
				res, err := r.svc.ShareKey(bg, c)
				return fmt.Sprint(res.Key, res.Method), err
			}},
		{name: "DownloadKey with a share code", env: reuseBase, field: "code", secret: "WRONG",
			setup: func(t *testing.T, r reuseEnv) {
				createShareKey("k1")(t, r)
				res, err := r.svc.ShareKey(bg, commands.ShareKey{ID: r.id(), Key: "k1", By: "bill", Method: events.ShareToCode})
				r.must(t, err)
				shareCode = res.Code
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.DownloadKey{ID: id, Key: "k1", By: "guest-phone", Code: shareCode}
				if other {
					c.Code = secret.FromString(strings.Repeat("WRONG", 2))
				}
				res, err := r.svc.DownloadKey(bg, c)
				return fmt.Sprint(res.Key, res.Lock, res.Slot, res.Generation), err
			}},
		{name: "EditKey", env: reuseBase, field: "name",
			setup: createShareKey("k1"),
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				p := commands.SettingsPatch{Name: new("renamed")}
				if other {
					p.Name = new("other name")
				}
				return "", r.svc.EditKey(bg, commands.EditKey{ID: id, Key: "k1", By: "bill", Settings: p})
			}},
		{name: "RevokeKey, then DeleteKey", env: reuseBase, field: "command",
			setup: func(t *testing.T, r reuseEnv) {
				createShareKey("k1")(t, r)
				_, err := r.svc.ShareKey(bg, commands.ShareKey{ID: r.id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"})
				r.must(t, err)
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.KeyCommand{ID: id, Key: "k1", By: "bill"}
				if other {
					return "", r.svc.DeleteKey(bg, c)
				}
				return "", r.svc.RevokeKey(bg, c)
			}},
		{name: "Unlock", env: reuseBase, field: "door",
			setup: func(t *testing.T, r reuseEnv) {
				_, err := r.svc.CreateKey(bg, commands.CreateKey{ID: r.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
					For: "ann", Settings: events.Settings{Doors: access.Main | access.Inner}})
				r.must(t, err)
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.Unlock{ID: id, Key: "d1", By: "ann"}
				if other {
					c.Door = access.InnerDoor
				}
				res, err := r.svc.Unlock(bg, c)
				return fmt.Sprintf("%+v", res), err
			}},
		{name: "UnlockByPIN, a right code", env: reuseBase, field: "pin", secret: "918273",
			setup: func(t *testing.T, r reuseEnv) {
				_, err := r.svc.CreateKey(bg, commands.CreateKey{ID: r.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
					For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("564738")})
				r.must(t, err)
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				pin := "564738"
				if other {
					pin = "918273"
				}
				res, err := r.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: id, Lock: "front", Panel: "p1", PIN: secret.FromString(pin)})
				return fmt.Sprintf("%+v", res), err
			}},
		{name: "UnlockByPIN, a wrong code", env: reuseBase, field: "panel", secret: "918273",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.UnlockByPIN{ID: id, Lock: "front", Panel: "p1", PIN: secret.FromString("564738")}
				if other {
					c.Panel, c.PIN = "p2", secret.FromString("918273")
				}
				res, err := r.svc.UnlockByPIN(bg, c)
				return fmt.Sprintf("%+v", res), err
			}},
		{name: "TurnOnNetwork", env: reuseGroup, field: "master code", secret: "SECRET-MC-2",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				code := "SECRET-MC-1"
				if other {
					code = "SECRET-MC-2"
				}
				st, err := r.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: id, Lock: "garage", By: "bill", MasterCode: secret.FromString(code), Duration: time.Hour})
				return fmt.Sprintf("%+v", st), err
			}},
		{name: "TurnOffNetwork", env: reuseGroup, field: "by",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.TurnOffNetwork{ID: id, Lock: "garage", By: "bill"}
				if other {
					c.By = "ann"
				}
				return "", r.svc.TurnOffNetwork(bg, c)
			}},
		{name: "CheckNetwork", env: reuseGroup, field: "command",
			setup: func(t *testing.T, r reuseEnv) { *r.now = r.now.AddDate(0, 2, 0) }, // past the operating duration
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				if other { // decides nothing: the ID is still checked
					return "", r.svc.RegisterAccount(bg, commands.RegisterAccount{ID: id, Account: "dan", Name: "Dan", Email: "dan@example.com"})
				}
				st, err := r.svc.CheckNetwork(bg, commands.CheckNetwork{ID: id, Lock: "garage"})
				return fmt.Sprintf("%+v", st), err
			}},
		{name: "CreateKey of an online key", env: reuseGroup, field: "key",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.CreateKey{ID: id, Key: "staff", Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: events.Settings{Name: "Staff"}}
				if other {
					c.Key = "staff2"
				}
				res, err := r.svc.CreateKey(bg, c)
				return fmt.Sprint(res.Key, res.Slot, res.Generation), err
			}},
		{name: "CreateKey of an online key, then of an intercom key", env: reuseGroup, field: "kind",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.CreateKey{ID: id, Key: "staff", Lock: "garage", By: "bill", Kind: events.KindOnline}
				if other {
					c.Kind = events.KindIntercom
				}
				res, err := r.svc.CreateKey(bg, c)
				return res.Key, err
			}},
		{name: "CreateKey of an online key once network management ended", env: reuseGroup, field: "lock",
			setup: func(t *testing.T, r reuseEnv) { *r.now = r.now.AddDate(0, 2, 0) }, // past the operating duration
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.CreateKey{ID: id, Key: "staff", Lock: "garage", By: "bill", Kind: events.KindOnline}
				if other {
					c.Lock = "front"
				}
				_, err := r.svc.CreateKey(bg, c)
				if errors.Is(err, commands.ErrNetworkOff) { // the first outcome: only the end is recorded
					return err.Error(), nil
				}
				return "", err
			}},
		{name: "InviteMember", env: reuseGroup, field: "account",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.InviteMember{ID: id, Lock: "garage", Key: "client", Account: "bob", By: "bill"}
				if other {
					c.Account = "cid"
				}
				return "", r.svc.InviteMember(bg, c)
			}},
		{name: "AcceptInvitation", env: reuseGroup, field: "password", secret: "SECRET-PW-OTHER",
			setup: inviteBob,
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				pw := "bob-pass-2026"
				if other {
					pw = "SECRET-PW-OTHER"
				}
				return "", r.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: id, Lock: "garage", Account: "bob", Password: secret.FromString(pw)})
			}},
		{name: "DeclineInvitation, then WithdrawInvitation", env: reuseGroup, field: "command",
			setup: inviteBob,
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.InvitationCommand{ID: id, Lock: "garage", Account: "bob", By: "bill"}
				if other {
					return "", r.svc.WithdrawInvitation(bg, c)
				}
				return "", r.svc.DeclineInvitation(bg, c)
			}},
		{name: "WithdrawInvitation", env: reuseGroup, field: "account",
			setup: func(t *testing.T, r reuseEnv) {
				inviteBob(t, r)
				r.must(t, r.svc.InviteMember(bg, commands.InviteMember{ID: r.id(), Lock: "garage", Key: "client", Account: "cid", By: "bill"}))
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.InvitationCommand{ID: id, Lock: "garage", Account: "bob", By: "bill"}
				if other {
					c.Account = "cid"
				}
				return "", r.svc.WithdrawInvitation(bg, c)
			}},
		{name: "SetMemberPermissions", env: reuseGroup, field: "permissions",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				p := events.Permissions{Doors: access.Main, Ops: events.OpUnlock}
				if other {
					p.Ops |= events.OpViewHistory
				}
				return "", r.svc.SetMemberPermissions(bg, commands.SetMemberPermissions{ID: id, Lock: "garage", Account: "ann", By: "bill", Permissions: p})
			}},
		{name: "RemoveMember", env: reuseGroup, field: "by",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.InvitationCommand{ID: id, Lock: "garage", Account: "ann", By: "bill"}
				if other {
					c.By = "ann" // leaving on her own
				}
				return "", r.svc.RemoveMember(bg, c)
			}},
		{name: "EditKey of an online key", env: reuseGroup, field: "name",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				p := commands.SettingsPatch{Name: new("Client v2")}
				if other {
					p.Name = new("Client v3")
				}
				return "", r.svc.EditKey(bg, commands.EditKey{ID: id, Key: "client", By: "bill", Settings: p})
			}},
		{name: "EditKey of an online key, then of another key", env: reuseGroup, field: "key",
			setup: func(t *testing.T, r reuseEnv) {
				_, err := r.svc.CreateKey(bg, commands.CreateKey{ID: r.id(), Key: "i1", Lock: "garage", By: "bill", Kind: events.KindIntercom})
				r.must(t, err)
			},
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.EditKey{ID: id, Key: "client", By: "bill", Settings: commands.SettingsPatch{Name: new("Client v2")}}
				if other {
					c.Key = "i1"
				}
				return "", r.svc.EditKey(bg, c)
			}},
		{name: "DeleteKey of an online key", env: reuseGroup, field: "by",
			setup: inviteBob, // deleting withdraws Bob's invitation and removes Ann
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				c := commands.KeyCommand{ID: id, Key: "client", By: "bill"}
				if other {
					c.By = "ann"
				}
				return "", r.svc.DeleteKey(bg, c)
			}},
		{name: "DeleteKey of an online key, then EditKey", env: reuseGroup, field: "command",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				if other {
					return "", r.svc.EditKey(bg, commands.EditKey{ID: id, Key: "client", By: "bill", Settings: commands.SettingsPatch{Name: new("x")}})
				}
				return "", r.svc.DeleteKey(bg, commands.KeyCommand{ID: id, Key: "client", By: "bill"})
			}},
		{name: "ChangePassword", env: reuseGroup, field: "new password", secret: "SECRET-NEW-OTHER",
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				pw := "ann-pass-2027"
				if other {
					pw = "SECRET-NEW-OTHER"
				}
				return "", r.svc.ChangePassword(bg, commands.ChangePassword{ID: id, Lock: "garage", Account: "ann",
					Old: secret.FromString("ann-pass-2026"), New: secret.FromString(pw)})
			}},
		{name: "UnlockOnline", env: reuseGroup, field: "password", secret: "SECRET-WRONG-PW",
			setup: func(t *testing.T, r reuseEnv) { *r.now = tuesday9.Add(90 * time.Minute) }, // Tuesday 10:30 in Berlin
			run: func(r reuseEnv, id uuid.UUID, other bool) (string, error) {
				pw := "ann-pass-2026"
				if other { // the first was granted: another password gets no grant
					pw = "SECRET-WRONG-PW"
				}
				res, err := r.svc.UnlockOnline(bg, commands.UnlockOnline{ID: id, Key: "client", By: "ann", Password: secret.FromString(pw)})
				return fmt.Sprintf("%+v", res), err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.env(t)
			if tc.setup != nil {
				tc.setup(t, r)
			}
			id := r.id()
			first, err := tc.run(r, id, false)
			if err != nil {
				t.Fatalf("first: %v", err)
			}
			pos := r.l.DurablePosition()
			again, err := tc.run(r, id, false)
			if err != nil || again != first {
				t.Fatalf("retry: %q, %v; want the first outcome %q", again, err, first)
			}
			_, err = tc.run(r, id, true)
			var re *commands.IDReusedError
			if !errors.Is(err, commands.ErrIDReused) || !errors.As(err, &re) {
				t.Fatalf("another command with the same ID: %v, want ErrIDReused", err)
			}
			if re.ID != id || re.Field != tc.field || re.Position == 0 || re.Event == "" {
				t.Errorf("error %+v, want ID %s and field %q", re, id, tc.field)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error names a secret: %v", err)
			}
			if got := r.l.DurablePosition(); got != pos {
				t.Fatalf("retry or refused reuse appended: position %d -> %d", pos, got)
			}
			if again, err := tc.run(r, id, false); err != nil || again != first { // still the first command's
				t.Fatalf("retry after the refusal: %q, %v", again, err)
			}
		})
	}
}

// shareCode is the code the DownloadKey case shares (set by its setup).
var shareCode secret.Secret

func createShareKey(key string) func(*testing.T, reuseEnv) {
	return func(t *testing.T, r reuseEnv) {
		_, err := r.svc.CreateKey(bg, commands.CreateKey{ID: r.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings(key)})
		r.must(t, err)
	}
}

func inviteBob(t *testing.T, r reuseEnv) {
	r.must(t, r.svc.InviteMember(bg, commands.InviteMember{ID: r.id(), Lock: "garage", Key: "client", Account: "bob", By: "bill"}))
}

// The defect a new user met: registering "eve" under the command ID that
// registered "dan" returned nil and registered nobody. It is refused, the
// error names the ID and what differs, and "eve" stays free for a new ID.
func TestRegisteringAnotherAccountUnderAUsedCommandIDIsRefused(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	if err := e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: id, Account: "dan", Name: "Dan", Email: "dan@example.com"}); err != nil {
		t.Fatal(err)
	}
	err := e.refused(func() error {
		return e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: id, Account: "eve", Name: "Eve", Email: "eve@example.com"})
	}, commands.ErrIDReused)
	want := fmt.Sprintf("commands: command ID %s already carried out another command (account.registered at position 1): its account differs", id)
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err, want)
	}
	e.then(func() error {
		return e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: "eve", Name: "Eve", Email: "eve@example.com"})
	}, events.AccountRegistered{Account: "eve", Name: "Eve", Email: "eve@example.com"})
}
