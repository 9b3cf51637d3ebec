package ledger

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// StateBatch collects state changes that ApplyState commits atomically.
// The zero value is empty and ready to use.
type StateBatch struct {
	ops        []StateOp
	buf        []byte // the copies of keys and values, reused after Reset
	noSyncWait bool
	noSync     bool
}

// StateOpKind says what a StateOp does.
type StateOpKind uint8

// The kinds of StateOp.
const (
	OpSet           StateOpKind = iota // Key = Value
	OpDelete                           // remove Key
	OpDeletePrefix                     // remove every key starting with Key (all state if empty)
	OpSetCheckpoint                    // checkpoint Name = Position; 0 removes it
)

func (k StateOpKind) String() string {
	switch k {
	case OpSet:
		return "set"
	case OpDelete:
		return "delete"
	case OpDeletePrefix:
		return "delete prefix"
	case OpSetCheckpoint:
		return "set checkpoint"
	}
	return fmt.Sprintf("StateOpKind(%d)", uint8(k))
}

// StateOp is one operation of a StateBatch, as a backend applies it. Key
// and Value belong to the batch: a backend must not modify them, nor keep
// them past the batch's next Reset, which reuses their memory.
type StateOp struct {
	Kind     StateOpKind
	Key      []byte // OpSet, OpDelete: the key; OpDeletePrefix: the prefix
	Value    []byte // OpSet
	Name     string // OpSetCheckpoint: the subscriber
	Position uint64 // OpSetCheckpoint
}

// Set stores value under key. Both are copied.
func (b *StateBatch) Set(key, value []byte) {
	b.ops = append(b.ops, StateOp{Kind: OpSet, Key: b.keep(key), Value: b.keep(value)})
}

// Delete removes key.
func (b *StateBatch) Delete(key []byte) {
	b.ops = append(b.ops, StateOp{Kind: OpDelete, Key: b.keep(key)})
}

// DeletePrefix removes every key starting with prefix (all state if empty).
func (b *StateBatch) DeletePrefix(prefix []byte) {
	b.ops = append(b.ops, StateOp{Kind: OpDeletePrefix, Key: b.keep(prefix)})
}

// keep copies p into the batch's buffer. A full buffer is replaced, not
// grown: the copies already made point into it. Empty input gives an
// empty, non-nil slice, as a copy of it always did.
func (b *StateBatch) keep(p []byte) []byte {
	if len(p) == 0 {
		return []byte{}
	}
	if cap(b.buf)-len(b.buf) < len(p) {
		b.buf = make([]byte, 0, max(2*cap(b.buf), len(p), minStateBuf))
	}
	start := len(b.buf)
	b.buf = append(b.buf, p...)
	return b.buf[start:len(b.buf):len(b.buf)]
}

// minStateBuf and maxStateBuf bound the buffer a StateBatch keeps its
// copies in: reused from Reset to Reset (read models apply one batch after
// another), dropped by Reset when a large batch made it bigger than the max.
const (
	minStateBuf = 4 << 10
	maxStateBuf = 1 << 20
)

// SetCheckpoint records that the named subscriber has processed every event up
// to position pos. Zero removes the checkpoint.
func (b *StateBatch) SetCheckpoint(name string, pos uint64) {
	b.ops = append(b.ops, StateOp{Kind: OpSetCheckpoint, Name: name, Position: pos})
}

// Ops yields the batch's operations in the order they were added; a backend
// applies them in that order, all or none (a later operation wins over an
// earlier one on the same key).
func (b *StateBatch) Ops() iter.Seq[StateOp] {
	return func(yield func(StateOp) bool) {
		for _, op := range b.ops {
			if !yield(op) {
				return
			}
		}
	}
}

// NoSyncWait reports the SetNoSyncWait setting.
func (b *StateBatch) NoSyncWait() bool { return b.noSyncWait }

// Validate reports the first operation ApplyState refuses (ErrInvalid): a
// checkpoint name that is empty or not UTF-8 without NUL.
func (b *StateBatch) Validate() error {
	for _, op := range b.ops {
		if op.Kind == OpSetCheckpoint && (op.Name == "" || !validName([]byte(op.Name))) {
			return invalidf("checkpoint name %q must be non-empty UTF-8 without NUL", op.Name)
		}
	}
	return nil
}

