package pgledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/keyledger/keyledger/ledger"
)

// Options configure Open. Registry is required; every other zero value is a
// default.
type Options struct {
	// Registry maps Go types to event type names (required).
	Registry *ledger.Registry
	// Clock stamps events whose NewEvent.Time is zero. Default time.Now.
	Clock func() time.Time
	// Logger receives what an operator must see (see the package
	// documentation, Observability). Default: nothing is logged.
	Logger *slog.Logger
	// MaxConns bounds the pool of connections for reads and state writes.
	// Appends, the notification listener and each subscriber's lease use
	// one connection of their own beside it. Default: the DSN's
	// pool_max_conns, else 16.
	MaxConns int32
	// Schema is the PostgreSQL schema holding the ledger's tables (created
	// if missing): lower-case letters, digits and '_', at most 40 bytes,
	// not starting with a digit. Two ledgers in one database need two
	// schemas. Default "keyledger".
	Schema string
	// PollInterval bounds how late a reader waiting for new events (Follow,
	// Subscribe, WaitDurable) notices one whose notification was lost, and
	// how often a waiting subscriber tries to take over a lease. Default
	// 500ms.
	PollInterval time.Duration
	// WriteTimeout bounds one append transaction (the lock wait included);
	// past it, appends whose commit was sent get ErrUnknownOutcome. Default
	// 30s.
	WriteTimeout time.Duration
}

const (
	defaultSchema       = "keyledger"
	defaultMaxConns     = 16
	defaultPollInterval = 500 * time.Millisecond
	defaultWriteTimeout = 30 * time.Second
	maxSchemaLen        = 40
)

// Store is a ledger on PostgreSQL: every storage role of package ledger and
// io.Closer. All methods are safe for concurrent use, and any number of
// Stores, in any number of processes, may share one database.
type Store struct {
	pool      *pgxpool.Pool
	connCfg   *pgx.ConnConfig // for the connections outside the pool
	reg       *ledger.Registry
	clock     func() time.Time
	log       *slog.Logger
	poll      time.Duration
	wtime     time.Duration
	q         queries
	schema    string
	appendKey int32 // the second key of the append and migration locks (see batch.go)

	// gate is held shared by every operation and exclusively by Close.
	gate     sync.RWMutex
	closed   bool        // under gate
	stopping atomic.Bool // Close has begun: no new operation starts
	closing  chan struct{}
	stopBG   context.CancelFunc // ends the listener

	// The append queue, drained by the committer goroutine.
	qmu       sync.Mutex
	queue     []*appendReq
	wake      chan struct{} // cap 1
	cdone     chan struct{} // closed when the committer has stopped
	ldone     chan struct{} // closed when the listener has stopped
	wconn     *pgx.Conn     // the committer's connection; only it touches it
	wused     time.Time     // when the committer last used wconn
	idleAfter time.Duration // idleCheck; tests raise it
	view      view          // the committer's view of the log; only it touches it
	counts    batchCounts
	others    atomic.Bool // another store listens: appends NOTIFY (see countListeners)
	hooks     testHooks
	logAt     logTimes
	closer    sync.Once

	// Sessions kept after their leases ended (see spareLeases); none is
	// added once stopping is set.
	lmu    sync.Mutex
	spare  []spareConn
	spares uint64 // sessions made spare so far: tells a spare's turns apart

	// The durable watermark: every position up to it is committed.
	wm      sync.Mutex
	durable atomic.Uint64
	notify  chan struct{} // closed and replaced when durable advances
}

var (
	_ ledger.Log        = (*Store)(nil)
	_ ledger.Feed       = (*Store)(nil)
	_ ledger.StateStore = (*Store)(nil)
	_ ledger.Verifier   = (*Store)(nil)
	_ io.Closer         = (*Store)(nil)
)

// Open connects to the database dsn names (a postgres:// URL or a
// keyword/value string, as pgx reads it), creates or upgrades the ledger's
// tables in Options.Schema, and starts the append committer and the
// notification listener. An unreachable server is ErrUnavailable; a
// database whose ledger schema is newer than this package is
// ledger.ErrUnknownFormat; invalid options are ledger.ErrInvalid (all
// problems joined).
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	cfg, err := o.validate(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{
		connCfg: cfg.ConnConfig,
		reg:     o.Registry,
		clock:   o.Clock,
		log:     o.Logger,
		poll:    o.PollInterval,
		wtime:   o.WriteTimeout,
		schema:  o.Schema,
		q:       newQueries(o.Schema),
		closing: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		cdone:   make(chan struct{}),
		ldone:   make(chan struct{}),
		notify:  make(chan struct{}),

		idleAfter: idleCheck,
	}
	s.appendKey = lockKey(o.Schema)
	s.others.Store(true)
	s.others.Store(true)
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgledger: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	head, err := s.Head(ctx)
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	s.durable.Store(head.Position)
	s.checkSyncCommit(ctx)
	bg, stop := context.WithCancel(context.Background())
	s.stopBG = stop
	go s.commitLoop()
	go s.listen(bg)
	return s, nil
}

