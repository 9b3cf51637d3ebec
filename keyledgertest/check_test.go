package keyledgertest_test

import (
	"errors"
	"testing"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"pgregory.net/rapid"
)

// The model's rules table is its own, written out from the product rules:
// for every kind it knows, it must say what commands.Allows says, for
// every state and action.
func TestAllowsMatchesCommands(t *testing.T) {
	for _, k := range []events.Kind{events.KindShare, events.KindDigital, events.KindIntercom} {
		for s := events.StateNone; s <= events.StateDeleted; s++ {
			for a := events.ActShare; a <= events.ActUnlock; a++ {
				if got, want := keyledgertest.Allows(k, s, a), commands.Allows(k, s, a); got != want {
					t.Errorf("%v key in state %v, %v: model %v, commands %v", k, s, a, got, want)
				}
			}
		}
	}
}

// The checker on the default world: every step's outcome and the read
// models after each step agree with the model; so do a rebuild and the
// bytes of the ledger (no generated code or PIN in them).
func TestCheck(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := keyledgertest.Check(rt, keyledgertest.New(rt), nil)
		if err := m.CheckRebuild(); err != nil {
			rt.Fatal(err)
		}
		if err := m.CheckNoSecrets(); err != nil {
			rt.Fatal(err)
		}
	})
}

// The checker in drawn worlds: IDs of any runes and length, prefixes of one
// another, zones with odd offsets, locks with no slots or one door.
func TestCheckWorlds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := keyledgertest.Worlds().Draw(rt, "world")
		keyledgertest.Check(rt, keyledgertest.New(rt), &keyledgertest.Config{World: &w})
	})
}

// A user's own action runs among the built-in steps, the invariant after
// every step: here a stranger's owner commands are refused as not
// permitted and change nothing (Compare, after the action, would see it).
func TestCheckActions(t *testing.T) {
	var stranger, invariant int
	rapid.Check(t, func(rt *rapid.T) {
		cfg := &keyledgertest.Config{
			Ops: []keyledgertest.Op{keyledgertest.OpCreate, keyledgertest.OpShare, keyledgertest.OpDelete},
			Actions: map[string]keyledgertest.Action{
				"stranger revokes": func(rt *rapid.T, m *keyledgertest.Machine) {
					key := rapid.SampledFrom(m.Model.World.Keys).Draw(rt, "key")
					err := m.Stack.Commands.RevokeKey(m.Context(), commands.KeyCommand{ID: m.ID(), Key: key, By: m.Model.World.Accounts[0]})
					want := commands.ErrNotPermitted
					if m.Model.Keys[key] == nil {
						want = commands.ErrNotFound
					}
					if !errors.Is(err, want) {
						rt.Fatalf("a stranger revokes %q: %v, want %v", key, err, want)
					}
					stranger++
				},
			},
			Invariant: func(rt *rapid.T, m *keyledgertest.Machine) { invariant++ },
		}
		keyledgertest.Check(rt, keyledgertest.New(rt), cfg)
	})
	if stranger == 0 || invariant == 0 {
		t.Fatalf("the action ran %d times, the invariant %d", stranger, invariant)
	}
}

// Lifecycle draws one key's life; run step by step on a machine, stack and
// model agree after each.
func TestLifecycle(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m, err := keyledgertest.NewMachine(rt.Context(), keyledgertest.New(rt), keyledgertest.DefaultWorld())
		if err != nil {
			rt.Fatal(err)
		}
		steps := keyledgertest.Lifecycle(m.Model.World, m.Model.Now).Draw(rt, "life")
		if steps[0].Op != keyledgertest.OpCreate {
			rt.Fatalf("a life starts with %v", steps[0].Op)
		}
		for _, s := range steps {
			if s.Op != keyledgertest.OpWait && s.Key != steps[0].Key {
				rt.Fatalf("step %#v of another key than %q", s, steps[0].Key)
			}
			if _, err := m.Do(s); err != nil {
				rt.Fatal(err)
			}
			if err := m.Compare(); err != nil {
				rt.Fatal(err)
			}
		}
	})
}

// Every drawn policy validates, in every zone.
func TestPolicyValid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		zone := keyledgertest.Zone().Draw(rt, "zone")
		p := keyledgertest.Policy(zone, keyledgertest.Start).Draw(rt, "policy")
		if err := p.Validate(); err != nil {
			rt.Fatalf("%+v: %v", p, err)
		}
		if p.Zone != zone {
			rt.Fatalf("zone %q, want %q", p.Zone, zone)
		}
	})
}

// The checker can fail: a model that is wrong about a key, or about what a
// step does, is reported as a mismatch.
func TestMachineMismatch(t *testing.T) {
	m, err := keyledgertest.NewMachine(bg, keyledgertest.New(t), keyledgertest.DefaultWorld())
	must(t, err)
	create := keyledgertest.Step{Op: keyledgertest.OpCreate, Key: "k0", Kind: events.KindShare}
	if _, err := m.Do(create); err != nil {
		t.Fatal(err)
	}
	must(t, m.Compare())

	m.Model.Keys["k0"].State = events.StateSharing // the model believes in a share that never happened
	if err := m.Compare(); !errors.Is(err, keyledgertest.ErrMismatch) {
		t.Fatalf("Compare with a wrong state: %v, want ErrMismatch", err)
	}
	// The model now allows a revoke the stack refuses.
	if _, err := m.Do(keyledgertest.Step{Op: keyledgertest.OpRevoke, Key: "k0"}); !errors.Is(err, keyledgertest.ErrMismatch) {
		t.Fatalf("Do on a wrong model: %v, want ErrMismatch", err)
	}
	m.Model.Keys["k0"].State = events.StateCreated
	if _, err := m.Do(create); err != nil { // created twice: both say it exists
		t.Fatal(err)
	}
	m.Model.Slots[0].Generation = 7
	if err := m.Compare(); !errors.Is(err, keyledgertest.ErrMismatch) {
		t.Fatalf("Compare with a wrong slot generation: %v, want ErrMismatch", err)
	}
}
