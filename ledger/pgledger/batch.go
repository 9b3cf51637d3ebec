package pgledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keyledger/keyledger/ledger"
)

// Advisory lock classes (the first key of the two-key form; the second is
// derived from the schema, or from the schema and a subscriber's name).
// Persisted in the sense that every process on one database must agree:
// never change them.
const (
	classAppend  int32 = 0x6b6c6101 // "kla": held by each append transaction
	classLease   int32 = 0x6b6c7301 // "kls": a subscriber's lease
	classMigrate int32 = 0x6b6c6d01 // "klm": held while migrating at Open
)

// streamHead is a stream's version and the position of its last event.
type streamHead struct{ ver, pos uint64 }

// batch is one transaction of the committer: the appends it took, and the
// rows of those it accepts.
type batch struct {
	reqs     []*appendReq
	accepted []*appendReq
	requeue  []*appendReq
	heads    map[string]streamHead // as of the lock, then as each accepted append leaves them
	batchIDs map[uuid.UUID]struct{}
	pos      uint64
	hash     [32]byte
	canon    []byte

	rows []eventRow // to insert
	// If rebasing (see tryFast), each row's canonical bytes between its
	// version and its back-pointer, the part that does not move when the
	// batch is written past other processes' appends:
	// mids[midEnd[i-1]:midEnd[i]] for row i.
	rebasing bool
	mids     []byte
	midEnd   []int
}

// eventRow is a row of the events table, encoded as the table's composite
// type: a batch of rows is one array parameter, which the server unnests in
// one function scan (twelve column arrays took twelve, each materialised
// into a tuplestore). Its fields go in the table's column order: a
// migration that adds a column must add it here.
type eventRow struct {
	pos, ver, time, prev, first, last int64
	stream, typ                       string
	id                                [16]byte
	schema                            int32
	payload, hash                     []byte
}

// IsNull and Index implement pgtype.CompositeIndexGetter, in the table's
// column order (fullCols).
func (r eventRow) IsNull() bool { return false }

func (r eventRow) Index(i int) any {
	switch i {
	case 0:
		return r.pos
	case 1:
		return r.stream
	case 2:
		return r.ver
	case 3:
		return r.id
	case 4:
		return r.typ
	case 5:
		return r.schema
	case 6:
		return r.time
	case 7:
		return r.payload
	case 8:
		return r.prev
	case 9:
		return r.hash
	case 10:
		return r.first
	}
	return r.last
}

// runBatch commits reqs in one transaction. The usual way takes two round
// trips: BEGIN, the append lock, and the reads the checks need (the log's
// head, the streams' heads, stored event IDs); then the rows, COMMIT and
// NOTIFY. While no other process appends, one round trip does (see
// tryFast). Every request leaves with its result or error, or goes back to
// the queue.
func (s *Store) runBatch(reqs []*appendReq) {
	var b *batch
	ctx, cancel := context.WithTimeout(context.Background(), s.wtime)
	defer cancel()
	defer func() {
		requeued := map[*appendReq]bool{}
		for _, r := range b.requeue {
			requeued[r] = true
		}
		for _, r := range reqs {
			if !requeued[r] {
				close(r.done)
			}
		}
		s.requeue(b.requeue)
	}()
	fail := func(err error, rs []*appendReq) {
		for _, r := range rs {
			r.err = err
		}
	}
	b = newBatch(reqs)
	conn, idle, err := s.writeConn(ctx)
	if err != nil {
		fail(readErr(ctx, "append", err), reqs)
		return
	}
	done, err := s.tryFast(ctx, conn, b, idle)
	reqs = b.reqs // with those it took while waiting for the lock
	if done || err != nil {
		if err != nil {
			s.forget()
			s.dropConn()
			s.logAppendFailed(err, b)
			fail(err, b.accepted)
		}
		return
	}
	for _, r := range reqs {
		r.res, r.err, r.retry = ledger.AppendResult{}, nil, false
	}
	b = newBatch(reqs)
	found, err := s.lockAndRead(ctx, conn, b)
	if err != nil && connectionLost(err) && ctx.Err() == nil {
		// Nothing was written: a connection the server dropped while it was
		// idle (a restart, a timeout) is replaced once, unseen by callers.
		s.dropConn()
		if conn, _, err = s.writeConn(ctx); err == nil {
			b = newBatch(reqs)
			found, err = s.lockAndRead(ctx, conn, b)
		}
	}
	if err != nil {
		s.forget()
		s.dropConn()
		fail(readErr(ctx, "append", err), reqs)
		return
	}
	for _, r := range reqs {
		s.sequence(b, r, found)
	}
	if len(b.accepted) == 0 {
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			s.dropConn()
		}
		return
	}
	if err := s.write(ctx, conn, b); err != nil {
		s.forget()
		s.dropConn()
		s.logAppendFailed(err, b)
		fail(err, b.accepted)
		return
	}
	s.counts.twoTrips.Add(1)
	s.remember(b)
	s.advance(b.pos)
}

