package projections_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/vmihailenco/msgpack/v5"
)

// syncGate holds every WAL sync while closed.
type syncGate struct {
	mu      sync.Mutex
	blocked chan struct{} // nil when open
	entered chan struct{}
}

func (g *syncGate) String() string { return "sync-gate" }

func (g *syncGate) MaybeError(op errorfs.Op) error {
	if !strings.HasSuffix(op.Path, ".log") || (op.Kind != errorfs.OpFileSync && op.Kind != errorfs.OpFileSyncData) {
		return nil
	}
	g.mu.Lock()
	ch := g.blocked
	g.mu.Unlock()
	if ch != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-ch
	}
	return nil
}

func (g *syncGate) set(closed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case closed && g.blocked == nil:
		g.blocked = make(chan struct{})
	case !closed && g.blocked != nil:
		close(g.blocked)
		g.blocked = nil
	}
}

// Read-your-writes and atomic checkpoints with batches that do not wait for
// their sync: the read models show a command's effects while their batch's
// WAL sync is still stuck; a crash then loses that batch with its
// checkpoint (never one without the other) but no event; reopened, the
// projections catch up from the older checkpoint and equal a rebuild.
func TestCrashBeforeProjectionSync(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	base := vfs.NewCrashableMem()
	gate := &syncGate{entered: make(chan struct{}, 1)}
	l, err := ledger.Open("db", &ledger.Options{FS: errorfs.Wrap(base, gate), Registry: reg, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer gate.set(false) // before Close, which waits for the stuck sync
	root := []byte("projections crash test root secret, 32+ bytes")
	p, err := projections.Open(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, proj: p, clock: keyledgertest.NewClock(now)}
	if e.svc, err = commands.New(l, &commands.Options{Clock: clock, Projections: p, Root: root}); err != nil {
		t.Fatal(err)
	}
	e.setup()
	_, err = e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom})
	e.must(err)
	_, err = e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"})
	e.must(err)
	synced := p.Applied()

	// The projections stop; a command is recorded (synced) meanwhile.
	e.must(p.Close())
	noWait, err := commands.New(l, &commands.Options{Clock: clock, Root: root})
	e.must(err)
	_, err = noWait.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"})
	e.must(err)
	head := l.DurablePosition()
	if head <= synced {
		t.Fatalf("head %d, projections at %d", head, synced)
	}

	// WAL syncs stuck: the projections apply the download anyway, visibly.
	gate.set(true)
	p2, err := projections.Open(l, nil)
	e.must(err)
	defer p2.Close()
	defer gate.set(false) // first: p2.Close waits for its stuck batch
	done := make(chan error, 1)
	go func() { done <- p2.WaitApplied(bg, head) }()
	select {
	case err := <-done:
		e.must(err)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitApplied waited for the WAL sync")
	}
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no WAL sync was requested for the projections' batch")
	}
	if r, err := p2.Key(bg, "i1"); err != nil || !r.Downloaded {
		t.Fatalf("the download is not visible before the sync: %+v, %v", r, err)
	}
	if cp, _ := l.Checkpoint(bg, projections.DefaultName); cp != head {
		t.Fatalf("checkpoint %d, want %d visible at once", cp, head)
	}

	// Crash: only synced data survives.
	l2, err := ledger.Open("db", &ledger.Options{FS: base.CrashClone(vfs.CrashCloneCfg{}), Registry: reg, Clock: clock})
	e.must(err)
	defer l2.Close()
	if cp, err := l2.Checkpoint(bg, projections.DefaultName); err != nil || cp != synced {
		t.Fatalf("checkpoint after the crash %d, %v; want the synced %d", cp, err, synced)
	}
	if r, err := keyRowOf(l2); err != nil || r.Downloaded {
		t.Fatalf("the lost batch's row survived without its checkpoint: %+v, %v", r, err)
	}
	if got := l2.DurablePosition(); got != head {
		t.Fatalf("log head after the crash %d, want %d: an event was lost", got, head)
	}
	p3, err := projections.Open(l2, nil)
	e.must(err)
	defer p3.Close()
	e.must(p3.WaitApplied(bg, head))
	if r, err := p3.Key(bg, "i1"); err != nil || !r.Downloaded || r.Holder != "ann" {
		t.Fatalf("not caught up: %+v, %v", r, err)
	}

	// Equal to a rebuild of the same log.
	caughtUp, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	e.must(err)
	defer caughtUp.Close()
	var sb ledger.StateBatch
	for r, err := range l2.ScanState(bg, []byte(projections.StatePrefix)) {
		e.must(err)
		sb.Set(r.Key, r.Value)
	}
	e.must(caughtUp.ApplyState(bg, &sb))
	e.must(p3.Rebuild(bg))
	c, err := projections.Compare(bg, caughtUp, l2)
	e.must(err)
	if c.Differ != 0 || c.Rows == 0 {
		t.Fatalf("caught up vs rebuilt: %+v, first %v", c, c.First)
	}
}

// keyRowOf decodes key i1's stored row (layout: rows.go) without starting
// projections, which would apply events.
func keyRowOf(l *ledger.Ledger) (projections.KeyRow, error) {
	var r projections.KeyRow
	v, err := l.GetState(bg, []byte(projections.StatePrefix+"key/i1"))
	if err != nil {
		return r, err
	}
	return r, msgpack.Unmarshal(v, &r)
}
