package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"
)

// Append appends events to one stream atomically if the stream matches expect.
// It returns once the events are durable (synced), sharing the sync with
// concurrent appenders (group commit). A retry with the same event IDs returns
// the original result without writing; a partial overlap is ErrDuplicateID.
// Appending no events is ErrInvalid.
// If a stored head of a stream in the append is damaged, or Open could not
// replay the records after the stored heads, it returns that *IndexError or
// *CorruptionError (errors.Is ErrCorrupt), or ErrIO, and writes nothing.
func (l *Ledger) Append(ctx context.Context, stream string, expect Expect, events ...NewEvent) (AppendResult, error) {
	return l.AppendMulti(ctx, StreamAppend{Stream: stream, Expect: expect, Events: events})
}

// prepared is an event encoded outside the sequencer: its record is complete
// but for position, version and chain hash, which the sequencer fills in place.
type prepared struct {
	stream  int // index into the request
	id      uuid.UUID
	random  bool // ID generated here: nobody can retry with it, so no lookup
	located bool // set by the sequencer: a generated ID naming its position, no index entry
	typ     string
	schema  uint16
	rec     []byte // record bytes without the hash; cap leaves room for it
	chain   []byte // room for the previous chain hash, then rec
	data    []byte // the payload inside rec
	off     int    // offset of rec in prepare's buffer
	pos     uint64 // set by the sequencer
	ver     uint64 // set by the sequencer
}

// appendReq is one AppendMulti on its way through the sequencer.
// The request's appends are passed beside it: held in it, they would escape
// with its result.
type appendReq struct {
	evs    []prepared
	seen   uint64 // l.assigned before the ID lookup
	stored bool   // an ID was found by the lookup

	res   AppendResult
	err   error
	retry bool // res is an earlier append's (idempotent retry)
}

// group is the Pebble batch of an append, applied and then synced.
type group struct {
	b   *pebble.Batch
	t   ticket
	err error
}

// AppendMulti appends to several streams in one atomic, durable batch: every
// expected version must hold, or nothing is written. Positions follow request
// order. Each stream may appear once.
//
// A StreamAppend without events is a condition only: its Expect is checked
// with the others and nothing is appended to its stream; its entry in
// AppendResult.Versions is the version it was checked at (a retry returns
// that version too, the stream's version just before the original append).
// An append whose streams all lack events is ErrInvalid: it would write
// nothing and have no position (StreamVersion reads a version).
func (l *Ledger) AppendMulti(ctx context.Context, appends ...StreamAppend) (AppendResult, error) {
	start := time.Now()
	res, err := l.appendMulti(ctx, appends, start)
	l.stats.appended(start, err)
	return res, err
}

func (l *Ledger) appendMulti(ctx context.Context, appends []StreamAppend, start time.Time) (res AppendResult, err error) {
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
	sc := scratches.Get().(*appendScratch)
	defer sc.put()
	evs, err := l.prepare(sc, appends, start)
	if err != nil {
		return res, err
	}

	// Look the IDs up before taking the sequencer lock; appends sequenced
	// meanwhile are checked against the in-memory recent-ID window.
	r := appendReq{evs: evs, seen: l.assigned.Load()}
	if r.stored, err = l.anyIDStored(evs); err != nil {
		return res, err
	}
	var g group
	l.seq.Lock()
	written := l.sequenceOne(&r, &g, sc, appends)
	l.seq.Unlock()
	if written && g.err == nil {
		// The lock is released: other appenders sequence their batches while
		// this one waits for the WAL sync they will share.
		if err := g.b.SyncWait(); err != nil {
			return AppendResult{}, l.fail(fmt.Errorf("wal sync: %w", err))
		}
		_ = g.b.Close()
		// A failure hidden from Pebble (failFS) makes later syncs report
		// success: it is recorded before Pebble returns from the sync.
		if err := l.failure(); err != nil {
			return AppendResult{}, err
		}
		l.publish(&g.t)
	}
	if written && g.err != nil {
		return AppendResult{}, g.err
	}
	if r.err != nil {
		return AppendResult{}, r.err
	}
	if r.retry {
		res, err := l.retried(ctx, &r, appends)
		if err == nil {
			l.stats.retries.Add(1)
		}
		return res, err
	}
	// Read-your-writes: readers see up to the watermark, which may trail this
	// batch by a goroutine hand-off; a retry waits until the original is
	// durable. Either way every read now sees them.
	if l.durable.Load() >= r.res.Last {
		return r.res, nil
	}
	if err := l.WaitDurable(context.WithoutCancel(ctx), r.res.Last); err != nil && !errors.Is(err, ErrClosed) {
		return AppendResult{}, err
	}
	return r.res, nil
}

