package asof

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
)

// lockHistory is a lock: its doors and every version of its blackouts.
type lockHistory struct {
	id         string
	doors      access.Doors
	registered uint64
	blackouts  []blackoutVersion
	groups     []groupVersion   // its group's versions (online keys)
	keys       []*keyHistory    // by creation position
	passages   []passageVersion // its passage schedules (passage.go)
	// passageApplied: the lock's audit showing passage messages applied.
	passageApplied []passageApplied
}

type blackoutVersion struct {
	pos       uint64
	time      time.Time
	blackouts []policy.Blackout
}

func blackoutPos(v *blackoutVersion) uint64 { return v.pos }

// blackoutsAt returns the lock's blackouts as of pos and the position
// that set them (0: none set).
func (l *lockHistory) blackoutsAt(pos uint64) ([]policy.Blackout, uint64) {
	if i := lastAt(l.blackouts, pos, blackoutPos); i >= 0 {
		return l.blackouts[i].blackouts, l.blackouts[i].pos
	}
	return nil, 0
}

// keyHistory is every version of a key, and every use count.
type keyHistory struct {
	id, lock string
	versions []keyVersion  // ascending positions; the first is its creation
	uses     []usesVersion // ascending positions
	openers  []string      // every account that was its opener

	sched atomic.Pointer[compiled] // the last schedule compiled

	// firsts are the key's first use as the log grows: the earliest granted
	// use (events.UnlockAttempted, or OfflineUnlocksCounted at the lock's
	// time of it) recorded up to each position that made it earlier (an
	// audit uploaded late may bring an earlier use), in log order.
	firsts []firstUse
}

type firstUse struct {
	pos uint64
	at  time.Time
}

func firstPos(v *firstUse) uint64 { return v.pos }

// used records a use count; a granted one at at may be the first use.
func (h *keyHistory) used(ev *ledger.Event, uses uint32, granted bool, at time.Time) {
	h.uses = append(h.uses, usesVersion{ev.Position, ev.Time, uses})
	if n := len(h.firsts); granted && !at.IsZero() && (n == 0 || at.Before(h.firsts[n-1].at)) {
		h.firsts = append(h.firsts, firstUse{ev.Position, at})
	}
}

type keyVersion struct {
	pos  uint64
	time time.Time
	k    keyState
}

type usesVersion struct {
	pos  uint64
	time time.Time
	uses uint32
}

func versionPos(v *keyVersion) uint64 { return v.pos }
func usesPos(v *usesVersion) uint64   { return v.pos }

// created is the position of the key's creation.
func (h *keyHistory) created() uint64 { return h.versions[0].pos }

// at returns the key as of pos (nil if created after it) and its use
// count with the position that set it (0: none).
func (h *keyHistory) at(pos uint64) (*keyState, uint32, uint64) {
	i := lastAt(h.versions, pos, versionPos)
	if i < 0 {
		return nil, 0, 0
	}
	var uses uint32
	var usesAt uint64
	if j := lastAt(h.uses, pos, usesPos); j >= 0 {
		uses, usesAt = h.uses[j].uses, h.uses[j].pos
	}
	return &h.versions[i].k, uses, usesAt
}

// compiled is a key's policy with its lock's blackouts, compiled, for
// the settings of version settingsAt and the blackouts set at blackoutsAt.
type compiled struct {
	settingsAt, blackoutsAt uint64
	first                   int              // the index in firsts of the first use that narrowed the policy (policy.Policy.FirstUsed); -1: none
	sched                   *policy.Schedule // nil: does not validate (never opens, as commands decide)
}

