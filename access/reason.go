package access

import "fmt"

// Reason is why access was granted or refused. Granted is the zero value.
type Reason uint8

// Reason codes. APPEND ONLY: never renumber or reuse a value. Codes 0–23,
// 42–44, 50–53 and 56 are the lock's own wire codes (unlock responses, audit
// records); a lock also sends OpNotPermitted for an action the credential's
// role may not take.
const (
	Granted Reason = 0 // granted / applied

	// Refusals of a frame or credential at the lock.
	Malformed       Reason = 1  // frame truncated, oversized or out of range
	BadVersion      Reason = 2  // unsupported protocol version
	UnexpectedType  Reason = 3  // frame type the lock does not accept here
	WrongLock       Reason = 4  // lock ID is another lock's
	BadNonce        Reason = 5  // challenge unknown, expired or already used
	Revoked         Reason = 6  // the key or its credential was revoked
	Superseded      Reason = 7  // the slot was reset or deactivated: a newer generation overwrote the key
	BadSignature    Reason = 8  // issuer signature does not verify
	BadProof        Reason = 9  // holder proof does not verify
	NotCached       Reason = 10 // ID-only request for a credential the lock has not cached
	ClockUnknown    Reason = 11 // the lock does not know the time (never synced, or sync too old)
	ZoneUnknown     Reason = 12 // windows need the local offset and the lock has no rules for now
	NotYetValid     Reason = 13 // before the key's validity
	Expired         Reason = 14 // after the key's validity
	OutsideWindow   Reason = 15 // outside every weekly window
	Exhausted       Reason = 16 // use limit reached
	WrongDoor       Reason = 17 // the key does not open that door
	RateLimited     Reason = 18 // too many failed attempts; backing off
	UseTableFull    Reason = 19 // no room to count uses of a limited credential
	StaleSequence   Reason = 20 // admin sequence number not above the last applied
	RevocationsFull Reason = 21 // revocation list full of live entries
	BadSlot         Reason = 22 // slot number beyond the lock's slots
	Policy          Reason = 23 // refused by the schedule for a reason without its own code

	// Refusals by the schedule that the compact form sent to locks has no
	// code for (a lock reports them as OutsideWindow or Policy).
	InBlackout    Reason = 24 // inside a blackout of the key
	InvalidPolicy Reason = 25 // unknown zone or malformed schedule: fail closed

	// Refusals by the server's rules.
	NotHolder      Reason = 26 // the caller does not hold the key
	NotDownloaded  Reason = 27 // the key was not downloaded yet
	Reset          Reason = 28 // the key was reset
	Deactivated    Reason = 29 // the key's slot was deactivated (or the deactivation is pending)
	Deleted        Reason = 30 // the key was deleted
	LockBlackout   Reason = 31 // inside a blackout of the whole lock
	UsesAtLock     Reason = 32 // a use-limited key with an offline credential is counted by the lock alone
	NetworkOff     Reason = 33 // network management of the lock is off
	NotMember      Reason = 34 // the caller is not a member of the key's group
	WrongPassword  Reason = 35 // the personal password is wrong
	LockedOut      Reason = 36 // too many wrong passwords (or codes at a keypad); locked out for a while
	OpNotPermitted Reason = 37 // the member may not operate the lock
	NotOnlineKey   Reason = 38 // the key is not an online key

	// AuditRecordsMissing marks, in history, lock records that never
	// reached the ledger (the lock overwrote them before an upload).
	AuditRecordsMissing Reason = 39

	// Why network management of a lock ended (besides Expired).
	TurnedOff Reason = 40 // turned off by the owner
	Replaced  Reason = 41 // turned on again with a new master code

	// Refusals at the lock added with the hardened reference lock.
	AuditFull     Reason = 42 // the lock's audit holds as many unacknowledged records as it keeps: upload first
	KeyRetired    Reason = 43 // signed by an issuer key the lock retired (for credentials: after its grace)
	StorageFailed Reason = 44 // the lock could not persist its state, so it did not act
	// WrongPIN: a code typed at a keypad that is no key's PIN on the lock.
	WrongPIN Reason = 45

	// Keypads, cards and remote opens at the reference lock.
	CodeInUse      Reason = 46 // the PIN or card is already another key's on the lock
	UnknownCard    Reason = 47 // a card presented at the lock that is no key's card there
	CodeSlotsFull  Reason = 48 // the lock has no room for another PIN or card
	RemoteOpenLate Reason = 49 // a remote open that reached the lock after its validity

	// Refusals of an offline code typed at the lock's keypad.
	CodeMalformed Reason = 50 // not the code's number of digits, or not digits
	CodeInvalid   Reason = 51 // not a code of this lock: another lock's, mistyped or guessed
	CodeUsed      Reason = 52 // a one-time code used before
	CodeRevoked   Reason = 53 // revoked by an erase code or an admin message

	// Key lifecycle across a lock.
	KeySuspended Reason = 54 // the key is suspended (its settings kept; resuming it restores it)
	LockReset    Reason = 55 // every key of the lock was reset
	// OutsidePeriods: inside validity but outside every dated period of the
	// key (policy.Period); a lock reports it too (compact form's periods).
	OutsidePeriods Reason = 56
	// NotInPassage: a handle used while its door is not free (the lock's
	// passage mode; also a lock wire code, in the audit's tally).
	NotInPassage Reason = 58

	// Unknown stands for a name this version does not know (a newer
	// library wrote it) and for a refusal that has no reason of its own.
	Unknown Reason = 255
)

