package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// Waiter is what the service waits on before a command returns, so queries
// read its writes. *projections.Projections implements it.
type Waiter interface {
	WaitApplied(ctx context.Context, position uint64) error
}

// Store is what a Service needs of its storage: the log it reads and appends
// to, and the state space its vault keeps data keys in (Options.Root).
// *ledger.Ledger implements it.
type Store interface {
	ledger.Log
	ledger.StateStore
}

// Options configure New. The zero value works for everything except codes
// and PINs, which need Vault or Root.
type Options struct {
	// Clock is the time of every decision and event. Default time.Now.
	Clock func() time.Time
	// Vault hashes share codes and PINs and seals what the outbox must send.
	// If nil and Root is set, New builds one over a LedgerKeystore in
	// the store.
	Vault *secret.Vault
	// Root is the root secret (≥ 32 random bytes from the backend's secret
	// manager) used when Vault is nil. Never stored.
	Root []byte
	// Projections, if set, is waited on after every append.
	Projections Waiter
	// MaxRetries bounds attempts on version conflicts. Default 64.
	MaxRetries int
	// CacheStreams bounds the folded stream states kept in memory. Default 4096.
	CacheStreams int
	// Issuer, if set, signs an offline credential when a share key is
	// downloaded with DownloadKey.HolderKey, and every admin message.
	Issuer *lockproto.Issuer
	// RetiredIssuers are earlier issuer keys locks may still trust:
	// RotateIssuerKey signs a lock's move to Issuer with the key the lock
	// trusts (rotation.go).
	RetiredIssuers []*lockproto.Issuer
	// Logger receives what an operator must see (see the package
	// documentation, Observability). Default: nothing is logged.
	Logger *slog.Logger
	// ClockTolerance: a lock whose audit shows its clock off by more is
	// flagged for a time sync (clock.go). Default 2 min.
	ClockTolerance time.Duration
	// ZoneRenewBefore: a lock's zone table that ends sooner than this is
	// stale and fresh rules are queued. Default 30 days.
	ZoneRenewBefore time.Duration
	// ZoneRulesAhead: how far past the upload the zone rules the audit's
	// re-issue queues reach (they start a day before it). Default 365
	// days; it must be longer than ZoneRenewBefore.
	ZoneRulesAhead time.Duration
}

// Service executes commands: it loads the streams a command reads (folded
// state cached with its version), decides, and appends the resulting events
// with the exact expected version of every stream it loaded, written or only
// read; a conflict refreshes the states and decides again. Safe for
// concurrent use. Use one Service per ledger.
type Service struct {
	store   Store
	vault   *secret.Vault
	clock   func() time.Time
	waiter  Waiter
	retries int
	cache   *stateCache
	serial  keyLocks
	issuer  *lockproto.Issuer
	keys    map[lockproto.KeyID]*lockproto.Issuer // Issuer and RetiredIssuers by key ID
	obs     observer
	// clockOpts are the clock thresholds (clock.go).
	clockOpts clockOptions
}

// New returns a service over store, whose registry must hold the catalogue
// (Register).
func New(store Store, opts *Options) (*Service, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalid)
	}
	if opts == nil {
		opts = &Options{}
	}
	if _, _, ok := store.Registry().Lookup(events.KeyCreated{}); !ok {
		return nil, fmt.Errorf("%w: the ledger's registry lacks the commands catalogue (call commands.Register)", ErrInvalid)
	}
	s := &Service{store: store, vault: opts.Vault, clock: opts.Clock, waiter: opts.Projections,
		retries: opts.MaxRetries, cache: newStateCache(opts.CacheStreams), issuer: opts.Issuer, keys: issuerKeys(opts)}
	s.obs.init(opts.Logger)
	var err error
	if s.clockOpts, err = clockOptionsOf(opts); err != nil {
		return nil, err
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.retries <= 0 {
		s.retries = 64
	}
	if s.vault == nil && len(opts.Root) > 0 {
		v, err := secret.NewVault(&secret.Options{Root: secret.New(opts.Root), Keystore: NewLedgerKeystore(store)})
		if err != nil {
			return nil, vaultErr(err, "root") // too short: ErrInvalid
		}
		s.vault = v
	}
	return s, nil
}

// Store returns the ledger the service writes to.
func (s *Service) Store() Store { return s.store }

