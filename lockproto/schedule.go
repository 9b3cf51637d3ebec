package lockproto

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// schedule is check 12 of HandleUnlock: validity, use limit, dated periods
// and weekly windows by policy.Compact.Allowed (the one schedule evaluator) on the lock's
// own clock and UTC offset, with the uses it counted.
func (l *Lock) schedule(c *Credential, unix uint32, offset int, used uint32) access.Reason {
	return fromPolicy(c.Policy.Allowed(time.Unix(int64(unix), 0), offset, used))
}

// fromPolicy keeps the schedule's reasons a lock reports (policy's reasons
// are access reasons); any other (a malformed form's InvalidPolicy, a
// blackout, a later reason) is access.Policy.
func fromPolicy(r access.Reason) access.Reason {
	switch r {
	case access.Granted, access.NotYetValid, access.Expired, access.Exhausted, access.OutsideWindow, access.OutsidePeriods:
		return r
	}
	return access.Policy
}

// ZoneRulesFor derives a lock's time-zone rules from its IANA zone over
// [from, to) (policy.OffsetTransitions). ValidUntil is where the table stops
// being exact; from then on the lock fails closed on windows until the
// issuer sends fresh rules.
func ZoneRulesFor(loc *time.Location, from, to time.Time) (ZoneRules, error) {
	var z ZoneRules
	ts, exact := policy.OffsetTransitions(loc, from, to, MaxZoneTransitions)
	if len(ts) == 0 {
		return z, invalidf("no offsets for zone %v over [%v, %v)", loc, from, to)
	}
	for i, t := range ts {
		z.Transitions[i] = ZoneTransition{From: t.At, Offset: t.Offset}
	}
	z.N = uint8(len(ts))
	z.ValidUntil = uint32(exact.Unix())
	return z, z.validate()
}