// retried completes the result of a retry once the original append is
// durable: the versions its condition-only streams were checked at, which
// the stored events do not name.
func (l *Ledger) retried(ctx context.Context, r *appendReq, appends []StreamAppend) (AppendResult, error) {
	if err := l.WaitDurable(context.WithoutCancel(ctx), r.res.Last); err != nil {
		return AppendResult{}, err
	}
	for i, a := range appends {
		if len(a.Events) > 0 {
			continue
		}
		v, err := l.versionBefore(ctx, a.Stream, r.res.First)
		if err != nil {
			return AppendResult{}, err
		}
		r.res.Versions[i] = v
	}
	return r.res, nil
}

// sequenceOne runs under l.seq: it detects retries, checks expected versions
// (seeing every append sequenced before, synced or not), assigns positions,
// extends the hash chain and applies the batch without waiting for its sync.
// It reports whether it applied a batch to g (if not, r.err or r.retry say why).
func (l *Ledger) sequenceOne(r *appendReq, g *group, sc *appendScratch, appends []StreamAppend) bool {
	if err := l.failure(); err != nil {
		r.err = err
		return false
	}
	if r.stored || l.recentHit(r.evs, r.seen) {
		res, retry, err := l.findRetryGuarded(appends, r.evs)
		if err != nil || retry {
			r.res, r.retry, r.err = res, retry, err
			return false
		}
	}
	g.b = l.db.NewBatch()
	if err := l.sequence(g, r, sc, appends); err != nil {
		_ = g.b.Close()
		r.err = err
		return false
	}
	l.applyGroup(g, r, appends)
	return true
}

func (l *Ledger) findRetryGuarded(appends []StreamAppend, evs []prepared) (res AppendResult, retry bool, err error) {
	defer l.guard(&err, false)
	return l.findRetry(appends, evs)
}

// sequence checks one append's expected versions and adds its records to
// g's batch. Nothing in the ledger changes if it returns an error.
func (l *Ledger) sequence(g *group, r *appendReq, sc *appendScratch, appends []StreamAppend) (err error) {
	defer l.guard(&err, false)
	heads := sc.heads[:0]
	for _, a := range appends {
		h, err := l.headLocked(a.Stream)
		if err != nil {
			return err
		}
		if !a.Expect.check(h.ver) {
			return &ConflictError{Stream: a.Stream, Expected: a.Expect, Actual: h.ver}
		}
		heads = append(heads, h)
	}
	sc.heads = heads
	first := l.lastPos + 1
	hash, key := l.lastHash, l.key[:0]
	for i := range r.evs {
		e := &r.evs[i]
		e.pos = first + uint64(i)
		if e.random && e.pos <= maxLocated {
			e.id, e.located = locateID(e.id, e.pos, i == 0, i == len(r.evs)-1), true
			copy(e.rec[recordIDOffset:], e.id[:])
		}
		sh := &heads[e.stream]
		e.ver = sh.ver + 1
		putBE(e.rec[1:], e.pos)
		putBE(e.rec[9:], e.ver)
		putBE(e.rec[len(e.rec)-8:], sh.pos) // back-pointer to the stream's previous event
		sh.ver, sh.pos = e.ver, e.pos
		// prepare left room for the previous hash before the record and
		// for this one after it: the chain hash is one Sum256 in place.
		copy(e.chain, hash[:])
		hash = sha256.Sum256(e.chain[:chainRoom+len(e.rec)])
		rec := append(e.rec, hash[:]...)
		key = appendLogKey(key[:0], e.pos)
		_ = g.b.Set(key, rec, nil)
	}
	l.key = key
	l.lastPos, l.lastHash = first+uint64(len(r.evs))-1, hash
	l.setHeadsLocked(appends, heads)
	versions := make([]uint64, len(heads))
	for i, h := range heads {
		versions[i] = h.ver
	}
	for i := range r.evs {
		if !r.evs[i].random {
			l.recent.add(r.evs[i].pos, r.evs[i].id)
		}
		if !r.evs[i].located {
			l.maxID.raise(r.evs[i].id)
		}
	}
	r.res = AppendResult{First: first, Last: l.lastPos, Versions: versions}
	g.t = ticket{last: l.lastPos, hash: hash}
	return nil
}

