package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
)

// Suspending a key (Matter's "freeze"): SuspendKey stops a key without
// touching anything else it has — schedule, doors, holder, slot, use count,
// credential, PIN or card — and ResumeKey lets it open again as before.
// While suspended, every online decision on it (Unlock, UnlockByPIN,
// UnlockOnline, and so the remote opens they grant) is refused with
// access.KeySuspended. A key that holds something at its lock (an offline
// credential, or a PIN or card the lock holds or will) also queues the
// lock's suspend message (lockproto.TypeSuspend) in the lock's admin queue,
// in the same atomic append: its ID at the lock, the key's change counter
// (its suspend and resume changes so far, this one included) and whether
// it is now suspended. Phones deliver it like every other pending admin
// message, in any order; the lock keeps the highest change it saw. Until
// the lock's audit shows it applied the key may still open there
// (events.AtLock.Suspension pending); a lock whose suspension table is
// full refuses it, the key keeps opening there (failed), and IngestAudit
// names the key in AuditResult.SuspensionsRefused (doc.go says what the
// owner may do then).
//
// Which states allow the two actions is the rules table's (kindRules):
// the states in which a key may unlock. A suspended key may still be
// edited, revoked, reset or deleted as its state allows.

var (
	// ErrSuspended means a SuspendKey found the key suspended already
	// (see SuspensionError).
	ErrSuspended = errors.New("commands: the key is suspended")
	// ErrNotSuspended means a ResumeKey found the key not suspended.
	ErrNotSuspended = errors.New("commands: the key is not suspended")
)

// SuspensionError reports a suspend of a suspended key or a resume of one
// that is not. errors.Is matches ErrSuspended or ErrNotSuspended, and
// ErrForbidden.
type SuspensionError struct {
	Key       string
	Suspended bool // the key's current suspension
}

func (e *SuspensionError) Error() string {
	if e.Suspended {
		return fmt.Sprintf("commands: cannot suspend key %q: it is suspended already", e.Key)
	}
	return fmt.Sprintf("commands: cannot resume key %q: it is not suspended", e.Key)
}

// Unwrap makes errors.Is(err, ErrSuspended or ErrNotSuspended) and
// errors.Is(err, ErrForbidden) true.
func (e *SuspensionError) Unwrap() []error {
	if e.Suspended {
		return []error{ErrSuspended, ErrForbidden}
	}
	return []error{ErrNotSuspended, ErrForbidden}
}

// SuspendKey suspends a key: it opens nothing until ResumeKey, and keeps
// everything else. The lock's owner may (for a digital key also an
// account manager of the lock).
func (s *Service) SuspendKey(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActSuspend, func(k *KeyState, l *LockState) ([]any, []any, error) {
		return s.suspension(k, l, c.By, true)
	})
}

// ResumeKey lets a suspended key open again as before.
func (s *Service) ResumeKey(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActResume, func(k *KeyState, l *LockState) ([]any, []any, error) {
		return s.suspension(k, l, c.By, false)
	})
}

// suspension decides a suspend (or resume) and stages its key event and,
// for a key that holds something at its lock, the lock's message.
func (s *Service) suspension(k *KeyState, l *LockState, by string, suspend bool) ([]any, []any, error) {
	if k.Suspended == suspend {
		return nil, nil, &SuspensionError{Key: k.ID, Suspended: k.Suspended}
	}
	change := k.Changes + 1
	if change == 0 {
		return nil, nil, invalid("key", "%q has used every change counter", k.ID)
	}
	var kev any = events.KeyResumed{Key: k.ID, Lock: k.Lock, By: by, Change: change}
	if suspend {
		kev = events.KeySuspended{Key: k.ID, Lock: k.Lock, By: by, Change: change}
	}
	id, ok := s.idAtLock(k, l)
	if !ok {
		return []any{kev}, nil, nil
	}
	a := events.AdminIssued{Lock: k.Lock, Key: k.ID, Seq: l.nextAdminSeq(), Type: lockproto.TypeSuspend}
	if a.Seq == 0 {
		return nil, nil, invalid("admin sequence", "lock %q has used every sequence number", k.Lock)
	}
	var err error
	if a.Message, err = s.issuer.Suspend(LockUUID(k.Lock), a.Seq, id, change, suspend); err != nil {
		return nil, nil, err
	}
	return []any{kev}, []any{a}, nil
}

// idAtLock is the ID the lock knows a key by, if the key holds something
// there: its offline credential's ID, or its PIN or card entry's ID. Keys
// that hold nothing at the lock (app, intercom and online keys) are only
// refused online: the remote opens the backend signs are decided there.
func (s *Service) idAtLock(k *KeyState, l *LockState) (lockproto.CredentialID, bool) {
	if s.issuer == nil {
		return lockproto.CredentialID{}, false
	}
	if s.credentialed(k) && len(l.LockKey) == 32 {
		return credentialID(k), true
	}
	if _, ok := l.CodeSets[k.ID]; ok {
		return codeID(k.Lock, k.ID), true
	}
	return lockproto.CredentialID{}, false
}

// refusedFor is the lifecycle refusal of a key the rules table would let
// unlock: suspended, or ended by a reset of its lock it was created before
// (a key created while the reset was decided, which it could not name).
// Granted otherwise.
func refusedFor(k *KeyState, l *LockState) access.Reason {
	switch {
	case l != nil && l.ResetAt > 0 && k.CreatedPos > 0 && k.CreatedPos < l.ResetAt:
		return access.LockReset
	case k.Suspended:
		return access.KeySuspended
	}
	return access.Granted
}

// keyStateReason is stateReason for a key: a key the reset of its lock
// ended is refused with access.LockReset.
func keyStateReason(k *KeyState) access.Reason {
	if k.State == events.StateRevoked && k.RevokedBy == access.LockReset {
		return access.LockReset
	}
	return stateReason(k.State)
}
