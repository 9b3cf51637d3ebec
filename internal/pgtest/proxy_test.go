package pgtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// upstream is a TCP server on loopback that records what each connection
// sent and answers every read with reply(read bytes).
type upstream struct {
	ln    net.Listener
	mu    sync.Mutex
	got   [][]byte // per connection, in accept order
	ended []bool   // per connection: the client side closed
	reply func([]byte) []byte
	wg    sync.WaitGroup
}

func newUpstream(t *testing.T, reply func([]byte) []byte) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, reply: reply}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			i := len(u.got)
			u.got = append(u.got, nil)
			u.ended = append(u.ended, false)
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						u.mu.Lock()
						u.got[i] = append(u.got[i], buf[:n]...)
						u.mu.Unlock()
						if r := u.reply(buf[:n]); len(r) > 0 {
							_, _ = c.Write(r)
						}
					}
					if err != nil {
						u.mu.Lock()
						u.ended[i] = true
						u.mu.Unlock()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); u.wg.Wait() })
	return u
}

func echo(b []byte) []byte { return bytes.Clone(b) }

// conn returns what connection i sent so far and whether it ended.
func (u *upstream) conn(i int) ([]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i >= len(u.got) {
		return nil, false
	}
	return bytes.Clone(u.got[i]), u.ended[i]
}

// waitConn waits until connection i has sent want bytes and, if ended,
// closed its side.
func (u *upstream) waitConn(t *testing.T, i, want int, ended bool) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, e := u.conn(i)
		if len(got) >= want && (!ended || e) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream connection %d: got %d bytes (ended %v), want %d (ended %v)", i, len(got), e, want, ended)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads len(msg) bytes back within timeout.
func roundTrip(c net.Conn, msg []byte, timeout time.Duration) ([]byte, error) {
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return got, err
}

func TestProxyForwardsBothWays(t *testing.T) {
	u := newUpstream(t, echo)
	p := NewProxy(t, u.ln.Addr().String())
	c := dial(t, p.Addr())
	big := bytes.Repeat([]byte("0123456789"), 20000) // more than one read buffer
	got, err := roundTrip(c, big, 5*time.Second)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("echo through the proxy: %d bytes, %v", len(got), err)
	}
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns() = %d, want 1", n)
	}
}

func TestProxyCutAll(t *testing.T) {
	u := newUpstream(t, echo)
	p := NewProxy(t, u.ln.Addr().String())
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	for _, c := range []net.Conn{c1, c2} {
		if _, err := roundTrip(c, []byte("ping"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p.CutAll()
	for i, c := range []net.Conn{c1, c2} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("client %d after CutAll: read error %v, want the connection closed", i, err)
		}
		u.waitConn(t, i, 4, true) // the server side was closed too
	}
	// New connections still work.
	if _, err := roundTrip(dial(t, p.Addr()), []byte("again"), 5*time.Second); err != nil {
		t.Fatalf("a connection after CutAll: %v", err)
	}
}

func TestProxyStall(t *testing.T) {
	u := newUpstream(t, echo)
	p := NewProxy(t, u.ln.Addr().String())
	c := dial(t, p.Addr())
	p.Stall(true)
	if _, err := roundTrip(c, []byte("held"), 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("round trip while stalled: %v, want a timeout", err)
	}
	if got, _ := u.conn(0); len(got) != 0 {
		t.Fatalf("upstream got %q while stalled", got)
	}
	if p.Conns() != 1 {
		t.Fatalf("the stalled connection was closed")
	}
	p.Stall(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after the stall: %q, %v; want what was held", got, err)
	}
	// CutAll ends a stalled connection too.
	p.Stall(true)
	_, _ = c.Write([]byte("x"))
	p.CutAll()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled connection after CutAll: %v, want closed", err)
	}
}

