package events

import (
	"fmt"
	"time"

	"github.com/keyledger/keyledger/access"
)

// LockSync is where a key's credential stands at its lock, in the words
// lock platforms use: pending (issued, on its way) → applied (the lock's
// audit showed it) → removing (the key was reset, revoked, deactivated or
// deleted, and the lock has not confirmed it) → removed (it has); failed:
// the lock refused it (capacity full, no such slot). Persisted in events
// and read models: never renumber.
type LockSync uint8

const (
	SyncNone     LockSync = 0 // nothing of the key is at a lock (an online-only key, or no credential issued)
	SyncPending  LockSync = 1 // issued; the lock has not shown it yet
	SyncApplied  LockSync = 2 // the lock's audit showed it
	SyncRemoving LockSync = 3 // its removal was issued; the lock has not confirmed it: it may still open
	SyncRemoved  LockSync = 4 // the lock confirmed its removal
	SyncFailed   LockSync = 5 // the lock refused it (a refused removal leaves it open)
)

var syncNames = [...]string{"none", "pending", "applied at the lock", "removing", "removed", "failed"}

func (s LockSync) String() string {
	if int(s) < len(syncNames) {
		return syncNames[s]
	}
	return fmt.Sprintf("sync(%d)", uint8(s))
}

// LockSynced: where the key's credential stands at its lock moved to Sync.
// The commands append it when they issue a credential (pending, with its
// own end) and when a lock's audit upload shows the lock applied the
// credential (applied), applied its removal (removed) or refused either
// (failed). Resets, revocations, deletions and deactivations move it on
// their own (AtLock.Apply).
type LockSynced struct {
	Key, Lock string
	Sync      LockSync
	// Until is, for a credential issued, its own end at the lock (the
	// validity it carries): it stops opening then, whatever the lock
	// hears. Zero: it has none, or the event does not change it.
	Until    time.Time     `msgpack:",omitempty"`
	Reason   access.Reason `msgpack:",omitempty"` // failed: the lock's refusal; stored by name
	AuditSeq uint32        `msgpack:",omitempty"` // the lock's audit record that showed it (0: no upload)
}

// AtLock is where a key's credential stands at its lock, folded from the
// key's events with Apply. The write side and the read side fold it
// alike, so a command's decision and the status users see agree.
type AtLock struct {
	Sync   LockSync
	Until  time.Time     // the credential's own end at the lock (zero: none)
	Reason access.Reason // SyncFailed: why the lock refused
	// Suspension is where the key's suspension stands at the lock while
	// it is suspended and holds something there: pending (the suspend
	// message is on its way), applied (the lock's audit showed it), failed
	// (the lock refused it, SuspensionReason why). SyncNone otherwise.
	Suspension       LockSync      `msgpack:",omitempty"`
	SuspensionReason access.Reason `msgpack:",omitempty"`
}

// Apply folds one event of the key's stream:
//   - LockSynced sets Sync and Reason, and Until when it carries one;
//   - a reset, revocation or deletion of a key held at its lock (pending
//     or applied) starts its removal: removing;
//   - a deactivation request starts it whatever the ledger issued (the
//     lock is asked to clear the slot, whatever holds it): removing;
//   - a confirmed deactivation (by the lock's audit or the owner's phone
//     at the lock) ends it: removed;
//   - a suspension of a key held at its lock is pending until a
//     SuspensionSynced says the lock applied or refused it; a resume
//     clears it.
func (a *AtLock) Apply(ev any) {
	switch e := ev.(type) {
	case LockSynced:
		a.Sync, a.Reason = e.Sync, e.Reason
		if !e.Until.IsZero() {
			a.Until = e.Until
		}
	case KeyReset, KeyRevoked, KeyDeleted:
		if a.Held() {
			a.Sync, a.Reason = SyncRemoving, 0
		}
	case DeactivationRequested:
		a.Sync, a.Reason = SyncRemoving, 0
	case DeactivationConfirmed:
		a.Sync, a.Reason = SyncRemoved, 0
	case KeySuspended:
		a.Suspension, a.SuspensionReason = SyncNone, 0
		if a.Held() {
			a.Suspension = SyncPending
		}
	case KeyResumed:
		a.Suspension, a.SuspensionReason = SyncNone, 0
	case SuspensionSynced:
		if a.Suspension != SyncNone {
			a.Suspension, a.SuspensionReason = e.Sync, e.Reason
		}
	}
}

// Held reports whether the key's credential is (or is on its way to be)
// at its lock: pending or applied.
func (a AtLock) Held() bool { return a.Sync == SyncPending || a.Sync == SyncApplied }

// RemovalPending reports whether the key, in lifecycle state st, was taken
// away (reset, revoked, deactivated or deleted) but the lock has not
// confirmed it: its removal is on its way (removing) or the lock refused
// it (failed).
func (a AtLock) RemovalPending(st State) bool {
	switch a.Sync {
	case SyncRemoving:
		return true
	case SyncFailed:
		switch st {
		case StateRevoked, StateReset, StateDeactivationPending, StateDeactivated, StateDeleted:
			return true
		}
	}
	return false
}

// StillOpen reports whether the key, in lifecycle state st, may still open
// its lock at instant at although it was taken away: its removal is
// pending (RemovalPending) and its credential has not ended on its own
// (Until zero or after at). This is the exposure window apps show as
// "revoked, still open at the lock until Until".
func (a AtLock) StillOpen(st State, at time.Time) bool {
	return a.RemovalPending(st) && (a.Until.IsZero() || at.Before(a.Until))
}

// SuspendedOpen reports whether a suspended key may still open its lock at
// instant at: it holds something there (Held), the lock has not been
// shown applying its suspension (pending, or failed: the lock refused it)
// and its credential has not ended on its own. Apps show it as they show a
// removal pending: "suspended, still open at the lock until Until".
func (a AtLock) SuspendedOpen(at time.Time) bool {
	return (a.Suspension == SyncPending || a.Suspension == SyncFailed) && a.Held() && (a.Until.IsZero() || at.Before(a.Until))
}
