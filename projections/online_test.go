package projections_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// onlineEnv is a lock "garage" owned by bill with network management on for
// an hour and an online key "k" (Tuesdays 10:00-12:00 UTC when windowed).
type onlineEnv struct {
	t     *testing.T
	ctx   context.Context
	clock *keyledgertest.Clock
	l     ledger.Backend
	p     *projections.Projections
	svc   *commands.Service
	n     uint64
}

func newOnlineEnv(t *testing.T) *onlineEnv {
	st := keyledgertest.New(t)
	st.Clock.Set(time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)) // a Tuesday
	e := &onlineEnv{t: t, ctx: context.Background(), clock: st.Clock, l: st.Ledger, p: st.Projections, svc: st.Commands}
	for _, a := range []string{"bill", "ann", "bob", "cid"} {
		e.must(e.svc.RegisterAccount(e.ctx, commands.RegisterAccount{ID: e.id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	e.must(e.svc.RegisterLock(e.ctx, commands.RegisterLock{ID: e.id(), Lock: "garage", Owner: "bill", Name: "Garage", Zone: "UTC"}))
	return e
}

func (e *onlineEnv) id() uuid.UUID {
	e.n++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], e.n)
	u[0] = 0x0e
	return u
}

func (e *onlineEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *onlineEnv) networkOn(d time.Duration) {
	e.t.Helper()
	_, err := e.svc.TurnOnNetwork(e.ctx, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString("MASTER-9"), Duration: d})
	e.must(err)
}

// createOnline makes online key key of lock "garage" as its owner Bill.
func (e *onlineEnv) createOnline(key string) {
	e.t.Helper()
	_, err := e.svc.CreateKey(e.ctx, commands.CreateKey{ID: e.id(), Key: key, Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: events.Settings{Name: key}})
	e.must(err)
}

func (e *onlineEnv) member(key, account string) {
	e.t.Helper()
	e.must(e.svc.InviteMember(e.ctx, commands.InviteMember{ID: e.id(), Lock: "garage", Key: key, Account: account, By: "bill"}))
	e.must(e.svc.AcceptInvitation(e.ctx, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: account, Password: secret.FromString(account + "-password")}))
}

// While the lock's network management is off, an online key's status says
// so (NetworkOff, no window open, no next opening) in KeyStatus and in every
// key list, exactly when UnlockOnline refuses it with network_off.
func TestOnlineKeyStatusNetworkOff(t *testing.T) {
	e := newOnlineEnv(t)
	e.networkOn(time.Hour) // until 10:00
	e.createOnline("k")
	e.member("k", "ann")
	check := func(name string, at time.Time, wantOff bool) {
		t.Helper()
		e.clock.Set(at)
		st, err := e.p.KeyStatus(e.ctx, "k", at)
		e.must(err)
		list, err := e.p.KeyList(e.ctx, "garage", at)
		e.must(err)
		mine, err := e.p.HolderKeys(e.ctx, "ann", at)
		e.must(err)
		if len(list) != 1 || len(mine) != 1 || list[0].Status != st || mine[0].Status != st {
			t.Fatalf("%s: KeyStatus %+v, KeyList %+v, HolderKeys %+v disagree", name, st, list, mine)
		}
		if st.Status != projections.StatusActive || st.NetworkOff != wantOff || st.InWindow == wantOff || (wantOff && !st.NextOpen.IsZero()) {
			t.Fatalf("%s: %+v, want ACTIVE with NetworkOff=%v", name, st, wantOff)
		}
		r, err := e.svc.UnlockOnline(e.ctx, commands.UnlockOnline{ID: e.id(), Key: "k", By: "ann", Password: secret.FromString("ann-password")})
		e.must(err)
		if r.Granted == wantOff || (wantOff && r.Reason != access.NetworkOff) {
			t.Fatalf("%s: UnlockOnline %+v, but status says NetworkOff=%v", name, r, wantOff)
		}
	}
	for _, c := range []struct {
		name   string
		before func()
		at     time.Time
		off    bool
	}{
		{"on", nil, time.Date(2026, 3, 3, 9, 30, 0, 0, time.UTC), false},
		{"duration over", nil, time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), true},
		{"on again", func() { e.networkOn(2 * time.Hour) }, time.Date(2026, 3, 3, 10, 30, 0, 0, time.UTC), false},
		{"turned off", func() {
			e.must(e.svc.TurnOffNetwork(e.ctx, commands.TurnOffNetwork{ID: e.id(), Lock: "garage", By: "bill"}))
		}, time.Date(2026, 3, 3, 10, 40, 0, 0, time.UTC), true},
	} {
		if c.before != nil {
			e.clock.Set(c.at.Add(-time.Minute))
			c.before()
		}
		check(c.name, c.at, c.off)
	}
	st, err := e.p.KeyStatus(e.ctx, "k", e.clock.Now())
	e.must(err)
	e.must(e.p.Rebuild(e.ctx))
	if again, err := e.p.KeyStatus(e.ctx, "k", e.clock.Now()); err != nil || again != st {
		t.Fatalf("after a rebuild %+v, %v; before %+v", again, err, st)
	}
}

// HolderKeys ("my keys") lists the online keys an account accepted an
// invitation to, and stops listing them when it is removed or the key is
// deleted; pending and declined invitations are not listed.
func TestHolderKeysOnlineMembers(t *testing.T) {
	e := newOnlineEnv(t)
	e.networkOn(time.Hour)
	for _, k := range []string{"k1", "k2"} {
		e.createOnline(k)
	}
	e.member("k1", "ann")
	e.member("k2", "cid")
	e.must(e.svc.InviteMember(e.ctx, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "k1", Account: "bob", By: "bill"})) // pending
	keys := func(account string) []string {
		t.Helper()
		views, err := e.p.HolderKeys(e.ctx, account, e.clock.Now())
		e.must(err)
		var out []string
		for _, v := range views {
			out = append(out, v.Key)
		}
		return out
	}
	for _, c := range []struct {
		name, account string
		step          func()
		want          []string
	}{
		{"accepted", "ann", nil, []string{"k1"}},
		{"other key", "cid", nil, []string{"k2"}},
		{"pending invitation", "bob", nil, nil},
		{"declined", "bob", func() {
			e.must(e.svc.DeclineInvitation(e.ctx, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "bob"}))
		}, nil},
		{"removed", "ann", func() {
			e.must(e.svc.RemoveMember(e.ctx, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: "ann", By: "bill"}))
		}, nil},
		{"key deleted", "cid", func() {
			e.must(e.svc.DeleteKey(e.ctx, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}))
		}, nil},
	} {
		if c.step != nil {
			c.step()
		}
		if got := keys(c.account); len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Fatalf("%s: %s's keys %q, want %q", c.name, c.account, got, c.want)
		}
	}
}
