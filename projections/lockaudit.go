package projections

import (
	"cmp"
	"fmt"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// The path back from the lock in the read models:
//
//   - commands.AuditRecorded (a record the lock made offline) is in the
//     lock's history and, when the lock verified the credential, the key's;
//     its entry carries the lock's time, the audit sequence number and the
//     upload time, so offline unlocks merge into the histories by the
//     lock's time (the default order). A verified credential's record is also in its holder's
//     account history (HistoryEntry.Account: the holder who downloaded the
//     key, read from the key's row; the record itself names only the key).
//   - commands.AuditGap (records the lock overwrote before upload) is in the
//     lock's history with reason "audit_records_missing".
//   - commands.OfflineUnlocksCounted sets the key's use count (the status
//     shows EXHAUSTED once used up); the records themselves are the history.
//   - A clock reading the lock wrote as a phone drained it
//     (lockproto.AuditClock) is recorded for the audit chain and read by
//     commands.Service.ClockHealth; it is not history. Nor is
//     commands.ClockObserved: it sets LockRow.Clock (Projections.Lock).
//   - commands.AdminIssued and AdminApplied are bookkeeping of the lock's
//     pending admin messages (commands.Service.PendingAdmin): not history.
//   - A deactivation the audit confirms is a commands.DeactivationConfirmed,
//     applied like a manual one (PendingDeactivations drops it); what the
//     audit shows of a key's credential (applied, removed, failed) is a
//     key.lock_synced on the key's stream (KeyStatus.AtLock; a confirmed
//     removal leaves PendingRemovals).

// applyAudit applies a lock audit event; it reports false for other events.
func applyAudit(b *batch, ev *ledger.Event) (bool, error) {
	switch e := ev.Data.(type) {
	case events.OfflineUnlocksCounted:
		r, err := b.key(e.Key)
		if err != nil {
			return true, err
		}
		if r != nil {
			r.Uses = e.Uses // the status row alone records it
			if e.Granted > 0 {
				b.used(r, cmp.Or(e.First, ev.Time), ev.Position) // as the commands date the first use
			}
		}
		return true, nil
	case events.AdminIssued, events.AdminApplied:
		return true, nil
	case events.ClockObserved:
		l, err := b.lock(e.Lock)
		if err != nil || l == nil {
			return true, err
		}
		l.Clock = &e
		return true, nil
	case events.AuditRecorded, events.AuditGap:
		h := &HistoryEntry{}
		if !describeAudit(ev, h) {
			return true, nil // a clock reading: not history
		}
		if h.Key != "" {
			r, err := b.key(h.Key)
			if err != nil {
				return true, err
			}
			if r != nil {
				h.Account = r.Holder // the verified credential's holder acted
			}
		}
		return true, b.history(h)
	}
	return false, nil
}

func describeAudit(ev *ledger.Event, h *HistoryEntry) bool {
	switch e := ev.Data.(type) {
	case events.AuditRecorded:
		if e.Kind == lockproto.AuditClock {
			return false
		}
		h.Position, h.Type, h.Uploaded = ev.Position, ev.Type, ev.Time
		h.Time = e.LockTime
		if h.Time.IsZero() {
			h.Time = ev.Time
		}
		h.Lock, h.Key, h.Account, h.Presented = e.Lock, e.Key, "", e.Presented
		h.Offline, h.AuditSeq, h.Source = true, e.Seq, "lock"
		h.Granted, h.Reason = e.Granted, e.Reason
		switch {
		case e.Kind == lockproto.AuditUnlock, e.Kind == lockproto.AuditRefusals: // refusals: the last of e.Value tallied attempts
			h.Door = e.Door
		case e.Kind == lockproto.AuditKeypad, e.Kind == lockproto.AuditKeypadLockout:
			h.Door, h.Source = e.Door, "lock keypad"
		case e.Kind == lockproto.AuditCard:
			h.Door, h.Source = e.Door, "lock card reader"
		case e.Kind == lockproto.AuditRemoteOpen:
			h.Door, h.Source = e.Door, "remote open"
		case e.Kind == lockproto.AuditCode: // an offline code typed at the lock's keypad; Key is the code
			h.Door, h.Source = e.Door, "lock keypad"
			if lockproto.CodeKind(e.Slot) == lockproto.CodeErase {
				h.Admin = "erase code" // revoked Key there: it did not open
			}
		case e.Kind == lockproto.AuditPassage: // opened in passage mode: no key, no account
			h.Door, h.Source, h.Opens = e.Door, "passage mode", max(e.Value, 1)
		case e.AdminType == lockproto.TypeTimeSync:
			h.Admin = e.AdminType.String()
		default:
			h.Admin = fmt.Sprintf("%v seq %d", e.AdminType, e.Value)
		}
	case events.AuditGap:
		h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
		h.Lock, h.Account, h.Reason = e.Lock, e.By, access.AuditRecordsMissing
	default:
		return false
	}
	return true
}
