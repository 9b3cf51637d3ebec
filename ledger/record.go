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
//	0      1     record format (1)
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
//	…      32    chain hash = SHA-256(previous chain hash || all bytes above)
//
// The bytes before the hash are the record's canonical bytes; position 1 chains
// from 32 zero bytes.
const (
	recordFormat    = 1
	recordFixedLen  = 1 + 8 + 8 + 16 + 8 + 2 + 2 + 1 + 4 + sha256.Size
	maxStreamLen    = 1024
	maxTypeLen      = 255
	maxPayloadLen   = 1 << 20
	maxEventsAppend = 10000
)

type record struct {
	pos     uint64
	version uint64
	id      uuid.UUID
	time    int64
	schema  uint16
	stream  string
	typ     string
	data    []byte
	hash    [32]byte
}

// appendRecordBody appends the canonical bytes (everything but the hash).
func appendRecordBody(dst []byte, r *record) []byte {
	dst = append(dst, recordFormat)
	dst = binary.BigEndian.AppendUint64(dst, r.pos)
	dst = binary.BigEndian.AppendUint64(dst, r.version)
	dst = append(dst, r.id[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.time))
	dst = binary.BigEndian.AppendUint16(dst, r.schema)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.stream)))
	dst = append(dst, r.stream...)
	dst = append(dst, byte(len(r.typ)))
	dst = append(dst, r.typ...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.data)))
	return append(dst, r.data...)
}

// chainHash returns SHA-256(prev || body).
func chainHash(prev [32]byte, body []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// recordView is a parsed record whose slices point into the stored bytes.
type recordView struct {
	pos, version uint64
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
	var r recordView
	if len(b) < recordFixedLen {
		return r, fmt.Errorf("record is %d bytes, shorter than the minimum %d", len(b), recordFixedLen)
	}
	if b[0] != recordFormat {
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
	if uint64(d) > maxPayloadLen || uint64(len(rest)) != uint64(d)+sha256.Size {
		return r, fmt.Errorf("bad payload length %d for %d remaining bytes", d, len(rest))
	}
	if !validName(r.stream) || !utf8.Valid(r.typ) {
		return r, fmt.Errorf("stream or type name is not valid UTF-8 without NUL")
	}
	if r.pos == 0 || r.version == 0 {
		return r, fmt.Errorf("zero position or version")
	}
	r.data = rest[:d]
	copy(r.hash[:], rest[d:])
	return r, nil
}

// decodeRecord parses a stored record and copies what it keeps, so b may be reused.
func decodeRecord(b []byte) (record, error) {
	v, err := parseRecord(b)
	if err != nil {
		return record{}, err
	}
	return record{pos: v.pos, version: v.version, id: v.id, time: v.time, schema: v.schema,
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
