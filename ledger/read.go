package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// readChunk is how many events ReadAll, Follow and Subscribe read per Pebble
// iterator (stream reads are chunked by anchorEvery instead). Between
// chunks no Pebble iterator is open and no lock is held, so a loop body may
// call any method (even Close) and long reads pin no memtables. Events are
// yielded from the chunk's records and payloads as read, in memory reused
// from chunk to chunk (Event.Raw is valid until the loop body returns); only
// Data is allocated per event, and the names in Stream and Type once per run
// of events that share them.
const readChunk = 1024

func (l *Ledger) toEvent(r record) (Event, error) {
	e := Event{
		Position: r.pos, Stream: r.stream, Version: r.version, ID: r.id,
		Type: r.typ, Schema: r.schema, Time: time.Unix(0, r.time).UTC(), Raw: r.data,
	}
	d, err := l.reg.Decode(r.typ, r.schema, r.data)
	if err != nil {
		return Event{}, fmt.Errorf("position %d: %w", r.pos, err)
	}
	e.Data = d
	return e, nil
}

// EventAt returns the event at a global position. A position that is appended
// but not yet synced waits for its sync; one beyond the log is ErrNotFound.
func (l *Ledger) EventAt(ctx context.Context, pos uint64) (ev Event, err error) {
	if err := l.enter(); err != nil {
		return ev, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	return l.eventAt(ctx, pos)
}

func (l *Ledger) eventAt(ctx context.Context, pos uint64) (Event, error) {
	if pos == 0 || pos > l.assigned.Load() {
		return Event{}, fmt.Errorf("%w: position %d", ErrNotFound, pos)
	}
	if err := l.WaitDurable(ctx, pos); err != nil {
		return Event{}, err
	}
	r, err := l.getRecord(pos)
	if err != nil {
		return Event{}, err
	}
	return l.toEvent(r)
}

// EventByID returns the event with the given ID: through its ID-index
// entry, or for a generated ID through the position it names.
func (l *Ledger) EventByID(ctx context.Context, id uuid.UUID) (ev Event, err error) {
	if err := l.enter(); err != nil {
		return ev, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	v, closer, err := l.db.Get(idKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		// A generated ID has no entry: it names its position.
		pos, ok, err := l.locatedAt(id)
		if err != nil {
			return ev, err
		}
		if !ok {
			return ev, fmt.Errorf("%w: event %s", ErrNotFound, id)
		}
		return l.eventAt(ctx, pos)
	}
	if err != nil {
		return ev, readErr(0, err)
	}
	if len(v) != 24 {
		_ = closer.Close()
		return ev, &CorruptionError{Reason: fmt.Sprintf("event ID index for %s has %d bytes", id, len(v))}
	}
	pos := u64(v)
	_ = closer.Close()
	// The entry is derived data: an entry pointing past the log or at another
	// event is damage, not absence.
	if pos == 0 || l.beyondLog(pos) {
		return ev, &IndexError{Index: "id", Position: pos, ID: id, Reason: "entry points past the log"}
	}
	ev, err = l.eventAt(ctx, pos)
	if err == nil && ev.ID != id {
		return Event{}, &IndexError{Index: "id", Position: pos, ID: id,
			Reason: fmt.Sprintf("entry points at position %d, which holds ID %s", pos, ev.ID)}
	}
	if errors.Is(err, ErrNotFound) {
		return Event{}, &IndexError{Index: "id", Position: pos, ID: id, Reason: "entry points at a missing record"}
	}
	return ev, err
}

// beyondLog reports whether pos is past every position applied to Pebble.
// An index entry is readable a moment before l.assigned covers its batch, so
// a miss is checked again under the sequencer lock, which is held from a
// batch's apply until assigned covers it.
func (l *Ledger) beyondLog(pos uint64) bool {
	if pos <= l.assigned.Load() {
		return false
	}
	l.seq.Lock()
	defer l.seq.Unlock()
	return pos > l.assigned.Load()
}

// ReadAll yields every durable event from position from (0 or 1 = the start)
// up to the durable position when the iteration starts, in position order.
// An error ends the iteration. Each event's Raw is valid until the loop body
// returns; copy it to keep it.
func (l *Ledger) ReadAll(ctx context.Context, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		end := l.durable.Load()
		l.scan(ctx, max(from, 1), func() uint64 { return end }, false, false, yield)
	}
}

// Follow yields durable events from position from, in order, and then waits
// for new ones, until the context ends (the last value is ctx.Err()), the
// ledger closes (ErrClosed) or fails. Only durable events are delivered.
// Raw is valid until the loop body returns, as with ReadAll.
func (l *Ledger) Follow(ctx context.Context, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		l.scan(ctx, max(from, 1), l.durable.Load, true, false, yield)
	}
}

