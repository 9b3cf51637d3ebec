package pgledger_test

// Outage tests against real servers: a private cluster stopped with
// -m immediate and killed under load, and a proxy that cuts, stalls and
// delays the connections of a store. Every loop and wait is bounded; every
// server and proxy listens on loopback only.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
)

// faultOp is the event the fault workloads append. Of is how many events its
// append had, so a reader can tell a whole append from a partial one.
type faultOp struct{ Run, Proc, Writer, Seq, Part, Of int }

func faultRegistry() *ledger.Registry {
	reg := ledger.NewRegistry()
	if err := reg.Register("fault.op", 1, faultOp{}); err != nil {
		panic(err)
	}
	return reg
}

// faultID is the event ID of one part of one append: a retry repeats it.
func faultID(run, proc, writer, seq, part int) uuid.UUID {
	var u uuid.UUID
	u[0] = 0xfa
	binary.BigEndian.PutUint16(u[2:], uint16(run))
	binary.BigEndian.PutUint16(u[4:], uint16(proc))
	binary.BigEndian.PutUint16(u[6:], uint16(writer))
	binary.BigEndian.PutUint32(u[8:], uint32(seq))
	binary.BigEndian.PutUint32(u[12:], uint32(part))
	return u
}

// openFault opens a store on dsn, closed when the test ends.
func openFault(t testing.TB, dsn string, opts pgledger.Options) *pgledger.Store {
	t.Helper()
	opts.Registry = faultRegistry()
	if opts.PollInterval == 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgledger.Open(ctx, dsn, &opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// ack is an append its caller saw succeed.
type ack struct {
	run, proc, writer, seq, parts int
	first                         uint64
}

// checkLog reads the whole log through s and fails the test unless every
// acknowledged append is there in full at its acknowledged positions, no
// append is there in part, no event ID is there twice, positions run from 1
// without a gap, none of the absent IDs (appends refused with a definite
// answer) is there, and the hash chain verifies. It returns the log's length.
func checkLog(t testing.TB, s *pgledger.Store, acks []ack, absent []uuid.UUID) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type appendKey struct{ run, proc, writer, seq int }
	parts := map[appendKey]int{}
	of := map[appendKey]int{}
	ids := map[uuid.UUID]uint64{}
	var want uint64 = 1
	for ev, err := range s.ReadAll(ctx, 0) {
		if err != nil {
			t.Fatalf("ReadAll at position %d: %v", want, err)
		}
		if ev.Position != want {
			t.Fatalf("ReadAll: position %d after %d: a gap or a repeat", ev.Position, want-1)
		}
		want++
		if p, dup := ids[ev.ID]; dup {
			t.Fatalf("event ID %s at positions %d and %d", ev.ID, p, ev.Position)
		}
		ids[ev.ID] = ev.Position
		op, ok := ev.Data.(faultOp)
		if !ok {
			continue
		}
		k := appendKey{op.Run, op.Proc, op.Writer, op.Seq}
		parts[k]++
		of[k] = op.Of
	}
	for k, n := range parts {
		if n != of[k] {
			t.Fatalf("append %+v is in the log with %d of its %d events", k, n, of[k])
		}
	}
	for _, a := range acks {
		for part := range a.parts {
			id := faultID(a.run, a.proc, a.writer, a.seq, part)
			pos, ok := ids[id]
			if !ok {
				t.Fatalf("acknowledged append %+v (part %d, position %d) lost; the log ends at %d", a, part, a.first+uint64(part), want-1)
			}
			if pos != a.first+uint64(part) {
				t.Fatalf("acknowledged append %+v part %d at position %d, acknowledged at %d", a, part, pos, a.first+uint64(part))
			}
		}
	}
	for _, id := range absent {
		if pos, ok := ids[id]; ok {
			t.Fatalf("event %s of an append refused with a definite error is at position %d", id, pos)
		}
	}
	d, err := s.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if d.Position != want-1 {
		t.Fatalf("Verify covered %d events, ReadAll read %d", d.Position, want-1)
	}
	return want - 1
}

// typedFault reports whether err is one of the errors a caller of a
// networked backend is promised when the server or the network fails.
func typedFault(err error) bool {
	return errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrUnknownOutcome) ||
		errors.Is(err, context.DeadlineExceeded)
}

