package proofs

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/ledger"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Store is what the tree reads and writes: the log and its feed, and the
// state space its nodes live in. ledger.Backend has all of it.
type Store interface {
	ledger.Log
	ledger.Feed
	ledger.StateStore
}

// State keys. Persisted layout of a rebuildable index: changing it means
// a Rebuild, never a reinterpretation of old keys.
//
//	t/n seq(8 BE)             -> 32-byte hash of the complete subtree; a leaf
//	                            (level 0) adds the position(8 BE) of the
//	                            previous event of its stream
//	t/s/<stream>              -> position(8 BE) of the stream's last event
//
// and the checkpoint "tree": the tree's size, the last position it covers.
const (
	checkpointName = "tree"
	nodePrefix     = "t/n"
	streamPrefix   = "t/s/"
	keyPrefix      = "t/"
)

// batchEvents is how many events one ApplyState covers at most.
const batchEvents = 4096

// maxStreamCache bounds the in-memory map of streams' last positions.
const maxStreamCache = 1 << 16

var hasher = rfc6962.DefaultHasher

var factory = &compact.RangeFactory{Hash: hasher.HashChildren}

// Options configure a Tree. Nil or the zero value means the defaults.
type Options struct {
	// Clock stamps signed heads; nil means time.Now.
	Clock func() time.Time
}

// Tree is the Merkle tree over a log, kept as a derived index in the
// store's state space. All methods are safe for concurrent use.
type Tree struct {
	store Store
	clock func() time.Time

	mu      sync.Mutex // held while the index is written
	rng     *compact.Range
	streams map[string]uint64 // stream -> last position, as of rng.End()

	// upper caches the nodes at cachedLevel and above, read once: they
	// never change, there is one per 256 events, and they are the ones a
	// random proof would otherwise read from as many scattered blocks.
	umu   sync.RWMutex
	upper map[compact.NodeID]evidence.Hash
}

const (
	cachedLevel = 8
	maxUpper    = 1 << 20 // 32 MiB of hashes: a log of 268M events
)

// New returns the tree over store's log. It reads nothing until used.
func New(store Store, opts *Options) *Tree {
	t := &Tree{store: store, clock: time.Now}
	if opts != nil && opts.Clock != nil {
		t.clock = opts.Clock
	}
	return t
}

// Size returns the number of events the stored tree covers: positions
// 1..Size can be proved.
func (t *Tree) Size(ctx context.Context) (uint64, error) {
	return t.store.Checkpoint(ctx, checkpointName)
}

// Update brings the tree up to the log's durable position and returns its
// new size. It writes the leaves and the complete subtrees above them in
// batches of up to 4096 events, each with the checkpoint.
func (t *Tree) Update(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	size, err := t.Size(ctx)
	if err != nil {
		return 0, err
	}
	if t.rng == nil || t.rng.End() != size {
		if err := t.load(ctx, size); err != nil {
			return 0, err
		}
	}
	end := t.store.DurablePosition()
	if size >= end {
		return size, nil
	}
	w := &writer{t: t, b: &ledger.StateBatch{}, pending: map[string]uint64{}}
	w.b.SetNoSyncWait(true)
	for ev, err := range t.store.ReadAll(ctx, size+1) {
		if err == nil {
			err = w.add(ctx, &ev)
		}
		if err == nil && t.rng.End()%batchEvents == 0 {
			err = w.flush(ctx)
		}
		if err != nil {
			t.rng = nil // memory may be ahead of the store: reload next time
			return 0, err
		}
		if ev.Position >= end {
			break
		}
	}
	if err := w.flush(ctx); err != nil {
		t.rng = nil
		return 0, err
	}
	return t.rng.End(), nil
}

// writer builds one Update's batches.
type writer struct {
	t       *Tree
	b       *ledger.StateBatch
	pending map[string]uint64 // streams' last positions not yet in b
	canon   []byte
	prev    uint64 // of the leaf being added
	leaf    [40]byte
}

// add appends ev's leaf to the tree in memory and its new nodes to the batch.
func (w *writer) add(ctx context.Context, ev *ledger.Event) (err error) {
	t := w.t
	if ev.Position != t.rng.End()+1 {
		return &Error{Err: ErrIndex, Position: ev.Position, Reason: fmt.Sprintf("the log yielded position %d after %d", ev.Position, t.rng.End())}
	}
	if w.prev, err = t.prevOf(ctx, ev); err != nil {
		return err
	}
	if w.canon, err = ledger.AppendCanonical(w.canon[:0], ev, w.prev); err != nil {
		return &Error{Err: ErrIndex, Position: ev.Position, Reason: "canonical bytes: " + err.Error()}
	}
	if err := t.rng.Append(hasher.HashLeaf(w.canon), w.visit); err != nil {
		return &Error{Err: ErrIndex, Position: ev.Position, Reason: err.Error()}
	}
	w.pending[ev.Stream] = ev.Position
	t.streams[ev.Stream] = ev.Position
	return nil
}

