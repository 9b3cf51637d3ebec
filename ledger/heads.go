package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Stream heads. A stream's head is its last version and that event's
// position. Appends need it for the expected-version check and the new
// record's back-pointer; reads start walking there. Heads are kept in memory
// and stored, in the batch of the first append that ends headsEvery or more
// positions after the last store, in one of two ways:
//
//   - a snapshot: one 'H' key named by the position it is complete through,
//     holding every head that differs from its 'h' entry, and the position
//     the 'h' entries are complete through. Snapshot keys only grow, like log
//     keys, so the heads add no key that overlaps an earlier flush's (doc.go,
//     "Keyspace");
//   - a merge: those heads are written to their 'h' entries, the position to
//     headsKey, and every snapshot is deleted. It is taken when the snapshot
//     would be larger than snapMax, when the snapshots since the last merge
//     would pass snapBudget, and at Close.
//
// So an event costs two keys (record and ID index), not three. A head that
// differs from its 'h' entry (dirty) stays in memory until a merge. Open
// reads the 'h' position, the latest snapshot (a head in it is checked to
// name its stream's event when first used, as one read from its entry is)
// and the records after it, fewer than headsEvery, to rebuild the heads not
// yet stored.

// headsEvery: the append whose batch reaches headsEvery positions past the
// last write of the heads carries them, so Open replays fewer than headsEvery
// records.
const headsEvery = 2048

// A snapshot holds every dirty head, so it grows until a merge. These bound
// the memory Open reads into (pinned until the next merge) and the bytes of
// snapshots that only the next merge deletes.
const (
	maxSnapshot  = 64 << 10
	maxSnapBytes = 4 << 20
)

// streamHead is a stream's version and the position of its last event.
type streamHead struct{ ver, pos uint64 }

// headEntry is a cached head; dirty if it differs from its 'h' entry (then
// it must stay in memory until the next merge writes it); unchecked if Open
// read it from a snapshot and it is not yet checked to name its stream's
// event (checked on first use, as a head read from its entry is).
type headEntry struct {
	streamHead
	dirty, unchecked bool
}

// maxCachedHeads: when the cache reaches it, clean heads (already stored)
// are dropped; dirty ones stay.
const maxCachedHeads = 1 << 16

// headLocked returns a stream's head, including appends sequenced but not yet
// synced. Under l.seq (the only writer of l.heads, so it reads without hmu).
func (l *Ledger) headLocked(stream string) (streamHead, error) {
	if e, ok := l.heads[stream]; ok {
		if e.unchecked {
			if err := l.headAtEvent(stream, e.streamHead); err != nil {
				return e.streamHead, err
			}
			e.unchecked = false
			l.hmu.Lock()
			l.heads[stream] = e
			l.hmu.Unlock()
		}
		return e.streamHead, nil
	}
	if l.headsErr != nil {
		return streamHead{}, l.headsErr
	}
	h, err := l.storedHead(stream)
	if err != nil {
		return h, err
	}
	if err := l.checkHead(stream, h); err != nil {
		return h, err
	}
	l.hmu.Lock()
	if len(l.heads) >= maxCachedHeads {
		for s, e := range l.heads {
			if !e.dirty {
				delete(l.heads, s)
			}
		}
	}
	l.heads[stream] = headEntry{streamHead: h}
	l.hmu.Unlock()
	return h, nil
}

// checkHead checks that a stored head points at its stream's event, so a
// damaged entry is reported instead of chaining a new event to the wrong one.
func (l *Ledger) checkHead(stream string, h streamHead) error {
	if h.ver == 0 {
		return nil
	}
	if h.pos > l.lastPos {
		return &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver, Reason: "entry points past the log"}
	}
	return l.headAtEvent(stream, h)
}

// headAtEvent reads the record a head names and reports an *IndexError if it
// is not the stream's event at that version.
func (l *Ledger) headAtEvent(stream string, h streamHead) error {
	r, err := l.getRecord(h.pos)
	if err != nil {
		return err
	}
	if r.stream != stream || r.version != h.ver {
		return &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver,
			Reason: fmt.Sprintf("entry points at position %d, which holds %q version %d", h.pos, r.stream, r.version)}
	}
	return nil
}

// setHeadsLocked records the heads an append moved. Under l.seq.
func (l *Ledger) setHeadsLocked(streams []StreamAppend, heads []streamHead) {
	l.hmu.Lock()
	for i, a := range streams {
		if len(a.Events) == 0 {
			continue // a condition only: its head did not move
		}
		if e, ok := l.heads[a.Stream]; !ok || !e.dirty {
			l.dirty = append(l.dirty, a.Stream)
		}
		l.heads[a.Stream] = headEntry{streamHead: heads[i], dirty: true}
	}
	l.hmu.Unlock()
}

