package pgledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
)

// A connection cut right after the round trip carrying COMMIT is sent is
// an unknown outcome; the retry with the same IDs is safe whichever way it
// went, and the store carries on with a new connection.
func TestUnknownOutcomeRetry(t *testing.T) {
	s := open(t, testRegistry(t))
	for i := range 5 {
		cut := true
		s.hooks.commitSent = func(c *pgx.Conn) {
			if cut {
				cut = false
				_ = c.PgConn().Conn().Close()
			}
		}
		stream := fmt.Sprintf("s-%d", i)
		evs := []ledger.NewEvent{{ID: tid(uint64(2*i + 1)), Data: testNote{Text: "a"}}, {ID: tid(uint64(2*i + 2)), Data: testCount{N: i}}}
		_, err := s.Append(bg, stream, ledger.ExpectNoStream, evs...)
		if !errors.Is(err, ledger.ErrUnknownOutcome) {
			t.Fatalf("append whose connection was cut after COMMIT was sent: %v, want ErrUnknownOutcome", err)
		}
		s.hooks.commitSent = nil
		r, err := s.Append(bg, stream, ledger.ExpectNoStream, evs...)
		if err != nil || r.Last-r.First != 1 || r.Version() != 2 {
			t.Fatalf("retry: %+v, %v", r, err)
		}
	}
	all := collect(t, s.ReadAll(bg, 0))
	if len(all) != 10 {
		t.Fatalf("%d events after 5 retried appends of 2, want 10", len(all))
	}
	if _, err := s.Verify(bg); err != nil {
		t.Fatal(err)
	}
}

