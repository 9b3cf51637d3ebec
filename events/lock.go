package events

import (
	"fmt"
	"time"

	"github.com/keyledger/keyledger/lockproto"
)

// AdminIssued: an issuer-signed admin message for the lock, pending until
// the lock's audit shows it. Message is the frame as signed (not secret).
type AdminIssued struct {
	Lock       string
	Key        string `msgpack:",omitempty"` // the key it concerns, if any
	Seq        uint32
	Type       lockproto.Type
	Slot       int    // 1-based, as in SlotAssigned (0 for none)
	Generation uint32 // reset/deactivate: the slot's new minimum generation
	Message    []byte
	// Reissues is the sequence number of the message this one repeats (the
	// lock passed it without applying it, as far as the audit showed).
	Reissues uint32 `msgpack:",omitempty"`
}

// AdminApplied: the lock's audit record (AuditSeq) shows the lock consumed
// admin message Seq, applied it (Applied) or refused it after its signature
// verified (Reason). Every message at or below Seq is no longer pending: the
// lock refuses sequence numbers it has passed.
type AdminApplied struct {
	Lock     string
	Seq      uint32
	Type     lockproto.Type
	Applied  bool
	Reason   string `msgpack:",omitempty"`
	AuditSeq uint32
}

// AuditRecorded is one record the lock wrote, as uploaded: the lock's
// own time and sequence number; the event's time is the upload time.
type AuditRecorded struct {
	Lock string
	// Key is the key whose credential the record names, when the lock had
	// verified it (issuer signature and holder proof). Presented names the
	// key of an unverified credential ID (a refused, reset or revoked
	// credential, or a forgery naming it): shown, never trusted.
	Key       string `msgpack:",omitempty"`
	Presented string `msgpack:",omitempty"`
	By        string // who uploaded the batch
	Seq       uint32
	LockTime  time.Time // zero if the lock did not know the time
	Kind      lockproto.AuditKind
	Granted   bool
	Reason    string `msgpack:",omitempty"` // LockReason of the lock's code
	Code      lockproto.Reason
	Slot      int  // 1-based; 0 when the record names none
	Door      Door // unlock records
	// Credential is the credential ID as presented (unlock) or revoked (admin).
	Credential [8]byte
	AdminType  lockproto.Type               `msgpack:",omitempty"`
	Value      uint32                       // unlock: the lock's use count after it; admin: the message's sequence number
	Tag        [lockproto.AuditTagSize]byte // how later uploads are checked against this one
}

// AuditGap: records After+1 .. First-1 of the lock have not reached the
// ledger: a phone that drained them has not uploaded them yet, or the lock
// overwrote them in its ring. A later upload of them fills the gap; one
// that chains from AfterTag (the tag of record After) or into Link (the tag
// record First chains from) must match them.
type AuditGap struct {
	Lock, By       string
	After, First   uint32
	AfterTag, Link [lockproto.AuditTagSize]byte
}

// OfflineUnlocksCounted: an upload brought Granted offline unlocks of the
// key; Uses is its use count after them (online and offline).
type OfflineUnlocksCounted struct {
	Key, Lock string
	Granted   uint32
	Uses      uint32
	AuditSeq  uint32 // the last record counted
}

// LockReason names a lock's reason code in history (AuditRecorded.Reason).
// Schedule and door refusals use the names online unlocks use; the rest
// are "lock_" and lockproto's name. Persisted: never change a value.
func LockReason(r lockproto.Reason) string {
	switch r {
	case lockproto.ReasonGranted:
		return ""
	case lockproto.ReasonNotYetValid:
		return ReasonNotYetValid
	case lockproto.ReasonExpired:
		return ReasonExpired
	case lockproto.ReasonOutsideWindow:
		return ReasonOutsideWindow
	case lockproto.ReasonExhausted:
		return ReasonExhausted
	case lockproto.ReasonWrongDoor:
		return ReasonDoor
	case lockproto.ReasonRevoked:
		return ReasonRevoked
	case lockproto.ReasonSuperseded:
		return ReasonSuperseded
	}
	if int(r) < len(lockReasonNames) {
		return "lock_" + lockReasonNames[r]
	}
	return fmt.Sprintf("lock_reason_%d", uint8(r))
}

// lockReasonNames by lockproto reason code. Append only, never change one.
var lockReasonNames = [...]string{
	"granted", "malformed", "version", "type", "wrong_lock",
	"bad_nonce", "revoked", "superseded", "bad_signature", "bad_proof",
	"not_cached", "clock_unknown", "zone_unknown", "not_yet_valid", "expired",
	"outside_window", "exhausted", "wrong_door", "rate_limited", "use_table_full",
	"stale_sequence", "revocations_full", "bad_slot", "policy",
}

// ReasonSuperseded: the lock refused a credential whose slot was reset or
// deactivated (a newer generation overwrote it).
const ReasonSuperseded = "superseded"