// batchCounts count committed batches by path, and one-trip attempts that
// found another process's appends.
type batchCounts struct {
	oneTrip, rebased, twoTrips, missed atomic.Uint64
	lockFirst                          atomic.Uint64 // lock taken before the batch was sealed
}

func newBatch(reqs []*appendReq) *batch {
	return &batch{reqs: reqs, heads: map[string]streamHead{}, batchIDs: map[uuid.UUID]struct{}{}}
}

// The committer's view of the log, for the one-round-trip path: the head
// as of its last batch, and the heads of streams it read or wrote, exact as
// of pos unless inexact (another process appended after they were read).
type view struct {
	valid bool
	pos   uint64
	hash  [32]byte
	heads map[string]streamHead // {0, 0}: the stream had no event at pos
	skip  int                   // batches to run the usual way: another process writes the same streams
	// others counts down the batches to send with append_rebased after
	// another process's append was last seen; at 0, the guarded insert.
	others int
	// inexact: the stream heads may have moved since they were read, so
	// only append_rebased, which checks them, may rely on them.
	inexact bool
	// lockFirstOff counts down the rebasing batches sent without waiting
	// for the lock first, after a wait that found nothing queued.
	lockFirstOff int
}

const (
	// idleCheck: a connection idle for longer may have been dropped by the
	// server unseen; the first round trip of the two-trip way finds out
	// without having sent a COMMIT (an error there is ErrUnavailable, and
	// retried on a new connection), where the one-trip way could only
	// report ErrUnknownOutcome.
	idleCheck = time.Second
	// viewStreams bounds the streams the view keeps; past it, it starts over.
	viewStreams = 1 << 16
	// skipAfterOther is how many batches take two round trips after a batch
	// found a stream it knew moved by another process: while processes
	// take turns at the same streams, the one-trip path would mostly fail
	// and cost a round trip.
	skipAfterOther = 16
	// othersFor is how many batches are sent with append_rebased after one
	// saw another process's appends: the guarded insert is a little
	// cheaper, but fails whenever the head has moved.
	othersFor = 64
	// lockFirstPause is how many rebasing batches skip waiting for the
	// lock first after such a wait found no appends queued behind it: the
	// extra round trip pays only while other processes hold the lock.
	lockFirstPause = 8
)