// Vault returns the service's vault (nil if none was configured).
func (s *Service) Vault() *secret.Vault { return s.vault }

func (s *Service) needVault() error {
	if s.vault == nil {
		return fmt.Errorf("%w: codes and PINs need Options.Vault or Options.Root", ErrInvalid)
	}
	return nil
}

// eventID derives the ID of the i-th event of a command.
func eventID(cmd uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(cmd, []byte{'e', byte(i >> 8), byte(i)})
}

func checkCommandID(id uuid.UUID) error {
	if id == uuid.Nil {
		return invalid("command ID", "must be set by the caller (it makes retries idempotent)")
	}
	return nil
}

// txn is one attempt of one command: the states it loaded (with versions)
// and the events it decided.
type txn struct {
	s      *Service
	ctx    context.Context
	now    time.Time
	loaded map[string]cacheEntry
	reads  []string // streams loaded, in order: those not written are the append's conditions
	rbuf   [4]string
	order  []string // streams to append to, in order
	staged map[string][]any
	anyVer map[string]bool        // streams appended with ExpectAny (never loaded)
	ids    map[string][]uuid.UUID // event IDs chosen by the command (emitID), else derived from its ID
}

// load returns the folded state of a stream and remembers its version: the
// expected version of an append to it, or, for a stream the command only
// reads, a condition of the append (the decision holds only if the stream
// did not move). The returned state is shared: never change it.
func (t *txn) load(stream string, zero func() aggregate) (aggregate, error) {
	if e, ok := t.loaded[stream]; ok {
		return e.state, nil
	}
	e, err := t.s.cache.get(t.ctx, t.s.store, stream, zero) // checked by the append (or by current)
	if err != nil {
		return nil, err
	}
	t.loaded[stream] = e
	t.reads = append(t.reads, stream)
	return e.state, nil
}

func (t *txn) key(id string) (*KeyState, error) {
	a, err := t.load(keyStream(id), func() aggregate { return &KeyState{} })
	if err != nil {
		return nil, err
	}
	return a.(*KeyState), nil
}

func (t *txn) lock(id string) (*LockState, error) {
	a, err := t.load(lockStream(id), func() aggregate { return &LockState{} })
	if err != nil {
		return nil, err
	}
	return a.(*LockState), nil
}

func (t *txn) account(id string) (*AccountState, error) {
	a, err := t.load(accountStream(id), func() aggregate { return &AccountState{} })
	if err != nil {
		return nil, err
	}
	return a.(*AccountState), nil
}

// emit stages events for a stream that was loaded in this attempt (its
// expected version is the loaded one). Event values, not pointers.
func (t *txn) emit(stream string, events ...any) {
	if len(events) == 0 {
		return
	}
	if _, ok := t.staged[stream]; !ok {
		t.order = append(t.order, stream)
	}
	t.staged[stream] = append(t.staged[stream], events...)
}

// emitID stages one event with an ID the command chose (audit ingest
// derives them from the lock and the audit sequence number). A stream's
// events are all emitted with emitID or none.
func (t *txn) emitID(stream string, id uuid.UUID, event any) {
	if t.ids == nil {
		t.ids = map[string][]uuid.UUID{}
	}
	t.ids[stream] = append(t.ids[stream], id)
	t.emit(stream, event)
}

// emitAny stages events for a stream appended without a version check
// (append-only logs such as the outbox acknowledgements).
func (t *txn) emitAny(stream string, events ...any) {
	if t.anyVer == nil {
		t.anyVer = map[string]bool{}
	}
	t.anyVer[stream] = true
	t.emit(stream, events...)
}

// execute runs a command: a command ID seen before returns the events it
// appended then, if same finds they are this command's (else an
// *IDReusedError; idreuse.go); otherwise decide runs against fresh state and
// its events are appended atomically with exact expected versions, retrying
// on conflict. decide must be a pure function of the loaded states (plus
// values computed before execute); it may run several times. same is nil
// only for commands whose ID derives from their content.
func (s *Service) execute(ctx context.Context, cmd uuid.UUID, same sameFunc, decide func(t *txn) error) ([]ledger.Event, error) {
	return s.executeOn(ctx, cmd, "", same, decide)
}

