package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// Append appends events to one stream atomically if the stream matches expect.
// It returns once the events are durable (synced), sharing the sync with
// concurrent appenders (group commit). A retry with the same event IDs returns
// the original result without writing; a partial overlap is ErrDuplicateID.
func (l *Ledger) Append(ctx context.Context, stream string, expect Expect, events ...NewEvent) (AppendResult, error) {
	return l.AppendMulti(ctx, StreamAppend{Stream: stream, Expect: expect, Events: events})
}

// prepared is an event encoded outside the sequencer lock.
type prepared struct {
	stream int // index into the request
	id     uuid.UUID
	random bool // ID generated here: it cannot be stored yet
	time   int64
	typ    string
	schema uint16
	data   []byte
}

// AppendMulti appends to several streams in one atomic, durable batch: every
// expected version must hold, or nothing is written. Positions follow request
// order. Each stream may appear once.
func (l *Ledger) AppendMulti(ctx context.Context, appends ...StreamAppend) (res AppendResult, err error) {
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := l.enter(); err != nil {
		return res, err
	}
	defer l.gate.RUnlock()
	if err := l.writable(); err != nil {
		return res, err
	}
	evs, err := l.prepare(appends)
	if err != nil {
		return res, err
	}

	// Look the IDs up before taking the sequencer lock; appends sequenced
	// meanwhile are checked against the in-memory recent-ID window.
	seen := l.assigned.Load()
	stored, err := l.anyIDStored(evs)
	if err != nil {
		return res, err
	}
	l.seq.Lock()
	res, b, t, err := l.sequence(appends, evs, seen, stored)
	l.seq.Unlock()
	if err != nil || b == nil {
		if err == nil { // an idempotent retry: wait until the original is durable
			err = l.WaitDurable(context.WithoutCancel(ctx), res.Last)
		}
		if err != nil {
			return AppendResult{}, err
		}
		return res, nil
	}
	// The lock is released: other appenders sequence their batches while this
	// one waits for the WAL sync they will share.
	if err := b.SyncWait(); err != nil {
		return AppendResult{}, l.fail(fmt.Errorf("wal sync: %w", err))
	}
	_ = b.Close()
	l.publish(t)
	// Read-your-writes: readers see up to the watermark, which may trail this
	// batch by a goroutine hand-off. The events are durable either way.
	if err := l.WaitDurable(context.WithoutCancel(ctx), res.Last); err != nil && !errors.Is(err, ErrClosed) {
		return AppendResult{}, err
	}
	return res, nil
}

func (l *Ledger) prepare(appends []StreamAppend) ([]prepared, error) {
	if len(appends) == 0 {
		return nil, invalidf("no streams to append to")
	}
	n := 0
	for i, a := range appends {
		if err := checkStream(a.Stream); err != nil {
			return nil, err
		}
		for _, b := range appends[:i] {
			if b.Stream == a.Stream {
				return nil, invalidf("stream %q appears twice in one append", a.Stream)
			}
		}
		if a.Expect < ExpectExists {
			return nil, invalidf("stream %q: %v", a.Stream, a.Expect)
		}
		if len(a.Events) == 0 {
			return nil, invalidf("stream %q: no events", a.Stream)
		}
		n += len(a.Events)
	}
	if n > maxEventsAppend {
		return nil, invalidf("%d events in one append, over the %d limit", n, maxEventsAppend)
	}
	now := l.clock().UnixNano()
	evs := make([]prepared, 0, n)
	var ids map[uuid.UUID]bool
	if n > 1 {
		ids = make(map[uuid.UUID]bool, n)
	}
	for i, a := range appends {
		for _, e := range a.Events {
			p := prepared{stream: i, id: e.ID, time: now}
			if p.id == (uuid.UUID{}) {
				id, err := uuid.NewRandom()
				if err != nil {
					return nil, err
				}
				p.id, p.random = id, true
			}
			if ids != nil {
				if ids[p.id] {
					return nil, invalidf("event ID %s appears twice in one append", p.id)
				}
				ids[p.id] = true
			}
			if !e.Time.IsZero() {
				p.time = e.Time.UnixNano()
			}
			var err error
			if p.typ, p.schema, p.data, err = l.reg.encode(e.Data); err != nil {
				return nil, fmt.Errorf("stream %q: %w", a.Stream, err)
			}
			evs = append(evs, p)
		}
	}
	return evs, nil
}

func checkStream(s string) error {
	if s == "" || len(s) > maxStreamLen || !validName([]byte(s)) {
		return invalidf("stream name %q must be 1..%d bytes of UTF-8 without NUL", s, maxStreamLen)
	}
	return nil
}

