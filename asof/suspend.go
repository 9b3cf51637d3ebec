package asof

import (
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// Suspended keys. A key suspended at T opens nothing online at T. At the
// lock, a key that holds something there (its credential, PIN or card:
// events.AtLock pending or applied) opens until the lock applies the
// suspend message: as for a key taken away, it is an answer marked
// StillAtLock until the lock's audit shows the message applied (the lock
// stream's AdminApplied of the message's sequence number, applied — a
// refused one leaves the key open there; one applied above it leaves it
// pending while the lock can still apply it, lockproto.AdminTooOld), or
// its credential ends on its own. A reset of every key is no special case: it revokes each key
// (KeyRevoked), so the taken-away rule applies.

// suspendedAtLock reports whether a suspended key k may still open its
// lock at t: it holds something there and the lock has not been shown
// applying the suspension.
func (k *keyState) suspendedAtLock(t time.Time) bool {
	return k.suspended && !k.suspendApplied && k.opener() != "" && commands.Allows(k.kind, k.state, events.ActUnlock) &&
		k.atLock.Held() && (k.atLock.Until.IsZero() || t.Before(k.atLock.Until))
}

// applySuspendAdmin follows a lock's suspend messages: issued for a key
// (pending), then consumed by the lock. Write lock held.
func (x *Index) applySuspendAdmin(ev *ledger.Event) {
	switch e := ev.Data.(type) {
	case events.AdminIssued:
		if e.Type != lockproto.TypeSuspend || e.Key == "" {
			return
		}
		x.changeKey(ev, "key-"+e.Key, func(k *keyState) bool {
			k.suspendSeq, k.suspendApplied = e.Seq, false
			return true
		})
	case events.AdminApplied:
		l := x.locks[e.Lock]
		if l == nil {
			return
		}
		for _, h := range l.keys {
			x.changeKey(ev, "key-"+h.id, func(k *keyState) bool {
				rotated := e.Type == lockproto.TypeRotateKey && e.Applied && k.suspendSeq < e.Seq
				if k.suspendSeq == 0 || (k.suspendSeq != e.Seq && !lockproto.AdminTooOld(k.suspendSeq, e.Seq) && !rotated) {
					return false
				}
				// Too old for the lock to apply it, or signed by the key a
				// rotation retired: it is issued again, and that
				// AdminIssued follows (or it is no longer wanted).
				k.suspendApplied = k.suspendSeq == e.Seq && e.Applied
				k.suspendSeq, k.syncedAt = 0, ev.Position
				return true
			})
		}
	}
}

// changeKey appends a version of the key of stream changed by f (if f
// reports a change).
func (x *Index) changeKey(ev *ledger.Event, stream string, f func(*keyState) bool) {
	h := x.keys[stream]
	if h == nil {
		return
	}
	k := h.versions[len(h.versions)-1].k
	if !f(&k) {
		return
	}
	h.versions = append(h.versions, keyVersion{ev.Position, ev.Time, k})
}
