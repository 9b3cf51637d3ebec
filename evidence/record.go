package evidence

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// Record is what an event's canonical record bytes say, decoded. The bytes
// are the ones the ledger hashes into its chain (ledger.AppendCanonical),
// laid out big-endian:
//
//	size  field
//	1     record format, 2
//	8     position in the log, from 1
//	8     version in its stream, from 1
//	16    event ID
//	8     time, Unix nanoseconds (two's complement)
//	2     payload schema
//	2     n = length of the stream name; n bytes of UTF-8
//	1     m = length of the type name; m bytes of UTF-8
//	4     d = length of the payload; d bytes (msgpack)
//	8     position of the stream's previous event, 0 at version 1
//
// So a leaf binds the event's position, stream, version, ID, time, type and
// payload: none can change without changing the leaf hash.
type Record struct {
	Position uint64
	Version  uint64
	ID       [16]byte
	Time     time.Time
	Schema   uint16
	Stream   string
	Type     string
	Payload  []byte // aliases the parsed bytes
	Prev     uint64
}

const recordFormat = 2

// ParseRecord decodes canonical record bytes. Malformed bytes are an
// *Error matching ErrRecord.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	bad := func(reason string, args ...any) (Record, error) {
		return Record{}, fail(ErrRecord, 0, "record: "+reason, args...)
	}
	const fixed = 1 + 8 + 8 + 16 + 8 + 2 + 2
	if len(b) < fixed {
		return bad("%d bytes, shorter than its fixed fields", len(b))
	}
	if b[0] != recordFormat {
		return bad("format %d, want %d", b[0], recordFormat)
	}
	r.Position = binary.BigEndian.Uint64(b[1:])
	r.Version = binary.BigEndian.Uint64(b[9:])
	copy(r.ID[:], b[17:33])
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[33:]))).UTC()
	r.Schema = binary.BigEndian.Uint16(b[41:])
	n := int(binary.BigEndian.Uint16(b[43:]))
	rest := b[45:]
	if len(rest) < n+1 {
		return bad("stream name of %d bytes runs past the record", n)
	}
	r.Stream, rest = string(rest[:n]), rest[n:]
	m := int(rest[0])
	rest = rest[1:]
	if len(rest) < m+4 {
		return bad("type name of %d bytes runs past the record", m)
	}
	r.Type, rest = string(rest[:m]), rest[m:]
	d := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(len(rest)) != uint64(d)+8 {
		return bad("payload of %d bytes and the back-pointer do not end the record (%d bytes left)", d, len(rest))
	}
	r.Payload = rest[:d]
	r.Prev = binary.BigEndian.Uint64(rest[d:])
	switch {
	case r.Position == 0 || r.Version == 0:
		return bad("position %d version %d: both must be >= 1", r.Position, r.Version)
	case (r.Version == 1) != (r.Prev == 0) || r.Prev >= r.Position:
		return bad("position %d version %d: previous position %d", r.Position, r.Version, r.Prev)
	case n == 0 || !utf8.ValidString(r.Stream):
		return bad("stream name %q must be non-empty UTF-8", r.Stream)
	case m == 0 || !utf8.ValidString(r.Type):
		return bad("type name %q must be non-empty UTF-8", r.Type)
	}
	return r, nil
}

// Summary is the part of a record a reader wants to see, as the bundle
// shows it beside the record bytes. Verify checks it against the bytes.
type Summary struct {
	Position uint64 `json:"position"`
	Stream   string `json:"stream"`
	Version  uint64 `json:"version"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Schema   uint16 `json:"schema"`
	Time     string `json:"time"` // RFC 3339 with nanoseconds, UTC
	Prev     uint64 `json:"prev,omitempty"`
	Payload  string `json:"payload_sha256"` // hex SHA-256 of the msgpack payload
}

// Summary returns r's summary.
func (r Record) Summary() Summary {
	id := r.ID
	sum := sha256.Sum256(r.Payload)
	return Summary{
		Position: r.Position, Stream: r.Stream, Version: r.Version,
		ID:   fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]),
		Type: r.Type, Schema: r.Schema, Time: r.Time.Format(time.RFC3339Nano), Prev: r.Prev,
		Payload: fmt.Sprintf("%x", sum[:]),
	}
}
