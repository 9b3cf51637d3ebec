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
}

// statusRow is the fixed layout of p/st/<key>, decoded without allocating:
//
//	version(1)=1 | state(1) | sharing(1) | uses(4 BE) | settings position(8 BE)
const statusRowLen = 15

func appendStatusRow(dst []byte, r *KeyRow) []byte {
	dst = append(dst, 1, byte(r.State), byte(r.Sharing()))
	dst = binary.BigEndian.AppendUint32(dst, r.Uses)
	return binary.BigEndian.AppendUint64(dst, r.SettingsAt)
}

// schedule is a key's policy and zone as of a settings position, cached in
// memory so a status query reads one row.
type schedule struct {
	at     uint64
	policy policy.Policy
	online string // the lock of an online key; "" for other kinds
}

type scheduleCache struct {
	mu sync.RWMutex
	m  map[string]*schedule
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
	if len(v) != statusRowLen || v[0] != 1 {
		return st, fmt.Errorf("%w: status row of key %q", ErrCorrupt, key)
	}
	st.State, st.Sharing = events.State(v[1]), events.Sharing(v[2])
	st.Uses = binary.BigEndian.Uint32(v[3:])
	if done := terminalStatus(&st); done {
		return st, nil
	}
	sc, err := p.scheduleOf(ctx, key, binary.BigEndian.Uint64(v[7:]))
	if err != nil {
		return st, err
	}
	evalStatus(&st, &sc.policy, at)
	if sc.online != "" {
		on, err := p.networkOn(ctx, sc.online, at)
		if err != nil {
			return st, err
		}
		onlineStatus(&st, on)
	}
	return st, nil
}

func (p *Projections) scheduleOf(ctx context.Context, key string, at uint64) (*schedule, error) {
	p.sched.mu.RLock()
	sc := p.sched.m[key]
	p.sched.mu.RUnlock()
	if sc != nil && sc.at == at {
		return sc, nil
	}
	r, err := p.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	sc = &schedule{at: r.SettingsAt, policy: r.Settings.Policy}
	if r.Kind == events.KindOnline {
		sc.online = r.Lock
	}
	_ = sc.policy.Validate() // caches the zone; an invalid policy fails closed
	p.sched.mu.Lock()
	if p.sched.m == nil {
		p.sched.m = map[string]*schedule{}
	}
	if old := p.sched.m[key]; old == nil || old.at <= sc.at {
		p.sched.m[key] = sc
	}
	p.sched.mu.Unlock()
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
	if terminalStatus(st) {
		return nil
	}
	pol := r.Settings.Policy
	_ = pol.Validate()
	evalStatus(st, &pol, at)
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
	if len(v) != statusRowLen || v[0] != 1 {
		return nil, fmt.Errorf("%w: status row of key %q", ErrCorrupt, key)
	}
	r.Uses = binary.BigEndian.Uint32(v[3:])
	return r, nil
}
