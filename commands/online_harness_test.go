package commands_test

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// onlineEnv is a service over a real Pebble ledger (on disk when dir is set,
// so the whole directory can be scanned), with cheap argon2id parameters.
type onlineEnv struct {
	t     testing.TB
	dir   string
	l     ledger.Backend
	vault *secret.Vault
	svc   *commands.Service
	proj  *projections.Projections
	now   time.Time
	cmds  uint64
}

// Tuesday 3 March 2026, 09:00 in Berlin (08:00 UTC).
var tuesday9 = time.Date(2026, 3, 3, 9, 0, 0, 0, berlin).UTC()

var berlin = mustZone("Europe/Berlin")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// createOnline makes an online key of lock "garage" as its owner Bill.
func (e *onlineEnv) createOnline(key string, st events.Settings) error {
	_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: st})
	return err
}

func newOnlineEnv(t testing.TB, dir string) *onlineEnv {
	t.Helper()
	return newOnlineEnvParams(t, dir, secret.TestPasswordParams)
}

// newOnlineEnvParams uses the given argon2id cost (benchmarks: the default).
func newOnlineEnvParams(t testing.TB, dir string, pw secret.PasswordParams) *onlineEnv {
	t.Helper()
	return newOnlineEnvKeystore(t, dir, pw, nil)
}

// newOnlineEnvKeystore lets wrap put a keystore in front of the ledger's
// (fault injection); nil: the ledger keystore itself.
func newOnlineEnvKeystore(t testing.TB, dir string, pw secret.PasswordParams, wrap func(*commands.LedgerKeystore) secret.Keystore) *onlineEnv {
	t.Helper()
	e := &onlineEnv{t: t, dir: dir, now: tuesday9}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return e.now }
	var l ledger.Backend
	if testbackend.Postgres() {
		e.dir = ""
		l = testbackend.Open(t, reg, clock)
	} else {
		opts := &ledger.Options{Registry: reg, Clock: clock}
		if dir == "" {
			opts.FS, dir = vfs.NewMem(), "db"
		}
		pl, err := ledger.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		l = pl
	}
	e.l = l
	var err error
	var ks secret.Keystore = commands.NewLedgerKeystore(l)
	if wrap != nil {
		ks = wrap(ks.(*commands.LedgerKeystore))
	}
	e.vault, err = secret.NewVault(&secret.Options{
		Root:     secret.New([]byte("keyledger online-key test root, not for production")),
		Keystore: ks,
		Rand:     seedRand{rand.NewChaCha8([32]byte{5})},
		Password: pw,
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.proj, err = projections.Open(l, nil); err != nil {
		t.Fatal(err)
	}
	e.svc, err = commands.New(l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Projections: e.proj})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.proj.Close()
		_ = l.Close()
	})
	return e
}

func (e *onlineEnv) id() uuid.UUID {
	e.cmds++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], e.cmds)
	u[0] = 0x0e
	return u
}

// mark returns the log position before a command, for then/eventsSince.
func (e *onlineEnv) mark() uint64 { return e.l.DurablePosition() }

func (e *onlineEnv) eventsSince(pos uint64) []any {
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

func (e *onlineEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// setUpGarage registers Bill (owner), Ann, Bob, Cid, Dee, Eve, Fay, Gus and
// Bill's lock "garage" (Berlin; main and inner door).
func (e *onlineEnv) setUpGarage() {
	e.t.Helper()
	for _, a := range []string{"bill", "ann", "bob", "cid", "dee", "eve", "fay", "gus"} {
		e.must(e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: a, Name: string(a[0]-32) + a[1:], Email: a + "@example.com"}))
	}
	e.must(e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "garage", Owner: "bill", Name: "Garage",
		Zone: "Europe/Berlin", Slots: 2, Doors: access.Main | access.Inner}))
}

// tuesdayClient is the garage client's online key: every Tuesday
// 10:00–12:00, and never at night (22:00–06:00), main door.
func tuesdayClient() events.Settings {
	return events.Settings{Name: "Client", Doors: access.Main | access.Inner, Policy: tuesday10to12()}
}

// stored lists where needle is stored: the files of e's ledger directory,
// or the tables of its PostgreSQL store.
func (e *onlineEnv) stored(needle []byte) []string {
	e.t.Helper()
	if testbackend.Postgres() {
		return testbackend.Find(e.t, e.l, needle)
	}
	return onPebble(e.t, e.dir, needle)
}

// onPebble reports whether needle occurs in any file of the ledger directory.
func onPebble(t testing.TB, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // deleted meanwhile by Pebble
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}
