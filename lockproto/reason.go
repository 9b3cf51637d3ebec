package lockproto

import "fmt"

// Reason is why a lock granted or refused something. It is sent in unlock
// responses and kept in audit records, so the values are persisted.
type Reason uint8

// Reason codes. Append only: never renumber or reuse a value.
const (
	ReasonGranted         Reason = 0  // granted / applied
	ReasonMalformed       Reason = 1  // frame truncated, oversized or out of range
	ReasonVersion         Reason = 2  // unsupported protocol version
	ReasonType            Reason = 3  // frame type the lock does not accept here
	ReasonWrongLock       Reason = 4  // lock ID is another lock's
	ReasonBadNonce        Reason = 5  // challenge unknown, expired or already used
	ReasonRevoked         Reason = 6  // credential ID on the revocation list
	ReasonSuperseded      Reason = 7  // slot generation below the slot's minimum (reset/deactivated)
	ReasonBadSignature    Reason = 8  // issuer signature does not verify
	ReasonBadProof        Reason = 9  // holder proof does not verify
	ReasonNotCached       Reason = 10 // ID-only request for a credential the lock has not cached
	ReasonClockUnknown    Reason = 11 // the lock does not know the time (never synced, or sync too old)
	ReasonZoneUnknown     Reason = 12 // windows need the local offset and the lock has no rules for now
	ReasonNotYetValid     Reason = 13 // before the credential's validity
	ReasonExpired         Reason = 14 // after the credential's validity
	ReasonOutsideWindow   Reason = 15 // outside every weekly window
	ReasonExhausted       Reason = 16 // use limit reached
	ReasonWrongDoor       Reason = 17 // door not in the credential's doors
	ReasonRateLimited     Reason = 18 // too many failed attempts; backing off
	ReasonUseTableFull    Reason = 19 // no room to count uses of a limited credential
	ReasonStaleSequence   Reason = 20 // admin sequence number not above the last applied
	ReasonRevocationsFull Reason = 21 // revocation list full of live entries
	ReasonBadSlot         Reason = 22 // slot number beyond the lock's slots
	ReasonPolicy          Reason = 23 // refused by the schedule for a reason without its own code
)

var reasonNames = [...]string{
	"granted", "malformed", "unsupported version", "unexpected type", "wrong lock",
	"bad nonce", "revoked", "superseded by a newer slot generation", "bad signature", "bad proof",
	"not cached", "clock unknown", "time zone unknown", "not yet valid", "expired",
	"outside window", "exhausted", "wrong door", "rate limited", "use table full",
	"stale sequence", "revocation list full", "bad slot", "refused by policy",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// countsAsFailure reports whether a refusal counts towards the rate limit:
// what a guesser, forger or garbage sender triggers. Refusals of a revoked,
// superseded or uncached credential (cheap, no cryptography, and what an
// honest phone meets) and schedule refusals of an authentic holder do not.
func (r Reason) countsAsFailure() bool {
	switch r {
	case ReasonMalformed, ReasonVersion, ReasonType, ReasonWrongLock, ReasonBadNonce, ReasonBadSignature, ReasonBadProof:
		return true
	}
	return false
}
