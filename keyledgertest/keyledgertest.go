package keyledgertest

import (
	"errors"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
	"github.com/keyledger/keyledger/secret/secrettest"
)

// Start is where the clock of a new stack starts: Monday 2 March 2026,
// 09:00 UTC.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Clock is a clock a test sets: it stands still between Set and Advance.
// Safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time. Its method value is a keyledger.Options.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (backwards too).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Stack is an in-memory keyledger stack and the clock it runs on. A stack
// built another way (on a file system the test inspects, say) joins the
// kit as a composite literal: &Stack{Stack: st, Clock: clock}, where clock
// is the one st's Options.Clock reads.
type Stack struct {
	*keyledger.Stack
	Clock *Clock
}

// Option changes the keyledger.Options of a test stack before Open: Root,
// Keystore, Rand, Password, Issuer, BatchSize. The clock and the storage
// stay the test's.
type Option func(*keyledger.Options)

// TB is what New needs of a test: *testing.T, *testing.B, *testing.F and
// *rapid.T (whose Cleanup runs at the end of each property run) have it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Open opens an in-memory stack the caller closes, for code that has no
// test to hand (an Example): the same stack New makes. Its clock is
// st.Clock, at Start; unless an option says otherwise its root secret is
// secrettest.Root(0) and its password cost secret.TestPasswordParams.
// Errors are keyledger.Open's.
func Open(opts ...Option) (*Stack, error) {
	return open(nil, NewClock(Start), opts)
}

// open opens the stack in memory, or on b if not nil; clock is the one b
// was opened with.
func open(b ledger.Backend, clock *Clock, opts []Option) (*Stack, error) {
	var o keyledger.Options
	for _, opt := range opts {
		opt(&o)
	}
	o.Clock, o.InMemory, o.Backend = clock.Now, b == nil, b
	if o.Root.IsZero() {
		o.Root = secrettest.Root(0)
	}
	if o.Password == (secret.PasswordParams{}) {
		o.Password = secret.TestPasswordParams
	}
	st, err := keyledger.Open("", &o)
	if err != nil {
		return nil, err
	}
	return &Stack{Stack: st, Clock: clock}, nil
}

// New opens an in-memory stack for t (see Open) and closes it when t ends
// (an error of that Close other than an earlier Close fails t). A failed
// Open fails t. Inside rapid.Check, New(rt) gives each run its own stack.
//
// With KEYLEDGER_TEST_BACKEND=postgres in the environment the stack runs on
// the PostgreSQL ledger instead, in a schema of its own on the server
// KEYLEDGER_PG_DSN names: the same tests then check that backend.
func New(t TB, opts ...Option) *Stack {
	t.Helper()
	clock := NewClock(Start)
	var b ledger.Backend
	if testbackend.Postgres() {
		reg := ledger.NewRegistry()
		if err := events.Register(reg); err != nil {
			t.Fatalf("keyledgertest: %v", err)
		}
		b = testbackend.Open(t, reg, clock.Now)
	}
	st, err := open(b, clock, opts)
	if err != nil {
		t.Fatalf("keyledgertest: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("keyledgertest: close: %v", err)
		}
	})
	return st
}
