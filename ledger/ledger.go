package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
)

// Options configure Open. The zero value (and nil) is a durable on-disk ledger.
type Options struct {
	// InMemory keeps everything in memory (Pebble's vfs.NewMem); for tests.
	InMemory bool
	// FS overrides the filesystem (crashable or fault-injecting filesystems in tests).
	FS vfs.FS
	// Clock stamps events whose NewEvent.Time is zero. Default time.Now.
	Clock func() time.Time
	// Registry maps Go types to event type names. Default: a new empty registry.
	Registry *Registry
	// ReadOnly opens an existing ledger without writing to its directory
	// (inspection tools). Appends and state writes then fail.
	ReadOnly bool
	// Logger receives what an operator must see (see the package
	// documentation, Observability). Default: nothing is logged.
	Logger *slog.Logger
}

// pebbleFormat is pinned so a new store never starts at Pebble's oldest format
// and an upgrade of Pebble never silently changes it.
const pebbleFormat = pebble.FormatValueSeparation

// pebbleOptions are the Pebble settings of every ledger (the benchmarks'
// raw-Pebble baselines use them too).
func pebbleOptions() *pebble.Options {
	const memTable = 32 << 20
	po := &pebble.Options{
		FormatMajorVersion: pebbleFormat,
		Logger:             quietLogger{},
		// Pebble counts its memtables against the block cache: the one
		// being written and the one it keeps for reuse after a flush
		// reserve 2 × memTable of it. Without room for them the cache
		// holds no block once the first memtable has been flushed, and
		// every read of a table (a rebuild's scan of the log) reads
		// and decompresses its blocks again.
		CacheSize: 64<<20 + 2*memTable,
		// Each event is one or two keys (record, ID index of a
		// caller's ID); a larger memtable means fewer, larger flushes
		// and less L0 compaction.
		MemTableSize: memTable,
	}
	// Every flushed or compacted table holds keys of one kind only (one
	// first byte: log, stream index, ID index, state ...). The log and the ID
	// index of time-ordered IDs then grow at their ends in tables that
	// overlap nothing, so looking up a new ID probes no table and compactions
	// below L0 move them instead of rewriting them (an L0 compaction that
	// overlapping heads or stream-index tables start may take the log's new
	// L0 tables with it: see the Keyspace section of doc.go).
	po.Experimental.SpanPolicyFunc = splitByKind
	for i := range po.Levels {
		// Bloom filters make the idempotency lookup of a new event ID cheap.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return po
}

// splitByKind ends each output table where the keys' first byte changes.
func splitByKind(start []byte) (pebble.SpanPolicy, []byte, error) {
	if len(start) == 0 || start[0] == 0xff {
		return pebble.SpanPolicy{}, nil, nil
	}
	return pebble.SpanPolicy{}, []byte{start[0] + 1}, nil
}

// Expect is an expected-version condition for an append.
type Expect int64

const (
	// ExpectAny skips the check.
	ExpectAny Expect = -1
	// ExpectExists requires the stream to have at least one event.
	ExpectExists Expect = -2
	// ExpectNoStream requires the stream to be empty; the same as ExpectVersion(0).
	ExpectNoStream Expect = 0
)

// ExpectVersion requires the stream to be at exactly version v (its event count).
func ExpectVersion(v uint64) Expect {
	if v > 1<<62 {
		return Expect(-3) // rejected as invalid by Append
	}
	return Expect(v)
}

func (e Expect) String() string {
	switch {
	case e == ExpectAny:
		return "any version"
	case e == ExpectExists:
		return "an existing stream"
	case e == ExpectNoStream:
		return "no stream"
	case e > 0:
		return fmt.Sprintf("version %d", int64(e))
	}
	return fmt.Sprintf("invalid expectation %d", int64(e))
}

func (e Expect) check(actual uint64) bool {
	switch {
	case e == ExpectAny:
		return true
	case e == ExpectExists:
		return actual > 0
	}
	return uint64(e) == actual
}

// NewEvent is an event to append. Data's Go type must be registered.
type NewEvent struct {
	ID   uuid.UUID // idempotency key; zero means a generated UUIDv7 (no idempotency)
	Data any
	Time time.Time // zero means the ledger clock
}

// StreamAppend is one stream's part of an AppendMulti. Without Events it is
// a condition only: Expect is checked and nothing is appended to Stream.
type StreamAppend struct {
	Stream string
	Expect Expect
	Events []NewEvent
}

// AppendResult describes a committed append. A retry with the same event IDs
// returns the same result.
type AppendResult struct {
	First    uint64   // position of the first event written
	Last     uint64   // position of the last event written
	Versions []uint64 // each stream's version after the append, in request order (unchanged for a condition only)
}

// Version is the new version of the first (for Append, the only) stream.
func (r AppendResult) Version() uint64 {
	if len(r.Versions) == 0 {
		return 0
	}
	return r.Versions[0]
}

// Event is a stored event.
type Event struct {
	Position uint64 // global, gap-free, from 1
	Stream   string
	Version  uint64 // in its stream, from 1
	ID       uuid.UUID
	Type     string
	Schema   uint16 // schema as stored (Data is upcast to the registered one)
	Time     time.Time
	Data     any // decoded value of the registered type; nil if Type is unregistered
	// Raw is the msgpack payload as stored. From ReadAll, Follow and
	// Subscribe it is a view valid until the loop body returns: the ledger
	// reuses its memory for later events, so copy it (bytes.Clone) to keep
	// it. From the other reads it is the caller's.
	Raw []byte
}

// Ledger is an append-only event log with a state space beside it, on Pebble.
// All methods are safe for concurrent use.
type Ledger struct {
	db    *pebble.DB
	reg   *Registry
	clock func() time.Time // nil: the wall clock, read once per append (see prepare)

	// gate is held shared by every operation while it touches Pebble and
	// exclusively by Close, so Close never pulls the DB from under a caller.
	gate     sync.RWMutex
	closed   bool // under gate
	isClosed atomic.Bool
	readOnly bool          // closed, readable without the gate
	closing  chan struct{} // closed when Close starts: wakes waiters

	syncers sync.WaitGroup // waits for the syncs of ApplyState batches with SetNoSyncWait

	failed atomic.Pointer[error] // fail-stop error; set once
	fs     *failFS               // freezes the directory on failure; nil if read-only
	horked atomic.Bool           // Pebble panicked inside a commit: do not call db.Close
	bgErr  atomic.Pointer[error] // first background error reported by Pebble
	bgLast atomic.Pointer[error] // latest background error
	bgSeq  atomic.Uint64         // background errors so far

	log   *slog.Logger
	logAt logTimes // when rate-limited lines were last logged

	// Sequencer state, under seq.
	seq      sync.Mutex
	lastPos  uint64 // last position sequenced (applied, maybe not yet durable)
	lastHash [32]byte
	heads    map[string]headEntry // cached heads, including unsynced ones; written under seq and hmu
	hmu      sync.RWMutex         // guards heads for readers
	dirty    []string             // streams whose head differs from its 'h' entry
	// headsThrough is the position the stored heads ('h' entries and the
	// latest snapshot) are complete through; mergedThrough the one the 'h'
	// entries are.
	headsThrough  uint64
	mergedThrough uint64
	snapBytes     int           // bytes of the snapshots written since the last merge (an upper bound after Open)
	snapMax       int           // maxSnapshot; tests lower it (0: every store is a merge)
	snapBudget    int           // maxSnapBytes; tests lower it
	snap          []byte        // scratch space for a snapshot
	headsEvery    uint64        // headsEvery; tests lower it
	headsErr      error         // set at Open if the heads position is damaged or the records after it could not be replayed
	v1End         uint64        // last position of a format-1 record (0: none; see storedHead)
	recent        recentIDs     // caller IDs sequenced lately, for the lookup done before the lock
	maxID         maxIDs        // the largest ID sequenced, for the lookup done before the lock
	key           []byte        // scratch space
	assigned      atomic.Uint64 // last position applied to Pebble, for readers

	// Durable watermark, under wm.
	wm          sync.Mutex
	durableHash [32]byte
	durable     atomic.Uint64
	notify      chan struct{} // made by a waiter; closed and cleared whenever durable advances or the ledger fails

	stats stats // counters for Stats, apart from the fields above
}

type ticket struct {
	last uint64
	hash [32]byte
}

// Open opens or creates the ledger in dir. See Options for defaults. An open
// ledger holds up to about 128 MiB in Pebble: two 32 MiB memtables and a
// 64 MiB block cache.
func Open(dir string, opts *Options) (l *Ledger, err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	fs := o.FS
	switch {
	case fs != nil:
	case o.InMemory:
		fs = vfs.NewMem()
	default:
		fs = vfs.Default
	}
	if dir == "" {
		if !o.InMemory && o.FS == nil {
			return nil, invalidf("empty directory for an on-disk ledger")
		}
		dir = "ledger"
	}
	if o.Registry == nil {
		o.Registry = NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l = &Ledger{
		reg:        o.Registry,
		clock:      o.Clock,
		log:        o.Logger,
		closing:    make(chan struct{}),
		heads:      map[string]headEntry{},
		headsEvery: headsEvery,
		snapMax:    maxSnapshot,
		snapBudget: maxSnapBytes,
	}
	po := pebbleOptions()
	if !o.ReadOnly {
		l.fs = newFailFS(fs, func(err error) { _ = l.fail(err) })
		l.fs.onSync = l.stats.fsynced
		fs = l.fs
	}
	po.FS = fs
	po.Logger = ledgerLogger{l}
	po.ReadOnly = o.ReadOnly
	l.readOnly = o.ReadOnly
	po.EventListener = &pebble.EventListener{
		BackgroundError: l.onBackgroundError,
		DataCorruption:  l.onDataCorruption,
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ledger: open %s: %w", dir, panicError(r))
			if l != nil && l.db != nil {
				func() { defer func() { _ = recover() }(); _ = l.db.Close() }()
			}
			l = nil
		}
	}()
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l.db = db
	err = l.load(o.ReadOnly)
	if err == nil {
		err = l.failure() // a write of Open's hidden by failFS
	}
	if err == nil && l.headsErr != nil {
		l.logHeadsDamaged()
	}
	if err != nil {
		if !l.horked.Load() {
			_ = db.Close()
		}
		return nil, err
	}
	return l, nil
}

// load checks the format marker (upgrading a format-1 store), reads the log
// tail and rebuilds the heads not yet written (fewer than headsEvery
// records). It never scans the log.
func (l *Ledger) load(readOnly bool) error {
	upgrade, rewriteMarker := false, false
	v, closer, err := l.db.Get(formatKey)
	switch {
	case err == nil:
		marker := string(v)
		_ = closer.Close()
		switch marker {
		case formatMarker:
		case formatMarkerV2, formatMarkerV3:
			rewriteMarker = true
		case formatMarkerV1:
			upgrade = true
		default:
			return fmt.Errorf("%w: marker %q, want %q", ErrUnknownFormat, marker, formatMarker)
		}
	case errors.Is(err, pebble.ErrNotFound):
		it, err := l.db.NewIter(nil)
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return err
		}
		if nonEmpty {
			return fmt.Errorf("%w: database has data but no ledger format marker", ErrUnknownFormat)
		}
		if readOnly {
			return fmt.Errorf("%w: read-only open of an empty database", ErrNotFound)
		}
		if err := l.db.Set(formatKey, []byte(formatMarker), pebble.Sync); err != nil {
			return err
		}
		if err := l.failure(); err != nil {
			return err
		}
	default:
		return err
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() {
		rec, err := decodeRecord(it.Value())
		if err != nil {
			return &CorruptionError{Position: u64(it.Key()[1:]), Reason: "last record undecodable: " + err.Error()}
		}
		l.lastPos, l.lastHash = rec.pos, rec.hash
	}
	if err := it.Error(); err != nil {
		return err
	}
	if upgrade {
		if err := l.upgradeV1(readOnly); err != nil {
			return err
		}
	} else if err := l.loadV1End(); err != nil {
		return err
	}
	if rewriteMarker && !readOnly {
		// Format 3 only adds events without an ID-index entry (generated
		// IDs that name their position), format 4 heads snapshots; a
		// format-2 or format-3 store is a format-4 one already. The marker
		// keeps older versions, which would miss those entries and
		// snapshots, from opening it.
		if err := l.db.Set(formatKey, []byte(formatMarker), pebble.Sync); err != nil {
			return err
		}
		if err := l.failure(); err != nil {
			return err
		}
	}
	if err := l.loadHeads(); err != nil {
		return err
	}
	l.loadMaxID()
	// Everything recovered by Open counts as durable.
	l.assigned.Store(l.lastPos)
	l.recent.floor = l.lastPos
	l.durable.Store(l.lastPos)
	l.durableHash = l.lastHash
	return nil
}

// upgradeV1 turns a format-1 store (every event with a stream-index entry, no
// heads) into a format-2 one without rewriting a record, so digests exported
// before stay valid: the stored heads are declared complete through the
// last format-1 record, where the stream index serves them (storedHead).
// Read-only, the upgrade happens in memory only.
func (l *Ledger) upgradeV1(readOnly bool) error {
	l.v1End, l.headsThrough, l.mergedThrough = l.lastPos, l.lastPos, l.lastPos
	if readOnly {
		return nil
	}
	b := l.db.NewBatch()
	defer b.Close()
	_ = b.Set(v1EndKey, putU64(l.lastPos), nil)
	_ = b.Set(headsKey, putU64(l.lastPos), nil)
	_ = b.Set(formatKey, []byte(formatMarker), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	return l.failure()
}

func (l *Ledger) loadV1End() error {
	v, closer, err := l.db.Get(v1EndKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if len(v) != 8 || u64(v) > l.lastPos {
		return &CorruptionError{Reason: fmt.Sprintf("format-1 end marker %x is malformed or beyond the log end %d", v, l.lastPos)}
	}
	l.v1End = u64(v)
	return nil
}

// loadMaxID reads the largest ID in the ID index. The ID index is derived
// data: if it cannot be read, Open goes on with the skip of the lookup
// turned off (every ID is looked up) and Verify reports the damage.
func (l *Ledger) loadMaxID() {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err == nil {
		if it.Last() {
			var id uuid.UUID
			copy(id[:], it.Key()[1:]) // a malformed key still gives an upper bound
			l.maxID.raise(id)
		}
		err = errors.Join(it.Error(), it.Close())
	}
	if err != nil {
		l.maxID.raise(uuid.Max)
	}
}

// Close waits for in-flight operations, stores the stream heads not yet
// stored (one synced batch; skipped if the ledger is read-only or failed),
// then closes the store. Later calls return ErrClosed. Close returns the
// fail-stop or background error, if any; a failure to store the heads fails
// the ledger and is returned as ErrFailed (nothing is lost: the next Open
// replays the tail).
func (l *Ledger) Close() (err error) {
	l.wm.Lock()
	select {
	case <-l.closing:
		l.wm.Unlock()
		return ErrClosed
	default:
		close(l.closing)
	}
	l.wm.Unlock()
	l.gate.Lock()
	defer l.gate.Unlock()
	l.closed = true
	l.isClosed.Store(true)
	if !l.horked.Load() {
		l.syncers.Wait() // no new ones: they start under the gate
		err = l.writeHeadsOnClose()

		func() {
			defer func() {
				if r := recover(); r != nil {
					err = panicError(r)
				}
			}()
			err = errors.Join(err, l.db.Close())
		}()
	}
	if p := l.failed.Load(); p != nil {
		if !errors.Is(err, *p) {
			err = errors.Join(*p, err)
		}
	} else if p := l.bgErr.Load(); p != nil {
		err = errors.Join(*p, err)
	}
	return err
}

// Err reports the fail-stop error, else the first background error Pebble
// reported (a failed flush or compaction, detected corruption), else nil.
func (l *Ledger) Err() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	if p := l.bgErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Registry returns the ledger's type registry.
func (l *Ledger) Registry() *Registry { return l.reg }

// DurablePosition is the highest position known to be synced; every event up
// to it is durable and visible to readers and subscribers.
func (l *Ledger) DurablePosition() uint64 { return l.durable.Load() }

// enter admits an operation; the caller must call l.gate.RUnlock when done.
func (l *Ledger) enter() error {
	l.gate.RLock()
	if l.closed {
		l.gate.RUnlock()
		return ErrClosed
	}
	return nil
}

func (l *Ledger) failure() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// writable reports why the ledger cannot take writes, or nil.
func (l *Ledger) writable() error {
	if l.readOnly {
		return invalidf("ledger opened read-only")
	}
	return l.failure()
}

// fail stops all later writes. Called when a WAL write or sync failed: later
// batches may already be applied on top of the lost one, so nothing written
// after it can be acknowledged until a reopen replays what was really synced.
// It freezes the directory (see failFS): Pebble writes nothing more to disk.
func (l *Ledger) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	if !l.failed.CompareAndSwap(nil, &err) {
		return *l.failed.Load()
	}
	if l.fs != nil {
		l.fs.freeze()
	}
	l.wm.Lock()
	l.wakeLocked()
	l.wm.Unlock()
	l.logFailed(cause) // after the freeze: a slow logger must not let writes land
	return err
}

func (l *Ledger) onBackgroundError(err error) {
	n := l.background(err)
	l.logBackground(err, n)
}

func (l *Ledger) onDataCorruption(info pebble.DataCorruptionInfo) {
	err := fmt.Errorf("%w: %s: %v", ErrCorrupt, info.Path, info.Details)
	n := l.background(err)
	l.logCorruption(info, n)
}

// background records a background error and returns how many there were.
func (l *Ledger) background(err error) uint64 {
	l.bgErr.CompareAndSwap(nil, &err)
	l.bgLast.Store(&err)
	return l.bgSeq.Add(1)
}

// guard converts a Pebble panic (its Fatalf, or use of a broken DB) into an error
// and fails the ledger. Use as: defer l.guard(&err).
func (l *Ledger) guard(errp *error, commit bool) {
	if r := recover(); r != nil {
		if commit {
			l.horked.Store(true)
		}
		*errp = l.fail(panicError(r))
	}
}

func panicError(r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf("pebble: %w", err)
	}
	return fmt.Errorf("pebble: %v", r)
}

// quietLogger drops Pebble's informational lines and turns Fatalf into a panic
// that the ledger recovers into an error (Pebble's default would exit the process).
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Errorf(format, args...))
}

