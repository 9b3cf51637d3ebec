package pgledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// readChunk is how many events a read fetches per query. A chunk is read
// whole before any event is yielded: no connection is held while a loop
// body runs, so it may call any method (even Close).
const readChunk = 1024

// row is an events row as stored. Strings and payload are copies.
type row struct {
	pos, ver          uint64
	stream, typ       string
	id                uuid.UUID
	schema            uint16
	time              int64
	payload           []byte
	prev, first, last uint64 // full rows only
	hash              []byte // full rows only
}

// rowReader parses rows from their binary wire form without pgx's per-column
// scanning: consecutive rows mostly share stream and type names (interned
// here), and payloads are copied into one arena per chunk.
type rowReader struct {
	stream, typ string
	arena       []byte
	checked     bool
}

// read parses the current row of rows, selected as readCols (or fullCols).
func (rd *rowReader) read(rows pgx.Rows, full bool) (row, error) {
	var w row
	cols := 8
	if full {
		cols = 12
	}
	if !rd.checked {
		fds := rows.FieldDescriptions()
		if len(fds) != cols {
			return w, fmt.Errorf("pgledger: %d columns in an events row, want %d", len(fds), cols)
		}
		for i, fd := range fds {
			// Names are the same bytes in either format; numbers, IDs and
			// payloads must be binary.
			if fd.Format != pgx.BinaryFormatCode && i != 1 && i != 4 {
				return w, fmt.Errorf("pgledger: column %s came in text format; the ledger needs binary results", fd.Name)
			}
		}
		rd.checked = true
	}
	v := rows.RawValues()
	ok := len(v) == cols && len(v[0]) == 8 && len(v[2]) == 8 && len(v[3]) == 16 && len(v[5]) == 4 && len(v[6]) == 8
	if full {
		ok = ok && len(v[8]) == 8 && len(v[10]) == 8 && len(v[11]) == 8
	}
	if !ok {
		return w, fmt.Errorf("pgledger: malformed events row")
	}
	w.pos = binary.BigEndian.Uint64(v[0])
	if string(v[1]) != rd.stream {
		rd.stream = string(v[1])
	}
	w.stream = rd.stream
	w.ver = binary.BigEndian.Uint64(v[2])
	copy(w.id[:], v[3])
	if string(v[4]) != rd.typ {
		rd.typ = string(v[4])
	}
	w.typ = rd.typ
	schema := int32(binary.BigEndian.Uint32(v[5]))
	if schema < 0 || schema > 0xffff {
		return w, &ledger.CorruptionError{Position: w.pos, Reason: fmt.Sprintf("schema %d out of range", schema)}
	}
	w.schema = uint16(schema)
	w.time = int64(binary.BigEndian.Uint64(v[6]))
	if cap(rd.arena)-len(rd.arena) < len(v[7]) {
		rd.arena = make([]byte, 0, max(16<<10, len(v[7])))
	}
	start := len(rd.arena)
	rd.arena = append(rd.arena, v[7]...)
	w.payload = rd.arena[start:len(rd.arena):len(rd.arena)] // full slice: appends to Raw cannot clobber a neighbour
	if full {
		w.prev = binary.BigEndian.Uint64(v[8])
		w.hash = append([]byte(nil), v[9]...)
		w.first = binary.BigEndian.Uint64(v[10])
		w.last = binary.BigEndian.Uint64(v[11])
	}
	return w, nil
}

// event decodes a row through the registry, as the ledger on Pebble does
// (unless undecoded: FollowRaw leaves Data nil).
func (s *Store) event(w *row, undecoded bool) (ledger.Event, error) {
	e := ledger.Event{Position: w.pos, Stream: w.stream, Version: w.ver, ID: w.id, Type: w.typ,
		Schema: w.schema, Time: time.Unix(0, w.time).UTC(), Raw: w.payload}
	if undecoded {
		return e, nil
	}
	d, err := s.reg.Decode(w.typ, w.schema, w.payload)
	if err != nil {
		return ledger.Event{}, fmt.Errorf("position %d: %w", w.pos, err)
	}
	e.Data = d
	return e, nil
}

// querier is a pool or a single connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// events runs a query of readCols rows and decodes them.
func (s *Store) events(ctx context.Context, db querier, op string, undecoded bool, sql string, args ...any) ([]ledger.Event, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, readErr(ctx, op, err)
	}
	defer rows.Close()
	var out []ledger.Event
	var rd rowReader
	for rows.Next() {
		w, err := rd.read(rows, false)
		if err != nil {
			return nil, err
		}
		e, err := s.event(&w, undecoded)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make([]ledger.Event, 0, readChunk)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr(ctx, op, err)
	}
	return out, nil
}

