package events

import "time"

// ClockObserved is what a lock's audit upload showed of its clock and zone
// table (commands, clock.go): the lock's own clock readings (lockproto
// audit kind 9), the lock time of its other records (0: it did not know
// the time) and its refusals for an unknown zone. The first is appended
// once an upload brings such evidence (a reading, a record with lock time
// 0, a refusal for an unknown zone); later ones only when something
// changed meaningfully (the clock or zone state, the sync flag, or the
// offset by 30 s or more), not per upload.
type ClockObserved struct {
	Lock     string
	AuditSeq uint32 // the last record of the upload it was read from
	Known    bool   // the lock trusted its clock
	// Offset is how far the lock's clock is ahead of the reference
	// (negative: behind). With Bound it is only a lower bound: the batch
	// had no read time, the upload's receipt was the reference, and a lock
	// behind cannot be told from one in time.
	Offset     time.Duration
	Bound      bool      `msgpack:",omitempty"`
	MeasuredAt time.Time // the reference instant (zero: never measured)
	ReadAt     bool      `msgpack:",omitempty"` // measured against the phone's read time
	// The lock's zone table as its last clock reading said: whether it
	// holds one, whether it gave an offset for the lock's time, where it
	// ends (zero: never) and the sequence number of its message.
	// ZoneReported: a clock reading (or a refusal for an unknown zone)
	// has said these; before, the zone fields mean nothing.
	ZoneTable      bool
	ZoneKnown      bool
	ZoneValidUntil time.Time
	ZoneSeq        uint32
	ZoneReported   bool
	// SyncNeeded flags the lock for a time sync at the next phone's visit
	// (commands.Service.SyncClock): its clock is unknown or off by more
	// than the service's tolerance. A later reading in bounds clears it.
	SyncNeeded bool
}