func TestProxyDelay(t *testing.T) {
	u := newUpstream(t, echo)
	p := NewProxy(t, u.ln.Addr().String())
	c := dial(t, p.Addr())
	const d = 50 * time.Millisecond
	p.Delay(d)
	start := time.Now()
	if _, err := roundTrip(c, []byte("slow"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("round trip with a %v delay each way took %v, want at least %v", d, rtt, 2*d)
	}
	p.Delay(0)
	start = time.Now()
	if _, err := roundTrip(c, []byte("fast"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt >= 2*d {
		t.Logf("round trip without delay took %v (a loaded machine?)", rtt)
	}
}

func TestProxyRefuse(t *testing.T) {
	u := newUpstream(t, echo)
	p := NewProxy(t, u.ln.Addr().String())
	open := dial(t, p.Addr())
	if _, err := roundTrip(open, []byte("a"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Refuse(true)
	if _, err := roundTrip(dial(t, p.Addr()), []byte("b"), 5*time.Second); err == nil {
		t.Fatal("a new connection was served while refusing")
	}
	if _, err := roundTrip(open, []byte("c"), 5*time.Second); err != nil {
		t.Fatalf("the open connection while refusing: %v", err)
	}
	p.Refuse(false)
	if _, err := roundTrip(dial(t, p.Addr()), []byte("d"), 5*time.Second); err != nil {
		t.Fatalf("after Refuse(false): %v", err)
	}
}

// Wire messages of the PostgreSQL protocol, as a client sends them.
func startupMsg() []byte {
	body := append(binary.BigEndian.AppendUint32(nil, 196608), "user\x00postgres\x00\x00"...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(4+len(body))), body...)
}

func sslRequest() []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 80877103)
}

func typed(typ byte, parts ...string) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(4+len(body))), body...)
}

func query(sql string) []byte       { return typed('Q', sql, "\x00") }
func parse(name, sql string) []byte { return typed('P', name, "\x00", sql, "\x00", "\x00\x00") }
func bind(portal, stmt string) []byte {
	return typed('B', portal, "\x00", stmt, "\x00", "\x00\x00\x00\x00\x00\x00")
}
func execute(portal string) []byte        { return typed('E', portal, "\x00", "\x00\x00\x00\x00") }
func syncMsg() []byte                     { return typed('S') }
func concat(parts ...[]byte) (out []byte) { return bytes.Join(parts, nil) }

// replyOnCommit answers "COMMITTED" to a read that holds a commit.
func replyOnCommit(b []byte) []byte {
	if bytes.Contains(bytes.ToLower(b), []byte("commit")) {
		return []byte("COMMITTED")
	}
	return nil
}

func TestExecutesCommit(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want bool
	}{
		{Message{'Q', "commit"}, true},
		{Message{'Q', "COMMIT"}, true},
		{Message{'Q', "insert into t values (1); COMMIT;"}, true},
		{Message{'E', "commit"}, true},
		{Message{'P', "commit"}, false}, // prepared, not run
		{Message{'B', "commit"}, false},
		{Message{'Q', "select 'commitment'"}, false},
		{Message{'Q', "select commit_ts"}, false},
		{Message{'Q', "select 'COMMIT'"}, false},
		{Message{'Q', "select 'it''s COMMIT'"}, false},
		{Message{'Q', "select 'x'; commit"}, true},
		{Message{'Q', "begin"}, false},
		{Message{'E', ""}, false},
	} {
		if got := ExecutesCommit(tc.m); got != tc.want {
			t.Errorf("ExecutesCommit(%c %q) = %v, want %v", tc.m.Type, tc.m.SQL, got, tc.want)
		}
	}
}

