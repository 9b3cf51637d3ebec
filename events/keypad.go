package events

import (
	"time"

	"github.com/keyledger/keyledger/access"
)

// Keypads that talk to the backend (an intercom panel with a keypad) send
// the digits typed; commands.Service.UnlockByPIN finds the key whose PIN
// they are. Wrong codes are counted per panel and lock on the stream
// "keypad-<lock>"; the codes themselves are never stored, not even hashed.

// KeypadCodeRejected: a panel sent, for the lock, a code that is no key's
// PIN there. Failures counts the panel's wrong codes in a row.
type KeypadCodeRejected struct {
	Lock, Panel string
	Door        access.Doors // the door asked for, as a one-door set
	Failures    uint32
}

// KeypadLockedOut is the alarm: Failures wrong codes in a row at the
// panel; it takes no code for the lock until Until.
type KeypadLockedOut struct {
	Lock, Panel string
	Failures    uint32
	Until       time.Time
}

// KeypadFailuresCleared: a right code after wrong ones; the panel's count
// starts again.
type KeypadFailuresCleared struct {
	Lock, Panel string
}