// visit stores a node the tree completed; a leaf with its stream's
// previous position.
func (w *writer) visit(id compact.NodeID, h []byte) {
	if id.Level == 0 {
		copy(w.leaf[:], h)
		binary.BigEndian.PutUint64(w.leaf[32:], w.prev)
		h = w.leaf[:]
	}
	w.b.Set(nodeKey(id), h)
}

// flush applies the batch with the streams' positions and the checkpoint.
func (w *writer) flush(ctx context.Context) error {
	if w.b.Len() == 0 {
		return nil
	}
	for s, p := range w.pending {
		w.b.Set(streamKey(s), binary.BigEndian.AppendUint64(nil, p))
	}
	w.b.SetCheckpoint(checkpointName, w.t.rng.End())
	if err := w.t.store.ApplyState(ctx, w.b); err != nil {
		return err
	}
	w.b.Reset()
	clear(w.pending)
	if len(w.t.streams) > maxStreamCache {
		clear(w.t.streams)
	}
	return nil
}

// prevOf returns the position of the previous event of ev's stream: 0 at
// version 1, else from memory or the index's stream entry.
func (t *Tree) prevOf(ctx context.Context, ev *ledger.Event) (uint64, error) {
	if ev.Version == 1 {
		return 0, nil
	}
	if p, ok := t.streams[ev.Stream]; ok {
		return p, nil
	}
	v, err := t.store.GetState(ctx, streamKey(ev.Stream))
	if err != nil || len(v) != 8 {
		if err == nil || errors.Is(err, ledger.ErrNotFound) {
			return 0, &Error{Err: ErrIndex, Position: ev.Position, Reason: fmt.Sprintf("stream %q version %d: the index has no earlier event of it", ev.Stream, ev.Version)}
		}
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// load reads the compact range of the stored tree of size.
func (t *Tree) load(ctx context.Context, size uint64) error {
	ids := compact.RangeNodes(0, size, nil)
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(ctx, id)
		if err != nil {
			return err
		}
		hs[i] = h[:]
	}
	r, err := factory.NewRange(0, size, hs)
	if err != nil {
		return &Error{Err: ErrIndex, Reason: err.Error()}
	}
	t.rng, t.streams = r, map[string]uint64{}
	return nil
}

func (t *Tree) node(ctx context.Context, id compact.NodeID) (evidence.Hash, error) {
	if id.Level < cachedLevel {
		h, _, err := t.nodeValue(ctx, id)
		return h, err
	}
	t.umu.RLock()
	h, ok := t.upper[id]
	t.umu.RUnlock()
	if ok {
		return h, nil
	}
	h, _, err := t.nodeValue(ctx, id)
	if err != nil {
		return h, err
	}
	t.umu.Lock()
	if len(t.upper) >= maxUpper || t.upper == nil {
		t.upper = map[compact.NodeID]evidence.Hash{}
	}
	t.upper[id] = h
	t.umu.Unlock()
	return h, nil
}

// nodeValue reads a stored node: its hash and, for a leaf, the position of
// the previous event of the leaf's stream (so an export need not look for it).
func (t *Tree) nodeValue(ctx context.Context, id compact.NodeID) (h evidence.Hash, prev uint64, err error) {
	v, err := t.store.GetState(ctx, nodeKey(id))
	want := 32
	if id.Level == 0 {
		want = 40
	}
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return h, 0, &Error{Err: ErrIndex, Reason: fmt.Sprintf("node at level %d, index %d missing", id.Level, id.Index)}
	case err != nil:
		return h, 0, err
	case len(v) != want:
		return h, 0, &Error{Err: ErrIndex, Reason: fmt.Sprintf("node at level %d, index %d has %d bytes", id.Level, id.Index, len(v))}
	}
	if id.Level == 0 {
		prev = binary.BigEndian.Uint64(v[32:])
	}
	return evidence.Hash(v[:32]), prev, nil
}

func (t *Tree) nodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(ctx, id)
		if err != nil {
			return nil, err
		}
		hs[i] = h[:]
	}
	return hs, nil
}

// covered checks that the stored tree has size events.
func (t *Tree) covered(ctx context.Context, size uint64) error {
	have, err := t.Size(ctx)
	if err != nil {
		return err
	}
	if size > have {
		return &Error{Err: ErrBehind, Reason: fmt.Sprintf("a tree of size %d asked for; the index covers %d events (Update it)", size, have)}
	}
	return nil
}

// Root returns the root of the tree of the first size events, from at
// most 64 stored subtree hashes.
func (t *Tree) Root(ctx context.Context, size uint64) (evidence.Hash, error) {
	if err := t.covered(ctx, size); err != nil {
		return evidence.Hash{}, err
	}
	if size == 0 {
		return evidence.EmptyRoot(), nil
	}
	hs, err := t.nodes(ctx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return evidence.Hash{}, err
	}
	r, err := factory.NewRange(0, size, hs)
	if err != nil {
		return evidence.Hash{}, &Error{Err: ErrIndex, Reason: err.Error()}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return evidence.Hash{}, &Error{Err: ErrIndex, Reason: err.Error()}
	}
	return evidence.Hash(root), nil
}

