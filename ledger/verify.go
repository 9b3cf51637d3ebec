package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Digest identifies the log up to Position: Hash is the chain hash of the
// record there. Export it; CheckDigest later proves the log still starts with
// exactly the history it covers.
type Digest struct {
	Position uint64
	Hash     [32]byte
}

// String formats the digest as "position:hex-hash"; ParseDigest reads it back.
func (d Digest) String() string { return fmt.Sprintf("%d:%x", d.Position, d.Hash[:]) }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// ParseDigest parses the form written by Digest.String.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	ps, hs, ok := strings.Cut(s, ":")
	if !ok {
		return d, invalidf("digest %q: want position:hash", s)
	}
	p, err := strconv.ParseUint(ps, 10, 64)
	if err != nil {
		return d, invalidf("digest %q: bad position", s)
	}
	h, err := hex.DecodeString(hs)
	if err != nil || len(h) != len(d.Hash) {
		return d, invalidf("digest %q: hash must be %d hex bytes", s, len(d.Hash))
	}
	d.Position = p
	copy(d.Hash[:], h)
	return d, nil
}

// Head returns the digest of the durable log.
func (l *Ledger) Head() (Digest, error) {
	if err := l.enter(); err != nil {
		return Digest{}, err
	}
	defer l.gate.RUnlock()
	l.wm.Lock()
	defer l.wm.Unlock()
	return Digest{Position: l.durable.Load(), Hash: l.durableHash}, nil
}

// Verify streams the durable log from position 1, decoding every record and
// recomputing the hash chain, and returns the digest of what it verified. The
// first broken position is reported as a *CorruptionError (errors.Is ErrCorrupt):
// a record missing, undecodable, at the wrong position, or whose stored hash
// differs from the recomputed chain.
//
// It also checks the two indexes against the log: each event's stream-index
// entry (stream, version) and ID-index entry must exist and point at it, and
// no entry of either index may point at a position without that event. A
// broken entry is an *IndexError (errors.Is ErrCorrupt) naming the index,
// position, stream, version and event ID; events are checked in position
// order, so a missing or wrong entry is reported for the lowest position,
// and entries pointing at nothing after the whole log checked.
//
// Verify proves the log is internally consistent. Someone able to rewrite the
// store could rewrite every later hash too; CheckDigest against a digest
// exported earlier detects that.
func (l *Ledger) Verify(ctx context.Context) (Digest, error) {
	if err := l.enter(); err != nil {
		return Digest{}, err
	}
	l.gate.RUnlock()
	end := l.DurablePosition()
	d, err := l.walk(ctx, end, true)
	if err != nil {
		return Digest{}, err
	}
	for _, idx := range []byte{prefixStream, prefixID} {
		if err := l.checkDangling(ctx, idx, end); err != nil {
			return Digest{}, err
		}
	}
	return d, nil
}

// CheckDigest verifies the chain from position 1 to d.Position and reports
// whether it ends in d.Hash. A mismatch or a log shorter than d is a
// *CorruptionError: the history d covered was rewritten or truncated.
func (l *Ledger) CheckDigest(ctx context.Context, d Digest) error {
	if err := l.enter(); err != nil {
		return err
	}
	l.gate.RUnlock()
	if d.Position > l.DurablePosition() {
		return &CorruptionError{Position: l.DurablePosition() + 1, Reason: fmt.Sprintf("log ends before the digest's position %d", d.Position)}
	}
	got, err := l.walk(ctx, d.Position, false)
	if err != nil {
		return err
	}
	if got.Hash != d.Hash {
		return &CorruptionError{Position: d.Position, Reason: "chain hash differs from the digest"}
	}
	return nil
}

// walk verifies positions 1..end: the chain, and with indexes each event's
// entries in the stream and ID indexes.
func (l *Ledger) walk(ctx context.Context, end uint64, indexes bool) (Digest, error) {
	var prev [32]byte
	next := uint64(1)
	for next <= end {
		if err := ctx.Err(); err != nil {
			return Digest{}, err
		}
		var err error
		next, prev, err = l.verifyChunk(next, min(end, next+4095), prev, indexes)
		if err != nil {
			return Digest{}, err
		}
	}
	return Digest{Position: end, Hash: prev}, nil
}

func (l *Ledger) verifyChunk(from, hi uint64, prev [32]byte, indexes bool) (next uint64, hash [32]byte, err error) {
	if err := l.enter(); err != nil {
		return 0, prev, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: logKey(from), UpperBound: logKey(hi + 1)})
	if err != nil {
		return 0, prev, readErr(from, err)
	}
	defer it.Close()
	want := from
	for ok := it.First(); ok; ok = it.Next() {
		pos := u64(it.Key()[1:])
		if pos != want {
			return 0, prev, &CorruptionError{Position: want, Reason: "record missing"}
		}
		v := it.Value()
		r, err := decodeRecord(v)
		if err != nil {
			return 0, prev, &CorruptionError{Position: pos, Reason: "undecodable record: " + err.Error()}
		}
		if r.pos != pos {
			return 0, prev, &CorruptionError{Position: pos, Reason: fmt.Sprintf("record claims position %d", r.pos)}
		}
		h := chainHash(prev, recordBody(v))
		if h != r.hash {
			return 0, prev, &CorruptionError{Position: pos, Reason: "hash chain broken"}
		}
		prev = h
		if indexes {
			if err := l.checkEntries(&r); err != nil {
				return 0, prev, err
			}
		}
		want++
	}
	if err := it.Error(); err != nil {
		return 0, prev, readErr(want, err)
	}
	if want != hi+1 {
		return 0, prev, &CorruptionError{Position: want, Reason: "record missing"}
	}
	return want, prev, nil
}

