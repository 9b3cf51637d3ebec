package pgledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// Limits shared with the ledger on Pebble (its record format's).
const (
	maxStreamLen    = 1024
	maxEventsAppend = 10000
)

// A batch takes queued appends up to these bounds (always at least one).
const (
	maxBatchEvents = 10000
	maxBatchBytes  = 32 << 20
)

// The states of an appendReq; the committer and the caller each move it
// with a compare-and-swap, so exactly one of them decides its fate.
const (
	reqQueued    int32 = iota // in the queue: the caller may still withdraw it
	reqTaken                  // in a batch: it may be committed
	reqAbandoned              // withdrawn by its caller: never sent
)

// event is an event to append, encoded by its caller before it is queued.
type event struct {
	stream  int // index into the request's appends
	id      uuid.UUID
	random  bool // generated here: nobody can retry it, so it is not looked up
	typ     string
	schema  uint16
	time    int64
	payload []byte
}

// appendReq is one Append or AppendMulti on its way through the committer.
type appendReq struct {
	appends []ledger.StreamAppend
	evs     []event
	size    int // payload bytes
	state   atomic.Int32
	done    chan struct{} // closed when res/err/retry are set

	res   ledger.AppendResult
	err   error
	retry bool // res is an earlier append's; condition versions still to fill in
}

// Append appends events to one stream atomically if the stream matches
// expect. It returns once the events are committed, sharing the
// transaction with concurrent appenders of this process (group commit). A
// retry with the same event IDs returns the original result without
// writing; a partial overlap is ErrDuplicateID.
func (s *Store) Append(ctx context.Context, stream string, expect ledger.Expect, events ...ledger.NewEvent) (ledger.AppendResult, error) {
	return s.AppendMulti(ctx, ledger.StreamAppend{Stream: stream, Expect: expect, Events: events})
}

// AppendMulti appends to several streams in one atomic transaction: every
// expected version must hold, or nothing of this append is written (other
// appends sharing the transaction are not affected). Positions follow
// request order; a StreamAppend without events is a condition only, as on
// the ledger on Pebble.
//
// Besides the ledger's errors it returns ErrUnavailable (nothing written)
// and ErrUnknownOutcome (the commit was sent, its answer lost): retry with
// the same event IDs. If ctx ends while the append waits in the queue, it
// is withdrawn and the error wraps ctx.Err() alone; once its batch has
// taken it, the error wraps ctx.Err() and ErrUnknownOutcome.
func (s *Store) AppendMulti(ctx context.Context, appends ...ledger.StreamAppend) (ledger.AppendResult, error) {
	var res ledger.AppendResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := s.enter(); err != nil {
		return res, err
	}
	defer s.leave()
	evs, size, err := s.prepare(appends)
	if err != nil {
		return res, err
	}
	r := &appendReq{appends: appends, evs: evs, size: size, done: make(chan struct{})}
	s.enqueue(r)
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return res, fmt.Errorf("pgledger: append withdrawn before it was sent: %w", ctx.Err())
		}
		return res, fmt.Errorf("pgledger: append: %w (%w): its transaction may commit", ledger.ErrUnknownOutcome, ctx.Err())
	case <-s.cdone:
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return res, ledger.ErrClosed
		}
		<-r.done
	}
	if r.err != nil {
		return res, r.err
	}
	if r.retry {
		return s.retried(ctx, r)
	}
	return r.res, nil
}

// retried completes the result of a retry: the versions its condition-only
// streams were checked at, which the stored events do not name.
func (s *Store) retried(ctx context.Context, r *appendReq) (ledger.AppendResult, error) {
	for i, a := range r.appends {
		if len(a.Events) > 0 {
			continue
		}
		var v int64
		err := s.pool.QueryRow(ctx, s.q.versionBefore, a.Stream, int64(r.res.First)).Scan(&v)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return ledger.AppendResult{}, readErr(ctx, "append: retry", err)
		}
		r.res.Versions[i] = uint64(v)
	}
	return r.res, nil
}

