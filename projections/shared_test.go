package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

// leases is one store's table of leases, as a database shared by processes
// keeps it; leased is one process's handle on the store.
type leases struct {
	mu     sync.Mutex
	holder map[string]*leased
	freed  chan struct{}
}

type leased struct {
	*ledger.Ledger
	table *leases
	mu    sync.Mutex
	drop  context.CancelFunc // ends the current lease, as a cut connection
}

func (s *leased) Lease(ctx context.Context, name string) (context.Context, func(), error) {
	for {
		s.table.mu.Lock()
		if s.table.holder[name] == nil {
			s.table.holder[name] = s
			s.table.mu.Unlock()
			held, cancel := context.WithCancel(ctx)
			s.mu.Lock()
			s.drop = cancel
			s.mu.Unlock()
			release := sync.OnceFunc(func() {
				cancel()
				s.table.mu.Lock()
				delete(s.table.holder, name)
				close(s.table.freed)
				s.table.freed = make(chan struct{})
				s.table.mu.Unlock()
			})
			return held, release, nil
		}
		freed := s.table.freed
		s.table.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// lose ends this handle's lease as a dropped connection would.
func (s *leased) lose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drop != nil {
		s.drop()
	}
}

var _ ledger.Leaser = (*leased)(nil)

// On a store that several processes share, one instance of the read models
// applies the log and the others read its rows: every event is applied
// once, every process reads its own writes, and when the applying one stops
// or loses its lease another takes over from the checkpoint.
func TestSharedStoreOneProcessApplies(t *testing.T) {
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	table := &leases{holder: map[string]*leased{}, freed: make(chan struct{})}
	type process struct {
		store *leased
		proj  *projections.Projections
		svc   *commands.Service
	}
	open := func() *process {
		s := &leased{Ledger: l, table: table}
		p, err := projections.Open(s, &projections.Options{BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := commands.New(l, &commands.Options{Projections: p})
		if err != nil {
			t.Fatal(err)
		}
		return &process{s, p, svc}
	}
	a, b := open(), open()
	defer b.proj.Close()

	// Each process writes and reads its own writes at once.
	lock := func(p *process, name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		if err := p.svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "o-" + name, Name: name, Email: name + "@example.com"}); err != nil {
			t.Fatal(err)
		}
		if err := p.svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: name, Owner: "o-" + name, Name: name, Zone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.proj.Lock(ctx, name); err != nil {
			t.Fatalf("lock %s written through one process is not in its read models: %v", name, err)
		}
	}
	for i := range 10 {
		lock(a, fmt.Sprintf("a%d", i))
		lock(b, fmt.Sprintf("b%d", i))
	}
	applied := a.proj.Stats().Events + b.proj.Stats().Events
	if total := l.DurablePosition(); applied != total {
		t.Fatalf("the two processes applied %d events of %d: each must be applied exactly once", applied, total)
	}

	// The leader loses its lease (a cut connection), then stops: the other
	// takes over and its writes still show.
	leader, other := a, b
	if b.proj.Stats().Events > 0 {
		leader, other = b, a
	}
	leader.store.lose()
	lock(other, "after-loss")
	lock(leader, "leader-after-loss")
	if err := leader.proj.Close(); err != nil {
		t.Fatal(err)
	}
	lock(other, "after-close")
	for _, name := range []string{"a0", "b9", "after-loss", "leader-after-loss", "after-close"} {
		if _, err := other.proj.Lock(bg, name); err != nil {
			t.Fatalf("after the handover, lock %s: %v", name, err)
		}
	}
}

// After Close, waiting and rebuilding say so with a sentinel; queries still
// answer from what was applied.
func TestClosedIsTyped(t *testing.T) {
	e := newEnv(t)
	if err := e.proj.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.proj.WaitApplied(bg, e.l.DurablePosition()+1); !errors.Is(err, projections.ErrClosed) {
		t.Fatalf("WaitApplied after Close: %v, want ErrClosed", err)
	}
	if err := e.proj.Rebuild(bg); !errors.Is(err, projections.ErrClosed) {
		t.Fatalf("Rebuild after Close: %v, want ErrClosed", err)
	}
}
