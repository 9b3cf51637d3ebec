// Package keyledgertest is a test kit for code that embeds keyledger:
// in-memory stacks with a clock the test sets, rapid generators of valid
// IDs, schedules, settings and key commands, and a model checker that
// runs random key lifecycles on a real stack and on a reference model
// side by side.
//
// Nothing here is for production: the root secret is a published test
// value and the password cost is far below any safe one.
//
// # Stacks
//
//	st := keyledgertest.New(t) // closed when t ends; New(rt) inside rapid.Check
//	err := st.Commands.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), …})
//	st.Clock.Advance(8 * 24 * time.Hour)
//	status, err := st.Projections.KeyStatus(ctx, "k1", st.Clock.Now())
//
// Open makes the same stack for code with no test to hand; the caller
// closes it.
//
// # Model checks
//
// A property test of key state transitions is a few lines:
//
//	func TestKeys(t *testing.T) {
//		rapid.Check(t, func(rt *rapid.T) {
//			m := keyledgertest.Check(rt, keyledgertest.New(rt), nil)
//			if err := m.CheckRebuild(); err != nil {
//				rt.Fatal(err)
//			}
//		})
//	}
//
// Check registers a World (DefaultWorld: Bill's front door in Berlin with
// two slots; Ann, Bob and a phone; keys k0 to k3) and runs a rapid state
// machine: each action draws a Step of one Op (create, share, download,
// edit, revoke, reset, deactivate, confirm, delete, unlock, or a move of
// the clock), and Machine.Do runs it on the stack and on the Model. The
// outcomes must agree — success, or the same refusal: commands.ErrNotFound,
// ErrExists, ErrNoSlot, ErrNotPermitted, or a *commands.StateError naming
// the same state; the slot and generation a share key gets; an unlock's
// decision, reason and use count. After every step Machine.Compare reads
// the read models and compares every key — kind, credential, state,
// sharing, recipient, holder, slot, generation, uses, settings, and its
// status at the clock (status, open now, next opening) — and the lock's
// slots. At the end, CheckRebuild replays the log into the read models and
// CheckNoSecrets looks for generated codes and PINs in every byte the
// ledger holds. A failure fails the rapid run, which shrinks it to a short
// sequence of steps and logs them.
//
// # The model
//
// Model is the rules written plainly: Allows, a table of what each state of
// each kind of key allows (its own copy; a test holds it equal to
// commands.Allows), and Apply, what each step does to a key and to the
// lock's slots. A share key takes the lowest free slot at the slot's
// generation; revoke and delete free it, reset and a confirmed deactivation
// free it at a new generation. A digital key goes to its user on creation.
// Only the opener may unlock: the holder once downloaded, before that the
// account a key was shared with To ID. Schedules are read with package
// policy, the one schedule model, which is tested on its own.
//
// The model knows share, digital and intercom keys without an issuer (no
// offline credentials, so no uses counted at the lock), on a lock without
// lock-wide blackouts; owner commands are the owner's. Online keys, lock
// administration and audits are left to Actions.
//
// # Extending
//
// Config.Actions adds actions to the state machine: an Action draws what it
// needs, acts on m.Stack, updates m.Model where the rules say so (its Keys,
// Slots and Secrets are plain data) and fails rt on a disagreement;
// Compare runs after it as after every step. Config.Invariant runs after
// every step; Config.Ops narrows the built-in steps; Config.World changes
// the fixture, or draws one from Worlds. For a scripted sequence (a
// regression found once), NewMachine and Do run Steps without rapid.
//
// # Generators
//
// AccountID, LockID and KeyID draw IDs commands accept (any runes, up to
// commands.MaxIDLen bytes, often prefixes of one another); Zone an IANA
// zone with an odd offset or daylight saving time; Policy valid schedules
// in a zone near an instant; Settings and Patch key settings and edits
// valid on a world's lock; Worlds whole fixtures; StepOf and AnyStep
// steps, Model.Step steps biased to what the model allows now; Lifecycle
// one key's life from its creation.
package keyledgertest