// The cut forwards exactly the client's bytes up to the cut point, drops the
// server's answers from the match on, and closes both sides.
func TestProxyCutAfter(t *testing.T) {
	before := concat(sslRequest(), startupMsg(), query("begin"), query("insert into t values (1)"))
	for _, tc := range []struct {
		name      string
		send      []byte // all the client sends, in one write
		extra     int
		forwarded []byte // what the server must get before the cut
	}{
		{"simple query", concat(before, query("COMMIT"), query("select 1")), ThroughSync,
			concat(before, query("COMMIT"))},
		{"extra bytes", concat(before, query("COMMIT"), query("select 1")), 3,
			concat(before, query("COMMIT"), query("select 1")[:3])},
		{"zero extra", concat(before, query("commit"), query("select 1")), 0,
			concat(before, query("commit"))},
		{"extended protocol, prepared then executed by name",
			// Preparing a COMMIT is not running it: the cut waits for the
			// Execute and the Sync after it.
			concat(before, parse("s1", "commit"), syncMsg(), bind("", "s1"), execute(""), syncMsg(), query("select 1")), ThroughSync,
			concat(before, parse("s1", "commit"), syncMsg(), bind("", "s1"), execute(""), syncMsg())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, replyOnCommit)
			p := NewProxy(t, u.ln.Addr().String())
			p.CutAfter(ExecutesCommit, tc.extra)
			c := dial(t, p.Addr())
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			got := u.waitConn(t, 0, len(tc.forwarded), true)
			if !bytes.Equal(got, tc.forwarded) {
				t.Fatalf("server got %d bytes %q\nwant %d bytes %q", len(got), got, len(tc.forwarded), tc.forwarded)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			rest, err := io.ReadAll(c)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the client connection stayed open after the cut")
			}
			if bytes.Contains(rest, []byte("COMMITTED")) {
				t.Fatalf("the server's answer to the commit reached the client: %q", rest)
			}
			if p.Cuts() != 1 {
				t.Fatalf("Cuts() = %d, want 1", p.Cuts())
			}
		})
	}
}

// Byte-by-byte delivery parses the same as one write, and the rule is
// one-shot: the next connection is not cut.
func TestProxyCutAfterSplitWrites(t *testing.T) {
	u := newUpstream(t, func([]byte) []byte { return nil })
	p := NewProxy(t, u.ln.Addr().String())
	p.CutAfter(ExecutesCommit, ThroughSync)
	send := concat(startupMsg(), query("select 'COMMIT'"), query("commit"), query("select 2"))
	c := dial(t, p.Addr())
	for i := range send {
		if _, err := c.Write(send[i : i+1]); err != nil {
			break // cut
		}
		time.Sleep(100 * time.Microsecond)
	}
	want := concat(startupMsg(), query("select 'COMMIT'"), query("commit"))
	if got := u.waitConn(t, 0, len(want), true); !bytes.Equal(got, want) {
		t.Fatalf("server got %q, want %q", got, want)
	}
	c2 := dial(t, p.Addr())
	if _, err := c2.Write(concat(startupMsg(), query("commit"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ended := u.conn(1); ended || p.Conns() != 1 || p.Cuts() != 1 {
		t.Fatalf("second connection: ended %v, Conns %d, Cuts %d; want it open and one cut", ended, p.Conns(), p.Cuts())
	}
}

// A cancel request reaches the server until a cut has fired, and not after:
// pgx sends one when a connection breaks, and on a loaded machine it could
// abort on the server the transaction the cut let through.
func TestProxyDropsCancelsAfterACut(t *testing.T) {
	u := newUpstream(t, func([]byte) []byte { return nil })
	p := NewProxy(t, u.ln.Addr().String())
	cancel := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 16), cancelRequestCode), 42), 7)
	c := dial(t, p.Addr())
	if _, err := c.Write(cancel); err != nil {
		t.Fatal(err)
	}
	if got := u.waitConn(t, 0, len(cancel), false); !bytes.Equal(got, cancel) {
		t.Fatalf("before any cut the server got %q, want the cancel request", got)
	}
	p.CutAfter(ExecutesCommit, ThroughSync)
	c2 := dial(t, p.Addr())
	if _, err := c2.Write(concat(startupMsg(), query("commit"))); err != nil {
		t.Fatal(err)
	}
	u.waitConn(t, 1, 1, true)
	c3 := dial(t, p.Addr())
	if _, err := c3.Write(cancel); err != nil {
		t.Fatal(err)
	}
	got := u.waitConn(t, 2, 0, true)
	if len(got) != 0 {
		t.Fatalf("after a cut the server got %q from a cancel request", got)
	}
}