// applyGroup adds the index entries of g's appends (and, when due, the
// stream heads) and applies the batch without waiting for its sync. Log
// records went in first and the index entries follow grouped by kind, so
// Pebble's memtable inserts mostly land next to the previous one.
func (l *Ledger) applyGroup(g *group, r *appendReq, appends []StreamAppend) {
	defer l.guard(&g.err, true)
	key := l.key[:0]
	var posVal [8]byte
	for i := range r.evs {
		e := &r.evs[i]
		if e.ver%anchorEvery == 0 {
			key = appendStreamKey(key[:0], appends[e.stream].Stream, e.ver)
			putBE(posVal[:], e.pos)
			_ = g.b.Set(key, posVal[:], nil)
		}
	}
	var idVal [24]byte
	putBE(idVal[8:], r.res.First)
	putBE(idVal[16:], r.res.Last)
	for i := range r.evs {
		e := &r.evs[i]
		if e.located {
			continue // found through the position its ID names
		}
		putBE(idVal[:], e.pos)
		key = append(key[:0], prefixID)
		key = append(key, e.id[:]...)
		_ = g.b.Set(key, idVal[:], nil)
	}
	l.key = key
	storeHeads, merged := l.headsDue(g.t.last), false
	if storeHeads {
		merged = l.storeHeadsLocked(g.b, g.t.last, false)
	}
	l.stats.sequenced(len(r.evs))
	if err := l.db.ApplyNoSyncWait(g.b, pebble.Sync); err != nil {
		g.err = l.fail(err)
		return
	}
	if storeHeads {
		l.headsStoredLocked(g.t.last, merged)
	}
	l.assigned.Store(g.t.last)
}

