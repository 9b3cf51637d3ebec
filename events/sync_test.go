package events_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
)

// Where a key's credential stands at its lock, folded from its events:
// issued it is pending, shown by the lock applied; taking away a key held
// at the lock (reset, revocation, deletion) or asking the lock to
// deactivate its slot makes it removing; the lock's confirmation removed,
// its refusal failed. A key the lock never held is not removing when taken
// away. A removal pending (removing, or failed while taken away) keeps the
// key open at the lock until the credential's own end.
func TestAtLockFoldsTheKeysEvents(t *testing.T) {
	end := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	before, after := end.Add(-time.Minute), end
	pending := events.LockSynced{Sync: events.SyncPending, Until: end}
	applied := events.LockSynced{Sync: events.SyncApplied, AuditSeq: 3}
	removed := events.LockSynced{Sync: events.SyncRemoved, AuditSeq: 4}
	refused := events.LockSynced{Sync: events.SyncFailed, Reason: access.RevocationsFull, AuditSeq: 4}
	for _, tc := range []struct {
		name    string
		evs     []any
		state   events.State
		want    events.LockSync
		pending bool // removal pending
		open    bool // still open at the lock just before the end
	}{
		{"nothing issued", nil, events.StateDownloaded, events.SyncNone, false, false},
		{"issued", []any{pending}, events.StateDownloaded, events.SyncPending, false, false},
		{"shown by the lock", []any{pending, applied}, events.StateDownloaded, events.SyncApplied, false, false},
		{"reset before the lock saw it", []any{pending, events.KeyReset{}}, events.StateReset, events.SyncRemoving, true, true},
		{"reset after the lock saw it", []any{pending, applied, events.KeyReset{}}, events.StateReset, events.SyncRemoving, true, true},
		{"revoked while held", []any{pending, events.KeyRevoked{}}, events.StateRevoked, events.SyncRemoving, true, true},
		{"deleted while held", []any{pending, applied, events.KeyDeleted{}}, events.StateDeleted, events.SyncRemoving, true, true},
		{"reset confirmed by the lock", []any{pending, events.KeyReset{}, removed}, events.StateReset, events.SyncRemoved, false, false},
		{"reset refused by the lock", []any{pending, events.KeyReset{}, refused}, events.StateReset, events.SyncFailed, true, true},
		{"issue refused by the lock", []any{pending, refused}, events.StateDownloaded, events.SyncFailed, false, false},
		{"reset of a key never held", []any{events.KeyReset{}}, events.StateReset, events.SyncNone, false, false},
		{"deactivation asked", []any{events.DeactivationRequested{}}, events.StateDeactivationPending, events.SyncRemoving, true, true},
		{"deactivation confirmed", []any{pending, events.DeactivationRequested{}, events.DeactivationConfirmed{}}, events.StateDeactivated, events.SyncRemoved, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a events.AtLock
			for _, ev := range tc.evs {
				a.Apply(ev)
			}
			if a.Sync != tc.want || a.RemovalPending(tc.state) != tc.pending || a.StillOpen(tc.state, before) != tc.open {
				t.Fatalf("%+v: sync %v pending %v open %v; want %v %v %v", a, a.Sync, a.RemovalPending(tc.state), a.StillOpen(tc.state, before),
					tc.want, tc.pending, tc.open)
			}
			if a.Sync == events.SyncFailed && a.Reason != access.RevocationsFull {
				t.Fatalf("refusal reason %v", a.Reason)
			}
			// The credential ends on its own: nothing is open after it
			// (a key never issued has no end and was never open).
			if !a.Until.IsZero() && a.StillOpen(tc.state, after) {
				t.Fatalf("open at the credential's end %v", end)
			}
		})
	}
}

// A suspension of a key held at its lock leaves it open there until the
// lock's audit shows the suspension applied; a refused one (the lock's
// suspension table full) leaves it open, failed; a resume, or a key the
// lock never held, leaves nothing open beyond what the key may do anyway.
func TestAtLockFoldsTheSuspension(t *testing.T) {
	end := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	before, after := end.Add(-time.Minute), end
	held := events.LockSynced{Sync: events.SyncPending, Until: end}
	suspend := events.KeySuspended{Change: 1}
	applied := events.SuspensionSynced{Change: 1, Sync: events.SyncApplied, AuditSeq: 5}
	refused := events.SuspensionSynced{Change: 1, Sync: events.SyncFailed, Reason: access.RevocationsFull, AuditSeq: 5}
	for _, tc := range []struct {
		name string
		evs  []any
		want events.LockSync
		open bool // still open at the lock just before the credential's end
	}{
		{"suspend on its way", []any{held, suspend}, events.SyncPending, true},
		{"suspend applied", []any{held, suspend, applied}, events.SyncApplied, false},
		{"suspend refused: table full", []any{held, suspend, refused}, events.SyncFailed, true},
		{"resumed before the lock saw it", []any{held, suspend, events.KeyResumed{Change: 2}}, events.SyncNone, false},
		{"resumed after a refusal", []any{held, suspend, refused, events.KeyResumed{Change: 2}}, events.SyncNone, false},
		{"nothing held at the lock", []any{suspend}, events.SyncNone, false},
		{"a late record of an old suspension after the resume", []any{held, suspend, events.KeyResumed{Change: 2}, applied}, events.SyncNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a events.AtLock
			for _, ev := range tc.evs {
				a.Apply(ev)
			}
			if a.Suspension != tc.want || a.SuspendedOpen(before) != tc.open {
				t.Fatalf("%+v: suspension %v open %v; want %v %v", a, a.Suspension, a.SuspendedOpen(before), tc.want, tc.open)
			}
			if a.Suspension == events.SyncFailed && a.SuspensionReason != access.RevocationsFull {
				t.Fatalf("refusal reason %v", a.SuspensionReason)
			}
			if a.SuspendedOpen(after) {
				t.Fatalf("open at the credential's end %v", end)
			}
			if a.Sync != events.SyncPending && len(tc.evs) > 0 && tc.evs[0] == any(held) {
				t.Fatalf("the suspension moved the credential's sync to %v", a.Sync)
			}
		})
	}
}
