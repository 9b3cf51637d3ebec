package commands_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// mkey is the model of one key: the rules, not the implementation.
type mkey struct {
	kind       events.Kind
	state      events.State
	slot       int
	method     events.ShareMethod
	recipient  string
	holder     string
	code       secret.Secret
	uses       uint32
	settings   events.Settings
	downloaded bool
}

type model struct {
	keys    map[string]*mkey
	slots   [2]string // key in slot 1, 2
	secrets [][]byte  // every generated code and PIN
}

var pool = []string{"k0", "k1", "k2", "k3"}

// TestModel runs random command sequences against the model: outcomes, the
// read models and a rebuild must agree with it, and no generated code or PIN
// may appear in any byte of the database files.
func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := newEnv(t)
		defer e.close()
		e.given(frontLock()...)
		m := &model{keys: map[string]*mkey{}}
		check := func(err error, allowed bool, what string) bool {
			if allowed && err != nil {
				rt.Fatalf("%s: refused: %v", what, err)
			}
			if !allowed && err == nil {
				rt.Fatalf("%s: allowed, the model refuses", what)
			}
			return allowed
		}
		pick := func(rt *rapid.T) (string, *mkey) {
			k := rapid.SampledFrom(pool).Draw(rt, "key")
			return k, m.keys[k]
		}
		ownerCmd := func(a events.Action, f func(commands.KeyCommand) error) func(*rapid.T) {
			return func(rt *rapid.T) {
				k, mk := pick(rt)
				err := f(commands.KeyCommand{ID: e.id(), Key: k, By: "bill"})
				if mk == nil {
					check(err, false, a.String())
					return
				}
				if !check(err, commands.Allows(mk.kind, mk.state, a), fmt.Sprintf("%v %v key in state %v", a, mk.kind, mk.state)) {
					var se *commands.StateError
					if !errors.As(err, &se) || se.State != mk.state {
						rt.Fatalf("refusal %v does not name state %v", err, mk.state)
					}
					return
				}
				release := func() {
					if mk.slot > 0 && m.slots[mk.slot-1] == k {
						m.slots[mk.slot-1] = ""
					}
				}
				switch a {
				case events.ActRevoke:
					mk.state = events.StateRevoked
					release()
				case events.ActReset:
					mk.state = events.StateReset
					release()
				case events.ActRequestDeactivation:
					mk.state = events.StateDeactivationPending
				case events.ActConfirmDeactivation:
					mk.state = events.StateDeactivated
					release()
				case events.ActDelete:
					mk.state = events.StateDeleted
					release()
				}
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"create": func(rt *rapid.T) {
				k, mk := pick(rt)
				kind := rapid.SampledFrom([]events.Kind{events.KindShare, events.KindDigital, events.KindIntercom}).Draw(rt, "kind")
				c := commands.CreateKey{ID: e.id(), Key: k, Lock: "front", By: "bill", Kind: kind, Settings: randomSettings(rt, e.now)}
				if kind == events.KindDigital {
					c.For = "ann"
					if rapid.Bool().Draw(rt, "pin") {
						c.Credential, c.Email = events.CredentialPIN, rapid.Bool().Draw(rt, "email")
					}
				}
				res, err := e.svc.CreateKey(bg, c)
				free := 0
				if kind == events.KindShare {
					for i, s := range m.slots {
						if s == "" && free == 0 {
							free = i + 1
						}
					}
				}
				if mk != nil {
					if !errors.Is(err, commands.ErrExists) {
						rt.Fatalf("create of existing key: %v", err)
					}
					return
				}
				if kind == events.KindShare && free == 0 {
					if !errors.Is(err, commands.ErrNoSlot) {
						rt.Fatalf("create with no free slot: %v", err)
					}
					return
				}
				check(err, true, "create")
				n := &mkey{kind: kind, state: events.StateCreated, slot: free, settings: c.Settings}
				if kind == events.KindShare {
					m.slots[free-1] = k
					if res.Slot != free {
						rt.Fatalf("slot %d, model %d", res.Slot, free)
					}
				}
				if kind == events.KindDigital {
					n.state, n.method, n.recipient = events.StateSharing, events.ShareToID, "ann"
				}
				if !res.PIN.IsZero() {
					m.secrets = append(m.secrets, res.PIN.Reveal())
				}
				m.keys[k] = n
			},
			"share": func(rt *rapid.T) {
				k, mk := pick(rt)
				toCode := rapid.Bool().Draw(rt, "toCode")
				c := commands.ShareKey{ID: e.id(), Key: k, By: "bill", Method: events.ShareToID, Account: rapid.SampledFrom([]string{"ann", "bob"}).Draw(rt, "to")}
				if toCode {
					c.Method, c.Account = events.ShareToCode, ""
					if rapid.Bool().Draw(rt, "email") {
						c.Email = "guest@example.com"
					}
				}
				res, err := e.svc.ShareKey(bg, c)
				if mk == nil {
					check(err, false, "share unknown")
					return
				}
				if !check(err, commands.Allows(mk.kind, mk.state, events.ActShare), fmt.Sprintf("share %v in %v", mk.kind, mk.state)) {
					return
				}
				mk.state, mk.method, mk.recipient = events.StateSharing, c.Method, c.Account
				if toCode {
					mk.code = res.Code
					m.secrets = append(m.secrets, res.Code.Reveal(), bytes.ReplaceAll(res.Code.Reveal(), []byte("-"), nil))
				}
			},
			"download": func(rt *rapid.T) {
				k, mk := pick(rt)
				right := rapid.Bool().Draw(rt, "right")
				c := commands.DownloadKey{ID: e.id(), Key: k, By: "bob"}
				if mk != nil && right {
					c.By = mk.recipient
					if mk.method == events.ShareToCode {
						c.By, c.Code = "phone-1", mk.code
					}
				}
				if mk != nil && !right && mk.method == events.ShareToCode {
					c.Code = secret.FromString("AAAA-BBBB-CCCC")
				}
				_, err := e.svc.DownloadKey(bg, c)
				if mk == nil {
					check(err, false, "download unknown")
					return
				}
				allowed := commands.Allows(mk.kind, mk.state, events.ActDownload)
				ok := allowed && (c.By == mk.recipient || (mk.method == events.ShareToCode && right))
				if !check(err, ok, fmt.Sprintf("download %v in %v by %s", mk.kind, mk.state, c.By)) {
					if allowed && !errors.Is(err, commands.ErrNotPermitted) {
						rt.Fatalf("wrong holder or code: %v", err)
					}
					return
				}
				mk.state, mk.holder, mk.downloaded = events.StateDownloaded, c.By, true
			},
			"edit": func(rt *rapid.T) {
				k, mk := pick(rt)
				st := randomSettings(rt, e.now)
				err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: k, By: "bill", Settings: commands.AllSettings(st)})
				if mk == nil {
					check(err, false, "edit unknown")
					return
				}
				if check(err, commands.Allows(mk.kind, mk.state, events.ActEdit), fmt.Sprintf("edit %v in %v", mk.kind, mk.state)) {
					mk.settings = st
				}
			},
			"revoke":     ownerCmd(events.ActRevoke, func(c commands.KeyCommand) error { return e.svc.RevokeKey(bg, c) }),
			"reset":      ownerCmd(events.ActReset, func(c commands.KeyCommand) error { return e.svc.ResetKey(bg, c) }),
			"deactivate": ownerCmd(events.ActRequestDeactivation, func(c commands.KeyCommand) error { return e.svc.RequestDeactivation(bg, c) }),
			"confirm":    ownerCmd(events.ActConfirmDeactivation, func(c commands.KeyCommand) error { return e.svc.ConfirmDeactivation(bg, c) }),
			"delete":     ownerCmd(events.ActDelete, func(c commands.KeyCommand) error { return e.svc.DeleteKey(bg, c) }),
			"unlock": func(rt *rapid.T) {
				k, mk := pick(rt)
				by := rapid.SampledFrom([]string{"ann", "bob", "phone-1"}).Draw(rt, "by")
				r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: k, By: by})
				if mk == nil {
					check(err, false, "unlock unknown")
					return
				}
				check(err, true, "unlock")
				holder := mk.holder
				if !mk.downloaded && mk.method == events.ShareToID {
					holder = mk.recipient
				}
				want := by == holder && commands.Allows(mk.kind, mk.state, events.ActUnlock) && scheduleAllows(mk.settings, e.now, mk.uses)
				if r.Granted != want {
					rt.Fatalf("unlock %v key in %v by %s at %v: granted=%v (%s), model %v", mk.kind, mk.state, by, e.now, r.Granted, r.Reason, want)
				}
				if r.Granted {
					mk.uses++
				}
			},
			"wait": func(rt *rapid.T) {
				e.now = e.now.Add(time.Duration(rapid.IntRange(1, 3*24*60).Draw(rt, "minutes")) * time.Minute)
			},
			"": func(rt *rapid.T) { m.checkReadModels(rt, e) },
		})
		m.checkReadModels(rt, e)
		before := dumpRows(rt, e)
		if err := e.proj.Rebuild(bg); err != nil {
			rt.Fatal(err)
		}
		after := dumpRows(rt, e)
		if len(before) != len(after) {
			rt.Fatalf("rebuild: %d rows, incremental %d", len(after), len(before))
		}
		for k, v := range before {
			if after[k] != v {
				rt.Fatalf("row %q differs after rebuild", k)
			}
		}
		scanForSecrets(rt, e.fs, m.secrets)
		scanKeyspace(rt, e, m.secrets)
	})
}