// FollowRaw is Follow with every event's Data left nil: a reader that
// decodes the payloads itself (with a Decoder, see RawFeed) reads Raw,
// valid until the loop body returns.
func (l *Ledger) FollowRaw(ctx context.Context, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		l.scan(ctx, max(from, 1), l.durable.Load, true, true, yield)
	}
}

// Subscribe follows the log from just after the named checkpoint (see
// Checkpoint). Subscribers record progress with StateBatch.SetCheckpoint in
// the same ApplyState as their own writes, so a restart resumes exactly there
// and delivery is at least once. Raw is valid until the loop body returns,
// as with ReadAll.
func (l *Ledger) Subscribe(ctx context.Context, name string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		cp, err := l.Checkpoint(ctx, name)
		if err != nil {
			yield(Event{}, err)
			return
		}
		l.scan(ctx, cp+1, l.durable.Load, true, false, yield)
	}
}

func (l *Ledger) scan(ctx context.Context, next uint64, limit func() uint64, follow, undecoded bool, yield func(Event, error) bool) {
	s := scanner{l: l}
	for {
		if err := ctx.Err(); err != nil {
			yield(Event{}, err)
			return
		}
		end := limit()
		if next > end {
			if !follow {
				return
			}
			if err := l.WaitDurable(ctx, next); err != nil {
				yield(Event{}, err)
				return
			}
			continue
		}
		err := s.readChunk(next, end)
		start := uint32(0)
		for i := range s.recs {
			r := &s.recs[i]
			if i > 0 && ctx.Err() != nil {
				break // reported at the top of the loop
			}
			nm := &s.names[r.name]
			raw := s.payloads[start:r.end:r.end] // full slice: an append to it cannot reach the next payload
			start = r.end
			e := Event{Position: r.pos, Stream: nm.stream, Version: r.version, ID: r.id, Type: nm.typ, Schema: r.schema,
				Time: time.Unix(0, r.time).UTC(), Raw: raw}
			if nm.et != nil && !undecoded {
				d, err := l.reg.decode(&s.dec, nm.et, r.schema, raw)
				if err != nil {
					yield(Event{}, fmt.Errorf("position %d: %w", r.pos, err))
					return
				}
				e.Data = d
			}
			if !yield(e, nil) {
				return
			}
			next = r.pos + 1
		}
		if err != nil && ctx.Err() == nil {
			yield(Event{}, err)
			return
		}
	}
}

// scanner is what a ReadAll, Follow or Subscribe keeps from chunk to chunk:
// the records of the chunk just read, their payloads and names (all reused:
// an Event's Raw is valid until the next chunk is read), the stream and type
// names met, the registered types found and a payload decoder.
type scanner struct {
	l        *Ledger
	recs     []scanRecord // no pointers: filling it costs no write barriers
	payloads []byte
	names    []scanNames
	arena    []byte // stream and type names, never overwritten
	types    map[string]*eventType
	dec      payloadDecoder
	bounds   [2][9]byte
}

// scanRecord is a record of a chunk: its fields, its names (an index into
// scanner.names) and where its payload ends in scanner.payloads (it starts
// where the previous record's ends).
type scanRecord struct {
	pos, version uint64
	id           uuid.UUID
	time         int64
	schema       uint16
	name         uint32
	end          uint32
}

// scanNames are a run of records' stream and type names, and the type's
// registration (nil if it has none).
type scanNames struct {
	stream, typ string
	et          *eventType
}

// maxChunkBytes ends a chunk early once its payloads reach it, so a chunk
// of large events does not hold readChunk of them in memory.
const maxChunkBytes = 1 << 20