// sequence runs under l.seq: it detects retries, checks expected versions
// (seeing applied-but-unsynced appends, which Pebble makes visible at once),
// assigns positions, extends the hash chain and applies the batch without
// waiting for its sync. A nil batch with a nil error is an idempotent retry.
func (l *Ledger) sequence(appends []StreamAppend, evs []prepared, seen uint64, stored bool) (res AppendResult, b *pebble.Batch, t *ticket, err error) {
	defer l.guard(&err, true)
	if err := l.failure(); err != nil {
		return res, nil, nil, err
	}
	if stored || l.recentHit(evs, seen) {
		if res, retry, err := l.findRetry(appends, evs); err != nil || retry {
			return res, nil, nil, err
		}
	}
	versions := make([]uint64, len(appends))
	for i, a := range appends {
		v, err := l.headLocked(a.Stream)
		if err != nil {
			return res, nil, nil, err
		}
		if !a.Expect.check(v) {
			return res, nil, nil, &ConflictError{Stream: a.Stream, Expected: a.Expect, Actual: v}
		}
		versions[i] = v
	}
	first := l.lastPos + 1
	last := l.lastPos + uint64(len(evs))
	b = l.db.NewBatch()
	hash := l.lastHash
	buf, key, h := l.buf[:0], l.key[:0], l.hasher
	var idVal [24]byte
	var posVal [8]byte
	putBE(idVal[8:], first)
	putBE(idVal[16:], last)
	for i := range evs {
		e := &evs[i]
		pos := first + uint64(i)
		versions[e.stream]++
		r := record{pos: pos, version: versions[e.stream], id: e.id, time: e.time,
			schema: e.schema, stream: appends[e.stream].Stream, typ: e.typ, data: e.data}
		buf = appendRecordBody(buf[:0], &r)
		h.Reset()
		h.Write(hash[:])
		h.Write(buf)
		h.Sum(hash[:0])
		buf = append(buf, hash[:]...)
		key = appendLogKey(key[:0], pos)
		_ = b.Set(key, buf, nil)
		key = appendStreamKey(key[:0], r.stream, r.version)
		putBE(posVal[:], pos)
		_ = b.Set(key, posVal[:], nil)
		putBE(idVal[:], pos)
		key = append(key[:0], prefixID)
		key = append(key, e.id[:]...)
		_ = b.Set(key, idVal[:], nil)
	}
	l.buf, l.key = buf, key
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return res, nil, nil, l.fail(err)
	}
	l.lastPos, l.lastHash = last, hash
	l.assigned.Store(last)
	if len(l.heads) > maxCachedHeads {
		clear(l.heads)
	}
	for i, a := range appends {
		l.heads[a.Stream] = versions[i]
	}
	for i := range evs {
		l.recent.add(first+uint64(i), evs[i].id)
	}
	t = &ticket{last: last, hash: hash}
	return AppendResult{First: first, Last: last, Versions: versions}, b, t, nil
}

func putBE(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32)
	b[4], b[5], b[6], b[7] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// findRetry reports whether every event ID is already stored as exactly this
// append, and if so rebuilds the original result.
func (l *Ledger) findRetry(appends []StreamAppend, evs []prepared) (AppendResult, bool, error) {
	var res AppendResult
	found := 0
	var first, last uint64
	for i, e := range evs {
		v, closer, err := l.db.Get(idKey(e.id))
		if errors.Is(err, pebble.ErrNotFound) {
			if found > 0 {
				return res, false, fmt.Errorf("%w: %s is stored but %s is not", ErrDuplicateID, evs[0].id, e.id)
			}
			continue
		}
		if err != nil {
			return res, false, err
		}
		if len(v) != 24 {
			_ = closer.Close()
			return res, false, &CorruptionError{Reason: fmt.Sprintf("event ID index for %s has %d bytes", e.id, len(v))}
		}
		pos, f, la := u64(v), u64(v[8:]), u64(v[16:])
		_ = closer.Close()
		if found != i {
			return res, false, fmt.Errorf("%w: %s is stored but %s is not", ErrDuplicateID, e.id, evs[0].id)
		}
		if i == 0 {
			first, last = f, la
		}
		if f != first || la != last || pos != first+uint64(i) {
			return res, false, fmt.Errorf("%w: %s belongs to the append at positions %d..%d", ErrDuplicateID, e.id, f, la)
		}
		found++
	}
	if found == 0 {
		return res, false, nil
	}
	if uint64(found) != last-first+1 {
		return res, false, fmt.Errorf("%w: %s belongs to an append of %d events, not %d", ErrDuplicateID, evs[0].id, last-first+1, found)
	}
	res = AppendResult{First: first, Last: last, Versions: make([]uint64, len(appends))}
	for i, e := range evs {
		rec, err := l.getRecord(first + uint64(i))
		if err != nil {
			return AppendResult{}, false, err
		}
		if rec.stream != appends[e.stream].Stream || rec.typ != e.typ {
			return AppendResult{}, false, fmt.Errorf("%w: %s was appended to stream %q as %q", ErrDuplicateID, e.id, rec.stream, rec.typ)
		}
		res.Versions[e.stream] = rec.version
	}
	return res, true, nil
}