// SetNoSyncWait(true) makes ApplyState return once the batch is applied,
// without waiting for its write-ahead-log sync. Use it for state that can be
// rebuilt from the log, such as read models written with their subscriber
// checkpoint. Reset keeps the setting.
//
// What still holds: the batch is atomic (its rows and its checkpoint commit as
// one, and after a crash are both there or both absent) and is visible to
// every reader as soon as ApplyState returns. Batches reach the log in order
// and the sync is requested at once, so the batch is durable within about one
// group commit, and at the latest when any later synced write (an Append, a
// synced ApplyState) returns.
//
// What a crash (power loss, kernel panic, or a process crash before the log
// write reaches the OS) can lose: only the newest such batches, those whose
// sync had not completed, as whole batches. It never loses a ledger event
// (appends always wait for their sync), and never splits rows from their
// checkpoint: after a restart the subscriber resumes from the older
// checkpoint and rewrites the rows that were lost. A failed sync is not
// reported to the ApplyState that requested it (it has returned): it fails
// the ledger as a failed append does (Err, and ErrFailed from later writes).
func (b *StateBatch) SetNoSyncWait(on bool) { b.noSyncWait = on }

// SetNoSync(true) makes ApplyState write the batch without asking for a
// write-ahead-log sync at all: it is durable once a later write syncs the
// log (an Append, an ApplyState without SetNoSync), or when the ledger
// closes. It is for a run of batches of rebuildable state applied one
// after another, such as read models catching up with the log: the sync
// of the run's last batch covers the others, so the run pays one sync
// instead of one per batch. What a crash can lose is what SetNoSyncWait
// says, over a longer window: only the newest batches, whole and in
// order. A backend may sync the batch anyway. Reset keeps the setting.
func (b *StateBatch) SetNoSync(on bool) { b.noSync = on }

// NoSync reports the SetNoSync setting.
func (b *StateBatch) NoSync() bool { return b.noSync }

// Len is the number of operations in the batch.
func (b *StateBatch) Len() int { return len(b.ops) }

// Reset empties the batch for reuse. The memory of the keys and values
// it copied is reused: a StateOp yielded by Ops is not valid after Reset.
func (b *StateBatch) Reset() {
	clear(b.ops) // drop the references to the old buffers
	b.ops = b.ops[:0]
	if cap(b.buf) > maxStateBuf {
		b.buf = nil
	}
	b.buf = b.buf[:0]
}

// StateEntry is one key/value pair of the state space.
type StateEntry struct {
	Key, Value []byte
}

// ApplyState commits the batch atomically and durably (synced), in order of
// the calls that built it. State is not part of the hash chain. A batch with
// SetNoSyncWait(true) is atomic and visible at once but not waited for: see
// SetNoSyncWait for what a crash can then lose; one with SetNoSync(true) is
// not synced at all (see SetNoSync).
func (l *Ledger) ApplyState(ctx context.Context, sb *StateBatch) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.gate.RUnlock()
	if err := l.writable(); err != nil {
		return err
	}
	if sb == nil || len(sb.ops) == 0 {
		return nil
	}
	if err := sb.Validate(); err != nil {
		return err
	}
	defer l.guard(&err, true)
	b := l.db.NewBatch()
	var key []byte // the batch copies keys: one buffer serves them all
	for _, op := range sb.ops {
		switch op.Kind {
		case OpSet:
			key = append(append(key[:0], prefixState), op.Key...)
			_ = b.Set(key, op.Value, nil)
		case OpDelete:
			key = append(append(key[:0], prefixState), op.Key...)
			_ = b.Delete(key, nil)
		case OpDeletePrefix:
			lo, hi := stateRange(op.Key)
			_ = b.DeleteRange(lo, hi, nil)
		case OpSetCheckpoint:
			if op.Position == 0 {
				_ = b.Delete(checkpointKey(op.Name), nil)
			} else {
				_ = b.Set(checkpointKey(op.Name), putU64(op.Position), nil)
			}
		}
	}
	if sb.noSync {
		defer b.Close()
		if err := l.db.Apply(b, pebble.NoSync); err != nil {
			return fmt.Errorf("ledger: apply state: %w", err)
		}
		return nil
	}
	if !sb.noSyncWait {
		defer b.Close()
		if err := l.db.Apply(b, pebble.Sync); err != nil {
			return fmt.Errorf("ledger: apply state: %w", err)
		}
		return l.failure() // a sync after a hidden failure is not real (failFS)
	}
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return fmt.Errorf("ledger: apply state: %w", err)
	}
	// The sync is under way; someone must wait for it before the batch is
	// released. Close waits for these goroutines before closing Pebble.
	l.syncers.Add(1)
	go func() {
		defer l.syncers.Done()
		if err := b.SyncWait(); err != nil {
			_ = l.fail(fmt.Errorf("wal sync of state: %w", err))
			return
		}
		_ = b.Close()
	}()
	return nil
}

