package pgtest

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 between a client and a PostgreSQL
// server, for fault tests: it cuts, stalls, delays and refuses connections
// on command, and can cut a connection right after the client sent a chosen
// message (a COMMIT, say), so the commit reaches the server but its answer
// never reaches the client: the unknown outcome, made deterministic.
// It is safe for concurrent use; it closes when the test ends.
type Proxy struct {
	t        testing.TB
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	changed *sync.Cond // on mu: stalled changed or a connection closed
	conns   map[*proxyConn]struct{}
	stalled bool
	refuse  bool
	delay   time.Duration
	rule    *cutRule // armed cut, nil when none
	cuts    int
	closed  bool
	wg      sync.WaitGroup
}

// Message is a message the client sent, as the proxy read it from the
// PostgreSQL wire protocol. SQL is the statement text it runs or prepares:
// the query of a simple query ('Q') or Parse ('P'); for Bind ('B') and
// Execute ('E'), the text of the statement they bind or run, when its Parse
// went through this connection (pgx prepares once and binds by name later).
type Message struct {
	Type byte
	SQL  string
}

// ThroughSync, as CutAfter's extra, forwards the client's messages up to and
// including the next Sync after the match (which ends an extended-protocol
// exchange: the server runs it all), or nothing more after a simple query.
const ThroughSync = -1

// ExecutesCommit reports whether m runs a COMMIT: a simple query or an
// Execute whose SQL has the word COMMIT (any case) outside '…' literals.
func ExecutesCommit(m Message) bool {
	if m.Type != 'Q' && m.Type != 'E' {
		return false
	}
	var code strings.Builder
	for i, part := range strings.Split(m.SQL, "'") {
		if i%2 == 0 { // outside a literal ('' inside one splits into two literals)
			code.WriteString(part)
			code.WriteByte(' ')
		}
	}
	for _, w := range strings.FieldsFunc(strings.ToUpper(code.String()), func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r == '_')
	}) {
		if w == "COMMIT" {
			return true
		}
	}
	return false
}

type cutRule struct {
	match func(Message) bool
	extra int
}

// NewProxy listens on a free port of 127.0.0.1 and forwards every
// connection to upstream (host:port).
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{t: t, ln: ln, upstream: upstream, conns: map[*proxyConn]struct{}{}}
	p.changed = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// DSN returns dsn (a postgres:// URL) with its host and port replaced by
// the proxy's.
func (p *Proxy) DSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		p.t.Fatalf("pgtest: proxy: DSN %q is not a URL", dsn)
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	hostPart := rest[:end]
	userInfo := ""
	if i := strings.LastIndexByte(hostPart, '@'); i >= 0 {
		userInfo = hostPart[:i+1]
	}
	return scheme + "://" + userInfo + p.Addr() + rest[end:]
}

// CutAll closes every open connection now, on both sides.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Stall stops (true) or resumes (false) forwarding in both directions;
// connections stay open and new ones are accepted, as when a network drops
// packets without resetting anything. What was read while stalled is
// forwarded on resume.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.changed.Broadcast()
	p.mu.Unlock()
}

// Delay holds every chunk of bytes for d before forwarding it, in each
// direction (a round trip gains 2d). Zero ends the delay.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Refuse makes the proxy close new connections as soon as it accepts them
// (true), as an unreachable server would, or accept them again (false).
// Open connections are left alone; CutAll ends them.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// CutAfter arms a one-shot cut: on the first connection whose client sends
// a message for which match is true, the proxy forwards that message and
// then extra more bytes of the client's (or, with ThroughSync, its messages
// through the next Sync), drops everything the server sends from the match
// on, and closes the connection on both sides. Once a cut has fired, the
// proxy drops every cancel request (pgx sends one when a connection breaks,
// which could otherwise abort on the server what the cut let through).
// Arming again replaces an armed rule that has not fired; match must be
// safe for concurrent use.
func (p *Proxy) CutAfter(match func(Message) bool, extra int) {
	p.mu.Lock()
	p.rule = &cutRule{match: match, extra: extra}
	p.mu.Unlock()
}

// Cuts is how many armed cuts have fired.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Conns is the number of open connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			_ = client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", p.upstream, 10*time.Second)
		if err != nil {
			_ = client.Close() // as the server would look: gone
			continue
		}
		c := &proxyConn{p: p, client: client, server: server, closed: make(chan struct{}), stmts: map[string]string{}, portals: map[string]string{}}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go c.pump(client, server, true)
		go c.pump(server, client, false)
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.CutAll()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("pgtest: proxy %s: connections still forwarding 10s after close", p.Addr())
	}
}

type proxyConn struct {
	p              *Proxy
	client, server net.Conn
	closeOnce      sync.Once
	closed         chan struct{}

	mu   sync.Mutex
	mute bool // drop what the server sends: a cut is under way

	// Client-to-server parsing, used by that direction's pump alone.
	started bool   // past the startup packet: messages are typed
	hdr     []byte // the current message's header so far
	body    []byte // its body so far, up to maxKeptBody
	left    int    // bytes of the current message's body still to come
	stmts   map[string]string
	portals map[string]string
	cutting bool // a match fired on this connection
	cutLeft int  // bytes still to forward before the cut (cutSync false)
	cutSync bool // cut after the next Sync
	drop    bool // the message that ended the scan is not forwarded
}

// cancelRequestCode opens a CancelRequest, sent on a connection of its own.
const cancelRequestCode = 80877102

// maxKeptBody bounds what the proxy keeps of one message to read its SQL.
const maxKeptBody = 64 << 10

func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		_ = c.client.Close()
		_ = c.server.Close()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.changed.Broadcast()
		c.p.mu.Unlock()
	})
}

