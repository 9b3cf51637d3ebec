package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
)

// Status is a key's status at an instant.
type Status string

const (
	StatusUpcoming  Status = "UPCOMING"
	StatusActive    Status = "ACTIVE"
	StatusExpired   Status = "EXPIRED"
	StatusExhausted Status = "EXHAUSTED"
	StatusRevoked   Status = "REVOKED"
	StatusDeleted   Status = "DELETED"
	// StatusSuspended: the key is suspended (commands.Service.SuspendKey):
	// it opens nothing until resumed, whatever its schedule says.
	StatusSuspended Status = "SUSPENDED"
)

// KeyStatus is a key's status at an instant: the status, the sharing state, whether the
// key's policy has a window open at the instant and when one next opens
// (lock-wide blackouts apply to online decisions, not to this status).
type KeyStatus struct {
	Status   Status
	State    events.State
	Sharing  events.Sharing
	InWindow bool
	NextOpen time.Time // zero: never again, or not applicable (revoked, deleted, NetworkOff)
	Uses     uint32
	// NetworkOff: an online key (commands.KindOnline) whose lock's network
	// management is off at the instant (turned off, or its operating
	// duration over). commands.Service.UnlockOnline refuses it
	// (commands.ReasonNetworkOff) whatever the schedule says, so InWindow
	// is false and NextOpen zero; Status still says what the schedule
	// makes of the key (ACTIVE, UPCOMING, …) once the owner turns network
	// management on again.
	NetworkOff bool
	// AtLock is where the key's credential stands at its lock
	// (events.SyncNone: nothing the ledger issued is there); for a
	// suspended key that holds something there, where its suspension
	// stands: pending, applied, or failed (the lock refused it, its
	// suspension table full). OpenAtLock: the key was taken away (reset,
	// revoked, deactivated or deleted) or suspended, but its removal or
	// suspension has not reached the lock (or the lock refused it) and its
	// credential has not ended on its own, so it may still open the lock
	// at the instant, until OpenUntil (zero: until the lock applies the
	// removal or suspension). Summary says it as apps show it.
	AtLock     events.LockSync
	OpenAtLock bool
	OpenUntil  time.Time
	// AfterFirstUse: the key expires this long after its first use, which
	// has not happened yet (zero once it has: End is then concrete).
	// End is when the policy in force ends (zero: no end).
	AfterFirstUse time.Duration
	End           time.Time
	// Suspended: the key is suspended (Status SUSPENDED unless it was
	// revoked or deleted since); InWindow is false and NextOpen zero.
	Suspended bool
}

// Summary is the status in words, as apps show it: the status, and for a
// key that may still open its lock although it was taken away, "still
// open at the lock until <when>" (RFC 3339, UTC).
func (s KeyStatus) Summary() string {
	if !s.OpenAtLock {
		if s.AfterFirstUse != 0 && (s.Status == StatusActive || s.Status == StatusUpcoming) {
			return string(s.Status) + ", expires " + spoken(s.AfterFirstUse) + " after first use"
		}
		return string(s.Status)
	}
	if s.OpenUntil.IsZero() {
		switch {
		case s.Status != StatusSuspended:
			return string(s.Status) + ", still open at the lock until it applies the removal"
		case s.AtLock == events.SyncFailed:
			return string(s.Status) + ", still open at the lock: it refused the suspension"
		}
		return string(s.Status) + ", still open at the lock until it applies the suspension"
	}
	return string(s.Status) + ", still open at the lock until " + s.OpenUntil.UTC().Format(time.RFC3339)
}

// statusRow is the fixed layout of p/st/<key>, decoded without allocating:
//
//	version(1)=3 | state(1) | sharing(1) | uses(4 BE) | settings position(8 BE) |
//	sync at the lock(1) | the credential's own end, unix seconds (8 BE; 0 = none) |
//	flags(1): bit 0 suspended, bits 1-3 the suspension at the lock (events.LockSync)
//
// Version 2 rows (24 bytes, before the flags) read as not suspended;
// version 1 rows (15 bytes, before sync at the lock) also as nothing at
// the lock.
const (
	statusRowLen   = 25
	statusRowLenV2 = 24
	statusRowLenV1 = 15
)