func (m *model) checkReadModels(rt *rapid.T, e *env) {
	for k, mk := range m.keys {
		r, err := e.proj.Key(bg, k)
		if err != nil {
			rt.Fatalf("key %s: %v", k, err)
		}
		if r.State != mk.state || r.Uses != mk.uses || r.Holder != mk.holder || r.Slot != mk.slot || r.Settings.Name != mk.settings.Name {
			rt.Fatalf("read model of %s: %+v, model %+v", k, r, mk)
		}
		st, err := e.proj.KeyStatus(bg, k, e.now)
		if err != nil {
			rt.Fatal(err)
		}
		switch mk.state {
		case events.StateDeleted:
			if st.Status != projections.StatusDeleted {
				rt.Fatalf("%s status %v, model deleted", k, st.Status)
			}
		case events.StateRevoked, events.StateReset, events.StateDeactivationPending, events.StateDeactivated:
			if st.Status != projections.StatusRevoked {
				rt.Fatalf("%s status %v, model revoked", k, st.Status)
			}
		}
		if !terminal(mk.state) {
			pol := mk.settings.Policy
			pol.Zone = "Europe/Berlin"
			want := map[policy.State]projections.Status{policy.StateUpcoming: projections.StatusUpcoming, policy.StateActive: projections.StatusActive,
				policy.StateExpired: projections.StatusExpired, policy.StateExhausted: projections.StatusExhausted}[pol.Status(e.now, mk.uses).State]
			if st.Status != want {
				rt.Fatalf("%s status %v at %v, model %v", k, st.Status, e.now, want)
			}
		}
		if want := events.SharingOf(mk.state, mk.method != 0, mk.downloaded); st.Sharing != want {
			rt.Fatalf("%s sharing %v, model %v", k, st.Sharing, want)
		}
	}
	slots, err := e.proj.Slots(bg, "front")
	if err != nil || len(slots) != 2 {
		rt.Fatalf("slots %+v %v", slots, err)
	}
	for i, s := range slots {
		if s.Key != m.slots[i] {
			rt.Fatalf("slot %d holds %q, model %q", i+1, s.Key, m.slots[i])
		}
	}
}

