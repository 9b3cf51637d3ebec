package pgledger

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keyledger/keyledger/ledger"
)

// Follow yields events from position from, in order, and then waits for
// new ones, until the context ends (the last value is ctx.Err()) or the
// store closes (ErrClosed). It reads position > n in chunks; once caught
// up it waits for a notification of a commit, or PollInterval, whichever
// comes first, and reads again, so a lost notification delays an event by
// at most PollInterval and never loses it. A server that cannot be reached
// (ErrUnavailable) does not end it: it logs and tries again every
// PollInterval.
func (s *Store) Follow(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error] {
	return s.followFrom(ctx, from, false)
}

// FollowRaw is Follow with every event's Data left nil, for a reader that
// decodes the payloads itself (see ledger.RawFeed).
func (s *Store) FollowRaw(ctx context.Context, from uint64) iter.Seq2[ledger.Event, error] {
	return s.followFrom(ctx, from, true)
}

func (s *Store) followFrom(ctx context.Context, from uint64, undecoded bool) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		if err := s.enter(); err != nil {
			yield(ledger.Event{}, err)
			return
		}
		s.leave()
		s.follow(ctx, nil, "", max(from, 1), undecoded, yield)
	}
}

// Subscribe follows the log from just after the named checkpoint (see
// Checkpoint), holding the subscriber's lease meanwhile: a session advisory
// lock on a connection of its own, keyed by the schema and name. While
// another Store (any process) holds the lease, Subscribe waits, trying
// again every PollInterval, and yields nothing; when the holder's iteration
// ends or its connection closes, one waiter takes over and resumes after
// the checkpoint the holder last stored. So two processes never apply the
// same events at once. Events are read through the lease's connection: if
// it breaks, the lease is gone and the iteration ends with ErrUnavailable
// (an event delivered just before may be delivered to the next holder
// again, since delivery is at least once, up to the checkpoint).
func (s *Store) Subscribe(ctx context.Context, name string) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		if err := checkName(name); err != nil {
			yield(ledger.Event{}, err)
			return
		}
		if err := s.enter(); err != nil {
			yield(ledger.Event{}, err)
			return
		}
		s.leave()
		conn, key, err := s.lease(ctx, name)
		if err != nil {
			yield(ledger.Event{}, err)
			return
		}
		// The lease is ended before the last value is yielded, so whoever
		// sees the iteration end can subscribe again at once.
		release := sync.OnceFunc(func() { s.endLease(conn, key) })
		defer release()
		cp, err := s.Checkpoint(ctx, name)
		if err != nil {
			release()
			yield(ledger.Event{}, err)
			return
		}
		s.follow(ctx, conn, name, cp+1, false, func(e ledger.Event, err error) bool {
			if err != nil {
				release()
			}
			return yield(e, err)
		})
	}
}

// follow yields from next on, reading through db (the pool if nil; a
// subscriber's lease connection otherwise, named by sub).
func (s *Store) follow(ctx context.Context, db querier, sub string, next uint64, undecoded bool, yield func(ledger.Event, error) bool) {
	for {
		if err := ctx.Err(); err != nil {
			yield(ledger.Event{}, err)
			return
		}
		seen := s.durable.Load()
		batch, err := s.chunk(ctx, db, next, 0, undecoded)
		for i, e := range batch {
			if i > 0 && ctx.Err() != nil {
				break // reported at the top of the loop
			}
			if !yield(e, nil) {
				return
			}
			next = e.Position + 1
		}
		switch {
		case err != nil && ctx.Err() != nil:
			continue
		case err != nil && db == nil && errors.Is(err, ledger.ErrUnavailable):
			s.logUnavailable("follow", err)
			if err := s.pause(ctx); err != nil {
				yield(ledger.Event{}, err)
				return
			}
			continue
		case err != nil && db != nil && errors.Is(err, ledger.ErrUnavailable):
			yield(ledger.Event{}, fmt.Errorf("pgledger: subscriber %q lost its lease with its connection: %w", sub, err))
			return
		case err != nil:
			yield(ledger.Event{}, err)
			return
		case len(batch) == readChunk:
			continue
		}
		if err := s.waitPast(ctx, max(seen, next-1)); err != nil {
			yield(ledger.Event{}, err)
			return
		}
	}
}

