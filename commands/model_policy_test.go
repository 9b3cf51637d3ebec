package commands_test

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

// randomSettings draws settings with a schedule: maybe a validity range
// around now, maybe a use limit, maybe a weekday window.
func randomSettings(rt *rapid.T, now time.Time) events.Settings {
	st := events.Settings{Name: rapid.StringMatching(`[a-z]{1,8}`).Draw(rt, "name")}
	st.Category, st.Role, st.Doors = events.CategoryFriend, events.RoleUser, access.Main
	if rapid.Bool().Draw(rt, "dated") {
		st.Policy.Start = now.Add(time.Duration(rapid.IntRange(-72, 72).Draw(rt, "startH")) * time.Hour)
		st.Policy.End = st.Policy.Start.Add(time.Duration(rapid.IntRange(1, 240).Draw(rt, "hours")) * time.Hour)
	}
	if rapid.Bool().Draw(rt, "limited") {
		st.Policy.Uses = policy.UsesN(uint32(rapid.IntRange(1, 3).Draw(rt, "limit")))
	}
	if rapid.Bool().Draw(rt, "window") {
		st.Policy.Windows = []policy.Window{{Days: policy.Workdays, From: 8 * 60, To: 18 * 60}}
	}
	return st
}

// scheduleAllows asks the one schedule model (the model here tracks state
// and uses; the schedule rule itself is policy's and tested there).
func scheduleAllows(st events.Settings, at time.Time, uses uint32) bool {
	p := st.Policy
	p.Zone = "Europe/Berlin"
	return p.Allowed(at, uses) == policy.Granted
}
