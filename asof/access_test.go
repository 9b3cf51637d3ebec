package asof_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

var t0 = keyledgertest.Start

// logged is an event of a generated log: its stream, time and payload.
type logged struct {
	stream string
	at     time.Time
	data   any
}

// genLog draws a log of raw events about two locks, five keys and three
// people, in time order: key lifecycles in any order (the as-of fold must
// not rely on the commands' rules), uses, where credentials stand at the
// lock, and lock-wide blackouts.
func genLog(t *rapid.T) []logged {
	zones := map[string]string{"front": "Europe/Berlin", "garage": "UTC"}
	doors := map[string]access.Doors{"front": access.MainInner, "garage": access.Main}
	people := []string{"ann", "bob", "phone-1"}
	keyIDs := []string{"k0", "k1", "k2", "k3"}
	lockOf := map[string]string{}
	kindOf := map[string]events.Kind{}
	uses := map[string]uint32{}
	adminSeq := map[string]uint32{}
	now := t0
	log := []logged{
		{"lock-front", now, events.LockRegistered{Lock: "front", Owner: "bill", Zone: zones["front"], Slots: 2, Doors: doors["front"]}},
		{"lock-garage", now, events.LockRegistered{Lock: "garage", Owner: "bill", Zone: zones["garage"], Slots: 1, Doors: doors["garage"]}},
		{"account-ann", now, events.AccountRegistered{Account: "ann"}},
		{"account-bob", now, events.AccountRegistered{Account: "bob"}},
	}
	settings := func(lock string) events.Settings {
		return events.Settings{Doors: rapid.SampledFrom([]access.Doors{0, access.Main, access.Inner, access.MainInner, access.MainInner}).Draw(t, "doors") & doors[lock],
			Policy: policy.Policy{Zone: zones[lock]}}
	}
	settings = func(base func(string) events.Settings) func(string) events.Settings {
		return func(lock string) events.Settings {
			s := base(lock)
			if rapid.Bool().Draw(t, "scheduled") { // else open at all times
				s.Policy = keyledgertest.Policy(zones[lock], now).Draw(t, "policy")
			}
			for range rapid.SampledFrom([]int{0, 0, 1, 2}).Draw(t, "periods") {
				from := now.Add(time.Duration(rapid.IntRange(-24*60*60, 48*60*60).Draw(t, "period start")) * time.Second)
				s.Policy.Periods = append(s.Policy.Periods, policy.Period{Start: from, End: from.Add(time.Duration(rapid.IntRange(1, 24*60).Draw(t, "period minutes")) * time.Minute)})
			}
			s.Policy.AfterFirstUse = rapid.SampledFrom([]time.Duration{0, 0, 30 * time.Minute, 2 * time.Hour}).Draw(t, "after first use")
			return s
		}
	}(settings)
	for range rapid.IntRange(3, 40).Draw(t, "events") {
		now = now.Add(time.Duration(rapid.IntRange(0, 12*3600).Draw(t, "seconds later")) * time.Second)
		k := rapid.SampledFrom(keyIDs).Draw(t, "key")
		lock, ok := lockOf[k]
		if !ok {
			lock = rapid.SampledFrom([]string{"front", "garage"}).Draw(t, "lock")
			lockOf[k] = lock
			kind := rapid.SampledFrom([]events.Kind{events.KindShare, events.KindDigital, events.KindDigital, events.KindIntercom, events.KindOnline, events.KindOnline}).Draw(t, "kind")
			kindOf[k] = kind
			e := events.KeyCreated{Key: k, Lock: lock, Owner: "bill", Kind: kind, Settings: settings(lock)}
			if kind == events.KindDigital {
				e.Holder = rapid.SampledFrom(people[:2]).Draw(t, "user")
			}
			log = append(log, logged{"key-" + k, now, e})
			continue
		}
		if kindOf[k] == events.KindOnline {
			if rapid.IntRange(0, 3).Draw(t, "a member joins") == 0 { // network on, invited, accepted
				who := rapid.SampledFrom([]string{"ann", "ann", "bob"}).Draw(t, "joins")
				log = append(log, logged{"group-" + lock, now, events.NetworkManagementOn{Lock: lock, By: "bill", Until: now.Add(72 * time.Hour)}},
					logged{"group-" + lock, now, events.MemberInvited{Lock: lock, Key: k, Account: who, By: "bill", Expires: now.Add(time.Hour), Permissions: events.DefaultPermissions}},
					logged{"group-" + lock, now, events.InvitationAccepted{Lock: lock, Key: k, Account: who}})
				if rapid.Bool().Draw(t, "then locked out") {
					log = append(log, logged{"group-" + lock, now, events.PasswordRejected{Lock: lock, Account: who, Failures: 5,
						LockedUntil: now.Add(time.Duration(rapid.IntRange(1, 600).Draw(t, "lockout minutes")) * time.Minute)}})
				}
				continue
			}
			log = append(log, onlineEvent(t, now, k, lock, uses, settings))
			continue
		}
		var e any
		switch rapid.IntRange(0, 21).Draw(t, "what") {
		case 0:
			e = events.KeyShared{Key: k, Lock: lock, Method: events.ShareToID, Account: rapid.SampledFrom(people[:2]).Draw(t, "to")}
		case 1:
			e = events.KeyShared{Key: k, Lock: lock, Method: events.ShareToCode}
		case 2, 3:
			e = events.KeyDownloaded{Key: k, Lock: lock, Holder: rapid.SampledFrom(people).Draw(t, "holder")}
		case 13, 14:
			e = events.LockSynced{Key: k, Lock: lock, Sync: events.SyncApplied}
		case 15, 16:
			e = events.KeyDownloaded{Key: k, Lock: lock, Holder: "ann"}
		case 17: // held at the lock, then taken away: still open there
			log = append(log, logged{"key-" + k, now, events.KeyDownloaded{Key: k, Lock: lock, Holder: "ann"}},
				logged{"key-" + k, now, events.LockSynced{Key: k, Lock: lock, Sync: events.SyncApplied,
					Until: rapid.SampledFrom([]time.Time{{}, now.Add(90 * time.Minute)}).Draw(t, "credential's end")}})
			now = now.Add(time.Duration(rapid.IntRange(0, 3600).Draw(t, "seconds to the taking")) * time.Second)
			e = rapid.SampledFrom([]any{events.KeyRevoked{Key: k, Lock: lock}, events.KeyReset{Key: k, Lock: lock},
				events.DeactivationRequested{Key: k, Lock: lock}, events.KeyDeleted{Key: k, Lock: lock}}).Draw(t, "taken away")
		case 4:
			e = events.KeyEdited{Key: k, Lock: lock, Settings: settings(lock)}
		case 5:
			e = rapid.SampledFrom([]any{events.KeyRevoked{Key: k, Lock: lock}, events.KeyReset{Key: k, Lock: lock},
				events.DeactivationRequested{Key: k, Lock: lock}, events.DeactivationConfirmed{Key: k, Lock: lock},
				events.KeyDeleted{Key: k, Lock: lock}}).Draw(t, "taken")
		case 6:
			uses[k]++
			e = events.UnlockAttempted{Key: k, Lock: lock, Granted: true, Uses: uses[k]}
		case 8:
			uses[k] += 2
			c := events.OfflineUnlocksCounted{Key: k, Lock: lock, Granted: 2, Uses: uses[k]}
			if rapid.Bool().Draw(t, "lock time") { // the lock's time of the first, before the upload
				c.First = now.Add(-time.Duration(rapid.IntRange(0, 3*60).Draw(t, "first use minutes before")) * time.Minute)
			}
			e = c
		case 7, 9, 10:
			s := events.LockSynced{Key: k, Lock: lock, Sync: events.LockSync(rapid.IntRange(0, 5).Draw(t, "sync"))}
			if rapid.Bool().Draw(t, "until") {
				s.Until = now.Add(time.Duration(rapid.IntRange(1, 72*60).Draw(t, "until minutes")) * time.Minute)
			}
			e = s
		case 11:
			var bs []policy.Blackout
			if rapid.Bool().Draw(t, "some") {
				s := now.Truncate(time.Minute).Add(time.Duration(rapid.IntRange(-600, 3000).Draw(t, "blackout from")) * time.Minute)
				bs = append(bs, policy.Blackout{Start: s, End: s.Add(time.Duration(rapid.IntRange(1, 1440).Draw(t, "blackout minutes")) * time.Minute)})
			}
			log = append(log, logged{"lock-" + lock, now, events.LockBlackoutsSet{Lock: lock, Blackouts: bs}})
			continue
		case 12:
			now = now.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "days later")) * 24 * time.Hour)
			continue
		case 18, 20:
			e = events.KeySuspended{Key: k, Lock: lock}
			if rapid.Bool().Draw(t, "suspend message") { // the lock's, pending in its admin queue
				adminSeq[lock]++
				log = append(log, logged{"key-" + k, now, e},
					logged{"lock-" + lock, now, events.AdminIssued{Lock: lock, Key: k, Seq: adminSeq[lock], Type: lockproto.TypeSuspend}})
				continue
			}
		case 19:
			e = events.KeyResumed{Key: k, Lock: lock}
		case 21: // the lock's audit shows admin messages consumed up to a number, the last applied or refused
			if adminSeq[lock] == 0 {
				continue
			}
			seq := uint32(rapid.IntRange(1, int(adminSeq[lock])).Draw(t, "consumed up to"))
			log = append(log, logged{"lock-" + lock, now, events.AdminApplied{Lock: lock, Seq: seq, Type: lockproto.TypeSuspend,
				Applied: rapid.Bool().Draw(t, "applied")}})
			continue
		}
		log = append(log, logged{"key-" + k, now, e})
	}
	return log
}