// headsDue reports whether the batch ending at last should carry the heads.
func (l *Ledger) headsDue(last uint64) bool { return last-l.headsThrough >= l.headsEvery }

// storeHeadsLocked adds the heads, complete through position through, to b:
// a snapshot unless merge is set or a snapshot is too large, else a merge.
// It reports whether it merged. Under l.seq.
func (l *Ledger) storeHeadsLocked(b *pebble.Batch, through uint64, merge bool) (merged bool) {
	if !merge {
		if snap, ok := l.encodeSnapshot(); ok && l.snapBytes+snapKeyLen+len(snap) <= l.snapBudget {
			l.key = appendSnapKey(l.key[:0], through)
			_ = b.Set(l.key, snap, nil)
			return false
		}
	}
	key := l.key[:0]
	var v [16]byte
	for _, s := range l.dirty {
		h := l.heads[s]
		putBE(v[:], h.ver)
		putBE(v[8:], h.pos)
		key = append(append(key[:0], prefixHead), s...)
		_ = b.Set(key, v[:], nil)
	}
	putBE(v[:], through)
	_ = b.Set(headsKey, v[:8], nil)
	if l.snapBytes > 0 {
		_ = b.DeleteRange([]byte{prefixHeadsSnap}, []byte{prefixHeadsSnap + 1}, nil)
	}
	l.key = key
	return true
}

// encodeSnapshot encodes the dirty heads into l.snap: the position the 'h'
// entries are complete through (8), then per head the stream's length
// (uvarint), the stream, version and position (2×8). ok is false if it
// would be longer than l.snapMax.
func (l *Ledger) encodeSnapshot() (snap []byte, ok bool) {
	snap = binary.BigEndian.AppendUint64(l.snap[:0], l.mergedThrough)
	for _, s := range l.dirty {
		if len(snap) > l.snapMax {
			break
		}
		h := l.heads[s]
		snap = binary.AppendUvarint(snap, uint64(len(s)))
		snap = append(snap, s...)
		snap = binary.BigEndian.AppendUint64(snap, h.ver)
		snap = binary.BigEndian.AppendUint64(snap, h.pos)
	}
	l.snap = snap
	return snap, len(snap) <= l.snapMax
}

// decodeSnapshot calls f for each head in a snapshot and returns the
// position the 'h' entries were complete through when it was written.
func decodeSnapshot(v []byte, f func(stream string, h streamHead) error) (merged uint64, err error) {
	if len(v) < 8 {
		return 0, errors.New("shorter than its 8-byte position")
	}
	merged, v = u64(v), v[8:]
	for len(v) > 0 {
		n, w := binary.Uvarint(v)
		if w <= 0 || n == 0 || n > uint64(len(v)-w) || uint64(len(v)-w)-n < 16 {
			return 0, fmt.Errorf("head entry truncated or with a bad length %d", n)
		}
		s := v[w : w+int(n)]
		v = v[w+int(n):]
		h := streamHead{ver: u64(v), pos: u64(v[8:])}
		v = v[16:]
		if h.ver == 0 || h.pos == 0 {
			return 0, fmt.Errorf("head of %q has version %d at position %d", s, h.ver, h.pos)
		}
		if err := f(string(s), h); err != nil {
			return 0, err
		}
	}
	return merged, nil
}

// headsStoredLocked records that the batch carrying the heads is applied
// (Pebble now serves a merge's entries to a reader that misses the cache).
func (l *Ledger) headsStoredLocked(through uint64, merged bool) {
	l.headsThrough = through
	if !merged {
		l.snapBytes += snapKeyLen + len(l.snap) // l.snap is the snapshot in the batch
		return
	}
	l.hmu.Lock()
	for _, s := range l.dirty {
		e := l.heads[s]
		e.dirty = false
		l.heads[s] = e
	}
	l.hmu.Unlock()
	clear(l.dirty)
	l.dirty = l.dirty[:0]
	l.mergedThrough, l.snapBytes = through, 0
}

// writeHeadsOnClose merges the heads not yet in 'h' entries, so the next
// Open reads no snapshot and replays nothing. Every append has returned
// (Close holds the gate), so the whole log is durable. A failure fails the
// ledger (Close returns ErrFailed) but loses nothing: the next Open reads
// the latest snapshot and replays the tail.
func (l *Ledger) writeHeadsOnClose() (err error) {
	if l.readOnly || l.failure() != nil || l.headsErr != nil || len(l.dirty) == 0 {
		return nil
	}
	defer l.guard(&err, true)
	l.seq.Lock()
	defer l.seq.Unlock()
	b := l.db.NewBatch()
	defer b.Close()
	l.storeHeadsLocked(b, l.lastPos, true)
	if err := b.Commit(pebble.Sync); err != nil {
		return l.fail(fmt.Errorf("write heads: %w", err))
	}
	if err := l.failure(); err != nil {
		return err
	}
	l.headsStoredLocked(l.lastPos, true)
	return nil
}