// load runs writers that append to their own streams with exact expected
// versions and retry every failed append with the same event IDs (and the
// same, possibly stale, expected version) until it succeeds.
type load struct {
	t    *testing.T
	s    *pgledger.Store
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	acks     []ack
	lastAck  []time.Time // per writer
	errs     map[string]int
	untyped  []error
	retried  int // appends that succeeded after at least one error
	gaveUp   []error
	ackCount atomic.Int64
}

const loadWriters = 8

func startLoad(t *testing.T, s *pgledger.Store, run int) *load {
	l := &load{t: t, s: s, stop: make(chan struct{}), errs: map[string]int{}, lastAck: make([]time.Time, loadWriters)}
	for w := range loadWriters {
		l.wg.Go(func() { l.writer(run, w) })
	}
	return l
}

func (l *load) writer(run, w int) {
	stream := fmt.Sprintf("load-%d-%d", run, w)
	var version uint64
	for seq := 0; ; seq++ {
		select {
		case <-l.stop:
			return
		default:
		}
		n := 1 + seq%2 // one or two events per append
		evs := make([]ledger.NewEvent, n)
		for p := range evs {
			evs[p] = ledger.NewEvent{ID: faultID(run, 0, w, seq, p), Data: faultOp{run, 0, w, seq, p, n}}
		}
		failed := false
		deadline := time.Now().Add(90 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := l.s.Append(ctx, stream, ledger.ExpectVersion(version), evs...)
			cancel()
			if err == nil {
				if res.Last-res.First+1 != uint64(n) || res.Version() != version+uint64(n) {
					l.fail(fmt.Errorf("writer %d seq %d: result %+v for %d events at version %d", w, seq, res, n, version))
					return
				}
				version += uint64(n)
				l.mu.Lock()
				l.acks = append(l.acks, ack{run: run, writer: w, seq: seq, parts: n, first: res.First})
				l.lastAck[w] = time.Now()
				if failed {
					l.retried++
				}
				l.mu.Unlock()
				l.ackCount.Add(1)
				break
			}
			failed = true
			l.mu.Lock()
			switch {
			case errors.Is(err, ledger.ErrUnknownOutcome):
				l.errs["unknown outcome"]++
			case errors.Is(err, ledger.ErrUnavailable):
				l.errs["unavailable"]++
			case errors.Is(err, context.DeadlineExceeded):
				l.errs["deadline"]++
			default:
				l.untyped = append(l.untyped, fmt.Errorf("writer %d seq %d: %w", w, seq, err))
			}
			l.mu.Unlock()
			if !typedFault(err) {
				return
			}
			if time.Now().After(deadline) {
				l.fail(fmt.Errorf("writer %d seq %d: still failing after 90s: %w", w, seq, err))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (l *load) fail(err error) {
	l.mu.Lock()
	l.gaveUp = append(l.gaveUp, err)
	l.mu.Unlock()
}

// waitAcks waits until n more appends have been acknowledged.
func (l *load) waitAcks(n int64, what string) {
	l.t.Helper()
	target := l.ackCount.Load() + n
	deadline := time.Now().Add(60 * time.Second)
	for l.ackCount.Load() < target {
		l.mu.Lock()
		broken := len(l.untyped) + len(l.gaveUp)
		l.mu.Unlock()
		if broken > 0 || time.Now().After(deadline) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.t.Fatalf("%s: %d of %d appends acknowledged; errors %v, untyped %v, gave up %v", what, l.ackCount.Load()-(target-n), n, l.errs, l.untyped, l.gaveUp)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish stops the writers and fails the test on an untyped error or a
// writer that gave up. It returns the acknowledged appends.
func (l *load) finish() []ack {
	l.t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.untyped {
		l.t.Errorf("untyped error (want ErrUnavailable, ErrUnknownOutcome or the context's): %v", err)
	}
	for _, err := range l.gaveUp {
		l.t.Error(err)
	}
	if l.t.Failed() {
		l.t.FailNow()
	}
	return l.acks
}

// acksSince reports whether every writer had an append acknowledged after t.
func (l *load) acksSince(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.lastAck {
		if !at.After(t) {
			return false
		}
	}
	return true
}

// TestServerRestartUnderLoad stops a private server with -m immediate
// under load, starts it again, then kills it (SIGKILL to every server
// process) and starts it again: callers get only typed errors, retries
// with the same event IDs settle every append exactly once, the committer
// recovers on its own, and no acknowledged event is lost.
func TestServerRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a server")
	}
	cl := pgtest.StartCluster(t)
	s := openFault(t, cl.DSN(), pgledger.Options{WriteTimeout: 5 * time.Second})
	l := startLoad(t, s, 1)
	l.waitAcks(50, "before the first stop")

	cl.Stop(pgtest.Immediate)
	time.Sleep(300 * time.Millisecond) // appends fail while it is down
	cl.Start()
	l.waitAcks(50, "after a restart from -m immediate")

	cl.Kill()
	time.Sleep(300 * time.Millisecond)
	cl.Start()
	restarted := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for !l.acksSince(restarted) {
		if time.Now().After(deadline) {
			t.Fatal("not every writer had an append acknowledged within 60s of the last restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	acks := l.finish()
	if l.errs["unavailable"]+l.errs["unknown outcome"] == 0 {
		t.Fatalf("no append failed while the server was down (errors %v): the test did not test", l.errs)
	}
	n := checkLog(t, s, acks, nil)
	t.Logf("%d appends acknowledged (%d after an error), log of %d events verified; errors while down: %v", len(acks), l.retried, n, l.errs)
}

// proxied opens a database on the test server, a proxy in front of the
// server, and a store connected through the proxy (and one connected
// directly, to look behind the proxy's back).
func proxied(t *testing.T, opts pgledger.Options) (p *pgtest.Proxy, s, direct *pgledger.Store) {
	t.Helper()
	dsn := pgtest.Database(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dsn, "://") || strings.HasPrefix(cfg.Host, "/") {
		t.Skipf("the proxy needs a postgres:// URL naming a TCP host, not %q", cfg.Host)
	}
	p = pgtest.NewProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	direct = openFault(t, dsn, pgledger.Options{})
	s = openFault(t, p.DSN(dsn), opts)
	return p, s, direct
}

func opEvents(run, writer, seq, n int) []ledger.NewEvent {
	evs := make([]ledger.NewEvent, n)
	for p := range evs {
		evs[p] = ledger.NewEvent{ID: faultID(run, 0, writer, seq, p), Data: faultOp{run, 0, writer, seq, p, n}}
	}
	return evs
}

func appendCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A connection cut right after COMMIT was sent: the commit happened, the
// caller gets ErrUnknownOutcome, and a retry with the same event IDs (and
// the expected version that is now stale) returns the original result
// without writing again.
func TestCutAfterCommit(t *testing.T) {
	p, s, direct := proxied(t, pgledger.Options{})
	ctx := appendCtx(t)
	if _, err := s.Append(ctx, "cut", ledger.ExpectNoStream, opEvents(2, 0, 0, 1)...); err != nil {
		t.Fatal(err)
	}
	evs := opEvents(2, 0, 1, 2)
	p.CutAfter(pgtest.ExecutesCommit, pgtest.ThroughSync)
	_, err := s.Append(ctx, "cut", ledger.ExpectVersion(1), evs...)
	if !errors.Is(err, ledger.ErrUnknownOutcome) {
		t.Fatalf("append whose connection was cut after COMMIT: %v, want ErrUnknownOutcome", err)
	}
	if p.Cuts() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", p.Cuts())
	}
	// Behind the proxy's back: the commit reached the server.
	var stored ledger.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		if stored, err = direct.EventByID(ctx, evs[0].ID); err == nil {
			break
		}
		if !errors.Is(err, ledger.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("the cut append's first event, read directly: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 2 {
		res, err := s.Append(ctx, "cut", ledger.ExpectVersion(1), evs...)
		if err != nil {
			t.Fatalf("retry %d with the same event IDs: %v", i+1, err)
		}
		if res.First != stored.Position || res.Last != stored.Position+1 || res.Version() != 3 {
			t.Fatalf("retry %d: %+v, want the original positions %d..%d and version 3", i+1, res, stored.Position, stored.Position+1)
		}
	}
	// The same IDs with another payload are refused, not stored twice.
	changed := opEvents(2, 0, 1, 2)
	changed[1].Data = faultOp{Run: 99}
	if _, err := s.Append(ctx, "cut", ledger.ExpectAny, changed...); !errors.Is(err, ledger.ErrIDReused) {
		t.Fatalf("the cut append's IDs with another payload: %v, want ErrIDReused", err)
	}
	res, err := s.Append(ctx, "cut", ledger.ExpectVersion(3), opEvents(2, 0, 2, 1)...)
	if err != nil || res.First != 4 {
		t.Fatalf("the next append after the retry: %+v, %v; want position 4", res, err)
	}
	checkLog(t, direct, []ack{
		{run: 2, seq: 0, parts: 1, first: 1},
		{run: 2, seq: 1, parts: 2, first: 2},
		{run: 2, seq: 2, parts: 1, first: 4},
	}, nil)
}

// An append whose connection is gone before anything was sent (the server
// unreachable) is ErrUnavailable alone and writes nothing; the same append
// succeeds once the server answers again. Once the append's statements
// are on the wire the outcome is unknown instead: the committer sends
// BEGIN through COMMIT in one pipeline, so a cut cannot tell them apart
// (TestCutAfterCommit).
func TestCutBeforeCommit(t *testing.T) {
	p, s, direct := proxied(t, pgledger.Options{})
	ctx := appendCtx(t)
	if _, err := s.Append(ctx, "cut", ledger.ExpectNoStream, opEvents(3, 0, 0, 1)...); err != nil {
		t.Fatal(err)
	}
	p.Refuse(true)
	p.CutAll()
	// The committer learns its connection is gone from the next batch,
	// which may already be on the wire: that one's outcome may be unknown.
	probe := opEvents(3, 9, 0, 1)
	if _, err := s.Append(ctx, "probe", ledger.ExpectAny, probe...); err == nil {
		t.Fatal("an append through a cut connection to a refusing server succeeded")
	}
	evs := opEvents(3, 0, 1, 1)
	_, err := s.Append(ctx, "cut", ledger.ExpectVersion(1), evs...)
	if !errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrUnknownOutcome) {
		t.Fatalf("append with the server unreachable: %v, want ErrUnavailable alone", err)
	}
	if _, err := direct.EventByID(ctx, evs[0].ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the event of an append that got ErrUnavailable, read directly: %v, want ErrNotFound", err)
	}
	p.Refuse(false)
	if _, err := s.Append(ctx, "probe", ledger.ExpectAny, probe...); err != nil {
		t.Fatalf("the probe again, the server reachable: %v", err)
	}
	res, err := s.Append(ctx, "cut", ledger.ExpectVersion(1), evs...)
	if err != nil || res.First != 3 {
		t.Fatalf("the same append again: %+v, %v; want position 3 (after the probe)", res, err)
	}
	checkLog(t, direct, []ack{{run: 3, seq: 0, parts: 1, first: 1}, {run: 3, writer: 9, seq: 0, parts: 1, first: 2}, {run: 3, seq: 1, parts: 1, first: 3}}, nil)
}

// A stalled connection (no answer, no reset) holds an append and a read no
// longer than their contexts allow; both errors are typed, and the append
// retried after the stall is stored once.
func TestStallWithDeadline(t *testing.T) {
	p, s, direct := proxied(t, pgledger.Options{WriteTimeout: 2 * time.Second})
	ctx := appendCtx(t)
	if _, err := s.Append(ctx, "stall", ledger.ExpectNoStream, opEvents(4, 0, 0, 1)...); err != nil {
		t.Fatal(err)
	}
	p.Stall(true)
	evs := opEvents(4, 0, 1, 1)
	for _, op := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"Append", func(ctx context.Context) error {
			_, err := s.Append(ctx, "stall", ledger.ExpectVersion(1), evs...)
			return err
		}},
		{"EventAt", func(ctx context.Context) error {
			_, err := s.EventAt(ctx, 1)
			return err
		}},
	} {
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		start := time.Now()
		err := op.do(short)
		cancel()
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s through a stalled connection succeeded", op.name)
		}
		if !typedFault(err) {
			t.Fatalf("%s through a stalled connection: %v, want the context's error, ErrUnavailable or ErrUnknownOutcome", op.name, err)
		}
		if took > 3*time.Second {
			t.Fatalf("%s with a 500ms deadline returned after %v", op.name, took)
		}
	}
	p.Stall(false)
	var res ledger.AppendResult
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if res, err = s.Append(ctx, "stall", ledger.ExpectVersion(1), evs...); err == nil {
			break
		}
		if !typedFault(err) || time.Now().After(deadline) {
			t.Fatalf("the append retried after the stall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res.First != 2 || res.Version() != 2 {
		t.Fatalf("the append retried after the stall: %+v, want position 2, version 2", res)
	}
	checkLog(t, direct, []ack{{run: 4, seq: 0, parts: 1, first: 1}, {run: 4, seq: 1, parts: 1, first: 2}}, nil)
}

// A slow network slows appends but loses and repeats nothing; concurrent
// appends still share transactions.
func TestDelay(t *testing.T) {
	p, s, direct := proxied(t, pgledger.Options{})
	ctx := appendCtx(t)
	if _, err := s.Append(ctx, "warm", ledger.ExpectNoStream, opEvents(5, 99, 0, 1)...); err != nil {
		t.Fatal(err)
	}
	const d = 20 * time.Millisecond
	p.Delay(d)
	start := time.Now()
	if _, err := s.Append(ctx, "warm", ledger.ExpectVersion(1), opEvents(5, 99, 1, 1)...); err != nil {
		t.Fatal(err)
	}
	one := time.Since(start)
	if one < 2*d {
		t.Fatalf("an append through a %v delay each way took %v: the delay was not applied", d, one)
	}
	const writers, each = 8, 5
	acks := []ack{{run: 5, writer: 99, seq: 0, parts: 1, first: 1}, {run: 5, writer: 99, seq: 1, parts: 1, first: 2}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start = time.Now()
	for w := range writers {
		wg.Go(func() {
			for seq := range each {
				res, err := s.Append(ctx, fmt.Sprintf("delay-%d", w), ledger.ExpectVersion(uint64(seq)), opEvents(5, w, seq, 1)...)
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, seq, err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{run: 5, writer: w, seq: seq, parts: 1, first: res.First})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	all := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	// Serial appends would take writers*each times one; shared
	// transactions take about each times one.
	if all > time.Duration(writers*each/2)*one {
		t.Errorf("%d concurrent writers x %d appends took %v, one append %v: the appends did not share transactions", writers, each, all, one)
	}
	checkLog(t, direct, acks, nil)
}

// Connections cut and refused again and again under load: only typed
// errors, every append settled exactly once by its retries.
func TestCutsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of faults under load")
	}
	p, s, direct := proxied(t, pgledger.Options{WriteTimeout: 5 * time.Second})
	l := startLoad(t, s, 6)
	l.waitAcks(20, "before the faults")
	for i := range 6 {
		switch i % 3 {
		case 0:
			p.CutAll()
		case 1:
			p.CutAfter(pgtest.ExecutesCommit, pgtest.ThroughSync)
		case 2:
			p.Refuse(true)
			p.CutAll()
			time.Sleep(200 * time.Millisecond)
			p.Refuse(false)
		}
		l.waitAcks(20, fmt.Sprintf("after fault %d", i))
	}
	acks := l.finish()
	if l.errs["unavailable"]+l.errs["unknown outcome"] == 0 {
		t.Fatalf("no append failed under the faults (errors %v): the test did not test", l.errs)
	}
	n := checkLog(t, direct, acks, nil)
	t.Logf("%d appends acknowledged (%d after an error), log of %d events verified; errors: %v; cuts after COMMIT: %d", len(acks), l.retried, n, l.errs, p.Cuts())
}
