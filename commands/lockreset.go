package commands

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// Resetting every key of a lock (Matter's "clear all credentials"): the
// owner ends every key of the lock at once — share, digital, PIN, card,
// intercom and online — and every offline code, and keeps the lock
// registered: keys made afterwards work. One atomic append holds a
// KeyRevoked (Reason access.LockReset) on each live key's stream, the
// lock events that free their slots, PINs and cards, the lock's reset
// message (lockproto.TypeResetAll) in its admin queue, a LockReset naming
// the epoch (the lock's resets counted from 1), and an OfflineCodeRevoked
// for each live offline code plus one for the whole lock (Code empty).
//
// The keys of a lock are found by reading the log for their creation
// (a reset is rare; the log is read once per command, not per retry) and
// then decided from their streams with exact versions. A key created while
// the reset is decided, which the reading cannot have seen, is older than
// the LockReset in the log: a key that holds a slot, PIN or card wrote the
// lock stream and made the reset's append conflict, but an app, online or
// intercom key writes only its own streams. Every decision refuses such a
// key with access.LockReset as if it had been named (refusedFor), and once
// the reset is appended the log after the reading is read again up to the
// LockReset: a key created in between is revoked for the reset in a second
// append (endMissed; a retry of the command does it again if it was lost).

// ResetLock is the owner's reset of every key of a lock.
type ResetLock struct {
	ID       uuid.UUID
	Lock, By string
}

// ResetLockResult is what a reset did.
type ResetLockResult struct {
	Epoch uint32   // the lock's resets so far, this one included
	Keys  []string // the keys it ended, sorted
	// Admin is the lock's reset message (nil without Options.Issuer or a
	// lock registered without its public key), pending like every admin
	// message: downloads and PendingAdmin carry it to the lock.
	Admin []byte
}

// ResetLock ends every key and every offline code of a lock. Only its
// owner may.
func (s *Service) ResetLock(ctx context.Context, c ResetLock) (ResetLockResult, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return ResetLockResult{}, err
	}
	keys, end, err := s.keysOfLock(ctx, c.Lock, 0, 0)
	if err != nil {
		return ResetLockResult{}, err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.LockReset](orig) // the command's first event
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By})
	}
	evs, err := s.executeOn(ctx, c.ID, lockStream(c.Lock), same, func(t *txn) error { return s.decideReset(t, c, keys) })
	if err != nil {
		return ResetLockResult{}, err
	}
	r, _ := firstOf[events.LockReset](evs)
	if err := s.endMissed(ctx, c, r, evs[0].Position, keys, end); err != nil {
		return ResetLockResult{}, err
	}
	res := ResetLockResult{Epoch: r.Epoch, Keys: r.Keys}
	if a, ok := firstOf[events.AdminIssued](evs); ok {
		res.Admin = a.Message
	}
	return res, nil
}