// prepare validates an append and builds its records. Events without a
// Time are stamped with start, the time the append began, unless the
// ledger has a clock of its own (Options.Clock).
func (l *Ledger) prepare(sc *appendScratch, appends []StreamAppend, start time.Time) ([]prepared, error) {
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
		n += len(a.Events)
	}
	if n == 0 {
		return nil, invalidf("no events to append (a stream without events is only a condition)")
	}
	if n > maxEventsAppend {
		return nil, invalidf("%d events in one append, over the %d limit", n, maxEventsAppend)
	}
	now := start.UnixNano() // read once for the latency statistic and the events' time
	if l.clock != nil {
		now = l.clock().UnixNano()
	}
	if cap(sc.evs) < n {
		sc.evs = make([]prepared, n)
	}
	evs := sc.evs[:n]
	clear(evs)
	var random []byte // random IDs, drawn in one read
	// All records of the append share one buffer; each has room for the
	// previous chain hash before it and for its own after it.
	size := 0
	for _, a := range appends {
		size += len(a.Events) * (chainRoom + recordFixedLen + 8 + len(a.Stream) + 96) // 96: type name and a small payload
	}
	w := &sc.w
	w.b = slices.Grow(w.b[:0], size)
	enc := sc.encoder()
	k := 0
	for i, a := range appends {
		for _, e := range a.Events {
			p := &evs[k]
			k++
			p.stream, p.id = i, e.ID
			if p.id == (uuid.UUID{}) {
				if len(random) == 0 {
					sc.random = slices.Grow(sc.random[:0], 16*(n-k+1))[:16*(n-k+1)]
					random = sc.random
					if err := sc.read(random); err != nil {
						return nil, err
					}
				}
				p.id = newV7(now, random[:16])
				random = random[16:]
				p.random = true
			}
			t := now
			if !e.Time.IsZero() {
				t = e.Time.UnixNano()
			}
			et := l.reg.forValue(e.Data)
			if et == nil {
				return nil, fmt.Errorf("stream %q: %w: Go type %T is not registered", a.Stream, ErrUnknownType, e.Data)
			}
			p.typ, p.schema = et.name, et.schema
			b := append(w.b, make([]byte, chainRoom)...)
			p.off = len(b)
			b = append(b, recordFormat)
			b = append(b, make([]byte, 16)...) // position, version: set by the sequencer
			b = append(b, p.id[:]...)
			b = binary.BigEndian.AppendUint64(b, uint64(t))
			b = binary.BigEndian.AppendUint16(b, p.schema)
			b = binary.BigEndian.AppendUint16(b, uint16(len(a.Stream)))
			b = append(b, a.Stream...)
			b = append(b, byte(len(p.typ)))
			b = append(b, p.typ...)
			b = append(b, 0, 0, 0, 0) // payload length
			w.b = b
			enc.Reset(w)
			if err := enc.Encode(e.Data); err != nil {
				return nil, fmt.Errorf("stream %q: %w", a.Stream, invalidf("encode %s: %v", p.typ, err))
			}
			d := len(w.b) - len(b)
			if d > maxPayloadLen {
				return nil, fmt.Errorf("stream %q: %w", a.Stream, invalidf("%s payload is %d bytes, over the %d limit", p.typ, d, maxPayloadLen))
			}
			binary.BigEndian.PutUint32(w.b[len(b)-4:], uint32(d))
			w.b = append(w.b, make([]byte, 8+sha256.Size)...) // back-pointer (set by the sequencer), room for the hash
		}
	}
	for i := range evs {
		end := len(w.b)
		if i+1 < len(evs) {
			end = evs[i+1].off - chainRoom
		}
		rec := w.b[evs[i].off:end:end]
		body := len(rec) - sha256.Size
		p := &evs[i]
		p.chain = w.b[p.off-chainRoom : p.off+body]
		p.rec = rec[:body]
		p.data = payloadOf(p.rec)
	}
	if err := sc.uniqueIDs(evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// chainRoom is the room prepare leaves before each record for the chain
// hash of the record before it.
const chainRoom = sha256.Size

// appendScratch is the memory an append works in until its batch is
// applied (Pebble copies the records into its batch): pooled, so an append
// allocates only what it returns.
type appendScratch struct {
	evs    []prepared
	w      appendWriter
	enc    *msgpack.Encoder
	random []byte
	heads  []streamHead
	ids    map[uuid.UUID]struct{}
	rng    *mrand.ChaCha8 // seeded from crypto/rand: cheaper than a read of it per append
}

// read fills b with random bytes.
func (sc *appendScratch) read(b []byte) error {
	if sc.rng == nil {
		var seed [32]byte
		if _, err := rand.Read(seed[:]); err != nil {
			return err
		}
		sc.rng = mrand.NewChaCha8(seed)
	}
	_, err := sc.rng.Read(b)
	return err
}

var scratches = sync.Pool{New: func() any { return new(appendScratch) }}

// maxScratch bounds the record buffer a pooled scratch keeps.
const maxScratch = 1 << 20

func (sc *appendScratch) encoder() *msgpack.Encoder {
	if sc.enc == nil {
		sc.enc = msgpack.NewEncoder(nil)
	}
	return sc.enc
}

func (sc *appendScratch) put() {
	if cap(sc.w.b) > maxScratch || cap(sc.evs) > maxEventsAppend/4 {
		return // a large append's memory is not kept
	}
	scratches.Put(sc) // it holds no caller's values: records are copies
}

// uniqueIDs reports a caller ID that appears twice in evs. Generated IDs
// are unique by construction.
func (sc *appendScratch) uniqueIDs(evs []prepared) error {
	if len(evs) <= 16 {
		for i := range evs {
			for j := range i {
				if !evs[i].random && evs[i].id == evs[j].id {
					return invalidf("event ID %s appears twice in one append", evs[i].id)
				}
			}
		}
		return nil
	}
	if sc.ids == nil {
		sc.ids = map[uuid.UUID]struct{}{}
	}
	defer clear(sc.ids)
	for i := range evs {
		if evs[i].random {
			continue
		}
		if _, ok := sc.ids[evs[i].id]; ok {
			return invalidf("event ID %s appears twice in one append", evs[i].id)
		}
		sc.ids[evs[i].id] = struct{}{}
	}
	return nil
}

// payloadOf returns the payload inside canonical (format 2) record bytes built by prepare.
func payloadOf(body []byte) []byte {
	n := int(binary.BigEndian.Uint16(body[43:]))
	m := int(body[45+n])
	d := int(binary.BigEndian.Uint32(body[46+n+m:]))
	return body[50+n+m : 50+n+m+d]
}

// appendWriter is an io.Writer (and io.ByteWriter, so msgpack writes to it
// directly) that appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

func checkStream(s string) error {
	if s == "" || len(s) > maxStreamLen || !validName([]byte(s)) {
		return invalidf("stream name %q must be 1..%d bytes of UTF-8 without NUL", s, maxStreamLen)
	}
	return nil
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
	var first, last uint64 // of the stored append; last is 0 until known
	for i, e := range evs {
		pos, f, la, ok, err := l.storedID(e.id)
		if err != nil {
			return res, false, err
		}
		if !ok {
			if found > 0 {
				return res, false, fmt.Errorf("%w: %s is stored but %s is not", ErrDuplicateID, evs[0].id, e.id)
			}
			continue
		}
		if found != i {
			return res, false, fmt.Errorf("%w: %s is stored but %s is not", ErrDuplicateID, e.id, evs[0].id)
		}
		if i == 0 {
			first = f
		}
		if f != first && f != 0 || pos != first+uint64(i) || la != 0 && last != 0 && la != last {
			return res, false, fmt.Errorf("%w: %s belongs to another append (at position %d)", ErrDuplicateID, e.id, pos)
		}
		if la != 0 {
			last = la
		}
		found++
	}
	if found == 0 {
		return res, false, nil
	}
	if first == 0 || last != first+uint64(found)-1 {
		return res, false, fmt.Errorf("%w: %s belongs to an append that is not these %d events", ErrDuplicateID, evs[0].id, found)
	}
	res = AppendResult{First: first, Last: last, Versions: make([]uint64, len(appends))}
	for i, e := range evs {
		rec, err := l.getRecord(first + uint64(i))
		if err != nil {
			return AppendResult{}, false, err
		}
		if err := l.sameEvent(&rec, appends[e.stream].Stream, &evs[i]); err != nil {
			return AppendResult{}, false, err
		}
		res.Versions[e.stream] = rec.version
	}
	return res, true, nil
}

// storedID finds a stored event ID: its position and what is known of its
// append's first and last positions (0 where unknown: a located ID knows
// them only where it is its append's first or last event).
func (l *Ledger) storedID(id uuid.UUID) (pos, first, last uint64, ok bool, err error) {
	v, closer, err := l.db.Get(idKey(id))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		pos, ok, err := l.locatedAt(id)
		if !ok || err != nil {
			return 0, 0, 0, false, err
		}
		_, f, la := idLocation(id)
		if f {
			first = pos
		}
		if la {
			last = pos
		}
		return pos, first, last, true, nil
	case err != nil:
		return 0, 0, 0, false, readErr(0, err)
	}
	defer closer.Close()
	if len(v) != 24 {
		return 0, 0, 0, false, &CorruptionError{Reason: fmt.Sprintf("event ID index for %s has %d bytes", id, len(v))}
	}
	return u64(v), u64(v[8:]), u64(v[16:]), true, nil
}