func appendStatusRow(dst []byte, r *KeyRow) []byte {
	dst = append(dst, 3, byte(r.State), byte(r.Sharing()))
	dst = binary.BigEndian.AppendUint32(dst, r.Uses)
	dst = binary.BigEndian.AppendUint64(dst, r.SettingsAt)
	var until int64
	if !r.AtLock.Until.IsZero() {
		until = r.AtLock.Until.Unix()
	}
	dst = append(dst, byte(r.AtLock.Sync))
	dst = binary.BigEndian.AppendUint64(dst, uint64(until))
	flags := byte(r.AtLock.Suspension&7) << 1
	if r.Suspended {
		flags |= 1
	}
	return append(dst, flags)
}

// statusRowOK reports whether v is a status row of a version this package reads.
func statusRowOK(v []byte) bool {
	return len(v) == statusRowLen && v[0] == 3 || len(v) == statusRowLenV2 && v[0] == 2 || len(v) == statusRowLenV1 && v[0] == 1
}

// suspendedOf decodes the suspension of a status row.
func suspendedOf(v []byte) bool { return len(v) == statusRowLen && v[statusRowLenV2]&1 != 0 }

// suspend marks a key's status as suspended once the schedule gave its
// own: a suspended key opens nothing (revoked and deleted keys keep theirs).
func suspend(st *KeyStatus, suspended bool) {
	if !suspended {
		return
	}
	st.Suspended = true
	if st.Status == StatusRevoked || st.Status == StatusDeleted {
		return
	}
	st.Status, st.InWindow, st.NextOpen = StatusSuspended, false, time.Time{}
}

// atLockOf decodes the sync at the lock of a status row.
func atLockOf(v []byte) events.AtLock {
	if len(v) < statusRowLenV2 {
		return events.AtLock{}
	}
	a := events.AtLock{Sync: events.LockSync(v[15])}
	if u := int64(binary.BigEndian.Uint64(v[16:])); u != 0 {
		a.Until = time.Unix(u, 0).UTC()
	}
	if len(v) == statusRowLen {
		a.Suspension = events.LockSync(v[statusRowLenV2]>>1) & 7
	}
	return a
}

// exposure fills in where the key stands at its lock and whether it may
// still open it at at: taken away but its removal not applied there, or
// suspended but its suspension not applied there (pending or refused).
func exposure(st *KeyStatus, a events.AtLock, at time.Time) {
	st.AtLock = a.Sync
	switch {
	case a.StillOpen(st.State, at):
		st.OpenAtLock, st.OpenUntil = true, a.Until
	case a.Suspension != events.SyncNone && a.Held():
		st.AtLock = a.Suspension
		if a.SuspendedOpen(at) {
			st.OpenAtLock, st.OpenUntil = true, a.Until
		}
	}
}

// schedule is a key's compiled policy as of a settings position, cached in
// memory so a status query reads one row and compiles nothing.
type schedule struct {
	at     uint64
	sched  *policy.Schedule // nil if the policy does not validate
	policy policy.Policy    // kept when sched is nil: its dates and uses still give a state
	online string           // the lock of an online key; "" for other kinds
	// The policy's end and its expiry after first use (if still to come).
	end           time.Time
	afterFirstUse time.Duration
}

// maxSchedules bounds the schedules cached (a compiled one is about 2.7 KB):
// past it, adding one evicts an arbitrary other.
const maxSchedules = 4096

// scheduleCache holds the schedules of the keys whose status was asked
// (KeyStatus); lists only use them. Safe for concurrent use; the zero
// value is empty.
type scheduleCache struct {
	mu sync.RWMutex
	m  map[string]*schedule
}

// get returns key's schedule if it is cached as of settings position at.
func (c *scheduleCache) get(key string, at uint64) *schedule {
	c.mu.RLock()
	sc := c.m[key]
	c.mu.RUnlock()
	if sc != nil && sc.at == at {
		return sc
	}
	return nil
}

// put caches sc unless a newer one is cached.
func (c *scheduleCache) put(key string, sc *schedule) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*schedule{}
	}
	old, ok := c.m[key]
	if ok && old.at > sc.at {
		return
	}
	if !ok && len(c.m) >= maxSchedules {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = sc
}

// compileSchedule compiles a key's policy as of its settings position.
func compileSchedule(r *KeyRow) *schedule {
	p := r.Policy()
	sc := &schedule{at: r.SettingsAt, end: p.End, afterFirstUse: p.AfterFirstUse}
	var err error
	if sc.sched, err = policy.Compile(p); err != nil {
		sc.policy = p // an invalid policy fails closed (evalStatus)
	}
	if r.Kind == events.KindOnline {
		sc.online = r.Lock
	}
	return sc
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}