// onlineEvent draws an event about online key k of lock: its group's
// network management and members (invitations, acceptance, permissions,
// lockouts, removal), online unlocks counting uses, an edit or deletion.
func onlineEvent(t *rapid.T, now time.Time, k, lock string, uses map[string]uint32, settings func(string) events.Settings) logged {
	group := "group-" + lock
	who := rapid.SampledFrom([]string{"ann", "ann", "bob", "phone-1"}).Draw(t, "member")
	perms := func() events.Permissions {
		return events.Permissions{Doors: rapid.SampledFrom([]access.Doors{access.Main, access.Inner, access.MainInner}).Draw(t, "permitted doors"),
			Ops: rapid.SampledFrom([]events.Operations{events.OpUnlock, events.OpUnlock | events.OpViewHistory, events.OpViewHistory}).Draw(t, "ops")}
	}
	switch rapid.IntRange(0, 12).Draw(t, "online what") {
	case 0, 1:
		return logged{group, now, events.NetworkManagementOn{Lock: lock, By: "bill",
			Until: now.Add(time.Duration(rapid.IntRange(1, 96*60).Draw(t, "network minutes")) * time.Minute)}}
	case 2:
		return logged{group, now, events.NetworkManagementOff{Lock: lock, Reason: access.TurnedOff}}
	case 3, 4:
		return logged{group, now, events.MemberInvited{Lock: lock, Key: k, Account: who, By: "bill", Expires: now.Add(24 * time.Hour), Permissions: perms()}}
	case 5, 6, 7:
		return logged{group, now, events.InvitationAccepted{Lock: lock, Key: k, Account: who}}
	case 8:
		return logged{group, now, events.MemberPermissionsSet{Lock: lock, Account: who, By: "bill", Permissions: perms()}}
	case 9:
		e := events.PasswordRejected{Lock: lock, Account: who, Failures: 1}
		if rapid.Bool().Draw(t, "locks out") {
			e.LockedUntil = now.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "lockout minutes")) * time.Minute)
		}
		return logged{group, now, e}
	case 10:
		return logged{group, now, rapid.SampledFrom([]any{events.MemberRemoved{Lock: lock, Key: k, Account: who},
			events.InvitationDeclined{Lock: lock, Key: k, Account: who}, events.InvitationWithdrawn{Lock: lock, Key: k, Account: who},
			events.InvitationExpired{Lock: lock, Key: k, Account: who}}).Draw(t, "member leaves")}
	case 11:
		uses[k]++
		return logged{group, now, events.UnlockAttempted{Key: k, Lock: lock, By: who, Door: access.Main, Granted: true, Uses: uses[k]}}
	}
	if rapid.Bool().Draw(t, "edit") {
		return logged{"key-" + k, now, events.KeyEdited{Key: k, Lock: lock, Settings: settings(lock)}}
	}
	return logged{"key-" + k, now, events.KeyDeleted{Key: k, Lock: lock}}
}

