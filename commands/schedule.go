package commands

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// The only place commands touch the schedule model (package policy).

// policyInvalid is the *ValidationError for a policy that does not
// validate: Err keeps policy's error (errors.Join of *policy.ValidationError,
// so errors.As and errors.Is(err, policy.ErrInvalid) reach it) and Reason
// lists its problems (policy prints instants in RFC 3339).
func policyInvalid(field string, err error) error {
	var parts []string
	for _, e := range flatten(err) {
		var ve *policy.ValidationError
		if !errors.As(e, &ve) {
			parts = append(parts, e.Error())
			continue
		}
		v := fmt.Sprint(ve.Value)
		if t, ok := ve.Value.(time.Time); ok {
			v = t.Format(time.RFC3339Nano)
		}
		parts = append(parts, ve.Field+" = "+v+": "+ve.Reason)
	}
	return &ValidationError{Field: field, Reason: strings.Join(parts, "; "), Err: err}
}

// flatten lists the errors an errors.Join holds (err itself otherwise).
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// bindPolicy sets the policy's zone to the lock's and validates it.
func bindPolicy(st *events.Settings, l *LockState) error {
	st.Policy.Zone = l.Zone
	if err := st.Policy.Validate(); err != nil {
		return policyInvalid("policy", err)
	}
	return nil
}

func validateBlackouts(bs []policy.Blackout) error {
	p := policy.Policy{Blackouts: bs}
	if err := p.Validate(); err != nil {
		return policyInvalid("blackouts", err)
	}
	return nil
}

// decideSchedule returns access.Granted if the key's policy and the lock-wide
// blackouts allow an unlock at now with uses granted so far, else the reason.
// Both are compiled once per version of the key's settings and of the lock's
// blackouts (kept with the folded states), not on every unlock.
func decideSchedule(k *KeyState, l *LockState, now time.Time, uses uint32) access.Reason {
	if r := k.compiledSchedule().Allowed(now, uses); r != access.Granted {
		return r // policy's reasons are access reasons
	}
	// The key's policy with the lock's blackouts added refuses exactly when
	// one of those covers now (or they do not validate): they are checked
	// on their own, in the key's zone.
	if len(l.Blackouts) > 0 && l.blackoutSchedule(k.Settings.Policy.Zone).Allowed(now, 0) != access.Granted {
		return access.LockBlackout
	}
	return access.Granted
}

// compactOf is the form of a key's policy (with the lock-wide blackouts) an
// offline credential issued at from carries: validity starts no earlier than
// from, so blackouts already over cost nothing (policy.CompactFrom). A lossy
// form is narrower than the policy, never wider: it is issued and the loss
// returned as narrowed (*policy.CompactError wrapping policy.ErrLossy); one
// that cannot be expressed safely is not issued.
func compactOf(p policy.Policy, lock []policy.Blackout, from time.Time) (c policy.Compact, narrowed error, err error) {
	withLock := p.WithBlackouts(lock)
	c, err = withLock.CompactFrom(from)
	if errors.Is(err, policy.ErrLossy) {
		return c, err, nil
	}
	if err != nil {
		return policy.Compact{}, nil, &ValidationError{Field: "policy", Reason: "no offline credential can carry it: " + err.Error(), Err: err}
	}
	return c, nil, nil
}
