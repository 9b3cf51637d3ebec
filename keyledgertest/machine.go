package keyledgertest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"pgregory.net/rapid"
)

// ErrMismatch means the stack and the model disagree: on the outcome of a
// step, on a read model, or a rebuild or a byte of the ledger disagrees
// with what the model allows. The error that wraps it says where.
var ErrMismatch = errors.New("keyledgertest: the stack and the model disagree")

func mismatch(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMismatch}, args...)...)
}

// ShareEmail is where an OpShare To Code with Email asks the code to be
// sent.
const ShareEmail = "guest@example.com"

// Machine runs steps on a stack and on a model side by side. Not safe for
// concurrent use.
type Machine struct {
	Stack *Stack
	Model *Model
	ctx   context.Context
	cmds  uint64
}

// NewMachine registers w on st and returns a machine over them, its model
// at st's clock. The stack needs a root secret (New and Open give one):
// codes and PINs need the vault.
func NewMachine(ctx context.Context, st *Stack, w World) (*Machine, error) {
	if err := w.validate(); err != nil {
		return nil, err
	}
	m := &Machine{Stack: st, Model: NewModel(w, st.Clock.Now()), ctx: ctx}
	if err := w.Register(ctx, st.Commands, m.ID); err != nil {
		return nil, err
	}
	return m, nil
}

// Context is the context the machine's commands run with.
func (m *Machine) Context() context.Context { return m.ctx }

// ID returns the next command ID of the machine: a counter, so a run that
// failed replays with the same IDs, and no two commands share one.
// Actions of a Config take theirs here too.
func (m *Machine) ID() uuid.UUID {
	m.cmds++
	var u uuid.UUID
	u[0] = 'k'
	binary.BigEndian.PutUint64(u[8:], m.cmds)
	return u
}

// Do resolves s (Model.Resolve), runs it on the stack and on the model,
// and returns the stack's outcome; an error wrapping ErrMismatch if the
// two disagree. OpWait moves the stack's clock; the model takes the
// clock's time before each step, so an Action may move the clock too.
func (m *Machine) Do(s Step) (Outcome, error) {
	m.Model.Now = m.Stack.Clock.Now()
	s = m.Model.Resolve(s)
	got := m.run(s)
	want := m.Model.Apply(s)
	if err := compareOutcome(s, want, got); err != nil {
		return got, err
	}
	m.learn(s, got)
	return got, nil
}

// run runs a resolved step on the stack.
func (m *Machine) run(s Step) Outcome {
	ctx, svc, w := m.ctx, m.Stack.Commands, m.Model.World
	switch s.Op {
	case OpWait:
		m.Stack.Clock.Advance(s.Wait)
		return Outcome{}
	case OpCreate:
		res, err := svc.CreateKey(ctx, commands.CreateKey{ID: m.ID(), Key: s.Key, Lock: w.Lock, By: w.Owner, Kind: s.Kind,
			Settings: s.Settings, For: s.For, Credential: s.Credential, Email: s.Email, EmailPIN: s.EmailPIN, Card: s.Card})
		return Outcome{Err: err, Slot: res.Slot, Generation: res.Generation, PIN: res.PIN}
	case OpShare:
		c := commands.ShareKey{ID: m.ID(), Key: s.Key, By: w.Owner, Method: s.Method}
		if s.Method == events.ShareToID {
			c.Account = s.Account
		} else if s.Email {
			c.Email = ShareEmail
		}
		res, err := svc.ShareKey(ctx, c)
		return Outcome{Err: err, Code: res.Code}
	case OpDownload:
		c := commands.DownloadKey{ID: m.ID(), Key: s.Key, By: s.Account, Code: s.Code}
		if s.CodeOnly {
			c.Key = ""
		}
		_, err := svc.DownloadKey(ctx, c)
		return Outcome{Err: err}
	case OpEdit:
		return Outcome{Err: svc.EditKey(ctx, commands.EditKey{ID: m.ID(), Key: s.Key, By: w.Owner, Settings: s.Patch})}
	case OpUnlock:
		r, err := svc.Unlock(ctx, commands.Unlock{ID: m.ID(), Key: s.Key, By: s.Account, Door: s.Door})
		return Outcome{Err: err, Granted: r.Granted, Reason: r.Reason, Uses: r.Uses}
	}
	c := commands.KeyCommand{ID: m.ID(), Key: s.Key, By: w.Owner}
	cmd := map[Op]func(context.Context, commands.KeyCommand) error{OpRevoke: svc.RevokeKey, OpReset: svc.ResetKey,
		OpRequestDeactivation: svc.RequestDeactivation, OpConfirmDeactivation: svc.ConfirmDeactivation, OpDelete: svc.DeleteKey}[s.Op]
	if cmd == nil {
		return Outcome{Err: fmt.Errorf("keyledgertest: step with unknown op %v", s.Op)}
	}
	return Outcome{Err: cmd(ctx, c)}
}