// stateRange returns the Pebble key range holding state keys with prefix.
func stateRange(prefix []byte) (lo, hi []byte) {
	lo = stateKey(prefix)
	hi = prefixEnd(lo) // never nil: lo starts with prefixState < 0xff
	return lo, hi
}

// GetState returns the value stored under key, or ErrNotFound.
func (l *Ledger) GetState(ctx context.Context, key []byte) (v []byte, err error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	val, closer, err := l.db.Get(stateKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: state key %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, readErr(0, err)
	}
	v = clone(val)
	return v, closer.Close()
}

// Checkpoint returns the position saved for a named subscriber, 0 if none.
func (l *Ledger) Checkpoint(ctx context.Context, name string) (pos uint64, err error) {
	if name == "" || !validName([]byte(name)) {
		return 0, invalidf("checkpoint name %q must be non-empty UTF-8 without NUL", name)
	}
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	val, closer, err := l.db.Get(checkpointKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, readErr(0, err)
	}
	defer closer.Close()
	if len(val) != 8 {
		return 0, &CorruptionError{Reason: fmt.Sprintf("checkpoint %q has %d bytes", name, len(val))}
	}
	return u64(val), nil
}

// ScanState yields the state entries whose keys start with prefix, in key
// order, from a consistent view per chunk of entries. Keys and values are copies.
func (l *Ledger) ScanState(ctx context.Context, prefix []byte) iter.Seq2[StateEntry, error] {
	return func(yield func(StateEntry, error) bool) {
		lo, hi := stateRange(prefix)
		for {
			if err := ctx.Err(); err != nil {
				yield(StateEntry{}, err)
				return
			}
			batch, err := l.scanStateChunk(lo, hi)
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
			if err != nil {
				yield(StateEntry{}, err)
				return
			}
			if len(batch) < readChunk {
				return
			}
			lo = append(stateKey(batch[len(batch)-1].Key), 0)
		}
	}
}

func (l *Ledger) scanStateChunk(lo, hi []byte) (out []StateEntry, err error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, readErr(0, err)
	}
	for ok := it.First(); ok && len(out) < readChunk; ok = it.Next() {
		out = append(out, StateEntry{Key: clone(it.Key()[1:]), Value: clone(it.Value())})
	}
	return out, readErr(0, errors.Join(it.Error(), it.Close()))
}

// CompactState makes deleted state under prefix physically gone from the
// store's tables: it flushes the memtable and compacts the key range, so
// tombstones drop the old values (crypto-shredding relies on this). It returns
// a failed flush's error (Pebble retries the flush in the background) and
// ErrFailed if the ledger failed meanwhile: then the values may still be on
// disk.
//
// What remains: the write-ahead log files that held the old value until Pebble
// deletes or recycles them after the flush (a recycled WAL file keeps old bytes
// until it is overwritten), and copies the filesystem or disk keep on its own
// (journals, SSD remapping, backups). Keys are not shredded by this at all if a
// Pebble snapshot or iterator still needs them; this package keeps none open
// between calls.
func (l *Ledger) CompactState(ctx context.Context, prefix []byte) (err error) {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.gate.RUnlock()
	if err := l.writable(); err != nil {
		return err
	}
	defer l.guard(&err, false)
	lo, hi := stateRange(prefix)
	// Not db.Flush: it waits for the flush however often it fails (Pebble
	// retries a failed flush until the disk lets it through).
	seq := l.bgSeq.Load()
	flushed, err := l.db.AsyncFlush()
	if err != nil {
		return fmt.Errorf("ledger: flush: %w", err)
	}
	if err := l.waitFlushed(ctx, flushed, seq); err != nil {
		return err
	}
	if err := l.db.Compact(ctx, lo, hi, true); err != nil {
		return fmt.Errorf("ledger: compact state: %w", err)
	}
	// Replaced tables are deleted in the background; wait until they are gone.
	for {
		m := l.db.Metrics()
		if err := l.failure(); err != nil {
			// The directory froze (failFS): the flush and compaction may have
			// reached memory only, and nothing is deleted from disk anymore.
			return err
		}
		if m.Table.ZombieCount == 0 && m.Table.ObsoleteCount == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// waitFlushed waits until flushed is closed, the ledger fails, Pebble reports
// a background error after the one numbered seq (a failed flush: Pebble
// retries it while the caller gets the error), or ctx ends.
func (l *Ledger) waitFlushed(ctx context.Context, flushed <-chan struct{}, seq uint64) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-flushed:
			return l.failure()
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := l.failure(); err != nil {
			return err
		}
		if l.bgSeq.Load() != seq {
			return fmt.Errorf("ledger: flush: %w", *l.bgLast.Load())
		}
	}
}

func clone(b []byte) []byte { return append([]byte{}, b...) }
