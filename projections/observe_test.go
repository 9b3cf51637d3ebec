package projections_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/logtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

// slowStore is a ledger whose ApplyState can be slowed down (in proportion
// to the batch, so applying more events at once does not catch up) or failed.
type slowStore struct {
	*ledger.Ledger
	delay atomic.Int64 // nanoseconds per operation of a StateBatch
	fail  atomic.Bool
}

var errInjected = errors.New("injected ApplyState failure")

func (s *slowStore) ApplyState(ctx context.Context, b *ledger.StateBatch) error {
	if s.fail.Load() {
		return errInjected
	}
	time.Sleep(time.Duration(s.delay.Load() * int64(b.Len())))
	return s.Ledger.ApplyState(ctx, b)
}

func newSlowStore(t *testing.T) *slowStore {
	t.Helper()
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return &slowStore{Ledger: l}
}

// register appends n account registrations, one append each.
func register(t *testing.T, l *ledger.Ledger, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		a := fmt.Sprintf("a%d", i)
		if _, err := l.Append(bg, "account-"+a, ledger.ExpectAny, ledger.NewEvent{Data: events.AccountRegistered{Account: a, Email: a + "@example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLog polls until a line at level with msg is logged.
func waitLog(t *testing.T, c *logtest.Capture, level slog.Level, msg string) logtest.Record {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		rs, err := c.Find(level, msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			return rs[0]
		}
	}
	all, _ := c.Records()
	t.Fatalf("no %v line %q in 10 s; logged: %+v", level, msg, all)
	return logtest.Record{}
}

func TestStatsAndLag(t *testing.T) {
	s := newSlowStore(t)
	p, err := projections.Open(s, &projections.Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	register(t, s.Ledger, 0, 10)
	if err := p.WaitApplied(bg, 10); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Applied != 10 || st.Durable != 10 || st.Lag != 0 || p.Lag() != 0 || st.Events != 10 || st.Batches == 0 || st.Stopped {
		t.Fatalf("stats %+v, want 10 applied, no lag", st)
	}
	s.delay.Store(int64(10 * time.Millisecond))
	register(t, s.Ledger, 10, 5)
	if lag := p.Lag(); lag == 0 || lag > 5 {
		t.Fatalf("lag %d right after 5 appends to slowed projections, want 1..5", lag)
	}
	s.delay.Store(0)
	if err := p.WaitApplied(bg, 15); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Lag != 0 || st.Events != 15 {
		t.Fatalf("after catching up: %+v", st)
	}
}

// An ApplyState that fails stops the projections: logged at Error with the
// cause and the position they stopped at.
func TestLogProjectionsStopped(t *testing.T) {
	s := newSlowStore(t)
	log, c := logtest.New()
	p, err := projections.Open(s, &projections.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	register(t, s.Ledger, 0, 3)
	if err := p.WaitApplied(bg, 3); err != nil {
		t.Fatal(err)
	}
	s.fail.Store(true)
	register(t, s.Ledger, 3, 1)
	if err := p.WaitApplied(bg, 4); !errors.Is(err, errInjected) {
		t.Fatalf("WaitApplied after a failed apply: %v", err)
	}
	r := waitLog(t, c, slog.LevelError, "projections: stopped")
	if r.String("applied") != "3" || r.String("durable") != "4" || r.String("err") != p.Err().Error() {
		t.Fatalf("logged %+v; Err %v", r, p.Err())
	}
	if !p.Stats().Stopped {
		t.Fatal("Stats does not report the stop")
	}
}

// Projections that cannot keep up log it at Error once, and at Info when
// they are back at the head of the log.
func TestLogProjectionsFallingBehind(t *testing.T) {
	s := newSlowStore(t)
	log, c := logtest.New()
	p, err := projections.Open(s, &projections.Options{Logger: log, LagAlert: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	register(t, s.Ledger, 0, 2)
	if err := p.WaitApplied(bg, 2); err != nil {
		t.Fatal(err)
	}
	// Events arrive faster than the projections apply them.
	s.delay.Store(int64(2 * time.Millisecond))
	for i := 2; i < 60; i++ {
		register(t, s.Ledger, i, 1)
		time.Sleep(time.Millisecond)
	}
	r := waitLog(t, c, slog.LevelError, "falling behind")
	lag, _ := strconv.Atoi(r.String("lag"))
	durable, _ := strconv.Atoi(r.String("durable"))
	applied, _ := strconv.Atoi(r.String("applied"))
	if lag < 1 || durable-applied != lag || durable > 60 || r.String("waited") == "" {
		t.Fatalf("falling behind logged as %+v", r)
	}
	s.delay.Store(0)
	if err := p.WaitApplied(bg, 60); err != nil {
		t.Fatal(err)
	}
	register(t, s.Ledger, 60, 1) // one more batch: the check runs after each
	waitLog(t, c, slog.LevelInfo, "back at the head")
	if rs, _ := c.Find(slog.LevelError, "falling behind"); len(rs) != 1 {
		t.Fatalf("%d falling-behind lines, want 1 per episode", len(rs))
	}
}

// A rebuild catches up with the log: logged at Info when it starts and
// ends, never as falling behind.
func TestLogProjectionsCatchUp(t *testing.T) {
	s := newSlowStore(t)
	// The log is applied first by projections of their own: with a 1 ms
	// alert, applying the appends as they come may rightly log falling
	// behind (on a slow machine), and that must not count as the rebuild's.
	first, err := projections.Open(s, &projections.Options{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	register(t, s.Ledger, 0, 20)
	if err := first.WaitApplied(bg, 20); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	log, c := logtest.New()
	p, err := projections.Open(s, &projections.Options{Logger: log, BatchSize: 1, LagAlert: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitApplied(bg, 20); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Records()
	s.delay.Store(int64(time.Millisecond))
	if err := p.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	r := waitLog(t, c, slog.LevelInfo, "catching up")
	if r.String("from") != "0" || r.String("to") != "20" {
		t.Fatalf("catching up logged as %+v", r)
	}
	r = waitLog(t, c, slog.LevelInfo, "caught up")
	if r.String("applied") != "20" || r.String("events") != "20" {
		t.Fatalf("caught up logged as %+v", r)
	}
	after, _ := c.Records()
	for _, r := range after[len(before):] {
		if r.Level == slog.LevelError.String() {
			t.Fatalf("a rebuild logged %+v", r)
		}
	}
}

// A rebuild whose clearing fails leaves the read models as they were and
// following the log: later commands' waits end, nothing hangs.
func TestRebuildThatCannotClearKeepsFollowing(t *testing.T) {
	s := newSlowStore(t)
	register(t, s.Ledger, 0, 3)
	p, err := projections.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitApplied(bg, s.DurablePosition()); err != nil {
		t.Fatal(err)
	}
	s.fail.Store(true)
	if err := p.Rebuild(bg); !errors.Is(err, errInjected) {
		t.Fatalf("Rebuild with a store refusing the clearing = %v, want the store's error", err)
	}
	s.fail.Store(false)
	register(t, s.Ledger, 3, 2)
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := p.WaitApplied(ctx, s.DurablePosition()); err != nil {
		t.Fatalf("WaitApplied after a failed Rebuild: %v (Err %v)", err, p.Err())
	}
}