// executeOn is execute serialised with other commands on the same stream
// (usually the key's) in this process.
func (s *Service) executeOn(ctx context.Context, cmd uuid.UUID, stream string, same sameFunc, decide func(t *txn) error) ([]ledger.Event, error) {
	if err := checkCommandID(cmd); err != nil {
		return nil, err
	}
	var pos uint64
	evs, err := func() ([]ledger.Event, error) {
		if stream != "" {
			defer s.serial.lock(stream)()
		}
		return s.attempts(ctx, cmd, same, decide, &pos)
	}()
	if err != nil || pos == 0 {
		return evs, err
	}
	return evs, s.wait(ctx, pos)
}

// attempts decides and appends until the append holds. A command ID seen
// before is recognised without a lookup on the common path: the ledger
// returns the original result for an append whose event IDs it has already
// written, and the versions in that result tell it apart from a fresh one.
// Only when deciding fails (the retried command may be refused now), the IDs
// clash (the retry decided other events, or the ID was reused), or every
// stream is appended without a version check, is the log asked for the
// command's first event ID. Whatever the ID appended before is returned only
// if same finds it was this command.
func (s *Service) attempts(ctx context.Context, cmd uuid.UUID, same sameFunc, decide func(t *txn) error, last *uint64) ([]ledger.Event, error) {
	replayed := func() ([]ledger.Event, bool, error) {
		evs, err := s.replay(ctx, cmd)
		if err != nil || evs == nil {
			return nil, false, err
		}
		if err := checkSame(cmd, evs, same); err != nil {
			return nil, true, err
		}
		*last = evs[len(evs)-1].Position
		return evs, true, nil
	}
	for attempt := 0; attempt < s.retries; attempt++ {
		if attempt > 0 {
			backoff(ctx, attempt)
		}
		t := &txn{s: s, ctx: ctx, now: s.clock(), loaded: map[string]cacheEntry{}, staged: map[string][]any{}}
		t.reads = t.rbuf[:0]
		if err := decide(t); err != nil {
			if evs, ok, rerr := replayed(); rerr != nil || ok {
				return evs, rerr
			}
			// Refuse only on current state: a cached state may be behind
			// events another writer appended.
			if cur, verr := s.current(ctx, t); verr != nil || !cur {
				if verr != nil {
					return nil, verr
				}
				continue
			}
			return nil, err
		}
		if len(t.order) == 0 { // nothing to do, unless the ID did something else before
			if evs, ok, rerr := replayed(); rerr != nil || ok {
				return evs, rerr
			}
			// No append checks what it read: like a refusal, "nothing to
			// do" stands only on current state.
			if cur, err := s.current(ctx, t); err != nil || !cur {
				if err != nil {
					return nil, err
				}
				continue
			}
			return nil, nil
		}
		if len(t.anyVer) == len(t.order) { // no version check to tell a retry
			if evs, ok, rerr := replayed(); rerr != nil || ok {
				return evs, rerr
			}
		}
		appends, out, err := t.appends(cmd)
		if err != nil {
			return nil, err
		}
		res, err := s.store.AppendMulti(ctx, appends...)
		if errors.Is(err, ledger.ErrConflict) { // a stream written or read moved: decide again
			for _, a := range appends {
				s.cache.stale(a.Stream)
			}
			continue
		}
		if errors.Is(err, ledger.ErrDuplicateID) { // the command ID appended other events before
			if evs, ok, rerr := replayed(); rerr != nil || ok {
				return evs, rerr
			}
		}
		if err != nil {
			return nil, err
		}
		// Versions has an entry per append entry; a condition's is the
		// version it was checked at and tells nothing.
		retry := len(res.Versions) != len(appends)
		for i, stream := range t.order {
			if !t.anyVer[stream] && !retry && res.Versions[i] != t.loaded[stream].version+uint64(len(t.staged[stream])) {
				retry = true
			}
		}
		if retry { // the ledger returned the original append of this command ID
			for _, stream := range t.order {
				s.cache.stale(stream)
			}
			evs, err := s.readRange(ctx, res.First, res.Last)
			if err != nil {
				return nil, err
			}
			if err := checkSame(cmd, evs, same); err != nil {
				return nil, err
			}
			*last = res.Last
			return evs, nil
		}
		for i := range out {
			out[i].Position = res.First + uint64(i)
		}
		vi := 0
		for i, stream := range t.order { // exact versions (ExpectAny streams too)
			n := uint64(len(t.staged[stream]))
			for j := range n {
				out[vi].Version = res.Versions[i] - n + 1 + j
				vi++
			}
		}
		s.cache.advance(t, out)
		*last = res.Last
		s.observe(ctx, out)
		return out, nil
	}
	return nil, s.busy(ctx, cmd, s.retries)
}

