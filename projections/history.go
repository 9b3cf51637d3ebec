package projections

import (
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledger"
)

// describe fills a history entry from an event: which lock, key and accounts
// it concerns and, for unlock attempts, door, source, decision and reason.
// It reports false for events that are not history (slot and PIN
// bookkeeping, outbox).
func describe(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case commands.AccountRegistered:
		h.Account = e.Account
	case commands.ContactAdded:
		h.Account, h.Subject = e.Account, e.Contact
	case commands.ContactDeleted:
		h.Account, h.Subject = e.Account, e.Contact
	case commands.LockRegistered:
		h.Lock, h.Account = e.Lock, e.Owner
	case commands.LockBlackoutsSet:
		h.Lock, h.Account = e.Lock, e.By
	case commands.KeyCreated:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.Owner, e.Holder
	case commands.KeyShared:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.Owner, e.Account
	case commands.KeyDownloaded:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Holder
	case commands.KeyEdited:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case commands.KeyRevoked:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case commands.KeyReset:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case commands.DeactivationRequested:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case commands.DeactivationConfirmed:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case commands.KeyDeleted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case commands.UnlockAttempted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		h.Door, h.Source, h.Granted, h.Reason = e.Door, e.Source, e.Granted, e.Reason
	default:
		for _, d := range describers {
			if d(ev, h) {
				return true
			}
		}
		return false
	}
	return true
}

// Extension points for read models of event types defined elsewhere in
// commands (online keys and lock groups: projections/group*.go registers
// them from an init function). An applier reports whether the event was
// its own; a describer fills a history entry like describe.
var (
	appliers   []func(b *batch, ev *ledger.Event) (bool, error)
	describers []func(ev *ledger.Event, h *HistoryEntry) bool
)