// compareOutcome checks the stack's outcome of s against the model's.
func compareOutcome(s Step, want, got Outcome) error {
	if !sameError(got.Err, want.Err) {
		return mismatch("%#v: stack %v, model %v", s, orOK(got.Err), orOK(want.Err))
	}
	if want.Err != nil {
		return nil
	}
	switch s.Op {
	case OpCreate:
		if got.Slot != want.Slot || got.Generation != want.Generation {
			return mismatch("%#v: slot %d generation %d, model slot %d generation %d", s, got.Slot, got.Generation, want.Slot, want.Generation)
		}
		if got.PIN.IsZero() == (s.Credential == events.CredentialPIN) {
			return mismatch("%#v: PIN given %v", s, !got.PIN.IsZero())
		}
	case OpShare:
		if got.Code.IsZero() == (s.Method == events.ShareToCode) {
			return mismatch("%#v: code given %v", s, !got.Code.IsZero())
		}
	case OpUnlock:
		if got.Granted != want.Granted || got.Reason != want.Reason || got.Uses != want.Uses {
			return mismatch("%#v: granted %v (%v) uses %d, model granted %v (%v) uses %d", s,
				got.Granted, got.Reason, got.Uses, want.Granted, want.Reason, want.Uses)
		}
	}
	return nil
}

// sameError reports whether the stack's error matches the model's: both
// nil, the same sentinel, or a *commands.StateError with equal fields.
func sameError(got, want error) bool {
	if want == nil || got == nil {
		return want == got
	}
	var ws, gs *commands.StateError
	if errors.As(want, &ws) {
		return errors.As(got, &gs) && *gs == *ws
	}
	return errors.Is(got, want)
}

func orOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

// learn keeps what only the stack knows: the share code and PIN it
// generated; and the card identifiers steps gave, which no byte may hold
// either.
func (m *Machine) learn(s Step, got Outcome) {
	if !s.Card.IsZero() && !slices.ContainsFunc(m.Model.Secrets, func(b []byte) bool { return bytes.Equal(b, s.Card.Reveal()) }) {
		m.Model.Secrets = append(m.Model.Secrets, s.Card.Reveal())
	}
	if !got.PIN.IsZero() {
		m.Model.Secrets = append(m.Model.Secrets, got.PIN.Reveal())
	}
	if s.Op == OpShare && !got.Code.IsZero() {
		m.Model.Keys[s.Key].Code = got.Code
		m.Model.Secrets = append(m.Model.Secrets, got.Code.Reveal(), bytes.ReplaceAll(got.Code.Reveal(), []byte("-"), nil))
	}
}

