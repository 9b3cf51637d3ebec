package commands

import (
	"errors"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// The only place commands touch the schedule model (package policy).

// Policy is a key's schedule: validity, use limit, weekly windows, blackouts,
// in the lock's zone (set from the lock when a key is created or edited).
type Policy = policy.Policy

// Blackout is a range in which a key is refused (per key, or lock-wide).
type Blackout = policy.Blackout

// bindPolicy sets the policy's zone to the lock's and validates it.
func bindPolicy(st *Settings, l *LockState) error {
	st.Policy.Zone = l.Zone
	if err := st.Policy.Validate(); err != nil {
		return invalid("policy", "%v", err)
	}
	return nil
}

func validateBlackouts(bs []Blackout) error {
	p := Policy{Blackouts: bs}
	if err := p.Validate(); err != nil {
		return invalid("blackouts", "%v", err)
	}
	return nil
}

// Schedule reasons recorded in UnlockAttempted (policy.Reason names).
// Persisted: never change a value.
const (
	ReasonNotYetValid   = "not_yet_valid"
	ReasonExpired       = "expired"
	ReasonExhausted     = "exhausted"
	ReasonOutsideWindow = "outside_window"
	ReasonBlackout      = "blackout"
	ReasonBadPolicy     = "invalid_policy"
)

func policyReason(r policy.Reason) string {
	switch r {
	case policy.NotYetValid:
		return ReasonNotYetValid
	case policy.Expired:
		return ReasonExpired
	case policy.Exhausted:
		return ReasonExhausted
	case policy.OutsideWindow:
		return ReasonOutsideWindow
	case policy.InBlackout:
		return ReasonBlackout
	}
	return ReasonBadPolicy
}

// decideSchedule returns "" if the key's policy and the lock-wide blackouts
// allow an unlock at now with uses granted so far, else the reason.
func decideSchedule(p Policy, l *LockState, now time.Time, uses uint32) string {
	if r := p.Allowed(now, uses); r != policy.Granted {
		return policyReason(r)
	}
	if len(l.Blackouts) > 0 {
		withLock := p.WithBlackouts(l.Blackouts)
		if withLock.Allowed(now, uses) != policy.Granted {
			return ReasonLockBlackout
		}
	}
	return ""
}

// compactOf is the form of a key's policy (with the lock-wide blackouts) an
// offline credential carries. A lossy form is narrower than the policy,
// never wider, so it is issued; one that cannot be expressed safely is not.
func compactOf(p Policy, lock []Blackout) (policy.Compact, error) {
	withLock := p.WithBlackouts(lock)
	c, err := withLock.Compact()
	if err != nil && !errors.Is(err, policy.ErrLossy) {
		return policy.Compact{}, invalid("policy", "no offline credential can carry it: %v", err)
	}
	return c, nil
}