// readChunk reads up to readChunk events in [from, end] (fewer if their
// payloads pass maxChunkBytes) into s.recs. On an error s.recs holds the
// records before the damage.
func (s *scanner) readChunk(from, end uint64) (err error) {
	l := s.l
	s.recs, s.payloads, s.names = s.recs[:0], s.payloads[:0], s.names[:0]
	if err := l.enter(); err != nil {
		return err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	hi := min(end, from+readChunk-1)
	lo, up := s.bounds[0][:0], s.bounds[1][:0]
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: appendLogKey(lo, from), UpperBound: appendLogKey(up, hi+1)})
	if err != nil {
		return readErr(from, err)
	}
	defer it.Close()
	want := from
	var stream []byte // the names of the current run (stream in the arena)
	var typ string
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 9 || u64(k[1:]) != want {
			return &CorruptionError{Position: want, Reason: "record missing"}
		}
		r, err := parseRecordFields(it.Value())
		if err == nil && r.pos != want {
			err = fmt.Errorf("record claims position %d", r.pos)
		}
		if err != nil {
			return &CorruptionError{Position: want, Reason: err.Error()}
		}
		// Names repeat from record to record: a new one is checked, copied
		// and looked up once.
		if len(s.names) == 0 || !bytes.Equal(r.stream, stream) || string(r.typ) != typ {
			nm := scanNames{}
			if len(s.names) > 0 && bytes.Equal(r.stream, stream) {
				nm.stream = s.names[len(s.names)-1].stream
			} else {
				if !validName(r.stream) {
					return &CorruptionError{Position: want, Reason: "stream name is not valid UTF-8 without NUL"}
				}
				nm.stream, stream = s.keep(r.stream)
			}
			if len(s.names) > 0 && string(r.typ) == typ {
				prev := s.names[len(s.names)-1]
				nm.typ, nm.et = prev.typ, prev.et
			} else {
				if !utf8.Valid(r.typ) {
					return &CorruptionError{Position: want, Reason: "type name is not valid UTF-8"}
				}
				if nm.et = s.lookup(r.typ); nm.et != nil {
					nm.typ = nm.et.name
				} else {
					nm.typ, _ = s.keep(r.typ)
				}
			}
			typ = nm.typ
			s.names = append(s.names, nm)
		}
		s.payloads = append(s.payloads, r.data...)
		s.recs = append(s.recs, scanRecord{pos: want, version: r.version, id: r.id, time: r.time, schema: r.schema,
			name: uint32(len(s.names) - 1), end: uint32(len(s.payloads))})
		want++
		if len(s.payloads) >= maxChunkBytes {
			hi = want - 1
			break
		}
	}
	if err := it.Error(); err != nil {
		return readErr(want, err)
	}
	if want != hi+1 {
		return &CorruptionError{Position: want, Reason: "record missing"}
	}
	return nil
}

// keep copies a name into the arena and returns the copy as a string and as
// bytes. The arena's bytes are never written again, so the string stays
// immutable; names repeat, so the arena grows slowly.
func (s *scanner) keep(b []byte) (string, []byte) {
	if cap(s.arena)-len(s.arena) < len(b) {
		s.arena = make([]byte, 0, max(4<<10, len(b)))
	}
	start := len(s.arena)
	s.arena = append(s.arena, b...)
	c := s.arena[start:len(s.arena):len(s.arena)]
	return unsafe.String(unsafe.SliceData(c), len(c)), c
}

// lookup returns the registered type of a stored type name, or nil. Types
// found are remembered for the rest of the scan; an unregistered name is
// looked up again (it may be registered meanwhile).
func (s *scanner) lookup(name []byte) *eventType {
	if et := s.types[string(name)]; et != nil {
		return et
	}
	et := s.l.reg.byNameBytes(name)
	if et != nil {
		if s.types == nil {
			s.types = map[string]*eventType{}
		}
		s.types[et.name] = et
	}
	return et
}

// ReadStream yields a stream's events from version from (0 or 1 = the start)
// up to its version when the iteration starts. If the stream's latest events
// are appended but not yet synced, it waits for their sync, so a reader sees
// its own and everyone's acknowledged writes and never an event that is not
// durable. A stream with no events yields nothing.
//
// Events are found walking back through each record's pointer to its stream
// predecessor. Each chunk ends at the next multiple of anchorEvery, found
// through its stream-index entry, or at the head, and is read backwards from
// there. A damaged head, anchor entry or back-pointer ends the iteration with
// an *IndexError or *CorruptionError, as does a tail Open could not replay.
func (l *Ledger) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := checkStream(stream); err != nil {
			yield(Event{}, err)
			return
		}
		head, err := l.readStreamHead(ctx, stream, max(from, 1))
		if err != nil {
			yield(Event{}, err)
			return
		}
		next := max(from, 1)
		for next <= head.ver {
			if err := ctx.Err(); err != nil {
				yield(Event{}, err)
				return
			}
			batch, err := l.readStreamChunk(stream, next, head)
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
				next = e.Version + 1
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
		}
	}
}

