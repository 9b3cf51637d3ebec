package commands_test

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// The one place these tests build a schedule. schedulesEnforced gates the
// assertions about windows and blackouts (false while package policy was a
// placeholder).
const schedulesEnforced = true

// tuesday10to12 is the online key's weekly recurrence: every Tuesday
// 10:00–12:00 in the lock's zone.
func tuesday10to12() policy.Policy {
	return policy.Policy{Windows: []policy.Window{{Days: policy.Days(time.Tuesday), From: 10 * 60, To: 12 * 60}}}
}

// staffNoNights: every day, but invalid at night (22:00–06:00, crossing midnight).
func staffNoNights() events.Settings {
	return events.Settings{Name: "Staff", Doors: access.Main | access.Inner,
		Policy: policy.Policy{Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 22 * 60, To: 6 * 60}}}}
}