// scanKeyspace reads every event payload and every state entry (Pebble may
// compress its files, so the file scan alone could miss a plaintext).
func scanKeyspace(rt *rapid.T, e *env, secrets [][]byte) {
	has := func(b []byte) bool {
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				return true
			}
		}
		return false
	}
	for ev, err := range e.l.ReadAll(bg, 0) {
		if err != nil {
			rt.Fatal(err)
		}
		if has(ev.Raw) || has([]byte(ev.Stream)) {
			rt.Fatalf("a generated code or PIN appears in event %d (%s)", ev.Position, ev.Type)
		}
	}
	for en, err := range e.l.ScanState(bg, nil) {
		if err != nil {
			rt.Fatal(err)
		}
		if has(en.Key) || has(en.Value) {
			rt.Fatalf("a generated code or PIN appears in state key %q", en.Key)
		}
	}
}

func terminal(s events.State) bool {
	switch s {
	case events.StateRevoked, events.StateReset, events.StateDeactivationPending, events.StateDeactivated, events.StateDeleted:
		return true
	}
	return false
}

func dumpRows(rt *rapid.T, e *env) map[string]string {
	out := map[string]string{}
	for en, err := range projections.Dump(bg, e.l) { // history rows one per entry
		if err != nil {
			rt.Fatal(err)
		}
		out[string(en.Key)] = string(en.Value)
	}
	return out
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