func (c *proxyConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// pump copies src to dst until either side ends, obeying stalls, delays and
// (from the client) armed cuts.
func (c *proxyConn) pump(src, dst net.Conn, fromClient bool) {
	defer c.p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !c.hold() {
				break
			}
			chunk, cut := buf[:n], false
			if fromClient {
				chunk, cut = c.scan(chunk)
			} else {
				c.mu.Lock()
				if c.mute {
					chunk = nil
				}
				c.mu.Unlock()
			}
			if len(chunk) > 0 {
				if _, werr := dst.Write(chunk); werr != nil {
					break
				}
			}
			if cut {
				c.cut()
				return
			}
		}
		if err != nil {
			break
		}
	}
	c.close()
}

// cut ends the client's side now and the server's gently: a FIN after what
// was forwarded, then the server's answers read and dropped until it closes
// (by the other pump). Closing a socket with unread data sends a reset,
// which could discard the last bytes before the server read them.
func (c *proxyConn) cut() {
	_ = c.client.Close()
	if tc, ok := c.server.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		return
	}
	c.close()
}

// hold waits out a stall and the delay; false when the connection closed.
func (c *proxyConn) hold() bool {
	p := c.p
	p.mu.Lock()
	for p.stalled && !c.isClosed() {
		p.changed.Wait()
	}
	d := p.delay
	p.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closed:
		}
	}
	return !c.isClosed()
}

// scan parses the client's bytes into messages and returns the part of
// chunk to forward, and whether to cut the connection after it.
func (c *proxyConn) scan(chunk []byte) ([]byte, bool) {
	start := 0 // where the current message began in chunk
	for i := 0; i < len(chunk); {
		if c.left == 0 && len(c.hdr) == 0 {
			start = i
		}
		if c.cutting && !c.cutSync { // counting down the extra bytes
			k := min(c.cutLeft, len(chunk)-i)
			c.cutLeft -= k
			i += k
			if c.cutLeft == 0 {
				return chunk[:i], true
			}
			continue
		}
		if c.left == 0 && len(c.hdr) < c.hdrLen() {
			k := min(c.hdrLen()-len(c.hdr), len(chunk)-i)
			c.hdr = append(c.hdr, chunk[i:i+k]...)
			i += k
			if len(c.hdr) < c.hdrLen() {
				continue
			}
			c.left = int(binary.BigEndian.Uint32(c.hdr[len(c.hdr)-4:])) - 4
			c.body = c.body[:0]
			if c.left > 0 {
				continue
			}
			c.left = 0
		} else {
			k := min(c.left, len(chunk)-i)
			if keep := min(k, maxKeptBody-len(c.body)); keep > 0 {
				c.body = append(c.body, chunk[i:i+keep]...)
			}
			c.left -= k
			i += k
			if c.left > 0 {
				continue
			}
		}
		if c.endMessage() {
			if c.drop {
				return chunk[:start], true
			}
			return chunk[:i], true
		}
	}
	return chunk, false
}

// hdrLen is 4 (length) before the startup packet is through, else 5 (type
// and length).
func (c *proxyConn) hdrLen() int {
	if c.started {
		return 5
	}
	return 4
}

// endMessage handles a complete message and reports whether the connection
// is to be cut right after it.
func (c *proxyConn) endMessage() bool {
	hdr, body := c.hdr, c.body
	c.hdr = c.hdr[:0]
	if !c.started {
		// SSLRequest and GSSENCRequest precede the startup packet proper.
		if len(body) >= 4 {
			code := binary.BigEndian.Uint32(body)
			c.started = code != 80877103 && code != 80877104
			if code == cancelRequestCode && c.p.Cuts() > 0 {
				// A client whose connection was cut asks the server to
				// cancel what it ran (pgx does when a connection breaks).
				// The network that lost the connection loses this too: the
				// cut's point is what the server ran without an answer.
				c.drop = true
				return true
			}
		}
		return false
	}
	m := Message{Type: hdr[0]}
	switch m.Type {
	case 'Q':
		m.SQL = cstring(body, 0)
	case 'P':
		name := cstring(body, 0)
		m.SQL = cstring(body, 1)
		c.stmts[name] = m.SQL
	case 'B':
		portal, stmt := cstring(body, 0), cstring(body, 1)
		m.SQL = c.stmts[stmt]
		c.portals[portal] = m.SQL
	case 'E':
		m.SQL = c.portals[cstring(body, 0)]
	case 'C': // Close statement or portal
		if len(body) > 0 && body[0] == 'S' {
			delete(c.stmts, cstring(body[1:], 0))
		}
	}
	if c.cutting { // through the next Sync
		return m.Type == 'S'
	}
	if !c.arm(m) {
		return false
	}
	if c.cutSync {
		return m.Type == 'Q' || m.Type == 'S'
	}
	return c.cutLeft <= 0
}

// arm claims the proxy's rule for this connection if m matches it.
func (c *proxyConn) arm(m Message) bool {
	p := c.p
	p.mu.Lock()
	r := p.rule
	if r == nil || !r.match(m) {
		p.mu.Unlock()
		return false
	}
	p.rule = nil
	p.cuts++
	p.mu.Unlock()
	c.mu.Lock()
	c.mute = true
	c.mu.Unlock()
	c.cutting = true
	c.cutSync = r.extra < 0
	c.cutLeft = r.extra
	return true
}

// cstring is the i-th NUL-terminated string of b ("" when there is none).
func cstring(b []byte, i int) string {
	for ; ; i-- {
		j := bytes.IndexByte(b, 0)
		if j < 0 {
			return ""
		}
		if i == 0 {
			return string(b[:j])
		}
		b = b[j+1:]
	}
}
