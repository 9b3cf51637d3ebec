package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

// ErrClosed is returned by WaitApplied and Rebuild after Close (queries
// keep answering from what was applied).
var ErrClosed = errors.New("projections: closed")

// DefaultName is the checkpoint name of the read models.
const DefaultName = "keyledger/projections"

// prefix is the state-space prefix of every row of the read models. Rebuild
// deletes exactly this prefix (never commands.KeystorePrefix).
const prefix = "p/"

// Options configure Open. The zero value works.
type Options struct {
	// Name is the checkpoint name. Default DefaultName.
	Name string
	// BatchSize bounds the events applied per ApplyState. Default 1024.
	BatchSize int
	// Logger receives what an operator must see: the projections stopping
	// on an error, falling behind the log, catching up (see the package
	// documentation, Observability). Default: nothing is logged.
	Logger *slog.Logger
	// LagAlert is how long a durable event may wait to be applied before
	// the projections log that they fall behind. Default 10 s; negative:
	// never.
	LagAlert time.Duration
}

// Store is what Projections needs of its storage: the log it follows, the
// events it reads back by position, and the state space that holds its rows
// and checkpoint. *ledger.Ledger implements it.
type Store interface {
	ledger.Feed
	ledger.StateStore
	EventAt(ctx context.Context, pos uint64) (ledger.Event, error)
}

// Projections maintains keyledger's read models from the log. It follows the
// log as a subscriber, applies events in position order and commits the rows
// and the checkpoint in one ApplyState. Safe for concurrent use.
type Projections struct {
	store Store
	name  string
	batch int

	applied atomic.Uint64
	wm      sync.Mutex
	notify  chan struct{}
	failed  atomic.Pointer[error]

	lease   ledger.Leaser // set if the store is shared: see lead
	leading atomic.Bool   // this instance applies (holds the lease)

	run    sync.Mutex // held while starting, stopping or rebuilding
	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool
	sched  scheduleCache
	rows   map[string]*KeyRow // see maxCachedRows; only the applying goroutine
	runs   chan *run          // emptied runs of events, kept from loop to loop
	apply  *batch             // the applying goroutine's batch, kept from loop to loop

	log      *slog.Logger
	lagAlert time.Duration
	batches  atomic.Uint64
	events   atomic.Uint64
}

// Open loads the checkpoint and starts following the log from just after it.
// The store's registry must hold the commands catalogue.
func Open(store Store, opts *Options) (*Projections, error) {
	if store == nil {
		return nil, errors.New("projections: nil store")
	}
	if opts == nil {
		opts = &Options{}
	}
	p := &Projections{store: store, name: opts.Name, batch: opts.BatchSize, notify: make(chan struct{}),
		log: opts.Logger, lagAlert: opts.LagAlert, runs: make(chan *run, 16)}
	p.lease, _ = store.(ledger.Leaser)
	if p.name == "" {
		p.name = DefaultName
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.lagAlert == 0 {
		p.lagAlert = defaultLagAlert
	}
	if p.batch <= 0 {
		p.batch = 1024
	}
	cp, err := store.Checkpoint(context.Background(), p.name)
	if err != nil {
		return nil, err
	}
	p.start(cp)
	return p, nil
}

// start follows the log from after checkpoint cp (on a shared store, from
// the checkpoint read under the lease).
func (p *Projections) start(cp uint64) {
	p.applied.Store(cp)
	p.rows = map[string]*KeyRow{}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	if p.lease != nil {
		go p.lead(ctx, p.done)
		return
	}
	go p.loop(ctx, cp, p.done, p.newLagWatch(cp))
}

// lead applies the log while this instance holds the lease of the read
// models on a shared store, and waits for it otherwise: another process
// applies, and the queries here read its rows (WaitApplied polls the shared
// checkpoint). A lease lost or a store unavailable ends a term, not the
// projections; the next term resumes from the checkpoint with fresh caches.
func (p *Projections) lead(ctx context.Context, done chan struct{}) {
	defer close(done)
	var backoff time.Duration
	for {
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		held, release, err := p.lease.Lease(ctx, p.name)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff)
			p.log.Warn("projections: cannot take the lease of the read models; retrying", "name", p.name, "error", err, "retry_in", backoff)
			continue
		}
		cp, err := p.store.Checkpoint(held, p.name)
		if err == nil {
			p.leading.Store(true)
			p.applied.Store(cp)
			p.signal()
			p.rows = map[string]*KeyRow{}
			term := make(chan struct{})
			p.loop(held, cp, term, p.newLagWatch(cp))
			p.leading.Store(false)
			err = p.Err()
		}
		release()
		if ctx.Err() != nil {
			return
		}
		if err == nil || retryable(err) {
			if e := p.failed.Load(); e != nil && retryable(*e) {
				p.failed.CompareAndSwap(e, nil)
			}
			backoff = nextBackoff(backoff)
			if err != nil {
				p.log.Warn("projections: lost the store; applying again when it answers", "name", p.name, "error", err, "retry_in", backoff)
			}
			continue
		}
		return // stopped for good: p.fail has logged why
	}
}

