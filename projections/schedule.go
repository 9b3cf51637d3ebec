package projections

import (
	"strconv"
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
	st.End, st.AfterFirstUse = sc.end, sc.afterFirstUse
}

// spoken is a duration as a key list shows it: "3 days", "2 h", "90 min".
func spoken(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		if d == 24*time.Hour {
			return "1 day"
		}
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + " h"
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
}