// Killing every session of the store (as a server restart does) fails the
// appends in flight with a typed error; the committer reconnects, and
// followers and the listener carry on.
func TestSessionsKilled(t *testing.T) {
	reg := testRegistry(t)
	s := open(t, reg)
	other := second(t, s, reg)
	fctx, fcancel := context.WithCancel(bg)
	defer fcancel()
	got := make(chan ledger.Event, 1000)
	go func() {
		for e, err := range other.Follow(fctx, 1) {
			if err != nil {
				return
			}
			got <- e
		}
	}()
	if _, err := s.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{ID: tid(1), Data: testNote{}}); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(bg, mustDSN(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(bg)
	kill := func() {
		t.Helper()
		// The follower connects on its own goroutine: wait until every
		// session is there before ending them all.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var sessions int
			if err := admin.QueryRow(bg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&sessions); err != nil {
				t.Fatal(err)
			}
			if sessions >= 4 || time.Now().After(deadline) {
				break
			}
		}
		var killed int
		if err := admin.QueryRow(bg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed < 4 {
			t.Fatalf("terminated %d sessions, want the committers, listeners and pools of both stores", killed)
		}
	}
	// Sessions ended while the store is idle: the next append notices before
	// it sends anything, and goes through on a new connection.
	kill()
	time.Sleep(idleCheck + 100*time.Millisecond)
	if _, err := s.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{ID: tid(2), Data: testNote{}}); err != nil {
		t.Fatalf("append after its idle connection was ended: %v", err)
	}
	// Sessions ended while the store is busy.
	kill()
	n := uint64(3)
	for i := range 20 {
		_, err := s.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{ID: tid(n), Data: testCount{N: i}})
		switch {
		case err == nil:
			n++
		case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, ledger.ErrUnknownOutcome):
			// Retried with the same ID by the next round.
		default:
			t.Fatalf("append after the sessions were killed: %v, want success or a typed error", err)
		}
	}
	if n < 16 {
		t.Fatalf("only %d of 20 appends succeeded after the sessions were killed", n-3)
	}
	for want := uint64(1); want < n; want++ {
		select {
		case e := <-got:
			if e.Position != want {
				t.Fatalf("follower on the other store got position %d, want %d", e.Position, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("follower on the other store stopped before position %d", want)
		}
	}
	if err := other.WaitDurable(bg, n-1); err != nil {
		t.Fatal(err)
	}
}

func mustDSN(t *testing.T, s *Store) string {
	t.Helper()
	dsn, ok := dsns.Load(s)
	if !ok {
		t.Fatal("unknown store")
	}
	return dsn.(string)
}

// With its listener gone (every notification lost), a store still learns
// of another's appends by polling, within the poll interval.
func TestLostNotificationsPolled(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	b.stopBG()
	<-b.ldone
	fctx, fcancel := context.WithCancel(bg)
	defer fcancel()
	got := make(chan ledger.Event, 10)
	go func() {
		for e, err := range b.Follow(fctx, 1) {
			if err != nil {
				return
			}
			got <- e
		}
	}()
	for i := range 3 {
		r, err := a.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{Data: testCount{N: i}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Position != r.First {
				t.Fatalf("followed position %d, want %d", e.Position, r.First)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never arrived without notifications", r.First)
		}
		wctx, cancel := context.WithTimeout(bg, 5*time.Second)
		if err := b.WaitDurable(wctx, r.First); err != nil {
			t.Fatalf("WaitDurable without notifications: %v", err)
		}
		cancel()
	}
}

// A named subscriber's lease: while one store delivers to "proj", another
// store's Subscribe("proj") waits; when the first ends, the second takes
// over after the checkpoint the first stored.
func TestSubscriberLease(t *testing.T) {
	reg := testRegistry(t)
	a := open(t, reg)
	b := second(t, a, reg)
	for i := range 5 {
		if _, err := a.Append(bg, "s", ledger.ExpectAny, ledger.NewEvent{ID: tid(uint64(i + 1)), Data: testCount{N: i}}); err != nil {
			t.Fatal(err)
		}
	}
	actx, acancel := context.WithCancel(bg)
	aDone := make(chan struct{})
	first := make(chan ledger.Event, 10)
	go func() {
		defer close(aDone)
		for e, err := range a.Subscribe(actx, "proj") {
			if err != nil {
				return
			}
			first <- e
		}
	}()
	for want := uint64(1); want <= 3; want++ {
		if e := <-first; e.Position != want {
			t.Fatalf("holder got %d, want %d", e.Position, want)
		}
	}
	var cp ledger.StateBatch
	cp.SetCheckpoint("proj", 3)
	if err := a.ApplyState(bg, &cp); err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(bg)
	defer bcancel()
	later := make(chan ledger.Event, 10)
	var bErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for e, err := range b.Subscribe(bctx, "proj") {
			if err != nil {
				bErr = err
				return
			}
			later <- e
		}
	})
	select {
	case e := <-later:
		t.Fatalf("a second subscriber got position %d while the first held the lease", e.Position)
	case <-time.After(5 * b.poll):
	}
	acancel()
	<-aDone
	select {
	case e := <-later:
		if e.Position != 4 {
			t.Fatalf("the subscriber taking over resumed at %d, want 4 (after the checkpoint)", e.Position)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting subscriber never took over the lease")
	}
	bcancel()
	wg.Wait()
	if !errors.Is(bErr, context.Canceled) {
		t.Fatalf("the second subscription ended with %v", bErr)
	}
}

// An unreachable server is ErrUnavailable, and options are checked before
// anything is dialled.
func TestOpenErrors(t *testing.T) {
	reg := testRegistry(t)
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://nobody:s3cret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", &Options{Registry: reg})
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("Open of a closed port: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("the error shows the password: %v", err)
	}
	for _, tc := range []struct {
		name string
		dsn  string
		opts *Options
	}{
		{"no registry", "postgres://127.0.0.1:1/x", nil},
		{"bad schema", "postgres://127.0.0.1:1/x", &Options{Registry: reg, Schema: "Bad-Name"}},
		{"long schema", "postgres://127.0.0.1:1/x", &Options{Registry: reg, Schema: strings.Repeat("a", 41)}},
		{"negative poll", "postgres://127.0.0.1:1/x", &Options{Registry: reg, PollInterval: -1}},
		{"bad DSN", "postgres://u:s3cret-pw@[::1/x", &Options{Registry: reg}},
		{"simple protocol", "postgres://127.0.0.1:1/x?default_query_exec_mode=simple_protocol", &Options{Registry: reg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.dsn, tc.opts)
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// Processes opening a new database at once migrate it once; a database
// migrated by a newer version is refused; two schemas are two ledgers.
func TestMigrations(t *testing.T) {
	reg := testRegistry(t)
	dsn := pgtest.Database(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Go(func() {
			s, err := Open(bg, dsn, &Options{Registry: reg})
			if err != nil {
				t.Errorf("concurrent Open %d: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			if _, err := s.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}}); err != nil {
				t.Error(err)
			}
			_ = s.Close()
		}
	}
	if t.Failed() {
		return
	}
	conn, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var rows, top int
	if err := conn.QueryRow(bg, "SELECT count(*), max(version) FROM keyledger.schema_version").Scan(&rows, &top); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrations()
	if rows != len(ms) || top != ms[len(ms)-1].version {
		t.Fatalf("schema_version has %d rows up to %d, want %d up to %d", rows, top, len(ms), ms[len(ms)-1].version)
	}
	other := openDB(t, dsn, reg, &Options{Schema: "tenant_b"})
	if d, err := other.Head(bg); err != nil || d.Position != 0 {
		t.Fatalf("a second schema's head = %v, %v; want an empty log", d, err)
	}
	if _, err := conn.Exec(bg, "INSERT INTO keyledger.schema_version (version) VALUES (999)"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bg, dsn, &Options{Registry: reg}); !errors.Is(err, ledger.ErrUnknownFormat) {
		t.Fatalf("Open of a newer schema: %v, want ErrUnknownFormat", err)
	}
}

// A state batch whose connection is cut after it was sent has an unknown
// outcome; applying the same batch again gives the state it describes.
func TestApplyStateUnknownOutcome(t *testing.T) {
	s := open(t, testRegistry(t))
	var sb ledger.StateBatch
	sb.Set([]byte("k/1"), []byte("one"))
	sb.DeletePrefix([]byte("old/"))
	sb.SetCheckpoint("proj", 7)
	s.hooks.stateSent = func(c *pgx.Conn) { _ = c.PgConn().Conn().Close() }
	if err := s.ApplyState(bg, &sb); !errors.Is(err, ledger.ErrUnknownOutcome) {
		t.Fatalf("ApplyState with its connection cut after sending: %v, want ErrUnknownOutcome", err)
	}
	s.hooks.stateSent = nil
	if err := s.ApplyState(bg, &sb); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetState(bg, []byte("k/1")); err != nil || string(v) != "one" {
		t.Fatalf("GetState = %q, %v", v, err)
	}
	if p, err := s.Checkpoint(bg, "proj"); err != nil || p != 7 {
		t.Fatalf("Checkpoint = %d, %v", p, err)
	}
}

// A store alone skips the NOTIFY of its appends (it knows its own
// commits); once another store listens it notifies again, so the other
// follows at once rather than at its next poll.
func TestNotifyOnlyWhenOthersListen(t *testing.T) {
	reg := testRegistry(t)
	dsn := pgtest.Database(t)
	a := openDB(t, dsn, reg, &Options{PollInterval: 50 * time.Millisecond})
	waitFor(t, "the lone store stops notifying", func() bool { return !a.others.Load() })
	fctx, fcancel := context.WithCancel(bg)
	defer fcancel()
	mine, _ := deliver(a.Follow(fctx, 1))
	r, err := a.Append(bg, "s", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-mine:
		if e.Position != r.First {
			t.Fatalf("own follower got %d, want %d", e.Position, r.First)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a lone store's follower missed its own append")
	}
	// b polls too rarely to explain a prompt delivery: it must be notified.
	b := openDB(t, dsn, reg, &Options{PollInterval: time.Minute})
	waitFor(t, "the first store sees the second listen", func() bool { return a.others.Load() })
	got, _ := deliver(b.Follow(fctx, r.First+1))
	r, err = a.Append(bg, "s", ledger.ExpectAny, ledger.NewEvent{Data: testNote{}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.Position != r.First {
			t.Fatalf("the other store followed %d, want %d", e.Position, r.First)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other store was not notified of an append")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first store sees it is alone again", func() bool { return !a.others.Load() })
}

// deliver runs seq on a goroutine, sending its events to got and the error
// that ended it to done.
func deliver(seq func(func(ledger.Event, error) bool)) (got chan ledger.Event, done chan error) {
	got, done = make(chan ledger.Event, 100), make(chan error, 1)
	go func() {
		for e, err := range seq {
			if err != nil {
				done <- err
				return
			}
			got <- e
		}
		done <- nil
	}()
	return got, done
}