// appends turns t's decision into the entries of one AppendMulti: each
// stream written with its events and the version it was loaded at (or
// ExpectAny), then each stream only read, as a condition at the version it
// was loaded at, so the decision holds for everything it read. It also
// returns the events as they will be stored (positions and versions of
// ExpectAny streams are filled in after the append).
//
// Every read is a condition. A stream must not be loaded by a decision if
// its moves would refuse appends for nothing: a log appended without a
// version check (the outbox, whose acknowledgements come from every
// delivery) is written with emitAny and never loaded; what a command reads
// outside its decision (the lookups that pick the stream it serialises on,
// the sameFunc comparisons, queries) is no condition, and a decision loads
// again whatever it relies on.
func (t *txn) appends(cmd uuid.UUID) ([]ledger.StreamAppend, []ledger.Event, error) {
	appends := make([]ledger.StreamAppend, 0, len(t.order)+len(t.reads))
	var out []ledger.Event
	n := 0
	for _, stream := range t.order {
		e, ok := t.loaded[stream]
		expect := ledger.ExpectVersion(e.version)
		if t.anyVer[stream] {
			expect = ledger.ExpectAny
		} else if !ok {
			return nil, nil, fmt.Errorf("commands: internal: stream %q appended without being loaded", stream)
		}
		evs := make([]ledger.NewEvent, len(t.staged[stream]))
		for j, d := range t.staged[stream] {
			id := eventID(cmd, n)
			if ids := t.ids[stream]; j < len(ids) {
				id = ids[j]
			}
			n++
			evs[j] = ledger.NewEvent{ID: id, Data: d, Time: t.now}
			out = append(out, ledger.Event{Stream: stream, Version: e.version + uint64(j) + 1, ID: id, Time: t.now, Data: d})
		}
		appends = append(appends, ledger.StreamAppend{Stream: stream, Expect: expect, Events: evs})
	}
	for _, stream := range t.reads {
		if _, written := t.staged[stream]; !written {
			appends = append(appends, ledger.StreamAppend{Stream: stream, Expect: ledger.ExpectVersion(t.loaded[stream].version)})
		}
	}
	return appends, out, nil
}

// current reports whether the streams t loaded are still at the versions it
// saw (one version read each), for a decision that appends nothing to check
// them; stale ones are marked for refresh.
func (s *Service) current(ctx context.Context, t *txn) (bool, error) {
	cur := true
	for stream, e := range t.loaded {
		v, err := s.store.StreamVersion(ctx, stream)
		if err != nil {
			return false, err
		}
		if v != e.version {
			s.cache.stale(stream)
			cur = false
		}
	}
	return cur, nil
}

func (s *Service) readRange(ctx context.Context, first, last uint64) ([]ledger.Event, error) {
	out := make([]ledger.Event, 0, last-first+1)
	for p := first; p <= last; p++ {
		ev, err := s.store.EventAt(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// backoff sleeps a little, with jitter, before another attempt.
func backoff(ctx context.Context, attempt int) {
	d := time.Duration(rand.Int64N(int64(50*time.Microsecond) << min(attempt, 8)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Service) wait(ctx context.Context, pos uint64) error {
	if s.waiter == nil {
		return nil
	}
	return s.waiter.WaitApplied(ctx, pos)
}

// replay returns the events a command appended before, or nil if it never did.
func (s *Service) replay(ctx context.Context, cmd uuid.UUID) ([]ledger.Event, error) {
	first, err := s.store.EventByID(ctx, eventID(cmd, 0))
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := []ledger.Event{first}
	for i := 1; ; i++ {
		ev, err := s.store.EventAt(ctx, first.Position+uint64(i))
		if errors.Is(err, ledger.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		if ev.ID != eventID(cmd, i) {
			break
		}
		out = append(out, ev)
	}
	return out, nil
}

func firstOf[T any](evs []ledger.Event) (T, bool) {
	for _, ev := range evs {
		if d, ok := ev.Data.(T); ok {
			return d, true
		}
	}
	var zero T
	return zero, false
}
