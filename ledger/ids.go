package ledger

import (
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// Generated event IDs are UUIDv7 (RFC 9562) that name their own position,
// so they need no ID-index entry: an event with one is a single key.
//
//	bytes 0-5    the append's Unix milliseconds (ledger clock)
//	byte 6       version 7 (high 4 bits), 4 random bits
//	byte 7       random
//	byte 8       variant 0b10, first-of-append flag, last-of-append flag, 4 random bits
//	bytes 9-10   random
//	bytes 11-15  position, 40 bits, big-endian
//
// That leaves 32 random bits beside the millisecond and the position, so
// two ledgers give the same ID only to events at the same position in the
// same millisecond, and then once in 2^32. The first and last flags mark
// where the event's append begins and ends, which a retry with read-back
// IDs must match (see findRetry). Events past position maxLocated get a
// random ID with an index entry, as before format 3.
//
// A caller's ID of the same shape is an ordinary ID: it has an index entry.
// Whether an ID is located is never taken on trust: the record at the
// position it names must hold exactly that ID.
const maxLocated = 1<<40 - 1

// recordIDOffset is where the event ID starts in a record (record.go).
const recordIDOffset = 17

const (
	idFirstBit = 0x20 // in byte 8: the event is its append's first
	idLastBit  = 0x10 // in byte 8: the event is its append's last
)

// newV7 makes a random UUIDv7: the Unix time in milliseconds, then random
// bits (the sequencer then writes the position and flags into them, see
// locateID). Generated IDs therefore sort by append time.
func newV7(unixNano int64, random []byte) uuid.UUID {
	var id uuid.UUID
	ms := uint64(max(unixNano, 0) / 1e6)
	binary.BigEndian.PutUint64(id[:8], ms<<16) // 48 bits of time
	copy(id[6:], random[6:16])
	id[6] = id[6]&0x0f | 0x70 // version 7
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}

// locateID writes pos (at most maxLocated) and the first and last flags
// into a generated ID.
func locateID(id uuid.UUID, pos uint64, first, last bool) uuid.UUID {
	id[8] &^= idFirstBit | idLastBit
	if first {
		id[8] |= idFirstBit
	}
	if last {
		id[8] |= idLastBit
	}
	id[11] = byte(pos >> 32)
	binary.BigEndian.PutUint32(id[12:], uint32(pos))
	return id
}

// idLocation returns the position and flags an ID of the generated shape
// names; pos is 0 for an ID of another shape.
func idLocation(id uuid.UUID) (pos uint64, first, last bool) {
	if id[6]>>4 != 7 || id[8]>>6 != 2 {
		return 0, false, false
	}
	pos = uint64(id[11])<<32 | uint64(binary.BigEndian.Uint32(id[12:]))
	return pos, id[8]&idFirstBit != 0, id[8]&idLastBit != 0
}

// locatedAt reports whether id is located: of the generated shape, naming a
// position up to assigned whose record holds exactly id. A record that
// cannot be read is an error; one too short to hold an ID holds none.
func (l *Ledger) locatedAt(id uuid.UUID) (pos uint64, ok bool, err error) {
	pos, _, _ = idLocation(id)
	if pos == 0 || pos > l.assigned.Load() {
		return 0, false, nil
	}
	v, closer, err := l.db.Get(logKey(pos))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, readErr(pos, err)
	}
	defer closer.Close()
	return pos, len(v) >= recordIDOffset+16 && uuid.UUID(v[recordIDOffset:recordIDOffset+16]) == id, nil
}