// store appends the log to an in-memory ledger.
func store(t testing.TB, log []logged) *ledger.Ledger {
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, e := range log {
		if _, err := l.Append(context.Background(), e.stream, ledger.ExpectAny, ledger.NewEvent{Data: e.data, Time: e.at}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// index opens an index of l, closed when t ends.
func index(t testing.TB, l *ledger.Ledger) *asof.Index {
	x, err := asof.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// The brute-force model: replay the events recorded up to an instant
// into plain structs and ask the policy, uncompiled, at that instant.

type bruteKey struct {
	suspended  bool
	suspendSeq uint32 // the suspend message pending at the lock
	applied    bool   // the lock was shown applying it
	lock       string
	kind       events.Kind
	state      events.State
	settings   events.Settings
	method     events.ShareMethod
	recipient  string
	holder     string
	downloaded bool
	taken      bool
	uses       uint32
	at         events.AtLock
	firstUse   time.Time // the earliest granted use the log holds (zero: none)
}

// usedAt records a granted use at at: the first use is the earliest.
func (k *bruteKey) usedAt(at time.Time) {
	if k.firstUse.IsZero() || at.Before(k.firstUse) {
		k.firstUse = at
	}
}

// policy is the key's policy, narrowed by its first use once known.
func (k *bruteKey) policy() policy.Policy {
	if k.firstUse.IsZero() {
		return k.settings.Policy
	}
	return k.settings.Policy.FirstUsed(k.firstUse)
}

// unlockStates is what the rules allow an unlock in, written plainly.
var unlockStates = map[events.Kind][]events.State{
	events.KindShare:    {events.StateDownloaded},
	events.KindDigital:  {events.StateSharing, events.StateDownloaded},
	events.KindIntercom: {events.StateDownloaded},
}

type bruteWorld struct {
	keys      map[string]*bruteKey
	blackouts map[string][]policy.Blackout
	doors     map[string]access.Doors
	groups    map[string]*bruteGroup
}

// bruteGroup is a lock's group: network management and members.
type bruteGroup struct {
	on      bool
	until   time.Time
	members map[string]*bruteMember
}

type bruteMember struct {
	key         string
	accepted    bool
	perms       events.Permissions
	lockedUntil time.Time
}

func newWorld() *bruteWorld {
	return &bruteWorld{keys: map[string]*bruteKey{}, blackouts: map[string][]policy.Blackout{}, doors: map[string]access.Doors{},
		groups: map[string]*bruteGroup{}}
}

// group folds an event of a lock group.
func (w *bruteWorld) group(data any) {
	g := func(lock string) *bruteGroup {
		if w.groups[lock] == nil {
			w.groups[lock] = &bruteGroup{members: map[string]*bruteMember{}}
		}
		return w.groups[lock]
	}
	m := func(lock, account string) *bruteMember {
		if g(lock).members[account] == nil {
			g(lock).members[account] = &bruteMember{}
		}
		return g(lock).members[account]
	}
	switch e := data.(type) {
	case events.NetworkManagementOn:
		g(e.Lock).on, g(e.Lock).until = true, e.Until
	case events.NetworkManagementOff:
		g(e.Lock).on = false
	case events.MemberInvited:
		g(e.Lock).members[e.Account] = &bruteMember{key: e.Key, perms: e.Permissions}
	case events.InvitationAccepted:
		m(e.Lock, e.Account).accepted = true
	case events.MemberPermissionsSet:
		m(e.Lock, e.Account).perms = e.Permissions
	case events.PasswordRejected:
		if !e.LockedUntil.IsZero() {
			m(e.Lock, e.Account).lockedUntil = e.LockedUntil
		}
	case events.MemberRemoved:
		*m(e.Lock, e.Account) = bruteMember{key: m(e.Lock, e.Account).key}
	case events.InvitationDeclined:
		m(e.Lock, e.Account).accepted = false
	case events.InvitationWithdrawn:
		m(e.Lock, e.Account).accepted = false
	case events.InvitationExpired:
		m(e.Lock, e.Account).accepted = false
	}
}

func replay(log []logged, upTo time.Time) *bruteWorld {
	w := newWorld()
	for _, e := range log {
		if e.at.After(upTo) {
			break
		}
		w.apply(e.data, e.at)
	}
	return w
}

func (w *bruteWorld) apply(data any, at time.Time) {
	key := func(id string) *bruteKey {
		if k := w.keys[id]; k != nil {
			return k
		}
		return &bruteKey{} // an event before the key's creation: dropped
	}
	w.group(data)
	switch e := data.(type) {
	case events.LockRegistered:
		w.doors[e.Lock] = e.Doors
	case events.LockBlackoutsSet:
		w.blackouts[e.Lock] = e.Blackouts
	case events.KeyCreated:
		k := &bruteKey{lock: e.Lock, kind: e.Kind, state: events.StateCreated, settings: e.Settings}
		if e.Holder != "" {
			k.state, k.method, k.recipient = events.StateSharing, events.ShareToID, e.Holder
		}
		w.keys[e.Key] = k
	case events.KeyShared:
		k := key(e.Key)
		k.state, k.method, k.recipient = events.StateSharing, e.Method, e.Account
	case events.KeyDownloaded:
		k := key(e.Key)
		k.state, k.holder, k.downloaded = events.StateDownloaded, e.Holder, true
	case events.KeyEdited:
		key(e.Key).settings = e.Settings
	case events.KeyRevoked:
		k := key(e.Key)
		k.state, k.taken = events.StateRevoked, true
	case events.KeyReset:
		k := key(e.Key)
		k.state, k.taken = events.StateReset, true
	case events.DeactivationRequested:
		k := key(e.Key)
		k.state, k.taken = events.StateDeactivationPending, true
	case events.DeactivationConfirmed:
		k := key(e.Key)
		k.state, k.taken = events.StateDeactivated, true
	case events.KeyDeleted:
		k := key(e.Key)
		k.state, k.taken = events.StateDeleted, true
	case events.UnlockAttempted:
		k := key(e.Key)
		k.uses = e.Uses
		if e.Granted {
			k.usedAt(at)
		}
	case events.OfflineUnlocksCounted:
		k := key(e.Key)
		k.uses = e.Uses
		if e.Granted > 0 {
			if e.First.IsZero() {
				k.usedAt(at)
			} else {
				k.usedAt(e.First)
			}
		}
	case events.KeySuspended:
		k := key(e.Key)
		k.suspended, k.applied = true, false
	case events.KeyResumed:
		key(e.Key).suspended = false
	case events.AdminIssued:
		if k := w.keys[e.Key]; k != nil && e.Type == lockproto.TypeSuspend {
			k.suspendSeq, k.applied = e.Seq, false
		}
	case events.AdminApplied:
		for _, k := range w.keys {
			if k.lock == e.Lock && k.suspendSeq != 0 && k.suspendSeq <= e.Seq {
				k.applied = k.suspendSeq == e.Seq && e.Applied
				k.suspendSeq = 0
			}
		}
	}
	switch e := data.(type) {
	case events.KeyShared, events.KeyDownloaded, events.KeyEdited, events.KeyRevoked, events.KeyReset,
		events.DeactivationRequested, events.DeactivationConfirmed, events.KeyDeleted, events.LockSynced,
		events.UnlockAttempted, events.OfflineUnlocksCounted:
		if k := w.keys[keyOf(e)]; k != nil {
			k.at.Apply(data)
		}
	}
}

func keyOf(e any) string {
	switch e := e.(type) {
	case events.KeyShared:
		return e.Key
	case events.KeyDownloaded:
		return e.Key
	case events.KeyEdited:
		return e.Key
	case events.KeyRevoked:
		return e.Key
	case events.KeyReset:
		return e.Key
	case events.DeactivationRequested:
		return e.Key
	case events.DeactivationConfirmed:
		return e.Key
	case events.KeyDeleted:
		return e.Key
	case events.LockSynced:
		return e.Key
	case events.UnlockAttempted:
		return e.Key
	case events.OfflineUnlocksCounted:
		return e.Key
	}
	return ""
}

// opening is one brute-force answer: account, key, still at the lock.
type opening struct {
	lock    string
	door    access.Door
	account string
	key     string
	still   bool
	online  bool
}

func (w *bruteWorld) openings(at time.Time) []opening {
	var out []opening
	for id, k := range w.keys {
		if k.kind == events.KindOnline {
			out = append(out, w.onlineOpenings(at, id, k)...)
			continue
		}
		opener := ""
		if k.downloaded {
			opener = k.holder
		} else if k.method == events.ShareToID {
			opener = k.recipient
		}
		if opener == "" {
			continue
		}
		still := false
		if allowed := slices.Contains(unlockStates[k.kind], k.state); !allowed || k.suspended {
			// Taken away or suspended: open at the lock only while the
			// lock may not know (no suspend message is in this log).
			switch {
			case k.taken && k.at.StillOpen(k.state, at):
			case k.suspended && allowed && !k.applied && k.at.Held() && (k.at.Until.IsZero() || at.Before(k.at.Until)):
			default:
				continue
			}
			still = true
		}
		p := k.policy().WithBlackouts(w.blackouts[k.lock])
		if p.Allowed(at, k.uses) != access.Granted {
			continue
		}
		for d := access.Door(0); d < access.MaxDoors; d++ {
			if k.settings.Doors.Has(d) && w.doors[k.lock].Has(d) {
				out = append(out, opening{k.lock, d, opener, id, still, false})
			}
		}
	}
	slices.SortFunc(out, compareOpening)
	return out
}

// onlineOpenings: an online key opens for each accepted member of its
// group permitted to unlock, while network management is on and the
// member is not locked out, at the doors the key, the permissions and the
// lock share (an online unlock names the main or the inner door), unless
// deleted or revoked, as its policy and the lock's blackouts allow.
func (w *bruteWorld) onlineOpenings(at time.Time, id string, k *bruteKey) []opening {
	g := w.groups[k.lock]
	if g == nil || !g.on || !at.Before(g.until) || k.state == events.StateDeleted || k.state == events.StateRevoked || k.suspended {
		return nil
	}
	if p := k.policy().WithBlackouts(w.blackouts[k.lock]); p.Allowed(at, k.uses) != access.Granted {
		return nil
	}
	var out []opening
	for account, m := range g.members {
		if m.key != id || !m.accepted || m.perms.Ops&events.OpUnlock == 0 || at.Before(m.lockedUntil) {
			continue
		}
		for _, d := range []access.Door{access.MainDoor, access.InnerDoor} {
			if k.settings.Doors.Has(d) && m.perms.Doors.Has(d) && w.doors[k.lock].Has(d) {
				out = append(out, opening{k.lock, d, account, id, false, true})
			}
		}
	}
	return out
}

func compareOpening(a, b opening) int {
	return cmpStrings(fmt.Sprint(a), fmt.Sprint(b))
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// instants draws instants around the log: before it, on its events'
// times, between them, and after it.
func instants(t *rapid.T, log []logged, label string) []time.Time {
	last := log[len(log)-1].at
	span := int(last.Sub(t0)/time.Second) + 24*3600
	var out []time.Time
	for range rapid.IntRange(1, 8).Draw(t, label+" count") {
		if rapid.Bool().Draw(t, label+" on an event") {
			out = append(out, rapid.SampledFrom(log).Draw(t, label+" event").at)
			continue
		}
		out = append(out, t0.Add(time.Duration(rapid.IntRange(-3600, span).Draw(t, label))*time.Second))
	}
	return out
}

// As-of access equals replaying the log to the instant and asking the
// policy there.
func TestWhoCouldOpenMatchesReplay(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		log := genLog(rt)
		l := store(t, log)
		x := index(t, l)
		ctx := context.Background()
		for _, at := range instants(rt, log, "at") {
			want := replay(log, at).openings(at)
			pos, err := x.PositionAt(ctx, at)
			if err != nil {
				rt.Fatal(err)
			}
			if scanned, err := asof.PositionAt(ctx, l, at); err != nil || scanned != pos {
				rt.Fatalf("position at %v: index %d, scan %d (%v)", at, pos, scanned, err)
			}
			var got []opening
			for _, q := range []struct {
				lock string
				door access.Door
			}{{"front", access.MainDoor}, {"front", access.InnerDoor}, {"garage", access.MainDoor}} {
				ans, err := x.WhoCouldOpen(ctx, q.lock, q.door, at)
				if err != nil {
					rt.Fatal(err)
				}
				for _, o := range ans.Openings {
					got = append(got, opening{q.lock, q.door, o.Account, o.Key, o.StillAtLock, o.Online})
					checkCited(rt, o.Positions, ans.Position)
					if o.Since.After(at) {
						rt.Fatalf("%s at %v: since %v is after the instant", o.Key, at, o.Since)
					}
				}
				if !slices.IsSorted(ans.Positions) || len(ans.Positions) == 0 {
					rt.Fatalf("answer's positions %v: want ascending, at least the lock's registration", ans.Positions)
				}
			}
			slices.SortFunc(got, compareOpening)
			if !slices.Equal(got, want) {
				rt.Fatalf("at %v:\n got %v\nwant %v", at, got, want)
			}
		}
	})
}

// checkCited: positions ascending, within the prefix read, none zero.
func checkCited(t *rapid.T, ps []uint64, prefix uint64) {
	if len(ps) == 0 || !slices.IsSorted(ps) || ps[0] == 0 || ps[len(ps)-1] > prefix {
		t.Fatalf("cited positions %v: want ascending, in 1..%d", ps, prefix)
	}
}

// An account's intervals equal, minute by minute, the replayed log asked
// at each minute.
func TestCouldOpenMatchesReplayMinuteByMinute(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		log := genLog(rt)
		x := index(t, store(t, log))
		ctx := context.Background()
		from := instants(rt, log, "from")[0]
		to := from.Add(time.Duration(rapid.IntRange(0, 2*24*60).Draw(rt, "minutes")) * time.Minute).
			Add(time.Duration(rapid.IntRange(0, 59).Draw(rt, "seconds")) * time.Second)
		account := rapid.SampledFrom([]string{"ann", "ann", "bob", "phone-1"}).Draw(rt, "account")
		ans, err := x.CouldOpen(ctx, account, from, to)
		if account == "phone-1" && err != nil {
			if !errorIsNotFound(err) {
				rt.Fatal(err)
			}
			return // a device never given a key in the range's log prefix
		}
		if err != nil {
			rt.Fatal(err)
		}
		for _, d := range ans.Doors {
			checkCited(rt, d.Positions, ans.Position)
			for i, iv := range d.Intervals {
				if !iv.From.Before(iv.To) || iv.From.Before(from) || iv.To.After(to) || i > 0 && !d.Intervals[i-1].To.Before(iv.From) && d.Intervals[i-1].StillAtLock == iv.StillAtLock {
					rt.Fatalf("%+v: intervals not disjoint, maximal and within the range", d)
				}
			}
		}
		// Sample every minute boundary in the range, its start, and a
		// second past each minute.
		samples := []time.Time{from}
		for m := from.Truncate(time.Minute).Add(time.Minute); m.Before(to); m = m.Add(time.Minute) {
			samples = append(samples, m, m.Add(17*time.Second))
		}
		w := newWorld()
		next := 0
		for _, at := range samples {
			if !at.Before(to) {
				continue
			}
			for next < len(log) && !log[next].at.After(at) {
				w.apply(log[next].data, log[next].at)
				next++
			}
			var want []opening
			for _, o := range w.openings(at) {
				if o.account == account {
					want = append(want, o)
				}
			}
			var got []opening
			for _, d := range ans.Doors {
				for _, iv := range d.Intervals {
					if !at.Before(iv.From) && at.Before(iv.To) {
						got = append(got, opening{d.Lock, d.Door, account, d.Key, iv.StillAtLock, iv.Online})
					}
				}
			}
			slices.SortFunc(got, compareOpening)
			if !slices.Equal(got, want) {
				rt.Fatalf("at %v:\n got %v\nwant %v", at, got, want)
			}
		}
	})
}
