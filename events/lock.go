package events

import (
	"time"

	"github.com/keyledger/keyledger/access"
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
	// lock can no longer apply it: it is more than the lock's window below
	// the highest the audit showed applied).
	Reissues uint32 `msgpack:",omitempty"`
	// Replaces is set when this message was issued in place of another
	// type: a slot reset (Type) instead of a revocation (Replaces) when the
	// lock's revocation list was full.
	Replaces lockproto.Type `msgpack:",omitempty"`
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
	Reason   access.Reason `msgpack:",omitempty"`
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
	Reason    access.Reason `msgpack:",omitempty"` // stored by name
	Code      uint8         // the reason's code as the lock sent it
	Slot      int           // 1-based; 0 when the record names none; offline-code records: the code's kind (lockproto.CodeKind)
	Door      access.Doors  // unlock records
	// Credential is the credential ID as presented (unlock) or revoked (admin).
	Credential [8]byte
	AdminType  lockproto.Type               `msgpack:",omitempty"`
	Value      uint32                       // unlock: the lock's use count after it; admin: the message's sequence number; passage: how many opens (≥ 1)
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
	// First is the lock's time of the first granted record counted (zero
	// if the lock did not know it): the key's first use when it has none.
	First time.Time `msgpack:",omitempty"`
}

// RemoteOpenIssued: the service signed the remote open that carries the
// granted unlock Decision (its command ID) of Key to the lock, bound to the
// nonce of the lock's challenge. A decision yields one: the event's ID
// derives from the decision. Credential is the ID the frame names, so the
// lock's audit record of the open names the key; Slot is 1-based (0 for a
// key without a slot). Nothing here is secret: the nonce came from the lock
// in clear.
type RemoteOpenIssued struct {
	Lock, Key  string
	Decision   string
	Nonce      [lockproto.NonceSize]byte
	Credential lockproto.CredentialID
	Slot       int
	Generation uint32
	Door       access.Doors // the door opened (one)
	Doors      access.Doors // the doors the key opened when signed
	NotAfter   time.Time    // the lock refuses the frame from then on
	Relay      lockproto.Relay
}