// tryFast commits b in one round trip if the committer's view of the log
// may still hold where b depends on it. It sequences b on the view first
// (the head and chain hash it knows, the versions of the streams it knows,
// no events in the others) and gives up (done false, nothing sent) unless
// every request is accepted: a refusal, a retry or a repeated ID is
// decided by the usual way on what it reads. Then it sends BEGIN, the
// lock, one statement that writes the rows only if the view still holds,
// COMMIT and NOTIFY:
//
//   - while no other process appends, an INSERT guarded by the view being
//     exact: the head is still the view's, no event ID is stored and no
//     stream the view does not know has events;
//   - once another has (see view.others), append_rebased (the second
//     migration), which lets the head have moved: it checks the IDs, the
//     streams the view does not know and the versions of those it knows,
//     then writes the rows after the head, computing positions,
//     back-pointers and chain hashes again if it moved. Before it the
//     lock is taken in a round trip of its own (lockFirst), so the batch
//     takes in what queued while other processes held the lock; after
//     such a wait found nothing queued, the next lockFirstPause batches
//     skip it.
//
// If the view did not hold, nothing was written, and the caller runs the
// usual way. It is not tried on a connection that sat idle (see idleCheck).
func (s *Store) tryFast(ctx context.Context, conn *pgx.Conn, b *batch, idle bool) (done bool, err error) {
	v := &s.view
	if !v.valid || v.skip > 0 || idle {
		if v.skip > 0 {
			v.skip--
		}
		return false, nil
	}
	if v.others == 0 && v.inexact {
		// Back to the guarded insert, which needs heads exact as of the
		// view's position: none is.
		clear(v.heads)
		v.inexact = false
	}
	rebasing := v.others > 0 || v.inexact
	b.rebasing = rebasing
	locked := false // the lock was taken in a round trip of its own
	switch {
	case rebasing && v.lockFirstOff > 0:
		v.lockFirstOff--
	case rebasing:
		// Other processes take the lock in turn: wait for it first, and
		// take into the batch what queued meanwhile (about doubling it).
		n := len(b.reqs)
		if err := s.lockFirst(ctx, conn, b); err != nil {
			b.accepted = b.reqs // none was written
			return true, err
		}
		locked = true
		s.counts.lockFirst.Add(1)
		if len(b.reqs) == n {
			// Nothing queued meanwhile: the lock was not contended, and
			// the round trip bought nothing. Try again later.
			v.lockFirstOff = lockFirstPause
		}
	}
	var absent, known []string
	var knownVer []int64
	var ids [][16]byte
	for _, r := range b.reqs {
		for _, a := range r.appends {
			if _, seen := b.heads[a.Stream]; seen {
				continue
			}
			h, ok := v.heads[a.Stream]
			if ok {
				known, knownVer = append(known, a.Stream), append(knownVer, int64(h.ver))
			} else {
				absent = append(absent, a.Stream)
			}
			b.heads[a.Stream] = h
		}
		for i := range r.evs {
			if !r.evs[i].random {
				ids = append(ids, r.evs[i].id)
			}
		}
	}
	base := v.pos
	b.pos, b.hash = base, v.hash
	for _, r := range b.reqs {
		s.sequence(b, r, nil)
		if r.err != nil || len(b.requeue) > 0 {
			if locked {
				// The usual way starts a transaction of its own.
				if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
					s.dropConn()
				}
			}
			return false, nil
		}
	}
	pb := &pgx.Batch{}
	if !locked {
		pb.Queue("BEGIN")
		pb.Queue("SELECT pg_advisory_xact_lock($1, $2)", classAppend, s.appendKey)
	}
	lead := pb.Len() // BEGIN and the lock, unless lockFirst took it
	if rebasing {
		pb.Queue(s.q.appendRebased, int64(base), []byte{b.canon[0]}, b.rows, b.midSlices(), ids, absent, known, knownVer)
	} else {
		b.queueInsert(pb, s.q.insertGuarded, s.q.insertOneGuarded, int64(base), ids, absent)
	}
	pb.Queue("COMMIT")
	notify := s.queueNotify(pb)
	br := conn.SendBatch(ctx, pb)
	if h := s.hooks.commitSent; h != nil {
		h(conn)
	}
	for range lead {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return true, commitErr(ctx, "append", err, false)
		}
	}
	// After: the head the rows were written after, nil if none was.
	var after *int64
	var hash []byte
	if rebasing {
		err = br.QueryRow().Scan(&after, &hash)
	} else {
		var tag pgconn.CommandTag
		if tag, err = br.Exec(); err == nil && tag.RowsAffected() > 0 {
			if tag.RowsAffected() != int64(len(b.rows)) {
				_ = br.Close()
				return true, fmt.Errorf("pgledger: append: %w: the guarded insert wrote %d of %d rows", ledger.ErrUnknownOutcome, tag.RowsAffected(), len(b.rows))
			}
			after = new(int64(base))
		}
	}
	if err != nil {
		_ = br.Close()
		return true, commitErr(ctx, "append", err, false)
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return true, commitErr(ctx, "append", err, true)
	}
	s.notifySent(br, notify)
	switch {
	case after == nil && rebasing:
		// The streams moved: another process writes them too.
		s.counts.missed.Add(1)
		v.valid, v.skip = false, skipAfterOther
		return false, nil
	case after == nil:
		// Most likely the head moved: another process appends.
		s.counts.missed.Add(1)
		v.valid, v.others = false, othersFor
		return false, nil
	case *after == int64(base):
		s.counts.oneTrip.Add(1)
		v.others = max(v.others-1, 0)
	case *after > int64(base) && len(hash) == 32:
		s.counts.rebased.Add(1)
		// The streams outside b may have moved with the head.
		v.others, v.inexact = othersFor, true
		b.rebase(base, uint64(*after)-base, [32]byte(hash))
	default:
		return true, fmt.Errorf("pgledger: append: %w: the batch sequenced after position %d was written after %d with a %d-byte hash",
			ledger.ErrUnknownOutcome, base, *after, len(hash))
	}
	s.remember(b)
	s.advance(b.pos)
	return true, nil
}