// keysOfLock reads the log from position from for the keys created for
// lock, sorted, and returns the position after the last event read. With
// before > 0 it stops at that position.
func (s *Service) keysOfLock(ctx context.Context, lock string, from, before uint64) ([]string, uint64, error) {
	var keys []string
	end := from
	for ev, err := range s.store.ReadAll(ctx, from) {
		if err != nil {
			return nil, 0, err
		}
		if before > 0 && ev.Position >= before {
			break
		}
		end = max(end, ev.Position+1)
		if e, ok := ev.Data.(events.KeyCreated); ok && e.Lock == lock {
			keys = append(keys, e.Key)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), end, nil
}

// endMissed revokes, for the reset r appended at position at, the keys of
// the lock created before it that it did not end: those created after the
// reading of the log (from end on) and, for a retried command, any the
// first reading missed. Only keys still live are ended.
func (s *Service) endMissed(ctx context.Context, c ResetLock, r events.LockReset, at uint64, keys []string, end uint64) error {
	more, _, err := s.keysOfLock(ctx, c.Lock, end, at)
	if err != nil {
		return err
	}
	var missed []string
	for _, k := range slices.Concat(keys, more) {
		if !slices.Contains(r.Keys, k) && !slices.Contains(missed, k) {
			missed = append(missed, k)
		}
	}
	if len(missed) == 0 {
		return nil
	}
	slices.Sort(missed)
	cmd := uuid.NewSHA1(c.ID, []byte("keys the reset missed"))
	_, err = s.executeOn(ctx, cmd, "", nil, func(t *txn) error {
		for _, id := range missed {
			k, err := t.key(id)
			if err != nil {
				return err
			}
			if k.Lock != c.Lock || !live(k) || k.CreatedPos >= at {
				continue
			}
			t.emit(keyStream(id), events.KeyRevoked{Key: id, Lock: c.Lock, By: r.By, Reason: access.LockReset})
		}
		return nil
	})
	return err
}

func (s *Service) decideReset(t *txn, c ResetLock, keys []string) error {
	l, err := t.lock(c.Lock)
	if err != nil {
		return err
	}
	if err := ownerOf(l, c.Lock, c.By); err != nil {
		return err
	}
	reset := events.LockReset{Lock: c.Lock, By: c.By, Epoch: l.ResetEpoch + 1}
	if reset.Epoch == 0 {
		return invalid("epoch", "lock %q has used every reset epoch", c.Lock)
	}
	var lockEvs []any
	var held, ended []string
	for _, id := range keys {
		k, err := t.key(id)
		if err != nil {
			return err
		}
		if k.Lock != c.Lock {
			continue
		}
		if k.AtLock.Held() || k.AtLock.RemovalPending(k.State) {
			held = append(held, id) // the reset takes it off the lock too
		}
		if !live(k) {
			continue
		}
		ended = append(ended, id)
		reset.Keys = append(reset.Keys, id)
		lockEvs = append(lockEvs, releaseAll(k, l, true)...)
	}
	var gens [lockproto.MaxSlots]uint32
	reset.MinGens = make([]uint32, len(l.SlotGens))
	for i, g := range l.SlotGens {
		if g < 1<<32-1 {
			g++
		}
		reset.MinGens[i] = g
		if i < len(gens) {
			gens[i] = g
		}
	}
	codeEvs, until, err := resetCodes(t, c)
	if err != nil {
		return err
	}
	reset.CodesUntil = until
	if s.issuer != nil && len(l.LockKey) == 32 {
		a := events.AdminIssued{Lock: c.Lock, Seq: l.nextAdminSeq(), Type: lockproto.TypeResetAll}
		if a.Seq == 0 {
			return invalid("admin sequence", "lock %q has used every sequence number", c.Lock)
		}
		var u uint32
		if !until.IsZero() {
			u = uint32(min(max(until.Unix(), 0), 1<<32-1))
		}
		if a.Message, err = s.issuer.ResetAll(LockUUID(c.Lock), a.Seq, reset.Epoch, gens, u); err != nil {
			return err
		}
		lockEvs = append(lockEvs, a)
		for i := range codeEvs {
			if e, ok := codeEvs[i].(events.OfflineCodeRevoked); ok {
				e.AdminSeq = a.Seq
				codeEvs[i] = e
			}
		}
	}
	reset.Held = held
	// LockReset first: it names the command (idempotency compares it) and
	// the lock's fold takes the highest generations whatever follows.
	t.emit(lockStream(c.Lock), append([]any{reset}, lockEvs...)...)
	for _, id := range ended {
		t.emit(keyStream(id), events.KeyRevoked{Key: id, Lock: c.Lock, By: c.By, Reason: access.LockReset})
	}
	t.emit(offlineCodesStream(c.Lock), codeEvs...)
	return nil
}

// live reports whether a key is still in force: not revoked, reset,
// deactivated or deleted. A deactivation not confirmed yet is ended by
// the reset (its slot is freed now, so a later confirmation cannot free
// the slot of a key made after the reset).
func live(k *KeyState) bool {
	switch k.State {
	case events.StateNone, events.StateRevoked, events.StateReset, events.StateDeactivated, events.StateDeleted:
		return false
	}
	return true
}

// resetCodes revokes every offline code of the lock still in force and
// returns the latest end of any code issued (the lock revokes every
// sequence number until then).
func resetCodes(t *txn, c ResetLock) ([]any, time.Time, error) {
	o, err := t.offlineCodes(c.Lock)
	if err != nil {
		return nil, time.Time{}, err
	}
	var until time.Time
	var out []any
	for _, ids := range o.BySeq {
		for _, id := range ids {
			code := o.Codes[id]
			if code.To.After(until) {
				until = code.To
			}
			if !code.Revoked && code.To.After(t.now) {
				out = append(out, events.OfflineCodeRevoked{Lock: c.Lock, Code: id, By: c.By, Seq: code.Seq, Until: code.To})
			}
		}
	}
	if !until.IsZero() {
		out = append(out, events.OfflineCodeRevoked{Lock: c.Lock, By: c.By, Until: until})
	}
	return out, until, nil
}

// resetAll applies a LockReset to the lock's fold: every slot free at its
// new generation, no PIN, card or code set in force.
func (l *LockState) resetAll(pos uint64, e events.LockReset) {
	l.ResetEpoch, l.ResetAt = max(l.ResetEpoch, e.Epoch), pos
	for i := range l.SlotKeys {
		l.SlotKeys[i] = ""
		if i < len(e.MinGens) {
			l.SlotGens[i] = max(l.SlotGens[i], e.MinGens[i])
		}
	}
	l.PINs, l.Cards, l.CodeSets = nil, nil, nil
	if len(e.Held) > 0 {
		if l.ResetKeys == nil {
			l.ResetKeys = map[uint32][]string{}
		}
		l.ResetKeys[e.Epoch] = e.Held
	}
}

// resetAtLock moves the keys a reset took from the lock to removed once
// the lock's audit shows the reset message p applied.
func (s *Service) resetAtLock(l *LockState, p events.AdminIssued, r *lockproto.AuditRecord, emit func(string, uint32, any), view *syncView, lock string) error {
	if !r.Granted {
		return nil
	}
	a, err := lockproto.DecodeAdmin(p.Message)
	if err != nil {
		return fmt.Errorf("commands: the reset message %d of lock %q: %w", p.Seq, lock, err)
	}
	for _, key := range l.ResetKeys[a.Epoch] {
		if err := view.move(key, lock, r.Seq, events.SyncRemoved, 0, emit); err != nil {
			return err
		}
	}
	return nil
}
