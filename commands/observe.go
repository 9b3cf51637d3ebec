package commands

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// Stats is a snapshot of what a Service decided and appended since New:
// the events this Service appended, counted once (a retried command ID
// replays its events and counts nothing; events another Service or process
// appended are not seen). Counters only grow.
//
// The admin messages waiting for a lock are per lock (PendingAdmin); their
// total over every lock would take a read of every lock's stream, so Stats
// has none.
type Stats struct {
	// Unlocks counts the unlock decisions the service made (UnlockKey,
	// UnlockOnline) by reason; Unlocks[access.Granted] are the grants.
	// Only reasons that occurred are present.
	Unlocks map[access.Reason]uint64
	// OfflineUnlocks counts the unlock records locks made on their own and
	// IngestAudit appended, by the reason the lock recorded
	// (access.Granted for a grant).
	OfflineUnlocks map[access.Reason]uint64
	// AuditGaps counts the gaps IngestAudit recorded: lock records that
	// have not reached the ledger (see events.AuditGap).
	AuditGaps uint64
	// PasswordsRejected counts wrong member passwords; Lockouts those of
	// them that locked the member out (MaxPasswordFailures in a row).
	PasswordsRejected, Lockouts uint64
	// PINsRejected counts wrong codes at keypads (UnlockByPIN; also in
	// Unlocks as access.WrongPIN); KeypadLockouts those of them that locked
	// the keypad out (MaxPINFailures in a row).
	PINsRejected, KeypadLockouts uint64
	// AdminIssued counts the admin messages issued for locks, reissues
	// included; AdminReissued the reissues (of messages a lock can no
	// longer apply); AdminApplied the messages the locks' audit
	// showed consumed.
	AdminIssued, AdminReissued, AdminApplied uint64
	// Busy counts the commands that gave up with ErrBusy.
	Busy uint64
}

// observer counts and logs what the service appends. Counting is one
// atomic add per event of interest; nothing on the unlock path allocates.
type observer struct {
	log                                 *slog.Logger
	online, offline                     [256]atomic.Uint64 // by access.Reason
	gaps, rejected, lockouts            atomic.Uint64
	pinsRejected, keypadLockouts        atomic.Uint64
	issued, reissued, applied, busyCmds atomic.Uint64
}

func (o *observer) init(log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.log = log
}

// Stats returns a snapshot of the service's counters.
func (s *Service) Stats() Stats {
	o := &s.obs
	return Stats{
		Unlocks:           reasonCounts(&o.online),
		OfflineUnlocks:    reasonCounts(&o.offline),
		AuditGaps:         o.gaps.Load(),
		PasswordsRejected: o.rejected.Load(),
		Lockouts:          o.lockouts.Load(),
		PINsRejected:      o.pinsRejected.Load(),
		KeypadLockouts:    o.keypadLockouts.Load(),
		AdminIssued:       o.issued.Load(),
		AdminReissued:     o.reissued.Load(),
		AdminApplied:      o.applied.Load(),
		Busy:              o.busyCmds.Load(),
	}
}

func reasonCounts(c *[256]atomic.Uint64) map[access.Reason]uint64 {
	m := map[access.Reason]uint64{}
	for i := range c {
		if n := c[i].Load(); n > 0 {
			m[access.Reason(i)] = n
		}
	}
	return m
}

// observe counts and logs the events a command appended (not a replay).
// What it logs names locks, keys, accounts and sequence numbers, never a
// secret: no event field it reads holds one.
func (s *Service) observe(ctx context.Context, evs []ledger.Event) {
	o := &s.obs
	for i := range evs {
		switch e := evs[i].Data.(type) {
		case events.UnlockAttempted:
			o.online[e.Reason].Add(1)
		case events.AuditRecorded:
			switch e.Kind {
			case lockproto.AuditUnlock:
				o.offline[e.Reason].Add(1)
			case lockproto.AuditRefusals: // one record for Value refused attempts
				o.offline[e.Reason].Add(uint64(e.Value))
			}
		case events.AuditGap:
			o.gaps.Add(1)
			o.log.LogAttrs(ctx, slog.LevelWarn, "commands: lock audit records missing",
				slog.String("lock", e.Lock), slog.String("by", e.By), slog.Uint64("after", uint64(e.After)),
				slog.Uint64("first", uint64(e.First)), slog.Uint64("missing", uint64(e.First)-min(uint64(e.After)+1, uint64(e.First))))
		case events.PasswordRejected:
			o.rejected.Add(1)
			if !e.LockedUntil.IsZero() {
				o.lockouts.Add(1)
				o.log.LogAttrs(ctx, slog.LevelWarn, "commands: member locked out after wrong passwords",
					slog.String("lock", e.Lock), slog.String("account", e.Account),
					slog.Uint64("failures", uint64(e.Failures)), slog.Time("locked_until", e.LockedUntil))
			}
		case events.KeypadCodeRejected:
			o.online[access.WrongPIN].Add(1)
			o.pinsRejected.Add(1)
		case events.KeypadLockedOut:
			o.keypadLockouts.Add(1)
			o.log.LogAttrs(ctx, slog.LevelWarn, "commands: keypad locked out after wrong codes",
				slog.String("lock", e.Lock), slog.String("panel", e.Panel),
				slog.Uint64("failures", uint64(e.Failures)), slog.Time("locked_until", e.Until))
		case events.AdminIssued:
			o.issued.Add(1)
			if e.Reissues != 0 {
				o.reissued.Add(1)
				o.log.LogAttrs(ctx, slog.LevelInfo, "commands: admin message reissued",
					slog.String("lock", e.Lock), slog.String("key", e.Key), slog.String("type", e.Type.String()),
					slog.Uint64("seq", uint64(e.Seq)), slog.Uint64("reissues", uint64(e.Reissues)))
			}
		case events.AdminApplied:
			o.applied.Add(1)
		case events.ClockObserved:
			if e.SyncNeeded {
				o.log.LogAttrs(ctx, slog.LevelWarn, "commands: lock clock needs a time sync",
					slog.String("lock", e.Lock), slog.Bool("known", e.Known), slog.Int64("offset_seconds", int64(e.Offset.Seconds())),
					slog.Bool("lower_bound", e.Bound))
			}
		}
	}
}

// busy counts and logs a command that gives up after attempts, and returns
// its ErrBusy.
func (s *Service) busy(ctx context.Context, cmd uuid.UUID, attempts int) error {
	s.obs.busyCmds.Add(1)
	s.obs.log.LogAttrs(ctx, slog.LevelWarn, "commands: gave up on a command after conflicting writes",
		slog.String("command", cmd.String()), slog.Int("attempts", attempts))
	return fmt.Errorf("%w (%d attempts)", ErrBusy, attempts)
}
