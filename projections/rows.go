package projections

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// Row keys. Persisted layout of the read models (rebuildable, so changing it
// only needs a Rebuild). IDs never contain '/' (commands refuses them).
//
//	p/key/<key>                     -> KeyRow (msgpack)
//	p/st/<key>                      -> status row (fixed layout, statusRow)
//	p/lock/<lock>                   -> LockRow
//	p/slot/<lock>/<slot 4 BE>       -> SlotRow
//	p/contact/<account>/<contact>   -> Contact
//	p/lk/<lock>/<key>               -> ""  keys of a lock
//	p/ok/<owner>/<key>              -> ""  share keys of an owner
//	p/hk/<account>/<key>            -> ""  keys shared with, downloaded by or (online) joined by an account
//	p/ml/<account>/<lock>           -> ""  locks an account owns or manages
//	p/acct/<account>                -> AccountRow (msgpack)
//	p/email/<e-mail, lower case>/<account> -> ""  accounts by e-mail address
//	p/rm/<lock>/<key>               -> ""  removal not confirmed by the lock (events.AtLock.RemovalPending)
//	p/net/<lock>                    -> end of network management's operating duration, unix ns (8 BE); absent when off
//	p/h/<l|k|a>/<id>/<day 4 BE>/<first pos 8 BE> -> 0x01 (pos delta uvarint, unix ns delta varint)...
//	    the history index of a lock, key or account: the entries one batch
//	    indexed for that entity and UTC day (of the entry's time), in
//	    position order, keyed by the first one's position; each entry's
//	    position and time as the difference from the previous entry's
//	    (histEntries; rows of the older layout, (pos 8 BE, unix ns 8 BE)...,
//	    still read). No copy of the event: History reads it from the log
//	    by position. The grouping depends on batch boundaries; Dump expands
//	    it to one row per entry.
//	p/ob/<pos 8 BE>                 -> Notification (pending)
//	p/obi/<event ID 16>             -> pos (8 BE)
func rowKey(parts ...string) []byte {
	n := len(prefix)
	for _, s := range parts {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, prefix...)
	for i, s := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, s...)
	}
	return b
}

func u32(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }
func u64(v uint64) string { return string(binary.BigEndian.AppendUint64(nil, v)) }

// KeyRow is everything the lists show about a key.
type KeyRow struct {
	Key, Lock, LockName, Zone, Owner string
	Kind                             events.Kind
	Credential                       events.Credential
	Settings                         events.Settings
	State                            events.State
	Method                           events.ShareMethod
	Recipient, Holder                string
	CreatedBy                        string   `msgpack:",omitempty"` // the account manager who created it ("" for the owner)
	Members                          []string `msgpack:",omitempty"` // online keys: accounts that accepted an invitation, in order
	Downloaded                       bool
	Slot                             int
	Generation                       uint32
	Uses                             uint32        `msgpack:"-"`          // stored in the status row only
	AtLock                           events.AtLock `msgpack:",omitempty"` // where its credential stands at the lock
	Created, Updated                 time.Time
	SettingsAt                       uint64 // log position of the settings now in force, or of the first use that made the policy's end concrete
	// FirstUsed is the key's earliest granted use (an online unlock, or the
	// lock's time of the first offline use an audit counted); zero: none.
	FirstUsed time.Time `msgpack:",omitempty"`
	// Suspended: commands.Service.SuspendKey stopped the key until
	// ResumeKey (its settings kept).
	Suspended bool `msgpack:",omitempty"`
}

// Policy is the policy the key is decided by: its settings' policy with
// the expiry after first use made concrete once the first use is known
// (policy.Policy.FirstUsed), as the commands decide.
func (r *KeyRow) Policy() policy.Policy {
	if !r.FirstUsed.IsZero() {
		return r.Settings.Policy.FirstUsed(r.FirstUsed)
	}
	return r.Settings.Policy
}

// Sharing is the sharing state users see.
func (r *KeyRow) Sharing() events.Sharing {
	return events.SharingOf(r.State, r.Method != 0, r.Downloaded)
}

// LockRow is a registered lock.
type LockRow struct {
	Lock, Owner, Name, Zone string
	Slots                   int
	Doors                   access.Doors
	Blackouts               []policy.Blackout
	Managers                []string `msgpack:",omitempty"` // its account managers, by ID
	// The passage schedule (commands.SetPassageMode): the doors free to
	// anyone during any of the periods; PassageNarrowed says what the
	// lock's compact form of them loses ("" = exact).
	PassageDoors    access.Doors    `msgpack:",omitempty"`
	Passage         []policy.Policy `msgpack:",omitempty"`
	PassageNarrowed string          `msgpack:",omitempty"`
	// Clock is the lock's clock and zone table as its audit last showed
	// them (commands.ClockObserved; nil before any). Whether its zone
	// rules are stale needs the service's tzdata: commands.ClockHealth.
	Clock *events.ClockObserved `msgpack:",omitempty"`
}

// AccountRow is a registered account: a user of the system.
type AccountRow struct {
	Account, Name, Email string
}

// SlotRow is the occupant of a slot (Key "" = free) and its generation.
type SlotRow struct {
	Key        string
	Generation uint32
}

// Contact is an address-book entry.
type Contact struct {
	Account, Name, Email string
}

// HistoryEntry is one action or unlock attempt in a history.
type HistoryEntry struct {
	Position uint64
	Time     time.Time
	Type     string // event type name
	Lock     string
	Key      string
	Account  string // who acted (an offline record of a verified credential: its holder)
	Subject  string // who it concerns (recipient, holder, contact), if anyone
	Door     access.Doors
	Source   string
	Panel    string `msgpack:",omitempty"` // the keypad of a code typed there (Source "keypad")
	Granted  bool
	Reason   access.Reason
	// Records the lock made offline (commands.AuditRecorded): Time is
	// the lock's own time (the upload time if the lock did not know it),
	// AuditSeq its sequence number, Uploaded when it reached the ledger.
	// Presented names the key of an unverified credential a refused attempt
	// showed (not trusted, not indexed under the key).
	Offline   bool      `msgpack:",omitempty"`
	AuditSeq  uint32    `msgpack:",omitempty"`
	Uploaded  time.Time `msgpack:",omitempty"`
	Presented string    `msgpack:",omitempty"`
	Admin     string    `msgpack:",omitempty"` // admin records: the message, e.g. "reset-slot seq 2"
	// Opens: a passage-mode entry (Source "passage mode") stands for this
	// many opens; the lock tallies them once its audit is nearly full.
	Opens uint32 `msgpack:",omitempty"`
}

// Notification is a pending outbox entry.
type Notification struct {
	ID       uuid.UUID // the event ID; pass it to commands.Service.AckNotification
	Position uint64
	Time     time.Time
	events.NotificationQueued
}
