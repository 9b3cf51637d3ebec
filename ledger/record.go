package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
)

// A stored record, the value at key 'l' position:
//
//	offset size  field
//	0      1     record format (1 or 2)
//	1      8     position, big-endian
//	9      8     stream version, big-endian
//	17     16    event ID
//	33     8     time, Unix nanoseconds, big-endian two's complement
//	41     2     schema, big-endian
//	43     2     n = length of stream name
//	45     n     stream name (UTF-8, no NUL)
//	45+n   1     m = length of type name
//	46+n   m     type name
//	46+n+m 4     d = length of payload
//	50+n+m d     payload (msgpack)
//	…      8     format 2 only: position of the stream's previous event (0 at version 1)
//	…      32    chain hash = SHA-256(previous chain hash || all bytes above)
//
// The bytes before the hash are the record's canonical bytes; position 1 chains
// from 32 zero bytes. Format 2 is written since the back-pointer replaced the
// per-event stream-index entry; format 1 records (written before) keep their
// stream-index entries and are read as they are.
const (
	recordFormat    = 2
	recordFormatV1  = 1
	recordFixedLen  = 1 + 8 + 8 + 16 + 8 + 2 + 2 + 1 + 4 + sha256.Size // format 1; format 2 adds 8
	maxStreamLen    = 1024
	maxTypeLen      = 255
	maxPayloadLen   = 1 << 20
	maxEventsAppend = 10000
)

type record struct {
	format  byte // 0 means recordFormat
	pos     uint64
	prev    uint64 // format 2: position of the stream's previous event
	version uint64
	id      uuid.UUID
	time    int64
	schema  uint16
	stream  string
	typ     string
	data    []byte
	hash    [32]byte
}

// ChainHash returns the chain hash of a record: SHA-256(prev || canonical),
// where prev is the chain hash of the record before (32 zero bytes, the zero
// Digest's Hash, before position 1) and canonical the record's canonical
// bytes (AppendCanonical). The chain hash of the last durable record is the
// Hash of Head.
func ChainHash(prev [32]byte, canonical []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(canonical)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// AppendCanonical appends the canonical bytes of ev to dst: the bytes of its
// record (format 2, laid out above) that the hash chain covers. prev is the
// position of the previous event of ev's stream, 0 at version 1. They are
// ev's Position, Stream, Version, ID, Time (as Unix nanoseconds: a backend
// must keep all nine digits), Type, Schema and Raw, the payload as stored
// (Registry.Encode); Data is not used. A backend that produces the same
// events and computes ChainHash over these bytes has the same Head as a
// Pebble ledger. A field outside the record's limits (a position or version
// of 0, prev not below the position or not 0 exactly at version 1, a stream
// name or type name too long, empty or not UTF-8 without NUL, a payload over
// 1 MiB) is ErrInvalid, and dst is returned unchanged.
//
// Records written before format 2 (in a ledger upgraded from format 1) keep
// their own canonical bytes, without the back-pointer.
func AppendCanonical(dst []byte, ev *Event, prev uint64) ([]byte, error) {
	switch {
	case ev.Position == 0 || ev.Version == 0:
		return dst, invalidf("event at position %d version %d: both must be >= 1", ev.Position, ev.Version)
	case (ev.Version == 1) != (prev == 0) || prev >= ev.Position:
		return dst, invalidf("event at position %d version %d: previous position %d", ev.Position, ev.Version, prev)
	case len(ev.Type) == 0 || len(ev.Type) > maxTypeLen || !validName([]byte(ev.Type)):
		return dst, invalidf("event type name %q must be 1..%d bytes of UTF-8 without NUL", ev.Type, maxTypeLen)
	case len(ev.Raw) > maxPayloadLen:
		return dst, invalidf("%s payload is %d bytes, over the %d limit", ev.Type, len(ev.Raw), maxPayloadLen)
	}
	if err := checkStream(ev.Stream); err != nil {
		return dst, err
	}
	b := append(dst, recordFormat)
	b = binary.BigEndian.AppendUint64(b, ev.Position)
	b = binary.BigEndian.AppendUint64(b, ev.Version)
	b = append(b, ev.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Time.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, ev.Schema)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ev.Stream)))
	b = append(b, ev.Stream...)
	b = append(b, byte(len(ev.Type)))
	b = append(b, ev.Type...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ev.Raw)))
	b = append(b, ev.Raw...)
	return binary.BigEndian.AppendUint64(b, prev), nil
}