// schedule returns the key's policy with the blackouts, compiled (nil if
// it does not validate), reusing the last one compiled when it matches.
// With an expiry after first use, the policy is narrowed by the first use
// once the log as of the use count at usesAt records it, as the commands
// decide.
func (h *keyHistory) schedule(k *keyState, blackouts []policy.Blackout, blackoutsAt, usesAt uint64) *policy.Schedule {
	at := max(k.editAt, k.created)
	first := -1
	if k.settings.Policy.AfterFirstUse != 0 {
		first = lastAt(h.firsts, usesAt, firstPos)
	}
	if c := h.sched.Load(); c != nil && c.settingsAt == at && c.blackoutsAt == blackoutsAt && c.first == first {
		return c.sched
	}
	p := k.settings.Policy
	if first >= 0 {
		p = p.FirstUsed(h.firsts[first].at)
	}
	s, _ := policy.Compile(p.WithBlackouts(blackouts))
	h.sched.Store(&compiled{settingsAt: at, blackoutsAt: blackoutsAt, first: first, sched: s})
	return s
}

// keyState is a key as of a log position, with the positions an answer
// about it cites.
type keyState struct {
	kind       events.Kind
	credential events.Credential
	state      events.State
	settings   events.Settings
	method     events.ShareMethod
	recipient  string
	holder     string
	downloaded bool
	atLock     events.AtLock

	created   uint64    // KeyCreated
	grantAt   uint64    // the event from which its opener could use it (delivery or download)
	grantTime time.Time //
	editAt    uint64    // the last KeyEdited (0: none)
	editTime  time.Time //
	takenAt   uint64    // the reset, revocation, deactivation or deletion (0: none)
	syncedAt  uint64    // the last LockSynced (0: none)

	// Suspension (suspend.go): suspended since suspendAt (or resumed
	// then); the lock's suspend message suspendSeq pending, or shown
	// applied (suspendApplied).
	suspended      bool
	suspendAt      uint64
	suspendSeq     uint32
	suspendApplied bool
}

// opener is the account that may use the key: its holder once downloaded,
// before that the account it was delivered or shared to by ID.
func (k *keyState) opener() string {
	if k.downloaded {
		return k.holder
	}
	if k.method == events.ShareToID {
		return k.recipient
	}
	return ""
}

// usable reports whether the key's opener may use it: the commands' rules
// table allows an unlock in its state.
func (k *keyState) usable() bool {
	return k.opener() != "" && !k.suspended && commands.Allows(k.kind, k.state, events.ActUnlock)
}

// standing is whether the key's opener could open with it at t as far as
// its state goes (the schedule and doors decide the rest): usable, or
// taken away but still at its lock (still).
func (k *keyState) standing(t time.Time) (ok, still bool) {
	if k.usable() {
		return true, false
	}
	if k.takenAt != 0 && k.opener() != "" && k.atLock.StillOpen(k.state, t) {
		return true, true
	}
	if k.suspendedAtLock(t) {
		return true, true
	}
	return false, false
}

// since is the instant from which the key has opened under its current
// grant and schedule: its delivery or download, its last edit, or its
// policy's start, whichever is latest.
func (k *keyState) since() time.Time {
	t := k.grantTime
	if k.editAt > k.grantAt && k.editTime.After(t) {
		t = k.editTime
	}
	if s := k.settings.Policy.Start; s.After(t) {
		t = s
	}
	return t
}

// positions appends the positions an answer about the key rests on.
func (k *keyState) positions(dst []uint64, l *lockHistory, blackoutsAt, usesAt uint64, still bool) []uint64 {
	dst = append(dst, l.registered, k.created, k.grantAt, k.editAt, blackoutsAt)
	if k.settings.Policy.Uses.Limited {
		dst = append(dst, usesAt)
	}
	if still {
		dst = append(dst, k.takenAt, k.syncedAt)
	}
	return append(dst, k.suspendAt)
}