// headLocked returns a stream's version, including applied-but-unsynced appends.
func (l *Ledger) headLocked(stream string) (uint64, error) {
	if v, ok := l.heads[stream]; ok {
		return v, nil
	}
	v, _, err := l.streamHead(stream)
	if err != nil {
		return 0, err
	}
	l.heads[stream] = v
	return v, nil
}

// streamHead reads a stream's last version and its position from the index.
func (l *Ledger) streamHead(stream string) (version, pos uint64, err error) {
	p := streamPrefix(stream)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	if it.Last() {
		k, v := it.Key(), it.Value()
		if len(k) != len(p)+8 || len(v) != 8 {
			return 0, 0, &CorruptionError{Reason: fmt.Sprintf("stream index entry for %q is malformed", stream)}
		}
		version, pos = u64(k[len(p):]), u64(v)
	}
	return version, pos, it.Error()
}

// getRecord reads and decodes the record at pos.
func (l *Ledger) getRecord(pos uint64) (record, error) {
	v, closer, err := l.db.Get(logKey(pos))
	if errors.Is(err, pebble.ErrNotFound) {
		return record{}, fmt.Errorf("%w: position %d", ErrNotFound, pos)
	}
	if err != nil {
		return record{}, err
	}
	defer closer.Close()
	rec, err := decodeRecord(v)
	if err != nil {
		return rec, &CorruptionError{Position: pos, Reason: err.Error()}
	}
	if rec.pos != pos {
		return rec, &CorruptionError{Position: pos, Reason: fmt.Sprintf("record claims position %d", rec.pos)}
	}
	return rec, nil
}

// anyIDStored reports whether any event ID is already in the index, using one
// iterator over the sorted IDs.
func (l *Ledger) anyIDStored(evs []prepared) (found bool, err error) {
	defer l.guard(&err, false)
	keys := make([][]byte, 0, len(evs))
	for i := range evs {
		if !evs[i].random {
			keys = append(keys, idKey(evs[i].id))
		}
	}
	switch len(keys) {
	case 0:
		return false, nil
	case 1:
		_, closer, err := l.db.Get(keys[0])
		if errors.Is(err, pebble.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return true, closer.Close()
	}
	slices.SortFunc(keys, bytes.Compare)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: keys[0], UpperBound: prefixEnd(keys[len(keys)-1])})
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if it.SeekPrefixGE(k) && bytes.Equal(it.Key(), k) {
			found = true
			break
		}
	}
	return found, errors.Join(it.Error(), it.Close())
}

// recentHit reports whether an ID may have been sequenced after position seen
// (so the lookup before the lock could not see it): true if an ID is in the
// recent window, or the window no longer reaches back to seen.
func (l *Ledger) recentHit(evs []prepared, seen uint64) bool {
	if seen < l.recent.floor {
		for i := range evs {
			if !evs[i].random {
				return true
			}
		}
	}
	for i := range evs {
		if _, ok := l.recent.ids[evs[i].id]; ok && !evs[i].random {
			return true
		}
	}
	return false
}

// recentIDs holds the IDs of the most recently sequenced events: every event
// at a position above floor is in ids.
type recentIDs struct {
	ids   map[uuid.UUID]uint64
	ring  []recentEntry
	head  int // index of the oldest entry when the ring is full
	floor uint64
}

type recentEntry struct {
	pos uint64
	id  uuid.UUID
}

const recentWindow = 1 << 14

func (r *recentIDs) add(pos uint64, id uuid.UUID) {
	if r.ids == nil {
		r.ids = make(map[uuid.UUID]uint64, recentWindow)
		r.floor = pos - 1
	}
	if len(r.ring) < recentWindow {
		r.ring = append(r.ring, recentEntry{pos, id})
	} else {
		old := r.ring[r.head]
		if r.ids[old.id] == old.pos {
			delete(r.ids, old.id)
		}
		r.floor = old.pos
		r.ring[r.head] = recentEntry{pos, id}
		r.head = (r.head + 1) % recentWindow
	}
	r.ids[id] = pos
}