// KeyStatus returns a key's status at at. It reads one state row (a point
// read, no scan) and, in the steady state, allocates nothing beyond what
// the ledger's GetState allocates. An online key's status reads one more
// row, its lock's network management (KeyStatus.NetworkOff).
func (p *Projections) KeyStatus(ctx context.Context, key string, at time.Time) (KeyStatus, error) {
	var st KeyStatus
	bp := keyBufs.Get().(*[]byte)
	k := append(append((*bp)[:0], prefix+"st/"...), key...)
	v, err := p.store.GetState(ctx, k)
	*bp = k
	keyBufs.Put(bp)
	if errors.Is(err, ledger.ErrNotFound) {
		return st, notFound("key", key)
	}
	if err != nil {
		return st, err
	}
	if !statusRowOK(v) {
		return st, fmt.Errorf("%w: status row of key %q", ErrCorrupt, key)
	}
	st.State, st.Sharing = events.State(v[1]), events.Sharing(v[2])
	st.Uses = binary.BigEndian.Uint32(v[3:])
	exposure(&st, atLockOf(v), at)
	if done := terminalStatus(&st); done {
		return st, nil
	}
	sc, err := p.scheduleOf(ctx, key, binary.BigEndian.Uint64(v[7:]))
	if err != nil {
		return st, err
	}
	evalStatus(&st, sc, at)
	if sc.online != "" {
		on, err := p.networkOn(ctx, sc.online, at)
		if err != nil {
			return st, err
		}
		onlineStatus(&st, on)
	}
	suspend(&st, suspendedOf(v))
	return st, nil
}

func (p *Projections) scheduleOf(ctx context.Context, key string, at uint64) (*schedule, error) {
	if sc := p.sched.get(key, at); sc != nil {
		return sc, nil
	}
	r, err := p.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	sc := compileSchedule(&r)
	p.sched.put(key, sc)
	return sc, nil
}

// terminalStatus sets the status of revoked and deleted keys.
func terminalStatus(st *KeyStatus) bool {
	switch st.State {
	case events.StateDeleted:
		st.Status = StatusDeleted
		return true
	case events.StateRevoked, events.StateReset, events.StateDeactivationPending, events.StateDeactivated:
		st.Status = StatusRevoked
		return true
	}
	return false
}

// statusOf computes the status of a key row (lists). network memoises the
// network state of the locks of online keys within one list.
func (p *Projections) statusOf(ctx context.Context, r *KeyRow, at time.Time, st *KeyStatus, network map[string]bool) error {
	st.State, st.Sharing, st.Uses = r.State, r.Sharing(), r.Uses
	exposure(st, r.AtLock, at)
	if terminalStatus(st) {
		return nil
	}
	if sc := p.sched.get(r.Key, r.SettingsAt); sc != nil {
		evalStatus(st, sc, at)
	} else { // compiled for this call only (no allocation), not cached: a list may be longer than the cache
		p := r.Policy()
		evalStatus(st, &schedule{policy: p, end: p.End, afterFirstUse: p.AfterFirstUse}, at)
	}
	defer suspend(st, r.Suspended)
	if r.Kind != events.KindOnline {
		return nil
	}
	on, ok := network[r.Lock]
	if !ok {
		var err error
		if on, err = p.networkOn(ctx, r.Lock, at); err != nil {
			return err
		}
		network[r.Lock] = on
	}
	onlineStatus(st, on)
	return nil
}

// keyRow reads a key's row and its use count (kept in the status row, so an
// unlock rewrites 15 bytes rather than the whole row).
func keyRow(ctx context.Context, store ledger.StateStore, key string) (*KeyRow, error) {
	r, err := getRow[KeyRow](ctx, store, rowKey("key", key))
	if err != nil || r == nil {
		return r, err
	}
	v, err := store.GetState(ctx, rowKey("st", key))
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, fmt.Errorf("%w: key %q has no status row", ErrCorrupt, key)
		}
		return nil, err
	}
	if !statusRowOK(v) {
		return nil, fmt.Errorf("%w: status row of key %q", ErrCorrupt, key)
	}
	r.Uses = binary.BigEndian.Uint32(v[3:])
	return r, nil
}
