package projections

import (
	"time"

	"github.com/keyledger/keyledger/policy"
)

// evalStatus asks the schedule model for the time-dependent part of a key's
// status.
// The only place projections touch the policy. p must have been validated
// (its zone cached), so this does not allocate.
func evalStatus(st *KeyStatus, p *policy.Policy, at time.Time) {
	s := p.Status(at, st.Uses)
	switch s.State {
	case policy.StateUpcoming:
		st.Status = StatusUpcoming
	case policy.StateExpired:
		st.Status = StatusExpired
	case policy.StateExhausted:
		st.Status = StatusExhausted
	default:
		st.Status = StatusActive
	}
	st.InWindow, st.NextOpen = s.InWindow, s.Next
}
