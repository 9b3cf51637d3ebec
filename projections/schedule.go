package projections

import (
	"time"

	"github.com/keyledger/keyledger/policy"
)

// evalStatus asks the schedule model for the time-dependent part of a key's
// status: the compiled schedule's, or, without one, the policy's (compiled
// for the call, or invalid: its dates and uses give the state and it never
// opens). The only place projections touch the policy. It does not allocate.
func evalStatus(st *KeyStatus, sc *schedule, at time.Time) {
	var s policy.Status
	if sc.sched != nil {
		s = sc.sched.Status(at, st.Uses)
	} else {
		s = sc.policy.Status(at, st.Uses)
	}
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