// apply folds one event into the index. Write lock held.
func (x *Index) apply(ev *ledger.Event) {
	x.applied = ev.Position
	t := ev.Time.UnixNano()
	if n := len(x.maxTimes); n > 0 && x.maxTimes[n-1] > t {
		t = x.maxTimes[n-1]
	}
	x.maxTimes = append(x.maxTimes, t)
	switch e := ev.Data.(type) {
	case events.LockRegistered:
		if x.locks[e.Lock] == nil {
			x.locks[e.Lock] = &lockHistory{id: e.Lock, doors: e.Doors, registered: ev.Position}
		}
		return
	case events.LockBlackoutsSet:
		if l := x.locks[e.Lock]; l != nil {
			l.blackouts = append(l.blackouts, blackoutVersion{ev.Position, ev.Time, e.Blackouts})
		}
		return
	case events.PassageSet:
		if l := x.locks[e.Lock]; l != nil {
			l.applyPassage(ev, e)
		}
	case events.AdminIssued, events.AdminApplied:
		x.applySuspendAdmin(ev)
		x.applyLockPassageAdmin(ev)
		return
	case events.KeyCreated:
		l := x.locks[e.Lock]
		if l == nil || x.keys[ev.Stream] != nil {
			return
		}
		k := keyState{kind: e.Kind, credential: e.Credential, state: events.StateCreated, settings: e.Settings, created: ev.Position}
		if e.Holder != "" { // delivered on creation
			k.state, k.method, k.recipient = events.StateSharing, events.ShareToID, e.Holder
		}
		h := &keyHistory{id: e.Key, lock: e.Lock}
		k.grant(ev, false, "")
		h.versions = append(h.versions, keyVersion{ev.Position, ev.Time, k})
		x.keys[ev.Stream] = h
		l.keys = append(l.keys, h)
		x.opened(h, &k)
		return
	}
	if strings.HasPrefix(ev.Stream, "group-") {
		x.applyGroup(ev)
		return
	}
	h := x.keys[ev.Stream]
	if h == nil {
		return
	}
	switch e := ev.Data.(type) {
	case events.UnlockAttempted:
		h.used(ev, e.Uses, e.Granted, ev.Time)
		return
	case events.OfflineUnlocksCounted:
		h.used(ev, e.Uses, e.Granted > 0, cmp.Or(e.First, ev.Time))
		return
	}
	k := h.versions[len(h.versions)-1].k
	was, opener := k.usable(), k.opener()
	switch e := ev.Data.(type) {
	case events.KeyShared:
		k.state, k.method, k.recipient = events.StateSharing, e.Method, e.Account
	case events.KeyDownloaded:
		k.state, k.holder, k.downloaded = events.StateDownloaded, e.Holder, true
	case events.KeyEdited:
		k.settings, k.editAt, k.editTime = e.Settings, ev.Position, ev.Time
	case events.KeyRevoked:
		k.state, k.takenAt = events.StateRevoked, ev.Position
	case events.KeyReset:
		k.state, k.takenAt = events.StateReset, ev.Position
	case events.DeactivationRequested:
		k.state, k.takenAt = events.StateDeactivationPending, ev.Position
	case events.DeactivationConfirmed:
		k.state, k.takenAt = events.StateDeactivated, ev.Position
	case events.KeyDeleted:
		k.state, k.takenAt = events.StateDeleted, ev.Position
	case events.LockSynced:
		k.syncedAt = ev.Position
	case events.KeySuspended:
		k.suspended, k.suspendAt, k.suspendApplied = true, ev.Position, false
	case events.KeyResumed:
		k.suspended, k.suspendAt = false, ev.Position
	default:
		return // changes nothing this index keeps
	}
	k.atLock.Apply(ev.Data)
	k.grant(ev, was, opener)
	h.versions = append(h.versions, keyVersion{ev.Position, ev.Time, k})
	x.opened(h, &k)
}

// grant records ev as the start of the key's grant when it made the key
// usable, or gave it to another opener.
func (k *keyState) grant(ev *ledger.Event, was bool, opener string) {
	if k.usable() && (!was || k.opener() != opener) {
		k.grantAt, k.grantTime = ev.Position, ev.Time
	}
}

// opened indexes the key under its opener.
func (x *Index) opened(h *keyHistory, k *keyState) {
	if o := k.opener(); o != "" && !slices.Contains(h.openers, o) {
		h.openers = append(h.openers, o)
		x.accounts[o] = append(x.accounts[o], h)
	}
}

// sortedUnique sorts positions and drops repeats and zeros.
func sortedUnique(ps []uint64) []uint64 {
	slices.Sort(ps)
	ps = slices.Compact(ps)
	if len(ps) > 0 && ps[0] == 0 {
		ps = ps[1:]
	}
	return ps
}
