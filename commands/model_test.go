package commands_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// TestModel runs random key lifecycles on Bill's front door (two slots,
// Ann, Bob and a phone, keys k0 to k3) against keyledgertest's reference
// model: every outcome and, after every step, every key's row and status
// and the lock's slots must agree with it (keyledgertest.Check); a rebuild
// of the read models must give the same rows; and no generated code or
// PIN may appear in any event, state entry or byte of the database files.
func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		st, fs := modelStack(rt)
		m := keyledgertest.Check(rt, st, nil)
		if err := m.CheckRebuild(); err != nil {
			rt.Fatal(err)
		}
		if err := m.CheckNoSecrets(); err != nil {
			rt.Fatal(err)
		}
		scanForSecrets(rt, fs, m.Model.Secrets)
	})
}

// modelStack is keyledger's stack over a Pebble ledger on an in-memory file
// system the test reads byte by byte, with a vault drawing from a seeded
// source (a failing run replays with the same codes), on a clock the
// checker moves. Closed when the run ends.
func modelStack(rt *rapid.T) (*keyledgertest.Stack, vfs.FS) {
	fs := vfs.NewMem()
	clock := keyledgertest.NewClock(keyledgertest.Start)
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		rt.Fatal(err)
	}
	l, err := ledger.Open("db", &ledger.Options{FS: fs, Registry: reg, Clock: clock.Now})
	if err != nil {
		rt.Fatal(err)
	}
	vault, err := secret.NewVault(&secret.Options{Root: secret.New(testRoot), Keystore: commands.NewLedgerKeystore(l),
		Rand: seedRand{rand.NewChaCha8([32]byte{1})}})
	if err != nil {
		rt.Fatal(err)
	}
	proj, err := projections.Open(l, nil)
	if err != nil {
		rt.Fatal(err)
	}
	svc, err := commands.New(l, &commands.Options{Clock: clock.Now, Vault: vault, Projections: proj})
	if err != nil {
		rt.Fatal(err)
	}
	st := &keyledger.Stack{Ledger: l, Projections: proj, Commands: svc}
	rt.Cleanup(func() { _ = st.Close() })
	return &keyledgertest.Stack{Stack: st, Clock: clock}, fs
}

// scanForSecrets reads every file of the database and fails if a generated
// code or PIN appears in it.
func scanForSecrets(rt *rapid.T, fs vfs.FS, secrets [][]byte) {
	names, err := fs.List("db")
	if err != nil {
		rt.Fatal(err)
	}
	for _, n := range names {
		f, err := fs.Open(fs.PathJoin("db", n))
		if err != nil {
			continue // a directory or a file removed meanwhile
		}
		b, err := io.ReadAll(f)
		_ = f.Close()
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				rt.Fatalf("a generated code or PIN appears in %s", n)
			}
		}
	}
}