// Compare checks the read models against the model at the stack's clock:
// for every key of the world and of the model its row (kind, credential,
// state, sharing method, recipient, holder, slot and generation, uses,
// settings) and its status (status, state, sharing, uses, open now, next
// opening); the lock's slots (key, generation, state). A key the model does
// not have must not exist.
func (m *Machine) Compare() error {
	ctx, proj, now := m.ctx, m.Stack.Projections, m.Stack.Clock.Now()
	ids := slices.Clone(m.Model.World.Keys)
	for id := range m.Model.Keys {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		k := m.Model.Keys[id]
		r, err := proj.Key(ctx, id)
		if k == nil {
			if !errors.Is(err, projections.ErrNotFound) {
				return mismatch("key %q: row %+v, %v; the model has no such key", id, r, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("keyledgertest: read key %q: %w", id, err)
		}
		if err := compareRow(id, k, &r); err != nil {
			return err
		}
		st, err := proj.KeyStatus(ctx, id, now)
		if err != nil {
			return fmt.Errorf("keyledgertest: status of key %q: %w", id, err)
		}
		if want := k.Status(now); !sameStatus(st, want) {
			return mismatch("status of key %q at %v: %+v, model %+v", id, now, st, want)
		}
	}
	return m.compareSlots()
}

// sameStatus compares statuses, NextOpen and OpenUntil with Equal.
func sameStatus(a, b projections.KeyStatus) bool {
	na, nb, ua, ub, ea, eb := a.NextOpen, b.NextOpen, a.OpenUntil, b.OpenUntil, a.End, b.End
	a.NextOpen, b.NextOpen, a.OpenUntil, b.OpenUntil, a.End, b.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b && na.Equal(nb) && ua.Equal(ub) && ea.Equal(eb)
}

func compareRow(id string, k *Key, r *projections.KeyRow) error {
	type row struct {
		Kind                  events.Kind
		Credential            events.Credential
		State                 events.State
		Method                events.ShareMethod
		Recipient, Holder     string
		Downloaded            bool
		Slot                  int
		Generation, Uses      uint32
		Name, Welcome         string
		Category, Role, Doors string
	}
	got := row{r.Kind, r.Credential, r.State, r.Method, r.Recipient, r.Holder, r.Downloaded, r.Slot, r.Generation, r.Uses,
		r.Settings.Name, r.Settings.Welcome, r.Settings.Category.String(), r.Settings.Role.String(), r.Settings.Doors.String()}
	want := row{k.Kind, k.Credential, k.State, k.Method, k.Recipient, k.Holder, k.Downloaded, k.Slot, k.Generation, k.Uses,
		k.Settings.Name, k.Settings.Welcome, k.Settings.Category.String(), k.Settings.Role.String(), k.Settings.Doors.String()}
	if got != want {
		return mismatch("row of key %q: %+v, model %+v", id, got, want)
	}
	if !samePolicy(r.Settings.Policy, k.Settings.Policy) {
		return mismatch("policy of key %q: %+v, model %+v", id, r.Settings.Policy, k.Settings.Policy)
	}
	return nil
}

// samePolicy compares policies by value, instants with Equal (a stored
// instant may come back in another location).
func samePolicy(a, b policy.Policy) bool {
	if !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.Uses != b.Uses || a.Zone != b.Zone || a.AfterFirstUse != b.AfterFirstUse ||
		!slices.Equal(a.Windows, b.Windows) || len(a.Blackouts) != len(b.Blackouts) || len(a.Periods) != len(b.Periods) {
		return false
	}
	for i, x := range a.Periods {
		if !x.Start.Equal(b.Periods[i].Start) || !x.End.Equal(b.Periods[i].End) {
			return false
		}
	}
	for i, x := range a.Blackouts {
		y := b.Blackouts[i]
		if x.Days != y.Days || x.From != y.From || x.To != y.To || !x.Start.Equal(y.Start) || !x.End.Equal(y.End) {
			return false
		}
	}
	return true
}

// slotState is what a slot holding k shows.
func slotState(k *Key) projections.SlotState {
	switch {
	case k == nil:
		return projections.SlotNotShared
	case k.State == events.StateSharing:
		return projections.SlotSharing
	case k.State == events.StateDownloaded:
		return projections.SlotShared
	case k.State == events.StateDeactivationPending:
		return projections.SlotDeactivationPending
	}
	return projections.SlotNotShared
}

func (m *Machine) compareSlots() error {
	w := m.Model.World
	slots, err := m.Stack.Projections.Slots(m.ctx, w.Lock)
	if err != nil {
		return fmt.Errorf("keyledgertest: slots of lock %q: %w", w.Lock, err)
	}
	if len(slots) != len(m.Model.Slots) {
		return mismatch("lock %q has %d slots, model %d", w.Lock, len(slots), len(m.Model.Slots))
	}
	for i, s := range slots {
		ms := m.Model.Slots[i]
		want := projections.SlotView{Slot: i + 1, Generation: ms.Generation, Key: ms.Key, State: slotState(m.Model.Keys[ms.Key])}
		if ms.Key == "" {
			want.State = projections.SlotNotShared
		}
		if !reflect.DeepEqual(s, want) {
			return mismatch("slot %d of lock %q: %+v, model %+v", i+1, w.Lock, s, want)
		}
	}
	return nil
}

// CheckRebuild rebuilds the read models from the log and checks that
// every row is as the stack kept it step by step, then Compares.
func (m *Machine) CheckRebuild() error {
	before, err := m.dump()
	if err != nil {
		return err
	}
	if err := m.Stack.Projections.Rebuild(m.ctx); err != nil {
		return fmt.Errorf("keyledgertest: rebuild: %w", err)
	}
	after, err := m.dump()
	if err != nil {
		return err
	}
	if len(after) != len(before) {
		return mismatch("rebuild: %d rows, step by step %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			return mismatch("rebuild: row %q differs", k)
		}
	}
	return m.Compare()
}

func (m *Machine) dump() (map[string]string, error) {
	out := map[string]string{}
	for en, err := range projections.Dump(m.ctx, m.Stack.Ledger) {
		if err != nil {
			return nil, fmt.Errorf("keyledgertest: read models: %w", err)
		}
		out[string(en.Key)] = string(en.Value)
	}
	return out, nil
}

// CheckNoSecrets checks that no share code or PIN the stack generated
// (Model.Secrets) appears in any event or stream name, or in any key or
// value of the state space (read through the ledger, so compression of
// its files hides nothing).
func (m *Machine) CheckNoSecrets() error {
	has := func(b []byte) bool {
		return slices.ContainsFunc(m.Model.Secrets, func(s []byte) bool { return bytes.Contains(b, s) })
	}
	for ev, err := range m.Stack.Ledger.ReadAll(m.ctx, 0) {
		if err != nil {
			return fmt.Errorf("keyledgertest: read log: %w", err)
		}
		if has(ev.Raw) || has([]byte(ev.Stream)) {
			return mismatch("a generated code or PIN appears in event %d (%s)", ev.Position, ev.Type)
		}
	}
	for en, err := range m.Stack.Ledger.ScanState(m.ctx, nil) {
		if err != nil {
			return fmt.Errorf("keyledgertest: read state: %w", err)
		}
		if has(en.Key) || has(en.Value) {
			return mismatch("a generated code or PIN appears in state entry %q", en.Key)
		}
	}
	return nil
}

// Action is a step a user adds to a check (Config.Actions): it draws what
// it needs from rt, acts on m.Stack, keeps m.Model in step and fails rt on
// a disagreement. Built-in steps are one m.Do away.
type Action func(rt *rapid.T, m *Machine)

// Config extends a check; nil and the zero value run every Op in
// DefaultWorld.
type Config struct {
	World *World // default DefaultWorld()
	// Ops are the built-in steps to draw from (default Ops). Each is a
	// rapid action named by the Op.
	Ops []Op
	// Actions are more rapid actions, by name (not an Op's name).
	Actions map[string]Action
	// Invariant, if set, runs after every step, after Compare.
	Invariant Action
}

// Check runs a model check on st in rt: it registers the world, then
// draws steps (Model.Step, with schedules near the clock) and cfg's actions in
// a rapid state machine, runs each on the stack and the model (Machine.Do)
// and Compares after each. Any disagreement fails rt. It returns the
// machine, for checks at the end (CheckRebuild, CheckNoSecrets).
func Check(rt *rapid.T, st *Stack, cfg *Config) *Machine {
	rt.Helper()
	var c Config
	if cfg != nil {
		c = *cfg
	}
	w := DefaultWorld()
	if c.World != nil {
		w = *c.World
	}
	if len(c.Ops) == 0 {
		c.Ops = Ops
	}
	m, err := NewMachine(rt.Context(), st, w)
	if err != nil {
		rt.Fatal(err)
	}
	actions := map[string]func(*rapid.T){
		"": func(rt *rapid.T) {
			if err := m.Compare(); err != nil {
				rt.Fatal(err)
			}
			if c.Invariant != nil {
				c.Invariant(rt, m)
			}
		},
	}
	for _, op := range c.Ops {
		actions[op.String()] = func(rt *rapid.T) {
			m.Model.Now = m.Stack.Clock.Now()
			if _, err := m.Do(m.Model.Step(op).Draw(rt, "step")); err != nil {
				rt.Fatal(err)
			}
		}
	}
	for name, a := range c.Actions {
		if _, taken := actions[name]; taken {
			rt.Fatalf("keyledgertest: action %q has the name of a built-in step", name)
		}
		actions[name] = func(rt *rapid.T) { a(rt, m) }
	}
	rt.Repeat(actions)
	return m
}