func TestProxyDSN(t *testing.T) {
	u := newUpstream(t, echo)
	p := NewProxy(t, u.ln.Addr().String())
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable": "postgres://postgres@" + p.Addr() + "/postgres?sslmode=disable",
		"postgres://u:p@w@host/db":                                    "postgres://u:p@w@" + p.Addr() + "/db",
		"postgresql://host:1?x=1":                                     "postgresql://" + p.Addr() + "?x=1",
	} {
		if got := p.DSN(in); got != want {
			t.Errorf("DSN(%q) = %q, want %q", in, got, want)
		}
	}
}

// testServer returns a fresh database on the test server (Database) and
// the server's host:port, for a proxy in front of it.
func testServer(t *testing.T) (dsn, addr string) {
	t.Helper()
	dsn = Database(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dsn, "://") || strings.HasPrefix(cfg.Host, "/") {
		t.Skipf("the proxy needs a postgres:// URL naming a TCP host, not %q", cfg.Host)
	}
	return dsn, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// Against a real server: a transaction whose COMMIT was sent and whose
// connection was then cut committed, but the client saw only an error.
func TestProxyCutAfterCommitOnServer(t *testing.T) {
	dsn, addr := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, "create table t (id int primary key)"); err != nil {
		t.Fatal(err)
	}
	p := NewProxy(t, addr)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		cfg, err := pgx.ParseConfig(p.DSN(dsn))
		if err != nil {
			t.Fatal(err)
		}
		cfg.DefaultQueryExecMode = mode
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		id := int(mode) + 1
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "insert into t values ($1)", id); err != nil {
			t.Fatal(err)
		}
		p.CutAfter(ExecutesCommit, ThroughSync)
		if err := tx.Commit(ctx); err == nil {
			t.Fatalf("%v: commit through a cut connection returned no error", mode)
		}
		if n, err := eventually(ctx, direct, id); err != nil || n != 1 {
			t.Fatalf("%v: rows with id %d after the cut commit: %d, %v; want 1 (the COMMIT reached the server)", mode, id, n, err)
		}
		_ = conn.Close(ctx)
	}
	if p.Cuts() != 2 {
		t.Fatalf("Cuts() = %d, want 2", p.Cuts())
	}
}

// eventually counts the rows with id, waiting up to 5s for one: the client
// sees the cut at once, the server commits when it gets to it.
func eventually(ctx context.Context, conn *pgx.Conn, id int) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		err := conn.QueryRow(ctx, "select count(*) from t where id = $1", id).Scan(&n)
		if err != nil || n > 0 || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pipelined batch that ends in COMMIT (one Sync for all of it) is cut
// after the Sync: all of it ran.
func TestProxyCutAfterCommitInBatch(t *testing.T) {
	dsn, addr := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, "create table t (id int primary key)"); err != nil {
		t.Fatal(err)
	}
	p := NewProxy(t, addr)
	conn, err := pgx.Connect(ctx, p.DSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	p.CutAfter(ExecutesCommit, ThroughSync)
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue("insert into t values ($1)", 7)
	b.Queue("commit")
	if err := conn.SendBatch(ctx, b).Close(); err == nil {
		t.Fatal("a batch through a cut connection returned no error")
	}
	if n, err := eventually(ctx, direct, 7); err != nil || n != 1 {
		t.Fatalf("rows after the cut batch: %d, %v; want 1", n, err)
	}
	if p.Cuts() != 1 {
		t.Fatalf("Cuts() = %d, want 1", p.Cuts())
	}
}

// A stalled server makes a query with a deadline fail by the deadline.
func TestProxyStallWithDeadline(t *testing.T) {
	dsn, addr := testServer(t)
	p := NewProxy(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	p.Stall(true)
	qctx, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer qcancel()
	start := time.Now()
	_, err = conn.Exec(qctx, "select 1")
	if err == nil {
		t.Fatal("a query through a stalled proxy succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the stalled query returned after %v, long past its 300ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !pgconnTimeout(err) {
		t.Fatalf("stalled query: %v, want a deadline error", err)
	}
	p.Stall(false)
}

func pgconnTimeout(err error) bool {
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}