// reasons: the persisted name (stored in events, shown in history) and the
// text for people, by code. APPEND ONLY, like the codes. The names of
// refusals only a lock makes carry a "lock_" prefix.
var reasons = [...]struct{ name, text string }{
	Granted:             {"", "granted"},
	Malformed:           {"lock_malformed", "malformed"},
	BadVersion:          {"lock_version", "unsupported version"},
	UnexpectedType:      {"lock_type", "unexpected type"},
	WrongLock:           {"lock_wrong_lock", "wrong lock"},
	BadNonce:            {"lock_bad_nonce", "bad nonce"},
	Revoked:             {"revoked", "revoked"},
	Superseded:          {"superseded", "superseded by a newer slot generation"},
	BadSignature:        {"lock_bad_signature", "bad signature"},
	BadProof:            {"lock_bad_proof", "bad proof"},
	NotCached:           {"lock_not_cached", "not cached"},
	ClockUnknown:        {"lock_clock_unknown", "clock unknown"},
	ZoneUnknown:         {"lock_zone_unknown", "time zone unknown"},
	NotYetValid:         {"not_yet_valid", "not yet valid"},
	Expired:             {"expired", "expired"},
	OutsideWindow:       {"outside_window", "outside window"},
	Exhausted:           {"exhausted", "exhausted"},
	WrongDoor:           {"door_not_permitted", "wrong door"},
	RateLimited:         {"lock_rate_limited", "rate limited"},
	UseTableFull:        {"lock_use_table_full", "use table full"},
	StaleSequence:       {"lock_stale_sequence", "stale sequence"},
	RevocationsFull:     {"lock_revocations_full", "revocation list full"},
	BadSlot:             {"lock_bad_slot", "bad slot"},
	Policy:              {"lock_policy", "refused by policy"},
	InBlackout:          {"blackout", "blackout"},
	InvalidPolicy:       {"invalid_policy", "invalid policy"},
	NotHolder:           {"not_holder", "not the holder"},
	NotDownloaded:       {"not_downloaded", "not downloaded"},
	Reset:               {"reset", "reset"},
	Deactivated:         {"deactivated", "deactivated"},
	Deleted:             {"deleted", "deleted"},
	LockBlackout:        {"lock_blackout", "lock blackout"},
	UsesAtLock:          {"uses_at_lock", "uses counted at the lock"},
	NetworkOff:          {"network_off", "network management off"},
	NotMember:           {"not_member", "not a member"},
	WrongPassword:       {"wrong_password", "wrong password"},
	LockedOut:           {"locked_out", "locked out"},
	OpNotPermitted:      {"operation_not_permitted", "operation not permitted"},
	NotOnlineKey:        {"not_online_key", "not an online key"},
	AuditRecordsMissing: {"audit_records_missing", "audit records missing"},
	TurnedOff:           {"turned_off", "turned off"},
	Replaced:            {"replaced", "replaced"},
	AuditFull:           {"lock_audit_full", "audit full: upload needed"},
	KeyRetired:          {"lock_key_retired", "issuer key retired"},
	StorageFailed:       {"lock_storage_failed", "lock storage failed"},
	WrongPIN:            {"wrong_pin", "wrong PIN"},
	CodeInUse:           {"lock_code_in_use", "PIN or card already in use on the lock"},
	UnknownCard:         {"unknown_card", "unknown card"},
	CodeSlotsFull:       {"lock_code_slots_full", "no room for another PIN or card"},
	RemoteOpenLate:      {"lock_remote_open_late", "remote open arrived late"},
	CodeMalformed:       {"code_malformed", "malformed offline code"},
	CodeInvalid:         {"code_invalid", "not a code of this lock"},
	CodeUsed:            {"code_used", "offline code already used"},
	CodeRevoked:         {"code_revoked", "offline code revoked"},
	KeySuspended:        {"key_suspended", "the key is suspended"},
	LockReset:           {"lock_reset", "every key of the lock was reset"},
	OutsidePeriods:      {"outside_periods", "outside the key's dated periods"},
	NotInPassage:        {"not_in_passage", "the door is not in passage mode now"},
}

var byName = func() map[string]Reason {
	m := make(map[string]Reason, len(reasons))
	for i, r := range reasons {
		if i == 0 || r.name != "" { // skip codes not assigned yet
			m[r.name] = Reason(i)
		}
	}
	return m
}()

// Known reports whether r is a code of this version's table.
func (r Reason) Known() bool { return int(r) < len(reasons) && (r == Granted || reasons[r].name != "") }

// Name is the persisted name ("" for Granted). A code this version does not
// know is named "reason_<code>".
func (r Reason) Name() string {
	if r.Known() {
		return reasons[r].name
	}
	return fmt.Sprintf("reason_%d", uint8(r))
}

// String is the reason for people.
func (r Reason) String() string {
	if r.Known() {
		return reasons[r].text
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// ParseReason returns the reason with this persisted name.
func ParseReason(name string) (Reason, bool) {
	r, ok := byName[name]
	return r, ok
}

// MarshalText stores a reason by its name, so stored events read the same
// whatever codes a later version adds.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.Name()), nil }

// UnmarshalText reads a persisted name; a name this version does not know
// reads as Unknown rather than failing the whole event.
func (r *Reason) UnmarshalText(b []byte) error {
	if v, ok := byName[string(b)]; ok {
		*r = v
		return nil
	}
	*r = Unknown
	return nil
}

// Scheduled reports whether the reason is a schedule's refusal (validity,
// use limit, dated periods, windows, blackouts): the key is authentic, it is
// not its time.
func (r Reason) Scheduled() bool {
	switch r {
	case NotYetValid, Expired, OutsideWindow, Exhausted, Policy, InBlackout, LockBlackout, OutsidePeriods:
		return true
	}
	return false
}