func (s *Store) enqueue(r *appendReq) {
	s.qmu.Lock()
	s.queue = append(s.queue, r)
	s.qmu.Unlock()
	s.signal()
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take removes queued requests up to the batch bounds, skipping withdrawn ones.
func (s *Store) take() []*appendReq { return s.takeUpTo(0, 0) }

// takeUpTo is take for a batch that already holds n events of size bytes.
func (s *Store) takeUpTo(n, size int) []*appendReq {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	var out []*appendReq
	had, i := n > 0, 0
	for ; i < len(s.queue); i++ {
		r := s.queue[i]
		if (had || len(out) > 0) && (n+len(r.evs) > maxBatchEvents || size+r.size > maxBatchBytes) {
			break
		}
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			out = append(out, r)
			n, size = n+len(r.evs), size+r.size
		}
	}
	k := copy(s.queue, s.queue[i:])
	clear(s.queue[k:])
	s.queue = s.queue[:k]
	return out
}

// requeue puts requests back at the front of the queue, in order.
func (s *Store) requeue(rs []*appendReq) {
	if len(rs) == 0 {
		return
	}
	for _, r := range rs {
		r.state.Store(reqQueued)
	}
	s.qmu.Lock()
	s.queue = append(rs, s.queue...)
	s.qmu.Unlock()
	s.signal()
}

// commitLoop is the committer: it takes what is queued and commits it as
// one batch, and again, until the store closes and the queue is empty.
func (s *Store) commitLoop() {
	defer close(s.cdone)
	defer s.dropConn()
	for {
		if reqs := s.take(); len(reqs) > 0 {
			s.runBatch(reqs)
			continue
		}
		s.qmu.Lock()
		empty := len(s.queue) == 0
		s.qmu.Unlock()
		if !empty {
			continue
		}
		select {
		case <-s.wake:
		case <-s.closing:
			if reqs := s.take(); len(reqs) > 0 {
				s.runBatch(reqs)
				continue
			}
			return
		}
	}
}

// writeConn returns the committer's connection, connecting if needed, and
// whether it sat idle for longer than idleCheck since it was last used.
func (s *Store) writeConn(ctx context.Context) (*pgx.Conn, bool, error) {
	now := time.Now()
	if s.wconn != nil && !s.wconn.IsClosed() {
		idle := now.Sub(s.wused) > s.idleAfter
		s.wused = now
		return s.wconn, idle, nil
	}
	c, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return nil, false, err
	}
	// The events row type and its array, for batches of rows (eventRow).
	types, err := c.LoadTypes(ctx, []string{s.schema + ".events", s.schema + "._events"})
	if err != nil {
		_ = c.Close(ctx)
		return nil, false, err
	}
	c.TypeMap().RegisterTypes(types)
	s.wconn, s.wused = c, now
	return c, false, nil
}

// dropConn closes the committer's connection: after an error its session
// state is unknown, and closing ends any transaction it left open.
func (s *Store) dropConn() {
	if s.wconn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.poll)
		_ = s.wconn.Close(ctx)
		cancel()
		s.wconn = nil
	}
}

func (s *Store) prepare(appends []ledger.StreamAppend) ([]event, int, error) {
	if len(appends) == 0 {
		return nil, 0, invalidf("no streams to append to")
	}
	n := 0
	for i, a := range appends {
		if err := checkStream(a.Stream); err != nil {
			return nil, 0, err
		}
		for _, b := range appends[:i] {
			if b.Stream == a.Stream {
				return nil, 0, invalidf("stream %q appears twice in one append", a.Stream)
			}
		}
		if a.Expect < ledger.ExpectExists {
			return nil, 0, invalidf("stream %q: %v", a.Stream, a.Expect)
		}
		n += len(a.Events)
	}
	if n == 0 {
		return nil, 0, invalidf("no events to append (a stream without events is only a condition)")
	}
	if n > maxEventsAppend {
		return nil, 0, invalidf("%d events in one append, over the %d limit", n, maxEventsAppend)
	}
	now := s.clock().UnixNano()
	evs := make([]event, n)
	var ids map[uuid.UUID]bool
	if n > 1 {
		ids = make(map[uuid.UUID]bool, n)
	}
	var random []byte
	size, k := 0, 0
	for i, a := range appends {
		for _, e := range a.Events {
			p := &evs[k]
			k++
			p.stream, p.id = i, e.ID
			if p.id == (uuid.UUID{}) {
				if len(random) == 0 {
					random = make([]byte, 16*(n-k+1))
					if _, err := rand.Read(random); err != nil {
						return nil, 0, err
					}
				}
				p.id = newV7(now, random[:16])
				random = random[16:]
				p.random = true
			}
			if ids != nil {
				if ids[p.id] {
					return nil, 0, invalidf("event ID %s appears twice in one append", p.id)
				}
				ids[p.id] = true
			}
			p.time = now
			if !e.Time.IsZero() {
				p.time = e.Time.UnixNano()
			}
			var err error
			if p.typ, p.schema, p.payload, err = s.reg.Encode(e.Data); err != nil {
				return nil, 0, fmt.Errorf("stream %q: %w", a.Stream, err)
			}
			size += len(p.payload)
		}
	}
	return evs, size, nil
}