// waitPast waits until the watermark passes pos, PollInterval passes, the
// context ends or the store closes.
func (s *Store) waitPast(ctx context.Context, pos uint64) error {
	ch := s.notified()
	if s.durable.Load() > pos {
		return nil
	}
	return s.sleep(ctx, ch)
}

// pause waits PollInterval, unless ctx ends or the store closes.
func (s *Store) pause(ctx context.Context) error { return s.sleep(ctx, nil) }

func (s *Store) sleep(ctx context.Context, wake <-chan struct{}) error {
	t := time.NewTimer(s.poll)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ledger.ErrClosed
	}
	return nil
}

// WaitDurable blocks until position pos is committed, the context ends or
// the store closes. It asks the server first, then waits for notifications,
// asking again every PollInterval.
func (s *Store) WaitDurable(ctx context.Context, pos uint64) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.leave()
	asked := false
	for {
		ch := s.notified()
		if s.durable.Load() >= pos {
			return nil
		}
		if !asked {
			asked = true
			_, _ = s.Head(ctx) // raises the watermark; an error only means waiting
			continue
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ch:
		case <-t.C:
			asked = false
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.closing:
			t.Stop()
			if s.durable.Load() >= pos {
				return nil
			}
			return ledger.ErrClosed
		}
		t.Stop()
	}
}

// listen keeps a connection LISTENing to the store's channel and raises the
// watermark with each commit notified, asking for the head after every
// PollInterval without one and after each reconnection. Every PollInterval
// it also learns whether another store listens (see others).
func (s *Store) listen(ctx context.Context) {
	defer close(s.ldone)
	defer s.others.Store(true)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), s.poll)
			_ = conn.Close(cctx)
			cancel()
		}
	}()
	var checked time.Time
	for ctx.Err() == nil {
		if conn == nil {
			s.others.Store(true)
			c, err := s.listenConn(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.logUnavailable("listen", err)
				}
				_ = s.sleep(ctx, nil)
				continue
			}
			conn, checked = c, time.Time{}
		}
		var err error
		if time.Since(checked) >= s.poll {
			if err = s.countListeners(ctx, conn); err == nil {
				checked = time.Now()
			}
		}
		var n *pgconn.Notification
		timedOut := false
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, s.poll)
			n, err = conn.WaitForNotification(wctx)
			timedOut = wctx.Err() != nil
			cancel()
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if p, err := strconv.ParseUint(n.Payload, 10, 64); err == nil {
				s.advance(p)
			}
			continue
		case timedOut && !conn.IsClosed():
			if err = s.pollHead(ctx, conn); err == nil {
				continue
			}
		}
		s.logUnavailable("listen", err)
		cctx, cancel := context.WithTimeout(context.Background(), s.poll)
		_ = conn.Close(cctx)
		cancel()
		conn = nil
	}
}

// listenerApp is the application_name of every store's listening session,
// by which stores find each other (countListeners).
func (s *Store) listenerApp() string { return "keyledger listener " + s.schema }

// countListeners sets others: whether a session other than this store's
// listener listens for this ledger's appends. Appends skip their NOTIFY
// while none does: its only reader would be this store, which knows its
// own commits. A store that starts listening is counted by the others
// within PollInterval, and polls meanwhile, so it sees every commit, at
// worst PollInterval late, while it is new.
func (s *Store) countListeners(ctx context.Context, conn *pgx.Conn) error {
	var n int
	err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
		s.listenerApp()).Scan(&n)
	s.others.Store(err != nil || n > 0)
	return err
}

func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.connCfg.Copy()
	cfg.RuntimeParams["application_name"] = s.listenerApp()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.q.channel}.Sanitize()); err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	if err := s.pollHead(ctx, conn); err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

func (s *Store) pollHead(ctx context.Context, conn *pgx.Conn) error {
	d, err := scanHead(conn.QueryRow(ctx, s.q.head))
	if err != nil {
		return err
	}
	s.advance(d.Position)
	return nil
}