// ledgerLogger is a ledger's Pebble logger: Fatalf fails the ledger (which
// freezes the directory) and then panics. On a caller's goroutine (a commit)
// the ledger's guard recovers the panic into ErrFailed. On one of Pebble's
// background goroutines nothing can recover it and the process ends; failFS
// keeps I/O errors from getting there, so what remains are Pebble's internal
// invariant checks and file-size mismatches it finds at open.
type ledgerLogger struct{ l *Ledger }

func (g ledgerLogger) Infof(format string, args ...any)  { g.l.logPebble(slog.LevelDebug, format, args) }
func (g ledgerLogger) Errorf(format string, args ...any) { g.l.logPebble(slog.LevelWarn, format, args) }
func (g ledgerLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	_ = g.l.fail(err)
	panic(err)
}

// WaitDurable blocks until position pos is durable, the context ends, the
// ledger fails or it is closed.
func (l *Ledger) WaitDurable(ctx context.Context, pos uint64) error {
	if l.isClosed.Load() {
		return ErrClosed
	}
	for {
		if l.durable.Load() >= pos {
			return nil
		}
		if err := l.failure(); err != nil {
			return err
		}
		l.wm.Lock()
		if l.notify == nil {
			l.notify = make(chan struct{})
		}
		ch := l.notify
		l.wm.Unlock()
		if l.durable.Load() >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closing:
			if l.durable.Load() >= pos {
				return nil
			}
			return ErrClosed
		}
	}
}

// publish advances the watermark through t once t's sync succeeded.
//
// Batches enter Pebble's WAL in position order (the sequencer applies them
// under its lock), and a WAL sync covers every record written before it: "any
// record written to the LogWriter to this point will be flushed to the OS and
// synced to disk" (pebble/record.LogWriter.SyncRecord). A failed sync is sticky
// for that WAL file, and a failure while rotating to a new WAL panics before
// any later batch is applied. So when t's SyncWait returns nil, every batch
// sequenced before t is durable too, even if its own goroutine has not yet
// returned from SyncWait: the watermark moves over the whole prefix up to t
// without waiting for those goroutines to be scheduled.
func (l *Ledger) publish(t *ticket) {
	if t.last <= l.durable.Load() {
		return // a sync covering a later batch got here first
	}
	l.wm.Lock()
	defer l.wm.Unlock()
	if l.failed.Load() != nil || t.last <= l.durable.Load() {
		return
	}
	l.durableHash = t.hash
	l.durable.Store(t.last)
	l.wakeLocked()
}

// wakeLocked wakes every waiter; the next one makes a new channel. Under wm.
func (l *Ledger) wakeLocked() {
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
}