// headOf returns a stream's head for a reader: the cached one (maybe not yet
// durable: the caller waits for it), else the stored one (stored is true),
// checked here only to lie inside the log. A head Open read from a snapshot
// and not yet checked also counts as stored.
func (l *Ledger) headOf(stream string) (h streamHead, stored bool, err error) {
	l.hmu.RLock()
	e, ok := l.heads[stream]
	l.hmu.RUnlock()
	if ok {
		return e.streamHead, e.unchecked, nil
	}
	if l.headsErr != nil {
		return streamHead{}, false, l.headsErr
	}
	h, err = l.storedHead(stream)
	if err == nil && h.ver > 0 && (h.pos == 0 || l.beyondLog(h.pos)) {
		// Waiting for it to become durable would wait forever.
		err = &IndexError{Index: "head", Position: h.pos, Stream: stream, Version: h.ver, Reason: "entry points past the log"}
	}
	return h, true, err
}

// storedHead reads a stream's head from its 'h' entry or, for a stream with
// only format-1 events (no 'h' entry), from the last stream-index entry.
func (l *Ledger) storedHead(stream string) (h streamHead, err error) {
	v, closer, err := l.db.Get(headKey(stream))
	switch {
	case err == nil:
		ok := len(v) == 16
		if ok {
			h = streamHead{ver: u64(v), pos: u64(v[8:])}
		}
		_ = closer.Close()
		if !ok || (h.ver == 0) != (h.pos == 0) {
			return streamHead{}, &IndexError{Index: "head", Stream: stream, Reason: "malformed entry"}
		}
		return h, nil
	case !errors.Is(err, pebble.ErrNotFound):
		return h, readErr(0, err)
	case l.v1End == 0:
		return h, nil
	}
	return l.lastIndexed(stream)
}

// lastIndexed reads a stream's last stream-index entry (format-1 streams).
func (l *Ledger) lastIndexed(stream string) (h streamHead, err error) {
	p := streamPrefix(stream)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return h, readErr(0, err)
	}
	defer it.Close()
	if it.Last() {
		k, v := it.Key(), it.Value()
		if len(k) != len(p)+8 || len(v) != 8 {
			return h, &IndexError{Index: "stream", Stream: stream, Reason: "malformed entry"}
		}
		h = streamHead{ver: u64(k[len(p):]), pos: u64(v)}
	}
	return h, readErr(0, it.Error())
}

// loadHeads reads the heads position and the latest snapshot, and replays
// the records after them into the cache as dirty heads. A record it cannot
// read does not fail Open (Verify must still be able to name it): every head
// lookup returns the error instead, so nothing is appended on top of heads
// that may be wrong.
func (l *Ledger) loadHeads() error {
	v, closer, err := l.db.Get(headsKey)
	switch {
	case err == nil:
		ok := len(v) == 8
		if ok {
			l.headsThrough = u64(v)
		}
		_ = closer.Close()
		if !ok || l.headsThrough > l.lastPos {
			l.headsErr = &CorruptionError{Reason: fmt.Sprintf("heads checkpoint %x is malformed or beyond the log end %d", v, l.lastPos)}
			return nil
		}
	case errors.Is(err, pebble.ErrNotFound):
	default:
		return readErr(0, err)
	}
	l.mergedThrough = l.headsThrough
	if err := l.loadSnapshot(); err != nil || l.headsErr != nil {
		return err
	}
	if l.lastPos == l.headsThrough {
		return nil
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: logKey(l.headsThrough + 1), UpperBound: logKey(l.lastPos + 1)})
	if err != nil {
		return readErr(l.headsThrough+1, err)
	}
	want := l.headsThrough + 1
	for ok := it.First(); ok; ok = it.Next() {
		r, err := parseRecord(it.Value())
		if err == nil && r.pos != want {
			err = fmt.Errorf("record claims position %d, stored at %d", r.pos, want)
		}
		if err != nil {
			l.headsErr = &CorruptionError{Position: want, Reason: "heads replay: " + err.Error()}
			break
		}
		s := string(r.stream)
		if e, ok := l.heads[s]; !ok || !e.dirty {
			l.dirty = append(l.dirty, s)
		}
		l.heads[s] = headEntry{streamHead: streamHead{ver: r.version, pos: r.pos}, dirty: true}
		want++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil && l.headsErr == nil {
		l.headsErr = readErr(want, err)
	}
	if l.headsErr == nil && want != l.lastPos+1 {
		l.headsErr = &CorruptionError{Position: want, Reason: "heads replay: record missing"}
	}
	if l.headsErr != nil {
		// What was replayed may be older than what was not.
		clear(l.heads)
		l.dirty = nil
	}
	return nil
}