// StreamVersion returns a stream's durable version (0 if it has no events),
// waiting for a pending sync like ReadStream. A stored head that does not
// name its stream's event, or a tail Open could not replay, is an error
// (errors.Is ErrCorrupt, or ErrIO).
func (l *Ledger) StreamVersion(ctx context.Context, stream string) (uint64, error) {
	if err := checkStream(stream); err != nil {
		return 0, err
	}
	h, err := l.readStreamHead(ctx, stream, math.MaxUint64)
	return h.ver, err
}

// readStreamHead returns a stream's head once it is durable. A head read from
// the store (or from a snapshot and not yet checked) is checked to name its
// stream's event unless the caller walks to it from version from (ReadStream
// checks every event it walks to, the head first).
func (l *Ledger) readStreamHead(ctx context.Context, stream string, from uint64) (h streamHead, err error) {
	if err := l.enter(); err != nil {
		return h, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	h, stored, err := l.headOf(stream)
	if err != nil {
		return streamHead{}, err
	}
	if err := l.WaitDurable(ctx, h.pos); err != nil {
		return streamHead{}, err
	}
	if stored && h.ver > 0 && from > h.ver {
		if err := l.headAtEvent(stream, h); err != nil {
			return streamHead{}, err
		}
	}
	return h, nil
}

// readStreamChunk reads the stream's events from version from up to the next
// anchor version (a multiple of anchorEvery) or the head, whichever is first,
// walking back from there.
func (l *Ledger) readStreamChunk(stream string, from uint64, head streamHead) (evs []Event, err error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	hi, pos, via := (from/anchorEvery+1)*anchorEvery, head.pos, "head"
	if hi >= head.ver {
		hi = head.ver
	} else if pos, err = l.indexed(stream, hi); err != nil {
		return nil, err
	} else {
		via = "stream"
	}
	recs := make([]record, hi-from+1)
	for ver := hi; ; ver-- {
		r, err := l.getRecord(pos)
		if err == nil && (r.stream != stream || r.version != ver) {
			err = fmt.Errorf("%w: position %d holds %q version %d", errWrongEvent, pos, r.stream, r.version)
		}
		if errors.Is(err, ErrNotFound) || errors.Is(err, errWrongEvent) {
			// An index entry pointing wrong is an IndexError; a record's
			// back-pointer pointing wrong is damage to the record before.
			if via == "" {
				return nil, &CorruptionError{Position: recs[ver-from+1].pos, Reason: fmt.Sprintf("back-pointer to version %d: %v", ver, err)}
			}
			return nil, &IndexError{Index: via, Position: pos, Stream: stream, Version: ver, Reason: err.Error()}
		}
		if err != nil {
			return nil, err
		}
		recs[ver-from] = r
		if ver == from {
			break
		}
		via = ""
		if r.format == recordFormat {
			pos = r.prev
		} else if pos, err = l.indexed(stream, ver-1); err != nil {
			return nil, err
		} else {
			via = "stream"
		}
	}
	evs = make([]Event, 0, len(recs))
	for _, r := range recs {
		e, err := l.toEvent(r)
		if err != nil {
			return evs, err
		}
		evs = append(evs, e)
	}
	return evs, nil
}

var errWrongEvent = errors.New("not the stream's event")

// indexed returns the position of a stream's version from its stream-index
// entry (every format-1 event and every anchor version has one).
func (l *Ledger) indexed(stream string, ver uint64) (uint64, error) {
	v, closer, err := l.db.Get(appendStreamKey(nil, stream, ver))
	bad := &IndexError{Index: "stream", Stream: stream, Version: ver}
	if errors.Is(err, pebble.ErrNotFound) {
		bad.Reason = "entry missing"
		return 0, bad
	}
	if err != nil {
		return 0, readErr(0, err)
	}
	defer closer.Close()
	if len(v) != 8 || u64(v) == 0 || l.beyondLog(u64(v)) {
		bad.Reason = fmt.Sprintf("entry %x is malformed or points past the log", v)
		return 0, bad
	}
	return u64(v), nil
}