// lockFirst begins b's transaction and waits for the append lock, then
// adds to b what queued meanwhile, up to the batch bounds. Nothing is
// written: an error is ErrUnavailable, and the connection is dropped.
func (s *Store) lockFirst(ctx context.Context, conn *pgx.Conn, b *batch) error {
	pb := &pgx.Batch{}
	pb.Queue("BEGIN")
	pb.Queue("SELECT pg_advisory_xact_lock($1, $2)", classAppend, s.appendKey)
	if err := conn.SendBatch(ctx, pb).Close(); err != nil {
		s.dropConn()
		return readErr(ctx, "append", err)
	}
	n, size := 0, 0
	for _, r := range b.reqs {
		n, size = n+len(r.evs), size+r.size
	}
	b.reqs = append(b.reqs, s.takeUpTo(n, size)...)
	return nil
}

// rebase moves b's results, sequenced after base, by d positions, as
// append_rebased wrote them, ending in the chain hash hash.
func (b *batch) rebase(base, d uint64, hash [32]byte) {
	for _, r := range b.accepted {
		r.res.First += d
		r.res.Last += d
	}
	for st, h := range b.heads {
		if h.pos > base {
			h.pos += d
			b.heads[st] = h
		}
	}
	b.pos += d
	b.hash = hash
}

// remember updates the view after b committed.
func (s *Store) remember(b *batch) {
	v := &s.view
	if v.heads == nil || len(v.heads) > viewStreams {
		v.heads = make(map[string]streamHead, len(b.heads))
	}
	for st, h := range b.heads {
		v.heads[st] = h
	}
	v.valid, v.pos, v.hash = true, b.pos, b.hash
}

// forget drops the view after an error: the outcome may be unknown.
func (s *Store) forget() {
	s.view.valid, s.view.inexact = false, false
	clear(s.view.heads)
}

// observe takes what the usual way read under the lock into the view.
// streams are the batch's streams; b.heads holds those that have events.
func (s *Store) observe(b *batch, streams []string) {
	v := &s.view
	switch {
	case !v.valid:
		// Dropped after a batch found it wrong: the streams it knows may
		// have moved.
		v.inexact = len(v.heads) > 0
	case b.pos != v.pos:
		// Another process appended since this one did.
		v.others, v.inexact = othersFor, true
	default:
		v.skip = 0
	}
	if v.heads == nil || len(v.heads) > viewStreams {
		v.heads = make(map[string]streamHead, len(streams))
	}
	for _, st := range streams {
		v.heads[st] = b.heads[st]
	}
	v.valid, v.pos, v.hash = true, b.pos, b.hash
}

