package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// Lock groups and online keys in the histories: network management on and
// off, invitations and their answers, permissions, removals, wrong personal
// passwords. Online unlocks are commands.UnlockAttempted events, described
// by describe already. The group status itself is read from the group
// stream by commands.Service.GroupStatus (exact, read-your-writes, no read
// model).
//
// Network management is the row p/net/<lock>: the end of its operating
// duration while it is on (absent when off). An online key's status reads
// it: while network management is off (or its duration is over), the key
// shows NetworkOff, not in a window, as commands.Service.UnlockOnline would
// refuse it (network_off) whatever its schedule says.

// applyGroup applies a group event; it reports false for other events.
func applyGroup(b *batch, ev *ledger.Event) (bool, error) {
	switch e := ev.Data.(type) {
	case events.NetworkManagementOn:
		b.sb.Set(rowKey("net", e.Lock), binary.BigEndian.AppendUint64(nil, uint64(e.Until.UnixNano())))
	case events.NetworkManagementOff:
		b.sb.Delete(rowKey("net", e.Lock))
	case events.InvitationAccepted:
		if err := b.member(e.Key, e.Account, true); err != nil {
			return true, err
		}
	case events.MemberRemoved:
		if err := b.member(e.Key, e.Account, false); err != nil {
			return true, err
		}
	}
	h := &HistoryEntry{}
	if !describeGroup(ev, h) {
		return false, nil
	}
	return true, b.history(h)
}

// describeGroup fills a history entry from a group event; it reports false
// for other events and for group bookkeeping that is not history.
func describeGroup(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case events.NetworkManagementOn:
		h.Lock, h.Account = e.Lock, e.By
	case events.NetworkManagementOff:
		h.Lock, h.Account, h.Reason = e.Lock, e.By, e.Reason
	case events.MemberInvited:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.By, e.Account
	case events.InvitationAccepted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Account
	case events.InvitationDeclined:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Account
	case events.InvitationWithdrawn:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.By, e.Account
	case events.InvitationExpired:
		h.Lock, h.Key, h.Subject = e.Lock, e.Key, e.Account
	case events.MemberPermissionsSet:
		h.Lock, h.Account, h.Subject = e.Lock, e.By, e.Account
	case events.MemberRemoved:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.By, e.Account
	case events.MemberPasswordSet:
		if e.Rehash {
			return false // an upgrade of the stored hash, not an action
		}
		h.Lock, h.Account = e.Lock, e.Account
	case events.PasswordRejected:
		h.Lock, h.Account, h.Reason = e.Lock, e.Account, access.WrongPassword
		if !e.LockedUntil.IsZero() {
			h.Reason = access.LockedOut
		}
	default:
		// OnlineKeyAdded, OnlineKeyEdited, OnlineKeyRemoved: their KeyCreated,
		// KeyEdited, KeyDeleted are in the histories; PasswordFailuresCleared
		// is bookkeeping.
		return false
	}
	return true
}

// networkOn reports whether a lock's network management is on at at (the
// read model of commands.NetworkState.ActiveAt).
func (p *Projections) networkOn(ctx context.Context, lock string, at time.Time) (bool, error) {
	v, err := p.store.GetState(ctx, rowKey("net", lock))
	if errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(v) != 8 {
		return false, fmt.Errorf("%w: network row of lock %q", ErrCorrupt, lock)
	}
	return at.UnixNano() < int64(binary.BigEndian.Uint64(v)), nil
}

// onlineStatus marks an online key's status while its lock's network
// management is off: UnlockOnline would refuse it, so no window is open
// and none opens until the owner turns network management on.
func onlineStatus(st *KeyStatus, networkOn bool) {
	if networkOn {
		return
	}
	st.NetworkOff, st.InWindow, st.NextOpen = true, false, time.Time{}
}

// member adds an account that accepted an invitation to an online key's
// members (KeyRow.Members, and the holder index, so HolderKeys lists the key
// among the account's "my keys"), or removes it.
func (b *batch) member(key, account string, in bool) error {
	r, err := b.key(key)
	if err != nil || r == nil {
		return err
	}
	i := slices.Index(r.Members, account)
	switch {
	case in && i < 0:
		r.Members = append(r.Members, account)
		b.sb.Set(rowKey("hk", account, key), nil)
	case !in && i >= 0:
		r.Members = slices.Delete(slices.Clone(r.Members), i, i+1)
		if r.Recipient != account && r.Holder != account {
			b.sb.Delete(rowKey("hk", account, key))
		}
	default:
		return nil
	}
	b.full[key] = true
	return nil
}