// validate fills in defaults and returns the pool configuration.
func (o *Options) validate(dsn string) (*pgxpool.Config, error) {
	var errs []error
	if o.Registry == nil {
		errs = append(errs, fmt.Errorf("%w: Options.Registry is required", ledger.ErrInvalid))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Schema == "" {
		o.Schema = defaultSchema
	}
	if !validSchema(o.Schema) {
		errs = append(errs, fmt.Errorf("%w: Options.Schema %q: want 1..%d bytes of a-z, 0-9 and _, not starting with a digit", ledger.ErrInvalid, o.Schema, maxSchemaLen))
	}
	if o.PollInterval == 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.PollInterval < 0 || o.WriteTimeout < 0 || o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("%w: negative Options.PollInterval %v, WriteTimeout %v or MaxConns %d", ledger.ErrInvalid, o.PollInterval, o.WriteTimeout, o.MaxConns))
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: say only where it failed.
		errs = append(errs, fmt.Errorf("%w: the DSN does not parse (want postgres://user@host:port/database or key=value pairs)", ledger.ErrInvalid))
	} else {
		switch cfg.ConnConfig.DefaultQueryExecMode {
		case pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec:
			errs = append(errs, fmt.Errorf("%w: default_query_exec_mode %v: the ledger reads binary results and needs a mode that describes statements", ledger.ErrInvalid, cfg.ConnConfig.DefaultQueryExecMode))
		}
		switch {
		case o.MaxConns > 0:
			cfg.MaxConns = o.MaxConns
		case !strings.Contains(dsn, "pool_max_conns"):
			cfg.MaxConns = defaultMaxConns
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

func validSchema(s string) bool {
	if s == "" || len(s) > maxSchemaLen || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// lockKey derives a 32-bit advisory lock key from s.
func lockKey(s string) int32 {
	h := sha256.Sum256([]byte(s))
	return int32(binary.BigEndian.Uint32(h[:4]))
}

// checkSyncCommit warns when the server acknowledges commits before they
// are flushed: then an acknowledged append may be lost in a crash.
func (s *Store) checkSyncCommit(ctx context.Context) {
	var v string
	if err := s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err == nil && v == "off" {
		s.log.LogAttrs(ctx, slog.LevelWarn, "pgledger: the server's synchronous_commit is off: an acknowledged append can be lost if the server crashes",
			slog.String("synchronous_commit", v))
	}
}

// Registry returns the store's type registry.
func (s *Store) Registry() *ledger.Registry { return s.reg }

// enter admits an operation; the caller must call s.leave when done.
func (s *Store) enter() error {
	s.gate.RLock()
	if s.closed || s.stopping.Load() {
		s.gate.RUnlock()
		return ledger.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.gate.RUnlock() }

// Close stops new operations, waits for those in flight (appends already
// queued are committed or failed first), stops the committer and the
// listener and closes the connections. Later calls return ErrClosed.
func (s *Store) Close() error {
	first := false
	s.closer.Do(func() { first = true })
	if !first {
		return ledger.ErrClosed
	}
	s.stopping.Store(true)
	close(s.closing)
	s.gate.Lock()
	s.closed = true
	s.gate.Unlock()
	s.signal() // the committer drains what is queued, then stops
	<-s.cdone
	s.stopBG()
	<-s.ldone
	s.pool.Close()
	s.closeSpares()
	return nil
}

// DurablePosition is the highest position this store knows to be committed
// (and so durable): its own appends, those it read and those it was
// notified of. Another process's append is covered after its notification
// arrives, within PollInterval if one is lost.
func (s *Store) DurablePosition() uint64 { return s.durable.Load() }

// advance raises the durable watermark to pos and wakes its waiters.
func (s *Store) advance(pos uint64) {
	if pos <= s.durable.Load() {
		return
	}
	s.wm.Lock()
	if pos > s.durable.Load() {
		s.durable.Store(pos)
		close(s.notify)
		s.notify = make(chan struct{})
	}
	s.wm.Unlock()
}

// notified returns the channel closed when the watermark next advances.
func (s *Store) notified() <-chan struct{} {
	s.wm.Lock()
	defer s.wm.Unlock()
	return s.notify
}