// lockAndRead runs the first round trip and returns the stored rows of the
// batch's event IDs.
func (s *Store) lockAndRead(ctx context.Context, conn *pgx.Conn, b *batch) (map[uuid.UUID]*row, error) {
	var streams []string
	seen := map[string]bool{}
	var ids [][16]byte
	for _, r := range b.reqs {
		for _, a := range r.appends {
			if !seen[a.Stream] {
				seen[a.Stream] = true
				streams = append(streams, a.Stream)
			}
		}
		for i := range r.evs {
			if !r.evs[i].random {
				ids = append(ids, r.evs[i].id)
			}
		}
	}
	pb := &pgx.Batch{}
	pb.Queue("BEGIN")
	pb.Queue("SELECT pg_advisory_xact_lock($1, $2)", classAppend, s.appendKey)
	pb.Queue(s.q.head)
	pb.Queue(s.q.streamHeads, streams)
	if len(ids) > 0 {
		pb.Queue(s.q.lookupIDs, ids)
	}
	br := conn.SendBatch(ctx, pb)
	defer br.Close()
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	head, err := scanHead(br.QueryRow())
	if err != nil {
		return nil, err
	}
	b.pos, b.hash = head.Position, head.Hash
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var st string
		var ver, pos int64
		if err := rows.Scan(&st, &ver, &pos); err != nil {
			rows.Close()
			return nil, err
		}
		b.heads[st] = streamHead{uint64(ver), uint64(pos)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.observe(b, streams)
	found := map[uuid.UUID]*row{}
	if len(ids) > 0 {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		var rd rowReader
		for rows.Next() {
			w, err := rd.read(rows, true)
			if err != nil {
				rows.Close()
				return nil, err
			}
			found[w.id] = &w
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return found, br.Close()
}

// sequence decides one request under the lock: a retry of a stored append,
// a refused one (IDs reused, expected versions not met), one to try again
// in the next batch (its IDs overlap an append accepted in this one), or
// one accepted, with positions, versions and chain hashes assigned.
func (s *Store) sequence(b *batch, r *appendReq, found map[uuid.UUID]*row) {
	for i := range r.evs {
		if _, ok := b.batchIDs[r.evs[i].id]; ok && !r.evs[i].random {
			b.requeue = append(b.requeue, r)
			return
		}
	}
	for i := range r.evs {
		if _, ok := found[r.evs[i].id]; ok {
			r.res, r.retry, r.err = s.findRetry(r, found)
			if r.retry || r.err != nil {
				return
			}
			break
		}
	}
	for _, a := range r.appends {
		if h := b.heads[a.Stream]; !check(a.Expect, h.ver) {
			r.err = &ledger.ConflictError{Stream: a.Stream, Expected: a.Expect, Actual: h.ver}
			return
		}
	}
	// Chain the events into local state first: nothing of b changes unless
	// every event's canonical bytes are valid.
	n := len(b.rows)
	heads := make([]streamHead, len(r.appends))
	for i, a := range r.appends {
		heads[i] = b.heads[a.Stream]
	}
	hash, first := b.hash, b.pos+1
	hashes := make([]byte, 0, 32*len(r.evs))
	for i := range r.evs {
		e := &r.evs[i]
		h := &heads[e.stream]
		ev := ledger.Event{Position: first + uint64(i), Stream: r.appends[e.stream].Stream, Version: h.ver + 1,
			ID: e.id, Type: e.typ, Schema: e.schema, Time: time.Unix(0, e.time), Raw: e.payload}
		var err error
		if b.canon, err = ledger.AppendCanonical(b.canon[:0], &ev, h.pos); err != nil {
			r.err = err
			b.truncate(n)
			return
		}
		hash = ledger.ChainHash(hash, b.canon)
		if b.rebasing {
			b.mids = append(b.mids, b.canon[canonFixed:len(b.canon)-8]...)
			b.midEnd = append(b.midEnd, len(b.mids))
		}
		hashes = append(hashes, hash[:]...)
		b.rows = append(b.rows, eventRow{pos: int64(ev.Position), stream: ev.Stream, ver: int64(ev.Version), id: e.id,
			typ: e.typ, schema: int32(e.schema), time: e.time, payload: e.payload, prev: int64(h.pos), hash: hashes[len(hashes)-32:]})
		h.ver, h.pos = ev.Version, ev.Position
	}
	last := first + uint64(len(r.evs)) - 1
	for i := n; i < len(b.rows); i++ {
		b.rows[i].first, b.rows[i].last = int64(first), int64(last)
	}
	versions := make([]uint64, len(r.appends))
	for i, a := range r.appends {
		versions[i] = heads[i].ver
		if len(a.Events) > 0 {
			b.heads[a.Stream] = heads[i]
		}
	}
	for i := range r.evs {
		if !r.evs[i].random {
			b.batchIDs[r.evs[i].id] = struct{}{}
		}
	}
	b.pos, b.hash = last, hash
	r.res = ledger.AppendResult{First: first, Last: last, Versions: versions}
	b.accepted = append(b.accepted, r)
}

// truncate drops the rows from n on (those of a request being refused).
func (b *batch) truncate(n int) {
	b.rows = b.rows[:n]
	if b.rebasing {
		b.midEnd = b.midEnd[:n]
		b.mids = b.mids[:0]
		if n > 0 {
			b.mids = b.mids[:b.midEnd[n-1]]
		}
	}
}

// canonFixed is the length of the canonical bytes before an event's ID:
// the record format, the position and the version.
const canonFixed = 1 + 8 + 8

// midSlices returns each row's canonical middle (see batch.mids).
func (b *batch) midSlices() [][]byte {
	out := make([][]byte, len(b.midEnd))
	from := 0
	for i, to := range b.midEnd {
		out[i] = b.mids[from:to:to]
		from = to
	}
	return out
}

// queueInsert queues the INSERT of b's rows: many as an array of rows, one
// as values.
func (b *batch) queueInsert(pb *pgx.Batch, many, one string, guard ...any) {
	if len(b.rows) == 1 {
		r := &b.rows[0]
		pb.Queue(one, append([]any{r.pos, r.stream, r.ver, r.id, r.typ, r.schema, r.time, r.payload, r.prev, r.hash, r.first, r.last}, guard...)...)
		return
	}
	pb.Queue(many, append([]any{b.rows}, guard...)...)
}

func check(e ledger.Expect, actual uint64) bool {
	switch {
	case e == ledger.ExpectAny:
		return true
	case e == ledger.ExpectExists:
		return actual > 0
	}
	return uint64(e) == actual
}

// write runs the second round trip: the rows and COMMIT, then NOTIFY,
// pipelined. The NOTIFY runs in a transaction of its own after the COMMIT:
// inside the append's, it would hold PostgreSQL's cluster-wide notification
// lock through the append's WAL flush, making appends to every database on
// the server wait for each other's flushes. A NOTIFY lost with its
// connection only delays listeners until they poll.
func (s *Store) write(ctx context.Context, conn *pgx.Conn, b *batch) error {
	pb := &pgx.Batch{}
	b.queueInsert(pb, s.q.insertEvents, s.q.insertOne)
	pb.Queue("COMMIT")
	commit := pb.Len() - 1
	notify := s.queueNotify(pb)
	br := conn.SendBatch(ctx, pb)
	if h := s.hooks.commitSent; h != nil {
		h(conn)
	}
	for i := range commit + 1 {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return commitErr(ctx, "append", err, i == commit)
		}
	}
	s.notifySent(br, notify)
	return nil
}

// queueNotify queues the NOTIFY that follows a COMMIT, if another store
// listens, and reports whether it did.
func (s *Store) queueNotify(pb *pgx.Batch) bool {
	if !s.others.Load() {
		return false
	}
	pb.Queue(s.q.notify, s.q.channel)
	return true
}

// notifySent reads the result of the NOTIFY that follows a COMMIT, if
// queued, and closes the results. The append has committed: a failure
// here costs listeners a notification.
func (s *Store) notifySent(br pgx.BatchResults, queued bool) {
	var err error
	if queued {
		_, err = br.Exec()
	}
	if err = errors.Join(err, br.Close()); err != nil {
		s.dropConn()
	}
}

func (s *Store) logAppendFailed(err error, b *batch) {
	if !due(&s.logAt.append) {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelError, "pgledger: append transaction failed",
		slog.Any("err", err), slog.Int("appends", len(b.accepted)), slog.Uint64("first", uint64(b.rows[0].pos)), slog.Uint64("last", b.pos))
}

// testHooks let tests break things at exact moments. Nil in production.
type testHooks struct {
	commitSent func(*pgx.Conn) // after an append's round trip carrying COMMIT is sent
	stateSent  func(*pgx.Conn) // after ApplyState's round trip is sent
}
