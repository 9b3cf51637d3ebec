package events

import (
	"time"

	"github.com/keyledger/keyledger/access"
)

// KeySuspended: the key opens nothing until it is resumed; its settings,
// doors, holder, slot and use count are kept. Change counts the key's
// suspend and resume changes, this one included (the lock keeps the
// highest it saw: its suspend messages may arrive in any order).
type KeySuspended struct {
	Key, Lock, By string
	Change        uint32
}

// KeyResumed: a suspended key opens again as before.
type KeyResumed struct {
	Key, Lock, By string
	Change        uint32
}

// SuspensionSynced: a lock's audit showed the suspend message of the key's
// current suspension (Change, its change counter) applied (Sync
// SyncApplied: the key opens nothing there any more) or refused
// (SyncFailed, Reason the lock's refusal: access.RevocationsFull when its
// suspension table is full; the key still opens there). AtLock.Apply
// folds it.
type SuspensionSynced struct {
	Key, Lock string
	Change    uint32
	Sync      LockSync
	Reason    access.Reason `msgpack:",omitempty"` // failed: the lock's refusal; stored by name
	AuditSeq  uint32        `msgpack:",omitempty"` // the lock's audit record that showed it
}

// LockReset: every key of the lock was reset (Matter's "clear all
// credentials"). Epoch counts the lock's resets from 1. Keys are the keys
// it ended (each has its own KeyRevoked with Reason access.LockReset in
// the same append), MinGens every slot's new minimum generation (new keys
// take them), CodesUntil the end up to which the lock's offline codes are
// revoked (zero: none was issued). The lock stays registered.
type LockReset struct {
	Lock, By   string
	Epoch      uint32
	Keys       []string `msgpack:",omitempty"`
	MinGens    []uint32 `msgpack:",omitempty"`
	CodesUntil time.Time
	// Held are the keys among Keys whose credential, PIN or card was at
	// the lock (or on its way): removed once the lock applies the reset.
	Held []string `msgpack:",omitempty"`
}

// RevokedBy is why a revoked key was revoked: access.LockReset for the
// keys a LockReset ended, access.Revoked otherwise.
func (e KeyRevoked) RevokedBy() access.Reason {
	if e.Reason != 0 {
		return e.Reason
	}
	return access.Revoked
}
