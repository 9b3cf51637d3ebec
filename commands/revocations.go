package commands

import (
	"context"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
)

// A lock's revocation list is bounded (lockproto.MaxRevocations). The
// service keeps its own view of the list — the revocations it issued to the
// lock whose slot has not moved to a later generation since (a reset there
// makes them moot) — and when that view is full it resets the revoked key's
// slot instead (a new generation: the revoked credential and every older
// one of the slot lose). The AdminIssued event says so (Replaces), so
// PendingAdminList shows the reset in place of the revocation, and the
// slot is released at the new generation so the next key there opens.

// revocationsFull reports whether the lock's list, as the service sees it,
// has no room for another revocation.
func (l *LockState) revocationsFull() bool {
	live := 0
	for _, r := range l.Revocations {
		if r.Slot >= 1 && r.Slot <= len(l.SlotGens) && l.SlotGens[r.Slot-1] > r.Generation {
			continue // the slot moved on: the lock drops the entry
		}
		live++
	}
	return live >= lockproto.MaxRevocations
}

// withReplacement adjusts a key action's lock events for an admin message
// issued in place of a revocation: the slot is released at the reset's
// generation, not the revoked key's.
func withReplacement(lockEvs []any, a events.AdminIssued) []any {
	if a.Replaces != lockproto.TypeRevoke {
		return lockEvs
	}
	out := make([]any, len(lockEvs))
	for i, ev := range lockEvs {
		if r, ok := ev.(events.SlotReleased); ok && r.Slot == a.Slot {
			r.Generation = max(r.Generation, a.Generation)
			ev = r
		}
		out[i] = ev
	}
	return out
}

// PendingAdminList is PendingAdmin with what each message is: its type,
// sequence number, slot, key, and what it replaces (a reset issued in place
// of a revocation the lock's full list could not take).
func (s *Service) PendingAdminList(ctx context.Context, lock string) ([]events.AdminIssued, error) {
	if err := checkID("lock", lock); err != nil {
		return nil, err
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return nil, err
	}
	if !l.Exists() {
		return nil, &NotFoundError{What: "lock", ID: lock}
	}
	n := min(len(l.Pending), lockproto.MaxPendingAdmin)
	return append([]events.AdminIssued(nil), l.Pending[:n]...), nil
}
