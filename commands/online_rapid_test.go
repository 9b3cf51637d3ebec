package commands_test

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// The simple model of one online key's group.
type memberModel struct {
	state       events.InvitationState
	expires     time.Time
	failures    int
	lockedUntil time.Time
}

type groupModel struct {
	on      bool
	until   time.Time
	members map[string]*memberModel
}

func (g *groupModel) stateAt(a string, now time.Time) events.InvitationState {
	m := g.members[a]
	if m == nil {
		return events.InviteNone
	}
	if m.state == events.InvitePending && !now.Before(m.expires) {
		return events.InviteExpired
	}
	return m.state
}

func (g *groupModel) seats(now time.Time) int {
	n := 0
	for a := range g.members {
		if s := g.stateAt(a, now); s == events.InvitePending || s == events.InviteAccepted {
			n++
		}
	}
	return n
}

var rapidAccounts = []string{"ann", "bob", "cid", "dee", "eve", "fay", "gus"}

const inviteTTL = 3 * time.Hour

// Random sequences of group commands and online unlocks agree with the
// model: invitation states, the 5-account bound, password lockout, network
// management on/off/expiry; group status equals the model after every step.
func TestRapidOnlineGroup(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := newOnlineEnv(t, "")
		// Each check's stores are closed at its end, not the test's: on
		// PostgreSQL a hundred open checks exceed the server's connections.
		defer func() { _ = e.proj.Close(); _ = e.l.Close() }()
		e.setUpGarage()
		_, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: 24 * time.Hour})
		e.must(err)
		e.must(e.createOnline("client", events.Settings{Name: "Client", Doors: access.Main}))
		m := &groupModel{on: true, until: e.now.Add(24 * time.Hour), members: map[string]*memberModel{}}
		account := func(rt *rapid.T) string { return rapid.SampledFrom(rapidAccounts).Draw(rt, "account") }
		invErr := func(rt *rapid.T, err error, a string) {
			var ie *commands.InvitationError
			want := m.stateAt(a, e.now)
			if !errors.As(err, &ie) || ie.State != want {
				rt.Fatalf("%s: error %v, want InvitationError in state %v", a, err, want)
			}
			if want == events.InviteExpired {
				m.members[a].state = events.InviteExpired
			}
		}

		pw := func(a string) string { return "pw-" + a + "-correct" }
		unlock := func(rt *rapid.T, a string, right bool) {
			p := "bad-password"
			if right {
				p = pw(a)
			}
			r, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: "client", By: a, Password: secret.FromString(p)})
			if err != nil {
				rt.Fatal(err)
			}
			want := access.Granted
			mm := m.members[a]
			switch {
			case !m.on || !e.now.Before(m.until):
				m.on = false
				want = access.NetworkOff
			case mm == nil || mm.state != events.InviteAccepted:
				want = access.NotMember
			case e.now.Before(mm.lockedUntil):
				want = access.LockedOut
			case !right:
				want = access.WrongPassword
				mm.failures++
				if mm.failures >= commands.MaxPasswordFailures {
					mm.failures, mm.lockedUntil = 0, e.now.Add(commands.LockoutDuration)
				}
			default:
				mm.failures = 0
			}
			if r.Granted != (want == access.Granted) || r.Reason != want {
				rt.Fatalf("unlock by %s (right=%v): %+v, want reason %q", a, right, r, want)
			}
		}
		// Ann starts as a member so unlock paths are reached early.
		e.must(e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "ann", By: "bill", TTL: inviteTTL}))
		e.must(e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString(pw("ann"))}))
		m.members["ann"] = &memberModel{state: events.InviteAccepted}

		rt.Repeat(map[string]func(*rapid.T){
			"invite": func(rt *rapid.T) {
				a := account(rt)
				err := e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: a, By: "bill", TTL: inviteTTL})
				s := m.stateAt(a, e.now)
				switch {
				case s == events.InvitePending || s == events.InviteAccepted:
					if !errors.Is(err, commands.ErrExists) {
						rt.Fatalf("invite %s (%v): %v", a, s, err)
					}
				case m.seats(e.now) >= commands.MaxOnlineAccounts:
					if !errors.Is(err, commands.ErrGroupFull) {
						rt.Fatalf("invite %s with %d seats taken: %v", a, m.seats(e.now), err)
					}
				default:
					if err != nil {
						rt.Fatalf("invite %s: %v", a, err)
					}
					m.members[a] = &memberModel{state: events.InvitePending, expires: e.now.Add(inviteTTL)}
				}
			},
			"accept": func(rt *rapid.T) {
				a := account(rt)
				err := e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: a, Password: secret.FromString(pw(a))})
				if m.stateAt(a, e.now) == events.InvitePending {
					if err != nil {
						rt.Fatalf("accept %s: %v", a, err)
					}
					m.members[a].state = events.InviteAccepted
					return
				}
				invErr(rt, err, a)
			},
			"decline": func(rt *rapid.T) {
				a := account(rt)
				err := e.svc.DeclineInvitation(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: a})
				if m.stateAt(a, e.now) == events.InvitePending {
					if err != nil {
						rt.Fatalf("decline %s: %v", a, err)
					}
					m.members[a].state = events.InviteDeclined
					return
				}
				invErr(rt, err, a)
			},
			"withdraw": func(rt *rapid.T) {
				a := account(rt)
				err := e.svc.WithdrawInvitation(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: a, By: "bill"})
				if m.stateAt(a, e.now) == events.InvitePending {
					if err != nil {
						rt.Fatalf("withdraw %s: %v", a, err)
					}
					m.members[a].state = events.InviteWithdrawn
					return
				}
				invErr(rt, err, a)
			},
			"remove": func(rt *rapid.T) {
				a := account(rt)
				err := e.svc.RemoveMember(bg, commands.InvitationCommand{ID: e.id(), Lock: "garage", Account: a, By: "bill"})
				if mm := m.members[a]; mm != nil && mm.state == events.InviteAccepted {
					if err != nil {
						rt.Fatalf("remove %s: %v", a, err)
					}
					*mm = memberModel{state: events.InviteRemoved}
					return
				}
				var ie *commands.InvitationError
				if !errors.As(err, &ie) || ie.State != m.stateAt(a, e.now) {
					rt.Fatalf("remove %s (%v): %v", a, m.stateAt(a, e.now), err)
				}
			},
			"unlock": func(rt *rapid.T) {
				unlock(rt, account(rt), rapid.Bool().Draw(rt, "right password"))
			},
			"wrongPasswords": func(rt *rapid.T) { // bursts reach the lockout
				a := rapid.SampledFrom(rapidAccounts[:2]).Draw(rt, "account")
				for range rapid.IntRange(1, commands.MaxPasswordFailures+1).Draw(rt, "n") {
					unlock(rt, a, false)
				}
				unlock(rt, a, true)
			},
			"turnOff": func(rt *rapid.T) {
				err := e.svc.TurnOffNetwork(bg, commands.TurnOffNetwork{ID: e.id(), Lock: "garage", By: "bill"})
				if !m.on {
					if !errors.Is(err, commands.ErrNetworkOff) {
						rt.Fatalf("turn off while off: %v", err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				m.on = false
			},
			"turnOn": func(rt *rapid.T) {
				d := time.Duration(rapid.IntRange(1, 48).Draw(rt, "hours")) * time.Hour
				_, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: d})
				if err != nil {
					rt.Fatal(err)
				}
				m.on, m.until = true, e.now.Add(d)
			},
			"wait": func(rt *rapid.T) {
				e.now = e.now.Add(time.Duration(rapid.IntRange(1, 240).Draw(rt, "minutes")) * time.Minute)
			},
			"": func(rt *rapid.T) { // invariant: group status equals the model
				gs, err := e.svc.GroupStatus(bg, "garage", e.now)
				if err != nil {
					rt.Fatal(err)
				}
				if gs.Network.On != (m.on && e.now.Before(m.until)) {
					rt.Fatalf("network on = %v, model %v until %v (now %v)", gs.Network.On, m.on, m.until, e.now)
				}
				var got, want []string
				for _, ms := range gs.Members {
					got = append(got, fmt.Sprintf("%s:%v:%v", ms.Account, ms.State, ms.LockedOut))
				}
				for a, mm := range m.members {
					want = append(want, fmt.Sprintf("%s:%v:%v", a, m.stateAt(a, e.now), e.now.Before(mm.lockedUntil)))
				}
				sort.Strings(want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					rt.Fatalf("members\n got %v\nwant %v", got, want)
				}
				if n := gs.Keys[0].Accounts; n != m.seats(e.now) || n > commands.MaxOnlineAccounts {
					rt.Fatalf("seats %d, model %d", n, m.seats(e.now))
				}
			},
		})
	})
}