// newV7 makes a UUIDv7 (RFC 9562) as the ledger on Pebble does: the Unix
// time in milliseconds, then random bits.
func newV7(unixNano int64, random []byte) uuid.UUID {
	var id uuid.UUID
	ms := uint64(max(unixNano, 0) / 1e6)
	binary.BigEndian.PutUint64(id[:8], ms<<16)
	copy(id[6:], random[6:16])
	id[6] = id[6]&0x0f | 0x70
	id[8] = id[8]&0x3f | 0x80
	return id
}

func checkStream(s string) error {
	if s == "" || len(s) > maxStreamLen || !validName(s) {
		return invalidf("stream name %q must be 1..%d bytes of UTF-8 without NUL", s, maxStreamLen)
	}
	return nil
}

func validName(s string) bool {
	return utf8.ValidString(s) && !bytes.Contains([]byte(s), []byte{0})
}

// findRetry reports whether every event ID of r is stored as exactly this
// append (found holds the stored rows of its IDs), and if so rebuilds the
// original result but for the versions of condition-only streams.
func (s *Store) findRetry(r *appendReq, found map[uuid.UUID]*row) (ledger.AppendResult, bool, error) {
	var res ledger.AppendResult
	n := 0
	var first, last uint64
	for i, e := range r.evs {
		w, ok := found[e.id]
		if !ok || e.random {
			if n > 0 {
				return res, false, fmt.Errorf("%w: %s is stored but %s is not", ledger.ErrDuplicateID, r.evs[0].id, e.id)
			}
			continue
		}
		if n != i {
			return res, false, fmt.Errorf("%w: %s is stored but %s is not", ledger.ErrDuplicateID, e.id, r.evs[0].id)
		}
		if i == 0 {
			first, last = w.first, w.last
		}
		if w.first != first || w.last != last || w.pos != first+uint64(i) {
			return res, false, fmt.Errorf("%w: %s belongs to the append at positions %d..%d", ledger.ErrDuplicateID, e.id, w.first, w.last)
		}
		n++
	}
	if n == 0 {
		return res, false, nil
	}
	if uint64(n) != last-first+1 {
		return res, false, fmt.Errorf("%w: %s belongs to an append of %d events, not %d", ledger.ErrDuplicateID, r.evs[0].id, last-first+1, n)
	}
	res = ledger.AppendResult{First: first, Last: last, Versions: make([]uint64, len(r.appends))}
	for i := range r.evs {
		e := &r.evs[i]
		w := found[e.id]
		if err := s.sameEvent(w, r.appends[e.stream].Stream, e); err != nil {
			return ledger.AppendResult{}, false, err
		}
		res.Versions[e.stream] = w.ver
	}
	return res, true, nil
}

// sameEvent reports (as an *IDReusedError) how a retried event differs
// from the stored one with its ID. Payloads that differ as bytes are
// compared decoded (msgpack does not order map keys).
func (s *Store) sameEvent(w *row, stream string, e *event) error {
	reused := func(what string) error {
		return &ledger.IDReusedError{ID: e.id, Position: w.pos, Stream: w.stream, Differs: what}
	}
	switch {
	case w.stream != stream:
		return reused(fmt.Sprintf("stream %q, not %q", stream, w.stream))
	case w.typ != e.typ:
		return reused(fmt.Sprintf("type %q, not %q", e.typ, w.typ))
	case w.schema != e.schema:
		return reused(fmt.Sprintf("schema %d, not %d", e.schema, w.schema))
	case bytes.Equal(w.payload, e.payload):
		return nil
	}
	was, err1 := s.reg.Decode(w.typ, w.schema, w.payload)
	now, err2 := s.reg.Decode(e.typ, e.schema, e.payload)
	if err1 != nil || err2 != nil || was == nil || !reflect.DeepEqual(was, now) {
		return reused("payload")
	}
	return nil
}
