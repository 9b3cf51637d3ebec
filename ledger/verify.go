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

// Head returns the digest of the durable log. The ledger answers from memory
// and does not use ctx; a backend that asks a server bounds the call by it.
func (l *Ledger) Head(ctx context.Context) (Digest, error) {
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
// a record missing, undecodable, at the wrong position, whose stored hash
// differs from the recomputed chain, or whose stream version or back-pointer
// does not follow its stream's previous event.
//
// It also checks the derived data against the log: each event's ID-index
// entry (every event but one whose generated ID names its own position) and
// stream-index entry where it has one (format-1 events and every
// anchorEvery-th version) must exist and point at it; no entry of either
// index may point at a position without that event; and the stored stream
// heads must be exactly the streams' last events as of the position they are
// complete through. A broken entry is an *IndexError (errors.Is ErrCorrupt)
// naming the index ("stream", "id" or "head"), position, stream, version and
// event ID; events are checked in position order, so a missing or wrong entry
// is reported for the lowest position, and entries pointing at nothing after
// the whole log checked. The exact check of the heads needs every stream in
// memory; past maxVerifyStreams streams, or when the heads were stored by an
// append not yet durable when Verify started, each head entry is only
// checked to point at its stream's event.
//
// Verify proves the log is internally consistent. Someone able to rewrite the
// store could rewrite every later hash too; CheckDigest against a digest
// exported earlier detects that.
func (l *Ledger) Verify(ctx context.Context) (d Digest, err error) {
	defer func() { l.logDamage(ctx, "verify", err) }()
	if err := l.enter(); err != nil {
		return Digest{}, err
	}
	end := l.DurablePosition()
	// The heads and their position are read from one snapshot taken after
	// end: everything they cover up to end is in it.
	v := &verifyState{streams: map[string]streamHead{}, snap: l.db.NewSnapshot()}
	l.gate.RUnlock()
	defer func() {
		if e := l.closeSnapshot(v.snap); err == nil {
			err = e
		}
	}()
	if v.through, err = l.snapHeadsThrough(v.snap); err != nil {
		return Digest{}, err
	}
	if v.through > end && l.beyondLog(v.through) {
		// Open would refuse to append on such heads.
		return Digest{}, &IndexError{Index: "head", Position: v.through, Reason: "heads stored through a position past the log"}
	}
	if err := l.snapSnapshot(v); err != nil {
		return Digest{}, err
	}
	if d, err = l.walk(ctx, end, v); err != nil {
		return Digest{}, err
	}
	if !v.headsChecked {
		if err := l.checkHeadPointers(ctx, v, end); err != nil {
			return Digest{}, err
		}
	}
	if v.snapAt > 0 && !v.snapChecked {
		for s, h := range v.snapHeads {
			if err := l.checkHeadPointer(s, h, end); err != nil {
				return Digest{}, err
			}
		}
	}
	if err := l.checkDangling(ctx, prefixStream, end, v.indexed); err != nil {
		return Digest{}, err
	}
	if err := l.checkDangling(ctx, prefixID, end, v.ids); err != nil {
		return Digest{}, err
	}
	return d, nil
}

// maxVerifyStreams bounds the memory of Verify's per-stream state.
const maxVerifyStreams = 1 << 18

// verifyState is what Verify carries along the log.
type verifyState struct {
	streams      map[string]streamHead // each stream's last event so far
	overflow     bool                  // streams was cleared: it no longer holds every stream
	indexed      uint64                // stream-index entries the events so far must have
	ids          uint64                // ID-index entries the events so far have
	snap         *pebble.Snapshot
	through      uint64 // the heads' position in snap (0: none written)
	headsChecked bool
	snapAt       uint64                // the latest heads snapshot's position in snap (0: none)
	snapHeads    map[string]streamHead // its heads
	snapChecked  bool
}

func (l *Ledger) closeSnapshot(s *pebble.Snapshot) (err error) {
	if err := l.enter(); err != nil {
		return nil // Close released it with the DB
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	return s.Close()
}

func (l *Ledger) snapHeadsThrough(s *pebble.Snapshot) (through uint64, err error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	v, closer, err := s.Get(headsKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, readErr(0, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, &IndexError{Index: "head", Reason: fmt.Sprintf("malformed heads position %x", v)}
	}
	return u64(v), nil
}

// CheckDigest verifies the chain from position 1 to d.Position and reports
// whether it ends in d.Hash. A mismatch or a log shorter than d is a
// *CorruptionError: the history d covered was rewritten or truncated.
func (l *Ledger) CheckDigest(ctx context.Context, d Digest) (err error) {
	defer func() { l.logDamage(ctx, "check_digest", err) }()
	if err := l.enter(); err != nil {
		return err
	}
	l.gate.RUnlock()
	if d.Position > l.DurablePosition() {
		return &CorruptionError{Position: l.DurablePosition() + 1, Reason: fmt.Sprintf("log ends before the digest's position %d", d.Position)}
	}
	got, err := l.walk(ctx, d.Position, nil)
	if err != nil {
		return err
	}
	if got.Hash != d.Hash {
		return &CorruptionError{Position: d.Position, Reason: "chain hash differs from the digest"}
	}
	return nil
}

// walk verifies positions 1..end: the chain, and with v the streams and
// each event's index entries. Where the stored heads are complete (v.through)
// it stops to compare them with the streams walked so far.
func (l *Ledger) walk(ctx context.Context, end uint64, v *verifyState) (Digest, error) {
	var prev [32]byte
	next := uint64(1)
	for {
		if v != nil && !v.headsChecked && next == v.through+1 && v.through <= end && !v.overflow {
			if err := l.checkHeads(ctx, v); err != nil {
				return Digest{}, err
			}
			v.headsChecked = true
		}
		if v != nil && v.snapAt > 0 && !v.snapChecked && next == v.snapAt+1 && v.snapAt <= end && !v.overflow {
			if err := v.checkSnapshot(); err != nil {
				return Digest{}, err
			}
			v.snapChecked = true
		}
		if next > end {
			break
		}
		if err := ctx.Err(); err != nil {
			return Digest{}, err
		}
		hi := min(end, next+4095)
		if v != nil && v.through >= next && v.through < hi {
			hi = v.through
		}
		if v != nil && v.snapAt >= next && v.snapAt < hi {
			hi = v.snapAt
		}
		var err error
		next, prev, err = l.verifyChunk(next, hi, prev, v)
		if err != nil {
			return Digest{}, err
		}
	}
	return Digest{Position: end, Hash: prev}, nil
}

func (l *Ledger) verifyChunk(from, hi uint64, prev [32]byte, v *verifyState) (next uint64, hash [32]byte, err error) {
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
		val := it.Value()
		r, err := decodeRecord(val)
		if err != nil {
			return 0, prev, &CorruptionError{Position: pos, Reason: "undecodable record: " + err.Error()}
		}
		if r.pos != pos {
			return 0, prev, &CorruptionError{Position: pos, Reason: fmt.Sprintf("record claims position %d", r.pos)}
		}
		h := ChainHash(prev, recordBody(val))
		if h != r.hash {
			return 0, prev, &CorruptionError{Position: pos, Reason: "hash chain broken"}
		}
		prev = h
		if v != nil {
			if err := l.checkStreamOrder(&r, v); err != nil {
				return 0, prev, err
			}
			if err := l.checkEntries(&r, v); err != nil {
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

// checkStreamOrder checks that r follows its stream's previous event: the
// next version and, in format 2, a back-pointer to that event.
func (l *Ledger) checkStreamOrder(r *record, v *verifyState) error {
	bad := func(reason string, args ...any) error {
		return &CorruptionError{Position: r.pos, Reason: fmt.Sprintf("%q version %d: ", r.stream, r.version) + fmt.Sprintf(reason, args...)}
	}
	last, seen := v.streams[r.stream]
	switch {
	case seen && r.version != last.ver+1:
		return bad("the stream's previous event (position %d) is version %d", last.pos, last.ver)
	case seen && r.format == recordFormat && r.prev != last.pos:
		return bad("points back at position %d, the stream's previous event is at %d", r.prev, last.pos)
	case !seen && !v.overflow && r.version != 1:
		return bad("the stream has no earlier event")
	case !seen && v.overflow && r.format == recordFormat && r.version > 1:
		p, err := l.getRecord(r.prev)
		if err != nil {
			return err
		}
		if p.stream != r.stream || p.version != r.version-1 {
			return bad("points back at position %d, which holds %q version %d", r.prev, p.stream, p.version)
		}
	}
	if !seen && len(v.streams) >= maxVerifyStreams {
		clear(v.streams)
		v.overflow = true
	}
	v.streams[r.stream] = streamHead{ver: r.version, pos: r.pos}
	return nil
}

// checkEntries checks that r's stream-index entry (if it has one) and
// ID-index entry (if it must have one, or has one) point at it.
func (l *Ledger) checkEntries(r *record, st *verifyState) error {
	bad := func(index, reason string) error {
		return &IndexError{Index: index, Position: r.pos, Stream: r.stream, Version: r.version, ID: r.id, Reason: reason}
	}
	if r.format == recordFormatV1 || r.version%anchorEvery == 0 {
		st.indexed++
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
	}
	located := false
	if p, _, _ := idLocation(r.id); p == r.pos {
		located = true // a generated ID naming its position: an entry is optional
	}
	v, closer, err := l.db.Get(idKey(r.id))
	switch {
	case errors.Is(err, pebble.ErrNotFound) && located:
		return nil
	case errors.Is(err, pebble.ErrNotFound):
		return bad("id", "entry missing")
	case err != nil:
		return readErr(r.pos, err)
	}
	st.ids++
	var first, last, pos uint64
	if len(v) == 24 {
		pos, first, last = u64(v), u64(v[8:]), u64(v[16:])
	}
	_ = closer.Close()
	if pos != r.pos || first > pos || pos > last {
		return bad("id", fmt.Sprintf("entry points at position %d (append %d..%d)", pos, first, last))
	}
	return nil
}

// checkHeads compares the stored heads in v.snap with the streams' last
// events up to v.through (the walk has just passed it): a stream whose last
// event is format 2 has an entry naming it, a stream with only format-1
// events (read from the stream index) has none, and there is no other entry.
func (l *Ledger) checkHeads(ctx context.Context, v *verifyState) error {
	want := 0
	for _, h := range v.streams {
		if h.pos > l.v1End {
			want++
		}
	}
	got := 0
	err := l.eachHead(ctx, v.snap, func(stream string, h streamHead) error {
		got++
		last, ok := v.streams[stream]
		switch {
		case !ok:
			return &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver, Reason: "entry for a stream with no event"}
		case last != h:
			return &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver,
				Reason: fmt.Sprintf("entry differs from the stream's last event through position %d: version %d at %d", v.through, last.ver, last.pos)}
		case last.pos <= l.v1End:
			return &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver, Reason: "entry for a stream of format-1 events"}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got != want {
		for s, h := range v.streams {
			if h.pos > l.v1End && !l.hasHead(v.snap, s) {
				return &IndexError{Index: "head", Position: h.pos, Stream: s, Version: h.ver, Reason: "entry missing"}
			}
		}
	}
	return nil
}

// checkHeadPointers is the check of the stored heads when checkHeads could
// not run: each entry up to end must point at its stream's event.
func (l *Ledger) checkHeadPointers(ctx context.Context, v *verifyState, end uint64) error {
	return l.eachHead(ctx, v.snap, func(stream string, h streamHead) error {
		return l.checkHeadPointer(stream, h, end)
	})
}

// checkHeadPointer checks that a stored head up to end points at its
// stream's event, and that one past end is an append in flight.
func (l *Ledger) checkHeadPointer(stream string, h streamHead, end uint64) error {
	if h.pos > end {
		if l.beyondLog(h.pos) {
			return &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver, Reason: "entry points at no event"}
		}
		return nil // an append in flight
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.gate.RUnlock()
	return l.headAtEvent(stream, h)
}

// snapSnapshot reads the latest heads snapshot in v.snap into v. It must
// extend the 'h' entries (v.through) and lie inside the log.
func (l *Ledger) snapSnapshot(v *verifyState) (err error) {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	return lastSnapshot(v.snap, func(k, val []byte) error {
		if len(k) != snapKeyLen {
			return &IndexError{Index: "head", Reason: fmt.Sprintf("malformed heads snapshot key %x", k)}
		}
		at := u64(k[1:])
		bad := func(reason string) error {
			return &IndexError{Index: "head", Position: at, Reason: "heads snapshot " + reason}
		}
		heads := map[string]streamHead{}
		merged, err := decodeSnapshot(val, func(s string, h streamHead) error {
			if _, ok := heads[s]; ok {
				return fmt.Errorf("names %q twice", s)
			}
			heads[s] = h
			return nil
		})
		switch {
		case err != nil:
			return bad("malformed: " + err.Error())
		case merged != v.through:
			return bad(fmt.Sprintf("extends heads stored through %d, not %d", merged, v.through))
		case at <= v.through:
			return bad(fmt.Sprintf("not past the heads stored through %d", v.through))
		case l.beyondLog(at):
			return bad("past the log")
		}
		v.snapAt, v.snapHeads = at, heads
		return nil
	})
}

// checkSnapshot compares the latest heads snapshot with the streams' last
// events up to its position (the walk has just passed it): it names exactly
// the streams with an event after the 'h' entries' position, at their last
// event.
func (v *verifyState) checkSnapshot() error {
	for s, h := range v.snapHeads {
		last, ok := v.streams[s]
		if !ok || last != h {
			return &IndexError{Index: "head", Position: h.pos, Stream: s, Version: h.ver,
				Reason: fmt.Sprintf("heads snapshot at %d differs from the stream's last event (version %d at %d)", v.snapAt, last.ver, last.pos)}
		}
		if h.pos <= v.through {
			return &IndexError{Index: "head", Position: h.pos, Stream: s, Version: h.ver,
				Reason: fmt.Sprintf("heads snapshot at %d names a head the entries stored through %d hold", v.snapAt, v.through)}
		}
	}
	for s, h := range v.streams {
		if _, ok := v.snapHeads[s]; !ok && h.pos > v.through {
			return &IndexError{Index: "head", Position: h.pos, Stream: s, Version: h.ver,
				Reason: fmt.Sprintf("missing from the heads snapshot at %d", v.snapAt)}
		}
	}
	return nil
}

func (l *Ledger) hasHead(s *pebble.Snapshot, stream string) bool {
	if err := l.enter(); err != nil {
		return false
	}
	defer l.gate.RUnlock()
	_, closer, err := s.Get(headKey(stream))
	if err == nil {
		_ = closer.Close()
	}
	return err == nil
}

// eachHead calls f for every stored head in s, in chunks (no iterator is
// open while f runs).
func (l *Ledger) eachHead(ctx context.Context, s *pebble.Snapshot, f func(string, streamHead) error) error {
	lo := []byte{prefixHead}
	for lo != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		var names []string
		var heads []streamHead
		var err error
		names, heads, lo, err = l.headChunk(s, lo)
		if err != nil {
			return err
		}
		for i := range names {
			if err := f(names[i], heads[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Ledger) headChunk(s *pebble.Snapshot, lo []byte) (names []string, heads []streamHead, next []byte, err error) {
	if err := l.enter(); err != nil {
		return nil, nil, nil, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	it, err := s.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{prefixHead + 1}})
	if err != nil {
		return nil, nil, nil, readErr(0, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if len(names) == 4096 {
			next = bytes.Clone(it.Key())
			break
		}
		k, v := it.Key(), it.Value()
		if len(v) != 16 || len(k) < 2 {
			return nil, nil, nil, &IndexError{Index: "head", Stream: string(k[1:]), Reason: "malformed entry"}
		}
		names = append(names, string(k[1:]))
		heads = append(heads, streamHead{ver: u64(v), pos: u64(v[8:])})
	}
	return names, heads, next, readErr(0, it.Error())
}

// checkDangling looks for entries of one index (prefixStream or prefixID)
// that point at no event: Verify has already proved that each event through
// end that must have an entry (every event but those located by their
// generated ID in the ID index, which may have one; format-1 events and
// anchor versions in the stream index) has its own, and want counts them,
// so any further entry pointing at a position up to end, or beyond every
// position sequenced, is one. Entries beyond end but
// sequenced belong to appends whose sync is still in flight.
func (l *Ledger) checkDangling(ctx context.Context, index byte, end, want uint64) error {
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
	if count != want {
		// Some entry points at a position whose event has another key: find it.
		return l.findMisdirected(ctx, index, name, end, want)
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
		case e.Position == 0 || l.beyondLog(e.Position):
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
func (l *Ledger) findMisdirected(ctx context.Context, index byte, name string, end, want uint64) error {
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
			return &IndexError{Index: name, Reason: fmt.Sprintf("index has more entries than the %d the events through position %d have", want, end)}
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
