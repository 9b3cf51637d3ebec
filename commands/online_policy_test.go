package commands_test

import "github.com/keyledger/keyledger/commands"

// The one place these tests build a schedule.
//
// TEMPORARY, like model_policy_test.go: package policy has not published
// Policy yet and commands.Policy is an empty placeholder that allows every
// instant. schedulesEnforced gates the assertions about windows and
// blackouts; when policy lands, build the two policies below with it and set
// schedulesEnforced to true.
const schedulesEnforced = false

// tuesday10to12 is seed 000's weekly recurrence: every Tuesday 10:00–12:00
// in the lock's zone.
func tuesday10to12() commands.Policy { return commands.Policy{} }

// staffNoNights: every day, but invalid at night (22:00–06:00).
func staffNoNights() commands.Settings {
	return commands.Settings{Name: "Staff", Doors: commands.DoorMain | commands.DoorInner, Policy: commands.Policy{}}
}