// retryable reports an error of the store, not of the events: another term
// may succeed.
func retryable(err error) bool {
	return errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrUnknownOutcome) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, 10*time.Millisecond), time.Second)
}

// follow raises applied to the shared checkpoint when another process
// applies (lead); it returns how long to wait before polling again.
func (p *Projections) follow(ctx context.Context, last time.Duration) (<-chan time.Time, time.Duration) {
	if p.lease == nil || p.leading.Load() {
		return nil, 0
	}
	if last > 0 {
		if cp, err := p.store.Checkpoint(ctx, p.name); err == nil {
			for a := p.applied.Load(); cp > a && !p.applied.CompareAndSwap(a, cp); a = p.applied.Load() {
			}
		}
	}
	d := min(max(2*last, time.Millisecond), 20*time.Millisecond)
	return time.After(d), d
}

func (p *Projections) stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
		p.cancel = nil
	}
}

// Close stops following the log. Queries keep working on what was applied.
func (p *Projections) Close() error {
	p.run.Lock()
	defer p.run.Unlock()
	p.stop()
	p.closed.Store(true)
	p.signal()
	return nil
}

// Applied is the position up to which every event has been applied.
func (p *Projections) Applied() uint64 { return p.applied.Load() }

// Err is the error that stopped the projections, if any.
func (p *Projections) Err() error {
	if e := p.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (p *Projections) signal() {
	p.wm.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	p.wm.Unlock()
}

// WaitApplied blocks until the event at position pos has been applied (so a
// query sees it), the context ends, or the projections failed or closed.
func (p *Projections) WaitApplied(ctx context.Context, pos uint64) error {
	var poll time.Duration
	for {
		tick, next := p.follow(ctx, poll)
		poll = next
		if p.applied.Load() >= pos {
			return nil
		}
		if err := p.Err(); err != nil {
			return err
		}
		p.wm.Lock()
		ch := p.notify
		p.wm.Unlock()
		if p.applied.Load() >= pos {
			return nil
		}
		if p.closed.Load() {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// loop follows the log from after cp, applying events in batches: it takes
// what has arrived (at most BatchSize), applies it and commits rows and
// checkpoint together.
func (p *Projections) loop(ctx context.Context, cp uint64, done chan struct{}, lag *lagWatch) {
	defer close(done)
	// The reader hands over runs of events (up to runLen, fewer once it has
	// reached the durable head), so catching up costs one channel operation
	// per run, not per event, and decoding overlaps applying. The applier
	// applies the runs in place and hands them back for reuse once their
	// batch is written; emptied runs and the applier's batch outlive the
	// loop, so a Rebuild reuses them. On a store that hands payloads over
	// undecoded (ledger.RawFeed), each run decodes its events into memory
	// of its own, reused with the run (no read model keeps an event's
	// value, only copies of its fields): catching up then allocates almost
	// nothing per event. A run's decoder keeps the values it last held (at
	// most runLen) until the run is reused.
	ch := make(chan *run, 8)
	free := p.runs
	// A run is at most a batch: the applier takes another run only while
	// a whole one still fits, so no batch passes BatchSize.
	maxRun := min(runLen, p.batch)
	errc := make(chan error, 1)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() {
		defer close(ch)
		seq := p.store.Follow(fctx, cp+1)
		var reg *ledger.Registry
		if raw, ok := p.store.(ledger.RawFeed); ok {
			seq, reg = raw.FollowRaw(fctx, cp+1), raw.Registry()
		}
		newRun := func() *run {
			select {
			case r := <-free:
				if r.dec != nil {
					r.dec.Reset()
				}
				return r
			default:
				return &run{evs: make([]ledger.Event, 0, runLen)}
			}
		}
		r := newRun()
		for ev, err := range seq {
			if err != nil {
				if fctx.Err() == nil {
					errc <- err
				}
				return
			}
			if reg != nil {
				if r.dec == nil {
					r.dec = ledger.NewDecoder(reg)
				}
				if ev.Data, err = r.dec.Decode(ev.Type, ev.Schema, ev.Raw); err != nil {
					errc <- fmt.Errorf("position %d: %w", ev.Position, err)
					return
				}
			}
			ev.Raw = nil // valid only until the next event; no read model uses it
			r.evs = append(r.evs, ev)
			if len(r.evs) < maxRun && ev.Position < p.store.DurablePosition() {
				continue
			}
			select {
			case ch <- r:
				r = newRun()
			case <-fctx.Done():
				return
			}
		}
	}()
	if p.apply == nil {
		p.apply = newBatch(ctx, p)
	}
	b := p.apply
	var runs []*run // the runs of one batch
	recycle := func() {
		for i, r := range runs {
			clear(r.evs) // the run must not keep the events' values alive
			r.evs = r.evs[:0]
			select {
			case free <- r:
			default:
			}
			runs[i] = nil
		}
		runs = runs[:0]
	}
	defer recycle()
	for {
		recycle()
		run, ok := <-ch
		if !ok {
			select {
			case err := <-errc:
				p.fail(err)
			default:
			}
			return
		}
		runs = append(runs, run)
		n := len(run.evs)
	drain:
		for n+maxRun <= p.batch {
			select {
			case run, ok := <-ch:
				if !ok {
					break drain
				}
				runs, n = append(runs, run), n+len(run.evs)
			default:
				// Catching up (a rebuild, a restart): more durable events
				// are on their way, so fill the batch rather than pay an
				// ApplyState for a few. At the head, apply now.
				last := runs[len(runs)-1].evs
				if last[len(last)-1].Position >= p.store.DurablePosition() {
					break drain
				}
				run, ok := <-ch
				if !ok {
					break drain
				}
				runs, n = append(runs, run), n+len(run.evs)
			}
		}
		if err := p.applyBatch(ctx, b, runs); err != nil {
			if ctx.Err() == nil {
				p.fail(err)
			}
			return
		}
		lag.check(ctx)
	}
}

// runLen is how many events the reader hands the applier at once.
const runLen = 256

// run is a run of events the reader hands the applier, and the decoder
// that holds their values (nil if the store decodes them).
type run struct {
	evs []ledger.Event
	dec *ledger.Decoder
}

func (p *Projections) fail(err error) {
	err = fmt.Errorf("projections: stopped: %w", err)
	if p.failed.CompareAndSwap(nil, &err) {
		p.logFailed(err)
	}
	p.signal()
}

// applyBatch applies runs of events (none empty) and writes their rows with
// the checkpoint in one ApplyState.
func (p *Projections) applyBatch(ctx context.Context, b *batch, runs []*run) error {
	b.reset(ctx)
	for _, r := range runs {
		for i := range r.evs {
			if err := b.apply(&r.evs[i]); err != nil {
				return fmt.Errorf("event at position %d: %w", r.evs[i].Position, err)
			}
		}
	}
	lastRun := runs[len(runs)-1].evs
	last := lastRun[len(lastRun)-1].Position
	if err := b.flush(last, last < p.store.DurablePosition()); err != nil {
		return err
	}
	// Counted before the position is published, so Stats read after
	// WaitApplied counts every event applied up to it.
	n := 0
	for _, r := range runs {
		n += len(r.evs)
	}
	p.batches.Add(1)
	p.events.Add(uint64(n))
	p.applied.Store(last)
	p.signal()
	return nil
}

// Rebuild clears every read model and replays the whole log. Commands
// waiting on WaitApplied keep waiting until the replay reaches them.
func (p *Projections) Rebuild(ctx context.Context) error {
	p.run.Lock()
	defer p.run.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	p.stop()
	if err := p.clear(ctx); err != nil {
		// Nothing was cleared: follow the log again from the stored
		// checkpoint, so that commands waiting on the read models go on.
		cp, cerr := p.store.Checkpoint(context.Background(), p.name)
		if cerr != nil {
			p.fail(cerr)
			return errors.Join(err, cerr)
		}
		p.start(cp)
		return err
	}
	p.failed.Store(nil)
	target := p.store.DurablePosition()
	// The checkpoint is the one clear just removed: reading it back would
	// step over every version of it the memtables still hold.
	p.start(0)
	return p.waitLocked(ctx, target)
}

// clear deletes the read models and their checkpoint; on a shared store
// under the lease, so that no process applies meanwhile (it waits for the
// lease: a process that leads gives it up only when it stops).
func (p *Projections) clear(ctx context.Context) error {
	if p.lease != nil {
		held, release, err := p.lease.Lease(ctx, p.name)
		if err != nil {
			return err
		}
		defer release()
		ctx = held
	}
	var sb ledger.StateBatch
	sb.DeletePrefix([]byte(prefix))
	sb.SetCheckpoint(p.name, 0)
	// Like the batches that follow, the clearing need not wait for its
	// sync: a crash loses it whole, with the rows written after it, and
	// leaves the old rows with their checkpoint.
	sb.SetNoSyncWait(true)
	return p.store.ApplyState(ctx, &sb)
}

func (p *Projections) waitLocked(ctx context.Context, pos uint64) error {
	var poll time.Duration
	for {
		tick, next := p.follow(ctx, poll)
		poll = next
		if p.applied.Load() >= pos {
			return nil
		}
		if err := p.Err(); err != nil {
			return err
		}
		p.wm.Lock()
		ch := p.notify
		p.wm.Unlock()
		if p.applied.Load() >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
