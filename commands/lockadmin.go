package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// Admin messages to the lock (reset slot, deactivate slot, revoke
// credential: lockproto's signed admin messages). A reset, a deactivation
// request or a revocation of a key that holds an offline credential also
// appends, to the lock's stream and in the same atomic append, an
// AdminIssued event with the issuer-signed message and the lock's next
// admin sequence number. The counter lives in the lock stream (one per
// lock, strictly increasing, exact expected version), so it survives
// restarts, and a retried command ID returns the events appended the first
// time: the same sequence number, the same bytes.
//
// A message is pending until the lock's audit (IngestAudit) shows the lock
// consumed its sequence number; every download of a credential for that
// lock carries all pending messages in order (at most
// lockproto.MaxPendingAdmin, oldest first), whichever phone downloads.

// adminOf stages the admin message an action on a key with an offline
// credential sends to its lock; it reports false when there is none (no
// issuer, no credential issued, or no pairing).
func (s *Service) adminOf(k *KeyState, l *LockState, typ lockproto.Type) (events.AdminIssued, bool, error) {
	if !s.credentialed(k) || len(l.LockKey) != 32 || k.Slot < 1 || k.Slot > 256 {
		return events.AdminIssued{}, false, nil
	}
	a := events.AdminIssued{Lock: k.Lock, Key: k.ID, Seq: l.nextAdminSeq(), Type: typ, Slot: k.Slot, Generation: k.Generation + 1}
	if a.Seq == 0 { // 2^32 messages: the counter cannot wrap
		return events.AdminIssued{}, false, invalid("admin sequence", "lock %q has used every sequence number", k.Lock)
	}
	lock, slot := LockUUID(k.Lock), uint8(k.Slot-1)
	var err error
	switch typ {
	case lockproto.TypeResetSlot:
		a.Message, err = s.issuer.ResetSlot(lock, a.Seq, slot, a.Generation)
	case lockproto.TypeDeactivateSlot:
		a.Message, err = s.issuer.DeactivateSlot(lock, a.Seq, slot, a.Generation)
	case lockproto.TypeRevoke:
		if l.revocationsFull() { // a reset does what the full list cannot (revocations.go)
			a.Type, a.Replaces = lockproto.TypeResetSlot, lockproto.TypeRevoke
			a.Message, err = s.issuer.ResetSlot(lock, a.Seq, slot, a.Generation)
			break
		}
		// NotAfter 0: the lock keeps the entry until a reset of the slot
		// makes it moot (the credential's end would need the compact form
		// as issued, which depends on the time of the download).
		a.Generation = k.Generation
		a.Message, err = s.issuer.RevokeCredential(lock, a.Seq, lockproto.Credential{ID: credentialID(k), Slot: slot, Generation: k.Generation})
	default:
		return events.AdminIssued{}, false, invalid("admin type", "%v is not issued for a key", typ)
	}
	if err != nil {
		return events.AdminIssued{}, false, err
	}
	return a, true, nil
}

// nextAdminSeq is the sequence number of the lock's next admin message:
// above every one issued and every one the lock's audit showed it consumed
// (a message signed outside this ledger raises the lock's counter too;
// the lock refuses anything at or below it). 0 when exhausted.
func (l *LockState) nextAdminSeq() uint32 { return max(l.AdminSeq, l.AdminSeen) + 1 }

// pendingFrames returns the pending admin messages of a lock, oldest first,
// at most lockproto.MaxPendingAdmin (the rest ride with a later download).
func pendingFrames(l *LockState) [][]byte {
	n := min(len(l.Pending), lockproto.MaxPendingAdmin)
	if n == 0 {
		return nil
	}
	out := make([][]byte, n)
	for i := range n {
		out[i] = l.Pending[i].Message
	}
	return out
}

// PendingAdmin returns the admin messages the lock has not yet been seen to
// consume, in sequence order (at most lockproto.MaxPendingAdmin): what any
// phone in reach of the lock should deliver (Lock.HandleAdmin) before it
// unlocks. Downloads carry them already; this is for a phone that has its
// credential (the owner's, deactivating a slot).
func (s *Service) PendingAdmin(ctx context.Context, lock string) ([][]byte, error) {
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
	return pendingFrames(l), nil
}

// SendZoneRules issues the lock's UTC offset table for [From, Until) from
// its IANA zone (lockproto.ZoneRulesFor, at most 8 transitions: the table
// may end earlier, see its ValidUntil) as a pending admin message: the next
// downloads carry it to the lock. Only the lock's owner may.
type SendZoneRules struct {
	ID          uuid.UUID
	Lock, By    string
	From, Until time.Time
}

// SendZoneRules issues the time-zone admin message and returns its frame.
func (s *Service) SendZoneRules(ctx context.Context, c SendZoneRules) ([]byte, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return nil, err
	}
	if s.issuer == nil {
		return nil, invalid("issuer", "zone rules are signed: set Options.Issuer")
	}
	if c.From.IsZero() || !c.Until.After(c.From) {
		return nil, invalid("until", "%v is not after from %v", c.Until, c.From)
	}
	evs, err := s.execute(ctx, c.ID, func(orig []ledger.Event) (string, error) { return s.sameZoneRules(ctx, c, orig) }, func(t *txn) error {
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if err := ownerOf(l, c.Lock, c.By); err != nil {
			return err
		}
		rules, err := zoneRulesFor(l, c.From, c.Until)
		if err != nil {
			return err
		}
		a, err := s.zoneMessage(l, l.nextAdminSeq(), rules)
		if err != nil {
			return err
		}
		t.emit(lockStream(c.Lock), a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	a, _ := firstOf[events.AdminIssued](evs)
	return a.Message, nil
}

// sameZoneRules compares with a recorded time-zone message: the event does
// not name who sent it (only the lock's owner may) nor the period, which
// the message's offset table stands for.
func (s *Service) sameZoneRules(ctx context.Context, c SendZoneRules, orig []ledger.Event) (string, error) {
	r, ok := first[events.AdminIssued](orig)
	if !ok || r.Type != lockproto.TypeTimeZone {
		return otherCommand, nil
	}
	if r.Lock != c.Lock {
		return "lock", nil
	}
	l, err := s.lockNow(ctx, c.Lock)
	if err != nil {
		return "", err
	}
	if l.Owner != c.By {
		return "by", nil
	}
	a, err := lockproto.DecodeAdmin(r.Message)
	if err != nil {
		return "", fmt.Errorf("commands: the time-zone message at position %d: %w: %w", orig[0].Position, ledger.ErrCorrupt, err)
	}
	loc, err := policy.LoadZone(l.Zone)
	if err != nil {
		return "", invalid("zone", "lock %q: %q: %v", c.Lock, l.Zone, err)
	}
	rules, err := lockproto.ZoneRulesFor(loc, c.From, c.Until)
	return firstDiff(field{"period", err == nil && rules == a.Zone}), nil
}
