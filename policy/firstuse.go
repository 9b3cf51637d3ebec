package policy

import "time"

// MaxAfterFirstUse is the longest AfterFirstUse a policy may hold.
const MaxAfterFirstUse = 366 * 24 * time.Hour

// FirstUsed returns p as it stands once the key was first used at at: End
// becomes the earlier of End and at + AfterFirstUse, and AfterFirstUse is
// cleared. A policy without AfterFirstUse is returned as it is. The policy
// model does not know the first use: whoever records it (the commands, from
// the earliest granted use in the log) decides with the policy FirstUsed
// returns. Before that, AfterFirstUse restricts nothing. Offline forms
// never count from it (CompactFrom): a use at the lock not yet reported may
// be earlier.
func (p Policy) FirstUsed(at time.Time) Policy {
	if p.AfterFirstUse == 0 {
		return p
	}
	if end := at.Add(p.AfterFirstUse); p.End.IsZero() || end.Before(p.End) {
		p.End = end
	}
	p.AfterFirstUse = 0
	return p
}

func afterFirstUseOK(d time.Duration) bool {
	return d == 0 || d >= time.Minute && d <= MaxAfterFirstUse && d%time.Minute == 0
}

func validateAfterFirstUse(d time.Duration, bad func(string, any, string)) {
	if !afterFirstUseOK(d) {
		bad("AfterFirstUse", d, "want whole minutes from 1m to 366 days (0 = none)")
	}
}

// EarliestUse is the earliest instant a key with policy p, issued to a lock
// at issued, can be used there: the latest of issued, Start and the start
// of the first dated period that ends after Start, in whole seconds
// rounded down (zero: none known). CompactFrom counts AfterFirstUse from
// it; a backend that issues again after an edit counts from the earliest
// of every version's, since a use under an older one may precede it. An
// invalid policy gives issued.
func (p Policy) EarliestUse(issued time.Time) time.Time {
	if _, ok := p.valid(); !ok {
		return issued
	}
	if u := earliestUse(p.Start, issued, p.Periods); u > 0 {
		return time.Unix(u, 0)
	}
	return time.Time{}
}
