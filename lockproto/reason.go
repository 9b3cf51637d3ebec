package lockproto

import "github.com/keyledger/keyledger/access"

// countsAsFailure reports whether a refusal counts towards the rate limit:
// what a guesser, forger or garbage sender triggers. Refusals of a revoked,
// superseded or uncached credential (cheap, no cryptography, and what an
// honest phone meets) and schedule refusals of an authentic holder do not.
func countsAsFailure(r access.Reason) bool {
	switch r {
	case access.Malformed, access.BadVersion, access.UnexpectedType, access.WrongLock, access.BadNonce, access.BadSignature, access.BadProof:
		return true
	}
	return false
}
