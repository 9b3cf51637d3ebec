package projections

import (
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// describe fills a history entry from an event: which lock, key and accounts
// it concerns and, for unlock attempts, door, source, decision and reason.
// It reports false for events that are not history (slot and PIN
// bookkeeping, outbox).
func describe(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case events.AccountRegistered:
		h.Account = e.Account
	case events.ContactAdded:
		h.Account, h.Subject = e.Account, e.Contact
	case events.ContactDeleted:
		h.Account, h.Subject = e.Account, e.Contact
	case events.LockRegistered:
		h.Lock, h.Account = e.Lock, e.Owner
	case events.LockBlackoutsSet:
		h.Lock, h.Account = e.Lock, e.By
	case events.PassageSet:
		h.Lock, h.Account, h.Door = e.Lock, e.By, e.Doors
	case events.KeyCreated:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.Owner, e.Holder
		if e.By != "" { // an account manager made it
			h.Account = e.By
		}
	case events.LockManagerAdded:
		h.Lock, h.Account, h.Subject = e.Lock, e.By, e.Account
	case events.LockManagerRemoved:
		h.Lock, h.Account, h.Subject = e.Lock, e.By, e.Account
	case events.KeyShared:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.Owner, e.Account
	case events.KeyDownloaded:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Holder
	case events.KeyEdited:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.KeyRevoked:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		if e.Reason != 0 {
			h.Reason = e.Reason // the reset of every key of the lock
		}
	case events.KeySuspended:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		h.Reason = access.KeySuspended
	case events.KeyResumed:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.LockReset:
		h.Lock, h.Account, h.Reason = e.Lock, e.By, access.LockReset
	case events.KeyReset:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.DeactivationRequested:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.DeactivationConfirmed:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.KeyDeleted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.UnlockAttempted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		h.Door, h.Source, h.Panel, h.Granted, h.Reason = e.Door, e.Source, e.Panel, e.Granted, e.Reason
	default:
		return describeGroup(ev, h) || describeAudit(ev, h) || describeKeypad(ev, h) || describeOfflineCode(ev, h)
	}
	return true
}
