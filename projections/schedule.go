package projections

import (
	"time"

	"github.com/keyledger/keyledger/commands"
)

// evalStatus asks the schedule model for the time-dependent part of K8.
// The only place projections touch the policy.
//
// TEMPORARY until package policy publishes Status and NextOpen: every live
// key is ACTIVE and inside its window.
func evalStatus(st *KeyStatus, p *commands.Policy, loc *time.Location, at time.Time) {
	st.Status = StatusActive
	st.InWindow = true
}
