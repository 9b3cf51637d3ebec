package ledger

import (
	"encoding/binary"

	"github.com/google/uuid"
)

// Key prefixes. Persisted: never renumber or reuse (see doc.go, "Keyspace").
const (
	prefixMeta       = 0x00 // 0x00 "format", "heads", "v1end" -> marker, positions (doc.go, "Keyspace")
	prefixCheckpoint = 'c'  // 'c' name -> position (8, big-endian)
	prefixHead       = 'h'  // 'h' stream -> version, position (2×8) as of headsKey's position
	prefixHeadsSnap  = 'H'  // 'H' position(8) -> the heads that differ from their 'h' entries at position (heads.go)
	prefixID         = 'i'  // 'i' id(16) -> position, first, last of its append (3×8); not for located generated IDs (ids.go)
	prefixLog        = 'l'  // 'l' position(8) -> record (record.go)
	prefixStream     = 's'  // 's' stream 0x00 version(8) -> position(8): format-1 events, and every anchorEvery-th version
	prefixState      = 'v'  // 'v' key -> value
)

var (
	formatKey = []byte("\x00format")
	headsKey  = []byte("\x00heads") // -> position(8) the 'h' entries are complete through
	v1EndKey  = []byte("\x00v1end") // -> position(8) of the last format-1 record, written by the upgrade
)

// formatMarker identifies this package's layout. A store with another marker
// is refused, except formatMarkerV1, V2 and V3, which Open upgrades
// (see doc.go).
const (
	formatMarker   = "keyledger/ledger v4"
	formatMarkerV3 = "keyledger/ledger v3"
	formatMarkerV2 = "keyledger/ledger v2"
	formatMarkerV1 = "keyledger/ledger v1"
)

// anchorEvery: format-2 events whose version is a multiple of it get a
// stream-index entry, so a read of a long stream starts each chunk at an
// entry instead of walking back from the head. Persisted: Verify expects
// exactly these entries, so it never changes.
const anchorEvery = 256

func headKey(stream string) []byte {
	k := make([]byte, 0, len(stream)+1)
	k = append(k, prefixHead)
	return append(k, stream...)
}

// snapKeyLen is the length of a heads snapshot's key ('H' position).
const snapKeyLen = 9

func appendSnapKey(dst []byte, pos uint64) []byte {
	dst = append(dst, prefixHeadsSnap)
	return binary.BigEndian.AppendUint64(dst, pos)
}

func logKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func appendLogKey(dst []byte, pos uint64) []byte {
	dst = append(dst, prefixLog)
	return binary.BigEndian.AppendUint64(dst, pos)
}

func streamPrefix(stream string) []byte {
	k := make([]byte, 0, len(stream)+2)
	k = append(k, prefixStream)
	k = append(k, stream...)
	return append(k, 0)
}

func appendStreamKey(dst []byte, stream string, version uint64) []byte {
	dst = append(dst, prefixStream)
	dst = append(dst, stream...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, version)
}

func idKey(id uuid.UUID) []byte {
	k := make([]byte, 17)
	k[0] = prefixID
	copy(k[1:], id[:])
	return k
}

func checkpointKey(name string) []byte {
	return append([]byte{prefixCheckpoint}, name...)
}

func stateKey(key []byte) []byte {
	k := make([]byte, 0, len(key)+1)
	k = append(k, prefixState)
	return append(k, key...)
}

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func u64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func putU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