// chunk reads up to readChunk events from position next (to end, if not 0)
// and raises the watermark to the last one: it is committed.
func (s *Store) chunk(ctx context.Context, db querier, next, end uint64, undecoded bool) ([]ledger.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if db == nil {
		db = s.pool
	}
	var evs []ledger.Event
	var err error
	if end == 0 {
		evs, err = s.events(ctx, db, "read", undecoded, s.q.readFrom, int64(next), readChunk)
	} else {
		evs, err = s.events(ctx, db, "read", undecoded, s.q.readRange, int64(next), int64(end), readChunk)
	}
	if err != nil {
		return nil, err
	}
	for i, e := range evs {
		if e.Position != next+uint64(i) {
			return evs[:i], &ledger.CorruptionError{Position: next + uint64(i), Reason: "record missing"}
		}
	}
	if len(evs) > 0 {
		s.advance(evs[len(evs)-1].Position)
	}
	return evs, nil
}

// ReadAll yields every event from position from (0 or 1 = the start) up to
// the head when the iteration starts, in position order. An error ends the
// iteration.
func (s *Store) ReadAll(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		head, err := s.Head(ctx)
		if err != nil {
			yield(ledger.Event{}, err)
			return
		}
		s.scan(ctx, max(from, 1), head.Position, yield)
	}
}

// scan yields events from next through end, chunk by chunk.
func (s *Store) scan(ctx context.Context, next, end uint64, yield func(ledger.Event, error) bool) {
	for next <= end {
		if err := ctx.Err(); err != nil {
			yield(ledger.Event{}, err)
			return
		}
		batch, err := s.chunk(ctx, nil, next, end, false)
		for _, e := range batch {
			if !yield(e, nil) {
				return
			}
			next = e.Position + 1
		}
		if err == nil && len(batch) == 0 {
			err = &ledger.CorruptionError{Position: next, Reason: "record missing"}
		}
		if err != nil {
			yield(ledger.Event{}, err)
			return
		}
	}
}

// ReadStream yields a stream's events from version from (0 or 1 = the
// start) up to its version when the iteration starts. A stream with no
// events yields nothing.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		head, err := s.StreamVersion(ctx, stream)
		if err != nil {
			yield(ledger.Event{}, err)
			return
		}
		next := max(from, 1)
		for next <= head {
			if err := ctx.Err(); err != nil {
				yield(ledger.Event{}, err)
				return
			}
			batch, err := s.streamChunk(ctx, stream, next, head)
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
				next = e.Version + 1
			}
			if err != nil {
				yield(ledger.Event{}, err)
				return
			}
		}
	}
}

func (s *Store) streamChunk(ctx context.Context, stream string, from, head uint64) ([]ledger.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	evs, err := s.events(ctx, s.pool, "read stream", false, s.q.readStream, stream, int64(from), int64(head), readChunk)
	if err != nil {
		return nil, err
	}
	for i, e := range evs {
		if e.Version != from+uint64(i) {
			return evs[:i], &ledger.CorruptionError{Position: e.Position, Reason: fmt.Sprintf("stream %q: version %d missing before version %d", stream, from+uint64(i), e.Version)}
		}
	}
	if len(evs) == 0 {
		return nil, &ledger.CorruptionError{Reason: fmt.Sprintf("stream %q: version %d missing below version %d", stream, from, head)}
	}
	return evs, nil
}

// StreamVersion returns a stream's version (0 if it has no events).
func (s *Store) StreamVersion(ctx context.Context, stream string) (uint64, error) {
	if err := checkStream(stream); err != nil {
		return 0, err
	}
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var v int64
	err := s.pool.QueryRow(ctx, s.q.streamVersion, stream).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, readErr(ctx, "stream version", err)
	}
	return uint64(v), nil
}

// EventAt returns the event at a global position; one beyond the log is
// ErrNotFound.
func (s *Store) EventAt(ctx context.Context, pos uint64) (ledger.Event, error) {
	if pos == 0 || pos > 1<<63-1 {
		if err := s.enter(); err != nil {
			return ledger.Event{}, err
		}
		s.leave()
		return ledger.Event{}, fmt.Errorf("%w: position %d", ledger.ErrNotFound, pos)
	}
	return s.one(ctx, "event at", s.q.eventAt, fmt.Sprintf("position %d", pos), int64(pos))
}

// EventByID returns the event with the given ID.
func (s *Store) EventByID(ctx context.Context, id uuid.UUID) (ledger.Event, error) {
	return s.one(ctx, "event by ID", s.q.eventByID, "event "+id.String(), [16]byte(id))
}

func (s *Store) one(ctx context.Context, op, sql, what string, arg any) (ledger.Event, error) {
	if err := s.enter(); err != nil {
		return ledger.Event{}, err
	}
	defer s.leave()
	evs, err := s.events(ctx, s.pool, op, false, sql, arg)
	if err != nil {
		return ledger.Event{}, err
	}
	if len(evs) == 0 {
		return ledger.Event{}, fmt.Errorf("%w: %s", ledger.ErrNotFound, what)
	}
	return evs[0], nil
}
