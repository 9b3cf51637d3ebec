package pgledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

var _ ledger.Leaser = (*Store)(nil)

// held is a lease this Store holds: the session advisory lock of the
// subscriber's name on a connection of its own. State batches that set the
// lease's checkpoint commit through that connection, in that session, so
// they commit only while the lock is held: if the connection breaks, the
// server releases the lock and no later write of this holder commits.
type held struct {
	mu     sync.Mutex // serialises the connection's users
	conn   *pgx.Conn  // nil once released: the session may serve another lease
	cancel context.CancelFunc
}

// leaseKey is the context key of a lease: the context Lease returns
// carries it, and an ApplyState under that context goes through it.
type leaseKey struct{}

type leaseValue struct {
	s    *Store
	name string
	h    *held
}

// leaseOf returns the lease ctx was made under, if it is this Store's and
// named name.
func (s *Store) leaseOf(ctx context.Context, name string) *held {
	v, ok := ctx.Value(leaseKey{}).(leaseValue)
	if !ok || v.s != s || v.name != name {
		return nil
	}
	return v.h
}

// Lease takes the lease name, waiting while another Store (any process)
// holds it, trying again every PollInterval: the same lease Subscribe takes,
// so the two exclude each other. The returned context ends when ctx ends,
// release is called, or the lease is lost: its connection is checked every
// PollInterval and a failed check ends it. An ApplyState under that
// context whose batch sets the checkpoint name is fenced: it runs in the
// lease's session, so it commits only while the lease is held, and fails
// once the lease is gone (ErrUnavailable, or the context's error).
func (s *Store) Lease(ctx context.Context, name string) (context.Context, func(), error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	if err := s.enter(); err != nil {
		return nil, nil, err
	}
	s.leave()
	conn, key, err := s.lease(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	h := &held{conn: conn}
	hctx, cancel := context.WithCancel(context.WithValue(ctx, leaseKey{}, leaseValue{s, name, h}))
	h.cancel = cancel
	release := sync.OnceFunc(func() {
		cancel()
		h.mu.Lock()
		s.endLease(h.conn, key)
		h.conn = nil
		h.mu.Unlock()
	})
	stop := context.AfterFunc(hctx, release)
	go s.watchLease(hctx, name, h, func() { stop(); release() })
	return hctx, release, nil
}

// watchLease pings the lease's connection every PollInterval until ctx
// ends; a failed ping ends the lease.
func (s *Store) watchLease(ctx context.Context, name string, h *held, lost func()) {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			lost()
			return
		case <-t.C:
		}
		h.mu.Lock()
		if h.conn == nil { // released
			h.mu.Unlock()
			return
		}
		pctx, cancel := context.WithTimeout(ctx, max(s.poll, time.Second))
		err := h.conn.Ping(pctx)
		cancel()
		h.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "pgledger: lost the lease with its connection", slog.String("lease", name), slog.String("error", err.Error()))
			lost()
			return
		}
	}
}

// applyLeased sends a state batch through the lease's session.
func (s *Store) applyLeased(ctx context.Context, name string, h *held, pb *pgx.Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil || h.conn.IsClosed() {
		return fmt.Errorf("pgledger: apply state: the lease %q is no longer held: %w", name, ledger.ErrUnavailable)
	}
	br := h.conn.SendBatch(ctx, pb)
	n := pb.Len()
	var err error
	for i := range n {
		if _, e := br.Exec(); e != nil {
			err = commitErr(ctx, "apply state", e, i == n-1)
			break
		}
	}
	if e := br.Close(); err == nil && e != nil {
		err = commitErr(ctx, "apply state", e, true)
	}
	if err != nil {
		// The transaction may be left open: end the session, and the lease.
		_ = h.conn.Close(context.Background())
		h.cancel()
		if !errors.Is(err, ledger.ErrUnknownOutcome) && !errors.Is(err, ledger.ErrUnavailable) && ctx.Err() == nil {
			return err
		}
		return fmt.Errorf("%w (the lease %q ended with it)", err, name)
	}
	return nil
}