// checkEntries checks that r's stream-index and ID-index entries point at it.
func (l *Ledger) checkEntries(r *record) error {
	bad := func(index, reason string) error {
		return &IndexError{Index: index, Position: r.pos, Stream: r.stream, Version: r.version, ID: r.id, Reason: reason}
	}
	v, closer, err := l.db.Get(appendStreamKey(nil, r.stream, r.version))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return bad("stream", "entry missing")
	case err != nil:
		return readErr(r.pos, err)
	}
	var pos uint64
	if len(v) == 8 {
		pos = u64(v)
	}
	_ = closer.Close()
	if pos != r.pos {
		return bad("stream", fmt.Sprintf("entry points at position %d", pos))
	}
	v, closer, err = l.db.Get(idKey(r.id))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return bad("id", "entry missing")
	case err != nil:
		return readErr(r.pos, err)
	}
	var first, last uint64
	pos = 0
	if len(v) == 24 {
		pos, first, last = u64(v), u64(v[8:]), u64(v[16:])
	}
	_ = closer.Close()
	if pos != r.pos || first > pos || pos > last {
		return bad("id", fmt.Sprintf("entry points at position %d (append %d..%d)", pos, first, last))
	}
	return nil
}

// checkDangling looks for entries of one index (prefixStream or prefixID)
// that point at no event: Verify has already proved that each of the end
// events has its own entry, so any further entry pointing at a position up to
// end, or beyond every position sequenced, is one. Entries beyond end but
// sequenced belong to appends whose sync is still in flight.
func (l *Ledger) checkDangling(ctx context.Context, index byte, end uint64) error {
	name := map[byte]string{prefixStream: "stream", prefixID: "id"}[index]
	count := uint64(0)
	lo, hi := []byte{index}, []byte{index + 1}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, next, err := l.danglingChunk(index, name, lo, hi, end, &count)
		if err != nil {
			return err
		}
		if n < 4096 {
			break
		}
		lo = next
	}
	if count != end {
		// Some entry points at a position whose event has another key: find it.
		return l.findMisdirected(ctx, index, name, end)
	}
	return nil
}

// danglingChunk reads up to 4096 index entries from lo and counts those that
// point at positions 1..end. It returns the number read and the key to resume at.
func (l *Ledger) danglingChunk(index byte, name string, lo, hi []byte, end uint64, count *uint64) (n int, next []byte, err error) {
	if err := l.enter(); err != nil {
		return 0, nil, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, nil, readErr(0, err)
	}
	defer it.Close()
	for ok := it.First(); ok && n < 4096; ok = it.Next() {
		n++
		e, err := parseEntry(index, name, it.Key(), it.Value())
		if err != nil {
			return n, nil, err
		}
		switch {
		case e.Position >= 1 && e.Position <= end:
			*count++
		case e.Position == 0 || e.Position > l.assigned.Load():
			e.Reason = "entry points at no event"
			return n, nil, e
		}
		next = append(next[:0], it.Key()...)
	}
	if err := it.Error(); err != nil {
		return n, nil, readErr(0, err)
	}
	return n, append(next, 0), nil
}

// parseEntry decodes an index entry into an IndexError holding its key and target.
func parseEntry(index byte, name string, k, v []byte) (*IndexError, error) {
	e := &IndexError{Index: name}
	switch index {
	case prefixStream:
		if len(k) < 1+1+1+8 || k[len(k)-9] != 0 || len(v) != 8 {
			return nil, &IndexError{Index: name, Stream: string(k[1:]), Reason: "malformed entry"}
		}
		e.Stream, e.Version, e.Position = string(k[1:len(k)-9]), u64(k[len(k)-8:]), u64(v)
	case prefixID:
		if len(k) != 17 || len(v) != 24 {
			return nil, &IndexError{Index: name, Reason: fmt.Sprintf("malformed entry %x", k)}
		}
		copy(e.ID[:], k[1:])
		e.Position = u64(v)
	}
	return e, nil
}

// findMisdirected finds the first index entry that points at an event up to
// end which has another stream/version or ID.
func (l *Ledger) findMisdirected(ctx context.Context, index byte, name string, end uint64) error {
	lo, hi := []byte{index}, []byte{index + 1}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, next, err := l.entryChunk(index, name, lo, hi)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Position == 0 || e.Position > end {
				continue
			}
			if err := l.enter(); err != nil {
				return err
			}
			r, err := l.getRecord(e.Position)
			l.gate.RUnlock()
			if err != nil {
				return err
			}
			if (index == prefixStream && (r.stream != e.Stream || r.version != e.Version)) || (index == prefixID && r.id != e.ID) {
				e.Reason = fmt.Sprintf("entry points at position %d, which holds %q version %d, ID %s", e.Position, r.stream, r.version, r.id)
				return e
			}
		}
		if next == nil {
			return &IndexError{Index: name, Reason: fmt.Sprintf("index has more entries than the %d events", end)}
		}
		lo = next
	}
}

func (l *Ledger) entryChunk(index byte, name string, lo, hi []byte) (out []*IndexError, next []byte, err error) {
	if err := l.enter(); err != nil {
		return nil, nil, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, nil, readErr(0, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if len(out) == 4096 {
			next = bytes.Clone(it.Key())
			break
		}
		e, err := parseEntry(index, name, it.Key(), it.Value())
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	if err := it.Error(); err != nil {
		return nil, nil, readErr(0, err)
	}
	return out, next, nil
}
