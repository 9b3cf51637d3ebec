package lockproto

import "fmt"

// Action is what an unlock request asks the lock to do with the door. It
// travels in the top five bits of the request's door byte, under the
// holder's proof. Append only: never renumber or reuse a value.
type Action uint8

const (
	// ActionOpen opens the door once; every role may.
	ActionOpen Action = 0
	// ActionHoldOpen keeps the door unlocked until the next open (passage
	// mode); only an admin credential may. The reference lock decides it
	// (Decision.Action); the firmware holds the door.
	ActionHoldOpen Action = 1
)

const maxAction = ActionHoldOpen

func (a Action) String() string {
	switch a {
	case ActionOpen:
		return "open"
	case ActionHoldOpen:
		return "hold-open"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// permits reports whether a credential of role r may ask for action a: the
// lock's per-action privilege check (a user credential cannot take an
// admin's action, however it was obtained).
func (r Role) permits(a Action) bool {
	switch a {
	case ActionOpen:
		return true
	case ActionHoldOpen:
		return r == RoleAdmin
	}
	return false
}

// doorByte packs a door (0..7) and an action into one byte.
func doorByte(door uint8, a Action) byte { return door&7 | byte(a)<<3 }

// splitDoor unpacks a door byte; ok is false for an unknown action.
func splitDoor(b byte) (door uint8, a Action, ok bool) {
	return b & 7, Action(b >> 3), Action(b>>3) <= maxAction
}