// sameEvent reports (as an *IDReusedError) how a retried event differs from
// the stored one with its ID: stream, type, schema or payload. Payload bytes
// are compared first; if they differ (msgpack does not order map keys), both
// are decoded and compared as values.
func (l *Ledger) sameEvent(rec *record, stream string, e *prepared) error {
	reused := func(what string) error {
		return &IDReusedError{ID: e.id, Position: rec.pos, Stream: rec.stream, Differs: what}
	}
	switch {
	case rec.stream != stream:
		return reused(fmt.Sprintf("stream %q, not %q", stream, rec.stream))
	case rec.typ != e.typ:
		return reused(fmt.Sprintf("type %q, not %q", e.typ, rec.typ))
	case rec.schema != e.schema:
		return reused(fmt.Sprintf("schema %d, not %d", e.schema, rec.schema))
	case bytes.Equal(rec.data, e.data):
		return nil
	}
	was, err1 := l.reg.Decode(rec.typ, rec.schema, rec.data)
	now, err2 := l.reg.Decode(e.typ, e.schema, e.data)
	if err1 != nil || err2 != nil || was == nil || !reflect.DeepEqual(was, now) {
		return reused("payload")
	}
	return nil
}

// getRecord reads and decodes the record at pos.
func (l *Ledger) getRecord(pos uint64) (record, error) {
	v, closer, err := l.db.Get(logKey(pos))
	if errors.Is(err, pebble.ErrNotFound) {
		return record{}, fmt.Errorf("%w: position %d", ErrNotFound, pos)
	}
	if err != nil {
		return record{}, readErr(pos, err)
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
//
// IDs above the largest one in the index (stored or sequenced) are skipped
// without a read: when a caller's IDs are all time-ordered (UUIDv7) that is
// nearly every new one; one random ID anywhere raises the bound near the top
// and ends it. Generated IDs, which name their position, have no entry and
// do not raise it: an ID of their shape is looked up at the position it
// names.
func (l *Ledger) anyIDStored(evs []prepared) (found bool, err error) {
	defer l.guard(&err, false)
	var keys [][]byte
	var buf []byte // every key in one allocation
	hi, lo := l.maxID.load()
	for i := range evs {
		if !evs[i].random && !idAbove(evs[i].id, hi, lo) {
			if buf == nil {
				buf = make([]byte, 0, 17*(len(evs)-i))
				keys = make([][]byte, 0, len(evs)-i)
			}
			start := len(buf)
			buf = append(buf, prefixID)
			buf = append(buf, evs[i].id[:]...)
			keys = append(keys, buf[start:len(buf):len(buf)])
		}
	}
	// A caller may append again an ID read back from the log that was
	// generated there: such an ID has no entry, the position it names does.
	for i := range evs {
		if evs[i].random {
			continue
		}
		if _, ok, err := l.locatedAt(evs[i].id); ok || err != nil {
			return ok, err
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
			return false, readErr(0, err)
		}
		return true, closer.Close()
	}
	slices.SortFunc(keys, bytes.Compare)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: keys[0], UpperBound: prefixEnd(keys[len(keys)-1])})
	if err != nil {
		return false, readErr(0, err)
	}
	for _, k := range keys {
		if it.SeekPrefixGE(k) && bytes.Equal(it.Key(), k) {
			found = true
			break
		}
	}
	return found, readErr(0, errors.Join(it.Error(), it.Close()))
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

// recentIDs holds the caller-supplied IDs of the most recently sequenced
// events: every such event at a position above floor is in ids. Generated IDs
// are left out: nobody can know one before its append is durable, and then
// the lookup before the lock finds it in Pebble.
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

// maxIDs is the largest event ID sequenced (stored or about to be), as two
// big-endian halves behind a sequence lock: written under l.seq, read without
// it by the lookup before the lock. Read after l.assigned, it covers every ID
// at a position up to that.
type maxIDs struct {
	seq    atomic.Uint64 // odd while a write is in progress
	hi, lo atomic.Uint64
}

func (m *maxIDs) raise(id uuid.UUID) {
	if !idAbove(id, m.hi.Load(), m.lo.Load()) {
		return
	}
	m.seq.Add(1)
	m.hi.Store(binary.BigEndian.Uint64(id[:8]))
	m.lo.Store(binary.BigEndian.Uint64(id[8:]))
	m.seq.Add(1)
}

func (m *maxIDs) load() (hi, lo uint64) {
	for {
		s := m.seq.Load()
		hi, lo = m.hi.Load(), m.lo.Load()
		if s&1 == 0 && m.seq.Load() == s {
			return hi, lo
		}
	}
}

// idAbove reports whether id sorts after the ID with halves hi, lo.
func idAbove(id uuid.UUID, hi, lo uint64) bool {
	h := binary.BigEndian.Uint64(id[:8])
	return h > hi || h == hi && binary.BigEndian.Uint64(id[8:]) > lo
}