// Inclusion returns the proof that the event at position is in the tree of
// the first size events: O(log size) stored hashes.
func (t *Tree) Inclusion(ctx context.Context, position, size uint64) ([]evidence.Hash, error) {
	if position == 0 || position > size {
		return nil, &Error{Err: ErrRange, Position: position, Reason: fmt.Sprintf("not in a tree of size %d", size)}
	}
	if err := t.covered(ctx, size); err != nil {
		return nil, err
	}
	n, err := proof.Inclusion(position-1, size)
	if err != nil {
		return nil, &Error{Err: ErrRange, Position: position, Reason: err.Error()}
	}
	return t.rehash(ctx, n)
}

// Consistency returns the proof that the tree of size2 extends the tree of
// size1 (size1 <= size2): O(log size2) stored hashes.
func (t *Tree) Consistency(ctx context.Context, size1, size2 uint64) ([]evidence.Hash, error) {
	if size1 > size2 {
		return nil, &Error{Err: ErrRange, Reason: fmt.Sprintf("consistency from size %d to the smaller %d", size1, size2)}
	}
	if err := t.covered(ctx, size2); err != nil {
		return nil, err
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, &Error{Err: ErrRange, Reason: err.Error()}
	}
	return t.rehash(ctx, n)
}

func (t *Tree) rehash(ctx context.Context, n proof.Nodes) ([]evidence.Hash, error) {
	hs, err := t.nodes(ctx, n.IDs)
	if err != nil {
		return nil, err
	}
	if hs, err = n.Rehash(hs, hasher.HashChildren); err != nil {
		return nil, &Error{Err: ErrIndex, Reason: err.Error()}
	}
	out := make([]evidence.Hash, len(hs))
	for i, h := range hs {
		out[i] = evidence.Hash(h)
	}
	return out, nil
}

// Sign returns the head of the tree of size, signed with key at the
// tree's clock's time.
func (t *Tree) Sign(ctx context.Context, size uint64, key ed25519.PrivateKey) (evidence.SignedHead, error) {
	if len(key) != ed25519.PrivateKeySize {
		return evidence.SignedHead{}, &Error{Err: ErrRange, Reason: fmt.Sprintf("signing key of %d bytes, want an Ed25519 private key of %d", len(key), ed25519.PrivateKeySize)}
	}
	root, err := t.Root(ctx, size)
	if err != nil {
		return evidence.SignedHead{}, err
	}
	return evidence.Sign(evidence.Head{Size: size, Root: root, Time: t.clock()}, key), nil
}

// Rebuild deletes the stored tree and builds it again from the log.
func (t *Tree) Rebuild(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	b := &ledger.StateBatch{}
	b.DeletePrefix([]byte(keyPrefix))
	b.SetCheckpoint(checkpointName, 0)
	err := t.store.ApplyState(ctx, b)
	t.rng = nil
	t.umu.Lock()
	t.upper = nil
	t.umu.Unlock()
	t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return t.Update(ctx)
}

// Run keeps the tree up to date with the log until ctx ends, and returns
// ctx's error then, or the first error it cannot retry. On a store several
// processes share (a ledger.Leaser), it writes only while it holds the
// tree's lease; the others read what it writes. A lost lease or an
// unavailable store ends a term, and Run takes the lease again after a
// pause (up to a second).
func (t *Tree) Run(ctx context.Context) error {
	l, ok := t.store.(ledger.Leaser)
	if !ok {
		return t.follow(ctx)
	}
	var pause time.Duration
	for {
		held, release, err := l.Lease(ctx, checkpointName)
		if err == nil {
			err = t.follow(held)
			release()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		pause = min(max(2*pause, 10*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// retryable reports an error of the store or of the lease, not of the log.
func retryable(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrUnknownOutcome)
}

func (t *Tree) follow(ctx context.Context) error {
	for {
		size, err := t.Update(ctx)
		if err != nil {
			return err
		}
		if err := t.store.WaitDurable(ctx, size+1); err != nil {
			return err
		}
	}
}

// nodeKey numbers nodes in the order they become complete (post-order, as
// Go's checksum database stores its tree): the leaves and subtrees an
// append completes have keys above every earlier one, so the index grows
// at the end of its key range and each batch's table overlaps no other.
// Node (level L, index k) completes with leaf m-1, m = (k+1)<<L, after the
// 2m - popcount(m) nodes of the tree of m leaves, less those above it.
func nodeKey(id compact.NodeID) []byte {
	m := (id.Index + 1) << id.Level
	seq := 2*m - uint64(bits.OnesCount64(m)) - 1 - (uint64(bits.TrailingZeros64(m)) - uint64(id.Level))
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(nodePrefix)+8), nodePrefix...), seq)
}

func streamKey(stream string) []byte { return append([]byte(streamPrefix), stream...) }

func leafID(pos uint64) compact.NodeID { return compact.NewNodeID(0, pos-1) }
