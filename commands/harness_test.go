package commands_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

var bg = context.Background()

// env is a service and its projections over a real Pebble ledger on an
// in-memory filesystem, with a settable clock and deterministic randomness.
type env struct {
	t     testing.TB
	fs    vfs.FS // nil on the PostgreSQL backend
	l     ledger.Backend
	vault *secret.Vault
	svc   *commands.Service
	proj  *projections.Projections
	now   time.Time
	cmds  uint64
}

// seedRand is a deterministic io.Reader for the vault (codes, PINs, keys).
type seedRand struct{ r *rand.ChaCha8 }

func (s seedRand) Read(p []byte) (int, error) { return s.r.Read(p) }

var testRoot = []byte("keyledger test root secret, 32+ bytes long")

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return e.now }
	if testbackend.Postgres() {
		e.l = testbackend.Open(t, reg, clock)
	} else {
		e.fs = vfs.NewMem()
		l, err := ledger.Open("db", &ledger.Options{FS: e.fs, Registry: reg, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		e.l = l
	}
	l := e.l
	var err error
	e.vault, err = secret.NewVault(&secret.Options{Root: secret.New(testRoot), Keystore: commands.NewLedgerKeystore(l),
		Rand: seedRand{rand.NewChaCha8([32]byte{1})}})
	if err != nil {
		t.Fatal(err)
	}
	e.proj, err = projections.Open(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = commands.New(l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Projections: e.proj})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

// close stops the projections and closes the ledger (idempotent).
func (e *env) close() {
	_ = e.proj.Close()
	_ = e.l.Close()
}

// id returns a fresh command ID.
func (e *env) id() uuid.UUID {
	e.cmds++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], e.cmds)
	u[0] = 0xc0
	return u
}

// given appends events as if earlier commands had written them.
type given struct {
	stream string
	data   any
}

func (e *env) given(gs ...given) {
	e.t.Helper()
	for _, g := range gs {
		if _, err := e.l.Append(bg, g.stream, ledger.ExpectAny, ledger.NewEvent{Data: g.data, Time: e.now}); err != nil {
			e.t.Fatalf("given %T on %s: %v", g.data, g.stream, err)
		}
	}
	if err := e.proj.WaitApplied(bg, e.l.DurablePosition()); err != nil {
		e.t.Fatal(err)
	}
}

// eventsSince returns the Data of events after position pos.
func (e *env) eventsSince(pos uint64) []any {
	e.t.Helper()
	var out []any
	for ev, err := range e.l.ReadAll(bg, pos+1) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev.Data)
	}
	return out
}

// then runs when and checks the events it appended (or its error).
func (e *env) then(when func() error, want ...any) {
	e.t.Helper()
	pos := e.l.DurablePosition()
	if err := when(); err != nil {
		e.t.Fatalf("command failed: %v", err)
	}
	got := e.eventsSince(pos)
	if !reflect.DeepEqual(got, want) {
		e.t.Fatalf("events:\n got %#v\nwant %#v", got, want)
	}
}

// refused runs when and checks it fails with target (errors.Is) and appends nothing.
func (e *env) refused(when func() error, target error) error {
	e.t.Helper()
	pos := e.l.DurablePosition()
	err := when()
	if !errors.Is(err, target) {
		e.t.Fatalf("error %v, want %v", err, target)
	}
	if got := e.eventsSince(pos); len(got) != 0 {
		e.t.Fatalf("a refused command appended %#v", got)
	}
	return err
}

// Fixtures: Bill owns lock "front" (Europe/Berlin, 2 slots, main and inner
// door); Ann and Bob are registered.
func accounts() []given {
	return []given{
		{"account-bill", events.AccountRegistered{Account: "bill", Name: "Bill", Email: "bill@example.com"}},
		{"account-ann", events.AccountRegistered{Account: "ann", Name: "Ann", Email: "ann@example.com"}},
		{"account-bob", events.AccountRegistered{Account: "bob", Name: "Bob", Email: "bob@example.com"}},
	}
}

func frontLock() []given {
	return append(accounts(), given{"lock-front", events.LockRegistered{Lock: "front", Owner: "bill", Name: "Front door",
		Zone: "Europe/Berlin", Slots: 2, Doors: access.Main | access.Inner}})
}

func settings(name string) events.Settings {
	return events.Settings{Name: name, Category: events.CategoryFriend, Role: events.RoleUser, Doors: access.Main,
		Policy: policy.Policy{Zone: "Europe/Berlin"}} // a key's policy takes its lock's zone
}

func shareKeyCreated(key string, slot int, gen uint32) []given {
	return []given{
		{"key-" + key, events.KeyCreated{Key: key, Lock: "front", Owner: "bill", Kind: events.KindShare,
			Credential: events.CredentialApp, Settings: settings(key), Slot: slot, Generation: gen}},
		{"lock-front", events.SlotAssigned{Lock: "front", Key: key, Slot: slot, Generation: gen}},
	}
}

func sharedToID(key, account string) given {
	return given{"key-" + key, events.KeyShared{Key: key, Lock: "front", Owner: "bill", Method: events.ShareToID, Account: account}}
}

func downloaded(key, holder string) given {
	return given{"key-" + key, events.KeyDownloaded{Key: key, Lock: "front", Holder: holder, Method: events.ShareToID}}
}

func cat(gs ...[]given) []given {
	var out []given
	for _, g := range gs {
		out = append(out, g...)
	}
	return out
}

func deepEqual(a, b any) bool { return reflect.DeepEqual(a, b) }