// spareLeases bounds the sessions a Store keeps, idle, after their leases
// ended, each for at most spareIdle. A lease taken again soon, as a rebuild
// does, starts on one of them: no connection to set up, no cold caches in
// a new server process, and no wait for the server to notice that a closed
// session's lock is free (it frees it asynchronously, so the lease would
// be found held, and taken a PollInterval later).
const (
	spareLeases = 2
	spareIdle   = time.Second
)

// spareConn is a spare lease session and its turn as a spare: the timer of
// an earlier turn must not close it.
type spareConn struct {
	conn *pgx.Conn
	turn uint64
}

// lease takes the subscriber's lease on a session of its own (a spare one
// if any), waiting while another session holds it. It returns the session
// and the lock's key, for endLease.
func (s *Store) lease(ctx context.Context, name string) (*pgx.Conn, int32, error) {
	conn, spare := s.spareLease()
	if conn == nil {
		var err error
		if conn, err = pgx.ConnectConfig(ctx, s.connCfg.Copy()); err != nil {
			return nil, 0, readErr(ctx, "subscribe", err)
		}
	}
	key := lockKey(s.schema + "\x00" + name)
	logged := false
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", classLease, key).Scan(&ok); err != nil {
			_ = conn.Close(context.Background())
			if spare && ctx.Err() == nil {
				// It may have been cut while it idled: start on a new one.
				spare = false
				if conn, err = pgx.ConnectConfig(ctx, s.connCfg.Copy()); err != nil {
					return nil, 0, readErr(ctx, "subscribe", err)
				}
				continue
			}
			return nil, 0, readErr(ctx, "subscribe: lease", err)
		}
		spare = false
		if ok {
			if logged {
				s.log.LogAttrs(ctx, slog.LevelInfo, "pgledger: subscriber took over its lease", slog.String("subscriber", name))
			}
			return conn, key, nil
		}
		if !logged {
			logged = true
			s.log.LogAttrs(ctx, slog.LevelInfo, "pgledger: subscriber waits: another process holds its lease", slog.String("subscriber", name))
		}
		if err := s.pause(ctx); err != nil {
			_ = conn.Close(context.Background())
			return nil, 0, err
		}
	}
}

// spareLease takes a spare lease session, if there is one.
func (s *Store) spareLease() (*pgx.Conn, bool) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if n := len(s.spare); n > 0 {
		conn := s.spare[n-1].conn
		s.spare[n-1] = spareConn{}
		s.spare = s.spare[:n-1]
		return conn, true
	}
	return nil, false
}

// endLease ends a lease taken by lease: it unlocks and keeps the session
// as a spare, or, if it cannot unlock or keep it, closes it (the server
// then frees the lock when it notices). The caller must not use conn after.
func (s *Store) endLease(conn *pgx.Conn, key int32) {
	ctx, cancel := context.WithTimeout(context.Background(), s.poll)
	defer cancel()
	var unlocked bool
	if !conn.IsClosed() && conn.PgConn().TxStatus() == 'I' {
		if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1, $2)", classLease, key).Scan(&unlocked); err != nil {
			unlocked = false
		}
	}
	if unlocked {
		s.lmu.Lock()
		kept := !s.stopping.Load() && len(s.spare) < spareLeases
		s.spares++
		sc := spareConn{conn: conn, turn: s.spares}
		if kept {
			s.spare = append(s.spare, sc)
		}
		s.lmu.Unlock()
		if kept {
			time.AfterFunc(spareIdle, func() { s.dropSpare(sc) })
			return
		}
	}
	_ = conn.Close(ctx)
}

// dropSpare closes a spare session if it is still a spare in the same turn
// (idle since then).
func (s *Store) dropSpare(sc spareConn) {
	s.lmu.Lock()
	i := slices.Index(s.spare, sc)
	if i >= 0 {
		s.spare = slices.Delete(s.spare, i, i+1)
	}
	s.lmu.Unlock()
	if i >= 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.poll)
		_ = sc.conn.Close(ctx)
		cancel()
	}
}

// closeSpares closes the spare lease sessions (Close).
func (s *Store) closeSpares() {
	s.lmu.Lock()
	spare := s.spare
	s.spare = nil
	s.lmu.Unlock()
	for _, sc := range spare {
		ctx, cancel := context.WithTimeout(context.Background(), s.poll)
		_ = sc.conn.Close(ctx)
		cancel()
	}
}
