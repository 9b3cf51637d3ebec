package events

import (
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// PassageSet replaces a lock's passage schedule: during any of Periods
// (each a schedule in the lock's zone: validity, weekly windows and
// blackouts, no use limit), the Doors are free to anyone, no key needed.
// No periods clears it. The admin message that carries it to the lock is
// the AdminIssued of the same append. Narrowed says what the lock's
// compact form of the periods loses ("" = exact): the lock frees the
// doors for less time than Periods say, never more.
type PassageSet struct {
	Lock, By string
	Doors    access.Doors
	Periods  []policy.Policy
	Narrowed string `msgpack:",omitempty"`
}
