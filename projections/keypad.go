package projections

import (
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// Keypads that talk to the backend in the histories: a wrong code
// (commands' KeypadCodeRejected) is a refused attempt at the lock with
// reason wrong_pin, source "keypad" and the panel; a lockout
// (KeypadLockedOut) is an alarm entry with reason locked_out. A right
// code is the key's UnlockAttempted (source "keypad", Panel set), in the
// key's, lock's and holder's histories like any unlock. Clearing a panel's
// count is bookkeeping, not history. No code is ever in an event.

// applyKeypad applies a keypad event; it reports false for other events.
func applyKeypad(b *batch, ev *ledger.Event) (bool, error) {
	switch ev.Data.(type) {
	case events.KeypadFailuresCleared:
		return true, nil
	case events.KeypadCodeRejected, events.KeypadLockedOut:
		h := &HistoryEntry{}
		describeKeypad(ev, h)
		return true, b.history(h)
	}
	return false, nil
}

func describeKeypad(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case events.KeypadCodeRejected:
		h.Lock, h.Door, h.Source, h.Panel, h.Reason = e.Lock, e.Door, "keypad", e.Panel, access.WrongPIN
	case events.KeypadLockedOut:
		h.Lock, h.Source, h.Panel, h.Reason = e.Lock, "keypad", e.Panel, access.LockedOut
	default:
		return false
	}
	return true
}
