package commands

import (
	"time"

	"github.com/keyledger/keyledger/policy"
)

// The only place commands touch the schedule model.
//
// TEMPORARY: package policy has not published Policy, Allowed and Status yet.
// Until it does, Policy and Blackout are empty placeholders and no schedule
// is enforced (every key is unlimited and always inside its window). When
// policy lands these become aliases of policy.Policy and policy.Blackout and
// decideSchedule calls policy's Allowed; nothing else changes.

// Policy is a key's schedule (validity, use limit, weekly windows, blackouts).
type Policy struct{}

// Blackout is a lock-wide range in which no key opens online.
type Blackout struct{}

func validatePolicy(p Policy) error { return nil }

func validateBlackouts(bs []Blackout) error { return nil }

// decideSchedule returns "" if the key's policy and the lock-wide blackouts
// allow an unlock at now with uses granted so far, else the reason.
func decideSchedule(p Policy, l *LockState, now time.Time, uses uint32) string {
	return ""
}

// compactOf is the form of a key's policy an offline credential carries.
func compactOf(p Policy) (policy.Compact, error) { return policy.Compact{}, nil }
