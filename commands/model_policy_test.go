package commands_test

import (
	"time"

	"github.com/keyledger/keyledger/commands"
	"pgregory.net/rapid"
)

// TEMPORARY until package policy lands: settings carry no schedule.
func randomSettings(rt *rapid.T, now time.Time) commands.Settings {
	st := commands.Settings{Name: rapid.StringMatching(`[a-z]{1,8}`).Draw(rt, "name")}
	st.Category, st.Role, st.Doors = commands.CategoryFriend, commands.RoleUser, commands.DoorMain
	return st
}

func scheduleAllows(st commands.Settings, at time.Time, uses uint32) bool { return true }
