package commands

import (
	"context"
	"sync"

	"github.com/keyledger/keyledger/ledger"
)

// cacheEntry is a folded stream state at a version. Entries are immutable:
// updates replace them with a new state.
type cacheEntry struct {
	state   aggregate
	version uint64
	stale   bool // a conflict showed the stream moved on; refresh before use
}

// stateCache keeps folded states of hot streams so a command does not re-read
// a whole stream. It is refreshed incrementally (reading only the events
// after the cached version) when a conflict marks it stale.
type stateCache struct {
	mu  sync.Mutex
	m   map[string]cacheEntry
	max int
}

func newStateCache(max int) *stateCache {
	if max <= 0 {
		max = 4096
	}
	return &stateCache{m: make(map[string]cacheEntry), max: max}
}

func (c *stateCache) get(ctx context.Context, store ledger.Log, stream string, zero func() aggregate) (cacheEntry, error) {
	c.mu.Lock()
	e, ok := c.m[stream]
	c.mu.Unlock()
	if ok && !e.stale {
		// Trusted here: the append checks the version of every stream the
		// decision loaded, written or only read (txn.appends). A stale
		// entry is caught up by reading only the events after its version.
		return e, nil
	}
	var st aggregate
	var from uint64
	if ok {
		st, from = e.state.clone(), e.version+1
	} else {
		st, from = zero(), 1
	}
	v := from - 1
	for ev, err := range store.ReadStream(ctx, stream, from) {
		if err != nil {
			return cacheEntry{}, err
		}
		st.evolve(ev)
		v = ev.Version
	}
	ne := cacheEntry{state: st, version: v}
	c.put(stream, ne)
	return ne, nil
}

func (c *stateCache) put(stream string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[stream]; ok && old.version > e.version {
		return
	}
	if _, ok := c.m[stream]; !ok && len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[stream] = e
}

func (c *stateCache) stale(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[stream]; ok {
		e.stale = true
		c.m[stream] = e
	}
}

// advance folds a successful attempt's events into the states it loaded.
func (c *stateCache) advance(t *txn, evs []ledger.Event) {
	for _, stream := range t.order {
		e, ok := t.loaded[stream]
		if !ok {
			continue
		}
		st := e.state.clone()
		v := e.version
		for _, ev := range evs {
			if ev.Stream == stream {
				st.evolve(ev)
				v = ev.Version
			}
		}
		c.put(stream, cacheEntry{state: st, version: v})
	}
}