// recordView is a parsed record whose slices point into the stored bytes.
type recordView struct {
	format       byte
	pos, version uint64
	prev         uint64 // format 2 only
	id           uuid.UUID
	time         int64
	schema       uint16
	stream, typ  []byte
	data         []byte
	hash         [32]byte
}

// parseRecord parses a stored record without copying. It never panics; any
// malformed input is an error.
func parseRecord(b []byte) (recordView, error) {
	r, err := parseRecordFields(b)
	if err == nil && (!validName(r.stream) || !utf8.Valid(r.typ)) {
		err = fmt.Errorf("stream or type name is not valid UTF-8 without NUL")
	}
	return r, err
}

// parseRecordFields is parseRecord without the check of the stream and type
// names' bytes, which a caller that has seen the same names does once.
func parseRecordFields(b []byte) (recordView, error) {
	var r recordView
	if len(b) < recordFixedLen {
		return r, fmt.Errorf("record is %d bytes, shorter than the minimum %d", len(b), recordFixedLen)
	}
	r.format = b[0]
	tail := sha256.Size // bytes after the payload
	switch r.format {
	case recordFormatV1:
	case recordFormat:
		tail += 8
	default:
		return r, fmt.Errorf("unknown record format %d", b[0])
	}
	r.pos = binary.BigEndian.Uint64(b[1:])
	r.version = binary.BigEndian.Uint64(b[9:])
	copy(r.id[:], b[17:33])
	r.time = int64(binary.BigEndian.Uint64(b[33:]))
	r.schema = binary.BigEndian.Uint16(b[41:])
	n := int(binary.BigEndian.Uint16(b[43:]))
	rest := b[45:]
	if n == 0 || n > maxStreamLen || len(rest) < n+1 {
		return r, fmt.Errorf("bad stream name length %d", n)
	}
	r.stream = rest[:n]
	rest = rest[n:]
	m := int(rest[0])
	rest = rest[1:]
	if m == 0 || len(rest) < m+4 {
		return r, fmt.Errorf("bad type name length %d", m)
	}
	r.typ = rest[:m]
	rest = rest[m:]
	d := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(d) > maxPayloadLen || uint64(len(rest)) != uint64(d)+uint64(tail) {
		return r, fmt.Errorf("bad payload length %d for %d remaining bytes", d, len(rest))
	}
	if r.pos == 0 || r.version == 0 {
		return r, fmt.Errorf("zero position or version")
	}
	r.data = rest[:d]
	if r.format == recordFormat {
		r.prev = binary.BigEndian.Uint64(rest[d:])
		if (r.version == 1) != (r.prev == 0) || r.prev >= r.pos {
			return r, fmt.Errorf("version %d with previous position %d", r.version, r.prev)
		}
	}
	copy(r.hash[:], rest[len(rest)-sha256.Size:])
	return r, nil
}

// decodeRecord parses a stored record and copies what it keeps, so b may be reused.
func decodeRecord(b []byte) (record, error) {
	v, err := parseRecord(b)
	if err != nil {
		return record{}, err
	}
	return record{format: v.format, pos: v.pos, prev: v.prev, version: v.version, id: v.id, time: v.time, schema: v.schema,
		stream: string(v.stream), typ: string(v.typ), data: bytes.Clone(v.data), hash: v.hash}, nil
}

// recordBody returns the canonical bytes of an encoded record (without its hash).
func recordBody(b []byte) []byte { return b[:len(b)-sha256.Size] }

func validName(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return false
		}
	}
	return utf8.Valid(b)
}