// loadSnapshot reads the latest heads snapshot, if there is one, into the
// cache as dirty heads.
func (l *Ledger) loadSnapshot() error {
	return lastSnapshot(l.db, func(k, v []byte) error {
		if len(k) != snapKeyLen {
			l.headsErr = &CorruptionError{Reason: fmt.Sprintf("heads snapshot key %x is malformed", k)}
			return nil
		}
		at := u64(k[1:])
		merged, err := decodeSnapshot(v, func(s string, h streamHead) error {
			if _, ok := l.heads[s]; ok {
				return fmt.Errorf("names %q twice", s)
			}
			if h.pos > at || h.pos <= l.mergedThrough {
				return fmt.Errorf("head of %q at position %d, outside (%d, %d]", s, h.pos, l.mergedThrough, at)
			}
			l.heads[s] = headEntry{streamHead: h, dirty: true, unchecked: true}
			l.dirty = append(l.dirty, s)
			return nil
		})
		switch {
		case err != nil:
		case at <= l.mergedThrough || at > l.lastPos:
			err = fmt.Errorf("position outside (%d, %d]", l.mergedThrough, l.lastPos)
		case merged != l.mergedThrough:
			err = fmt.Errorf("extends heads stored through %d, not %d", merged, l.mergedThrough)
		}
		if err != nil {
			clear(l.heads)
			l.dirty = nil
			l.headsErr = &CorruptionError{Position: at, Reason: "heads snapshot: " + err.Error()}
			return nil
		}
		l.headsThrough = at
		// At most one snapshot per headsEvery positions since the merge, none
		// larger than the latest.
		l.snapBytes = int((at-merged)/l.headsEvery+1) * (len(k) + len(v))
		return nil
	})
}

// lastSnapshot calls f with the key and value of the latest heads snapshot
// in r, if there is one (valid only while f runs).
func lastSnapshot(r pebble.Reader, f func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixHeadsSnap}, UpperBound: []byte{prefixHeadsSnap + 1}})
	if err != nil {
		return readErr(0, err)
	}
	defer it.Close()
	if !it.Last() {
		return readErr(0, it.Error())
	}
	return f(it.Key(), it.Value())
}

// versionBefore returns a stream's version just before position pos: the
// number of its events at lower positions. It bisects the stream's anchor
// versions (stream-index entries, every anchorEvery-th version) for the last
// one before pos and walks back from the next anchor, or the head: at most
// log2(version/anchorEvery) index reads and anchorEvery record reads. Called
// inside an operation (l.enter), not under l.seq.
func (l *Ledger) versionBefore(ctx context.Context, stream string, pos uint64) (v uint64, err error) {
	defer l.guard(&err, false)
	h, stored, err := l.headOf(stream)
	if err == nil && stored && h.ver > 0 && h.pos < pos {
		err = l.headAtEvent(stream, h) // not walked to: checked as StreamVersion does
	}
	if err != nil || h.pos < pos {
		return h.ver, err
	}
	if err := l.WaitDurable(ctx, h.pos); err != nil {
		return 0, err
	}
	// Anchor lo is before pos (0 stands for no event), anchor hi is not.
	lo, hi := uint64(0), h.ver/anchorEvery+1
	ver, at, via := h.ver, h.pos, "head"
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		p, err := l.indexed(stream, mid*anchorEvery)
		if err != nil {
			return 0, err
		}
		if p < pos {
			lo = mid
		} else {
			hi, ver, at, via = mid, mid*anchorEvery, p, "stream"
		}
	}
	for next := uint64(0); at >= pos; ver-- {
		r, err := l.getRecord(at)
		if err == nil && (r.stream != stream || r.version != ver) {
			err = fmt.Errorf("%w: position %d holds %q version %d", errWrongEvent, at, r.stream, r.version)
		}
		if errors.Is(err, ErrNotFound) || errors.Is(err, errWrongEvent) {
			if via == "" {
				return 0, &CorruptionError{Position: next, Reason: fmt.Sprintf("back-pointer to version %d: %v", ver, err)}
			}
			return 0, &IndexError{Index: via, Position: at, Stream: stream, Version: ver, Reason: err.Error()}
		}
		if err != nil {
			return 0, err
		}
		if ver == 1 {
			return 0, nil
		}
		next, via = at, ""
		if r.format == recordFormat {
			at = r.prev
		} else if at, err = l.indexed(stream, ver-1); err != nil {
			return 0, err
		} else {
			via = "stream"
		}
	}
	return ver, nil
}
