package reliability

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

var bg = context.Background()

// testRoot is the root secret of every stack in this package.
var testRoot = []byte("keyledger reliability test root secret, not for production")

// stack is the whole library as an embedding backend runs it: a ledger,
// the projections and the command service with a vault over the ledger's
// keystore.
type stack struct {
	l    *ledger.Ledger
	proj *projections.Projections
	svc  *commands.Service
}

// stackOptions are the options of every stack in this package.
func stackOptions() (*keyledger.Options, error) {
	signer, err := lockproto.GenerateEd25519Signer(nil)
	if err != nil {
		return nil, err
	}
	return &keyledger.Options{Root: secret.New(testRoot), Password: secret.TestPasswordParams, Issuer: lockproto.NewIssuer(signer)}, nil
}

// openStack opens the stack on dir ("" = in memory) with keyledger.Open,
// as a backend does.
func openStack(dir string) (*stack, error) {
	opts, err := stackOptions()
	if err != nil {
		return nil, err
	}
	st, err := keyledger.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return &stack{l: st.Ledger.(*ledger.Ledger), proj: st.Projections, svc: st.Commands}, nil
}

// openStackFS wires the same stack by hand on fs: keyledger.Open takes no
// filesystem, and the fault tests need ones that fail and crash.
func openStackFS(dir string, fs vfs.FS) (*stack, error) {
	opts, err := stackOptions()
	if err != nil {
		return nil, err
	}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		return nil, err
	}
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg, FS: fs})
	if err != nil {
		return nil, err
	}
	s := &stack{l: l}
	vault, err := secret.NewVault(&secret.Options{Root: opts.Root, Keystore: commands.NewLedgerKeystore(l), Password: opts.Password})
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	if s.proj, err = projections.Open(l, nil); err != nil {
		_ = l.Close()
		return nil, err
	}
	if s.svc, err = commands.New(l, &commands.Options{Vault: vault, Projections: s.proj, Issuer: opts.Issuer}); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

// close stops the projections, then closes the ledger (keyledger.Stack's
// order).
func (s *stack) close() error {
	return errors.Join(s.proj.Close(), s.l.Close())
}

// eventID is commands' derivation of the i-th event ID of a command
// (commands/service.go, persisted behaviour: a retried command must find its
// events under the same IDs).
func eventID(cmd uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(cmd, []byte{'e', byte(i >> 8), byte(i)})
}

// commandEvents counts the events a command appended (its IDs 0, 1, … found
// in the log).
func commandEvents(ctx context.Context, l ledger.Log, cmd uuid.UUID) (int, error) {
	n := 0
	for ; n < 1<<10; n++ {
		_, err := l.EventByID(ctx, eventID(cmd, n))
		if errors.Is(err, ledger.ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// secretLog collects every secret the workload generated or chose, for the
// plaintext scan of the data directory.
type secretLog struct {
	mu   sync.Mutex
	list []string
	kind []string
}

func (s *secretLog) add(kind string, v []byte) {
	if s == nil || len(v) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, string(v))
	s.kind = append(s.kind, kind)
}

// workload drives the command service with scenarios of every kind of key.
// Each worker owns a lock, its owner and its members, so every step of a
// scenario is valid and must succeed; conflicts between workers only meet in
// the ledger (shared accounts are read, the outbox is appended to).
type workload struct {
	svc     *commands.Service
	run     int
	started func(cmd uuid.UUID)
	acked   func(cmd uuid.UUID, what string)
	secrets *secretLog
	// unexpected receives errors of steps that must succeed.
	unexpected func(worker int, what string, err error)
	// noShred leaves out the online-key scenarios, whose password changes
	// and removals shred data keys (a flush of the ledger per shred).
	noShred bool
}

type worker struct {
	w   *workload
	g   int
	seq int
	rng *rand.Rand
}

// cmdID is unique per (run, worker, sequence): a crash test restarts with
// the next run number.
func cmdID(run, g, seq int) uuid.UUID {
	var u uuid.UUID
	u[0] = 0xc7
	binary.BigEndian.PutUint32(u[2:], uint32(run))
	binary.BigEndian.PutUint32(u[6:], uint32(g))
	binary.BigEndian.PutUint32(u[10:], uint32(seq))
	return u
}

var setupNS = uuid.MustParse("6b1e7f0a-3c55-4d7e-9a51-0d1f2a3b4c5d")

// setupID is the fixed command ID of a setup step, so a restarted worker
// re-runs its setup idempotently. Accounts are shared by every run (run 0);
// each run has its own locks, so keys a crash left half-way through their
// lifecycle never exhaust a lock's slots.
func setupID(run, g int, step string) uuid.UUID {
	return uuid.NewSHA1(setupNS, fmt.Appendf(nil, "%d/%d/%s", run, g, step))
}

func (k *worker) lock() string  { return fmt.Sprintf("lk-%d-%d", k.w.run, k.g) }
func (k *worker) owner() string { return fmt.Sprintf("own-%d", k.g) }

// setupStep runs a setup command with a fixed ID, reported as started and
// acknowledged like the others.
func (k *worker) setupStep(run int, what string, f func(id uuid.UUID) error) error {
	id := setupID(run, k.g, what)
	if k.w.started != nil {
		k.w.started(id)
	}
	err := f(id)
	if err == nil && k.w.acked != nil {
		k.w.acked(id, "setup "+what)
	}
	return err
}

// step runs one command with a fresh ID, reporting it started and, after it
// returned nil, acknowledged.
func (k *worker) step(what string, f func(id uuid.UUID) error) error {
	id := cmdID(k.w.run, k.g, k.seq)
	k.seq++
	if k.w.started != nil {
		k.w.started(id)
	}
	err := f(id)
	if err == nil && k.w.acked != nil {
		k.w.acked(id, what)
	}
	if err != nil && k.w.unexpected != nil {
		k.w.unexpected(k.g, what, err)
	}
	return err
}

// setup registers the worker's owner, members and lock and turns network
// management on (fixed IDs: idempotent across restarts).
func (k *worker) setup(ctx context.Context) error {
	svc := k.w.svc
	accounts := []string{k.owner()}
	for m := range 3 {
		accounts = append(accounts, fmt.Sprintf("m-%d-%d", k.g, m))
	}
	for _, a := range accounts {
		if err := k.setupStep(0, "account "+a, func(id uuid.UUID) error {
			return svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id, Account: a, Name: a, Email: a + "@example.com"})
		}); err != nil {
			return fmt.Errorf("register %s: %w", a, err)
		}
	}
	var lockKey [32]byte
	_, _ = crand.Read(lockKey[:])
	if err := k.setupStep(k.w.run, "lock", func(id uuid.UUID) error {
		return svc.RegisterLock(ctx, commands.RegisterLock{ID: id, Lock: k.lock(), Owner: k.owner(), Name: "Lock " + k.lock(),
			Zone: "Europe/Berlin", Slots: commands.MaxSlots, Doors: access.Main | access.Inner, LockKey: lockKey})
	}); err != nil {
		return fmt.Errorf("register lock: %w", err)
	}
	code := randomDigits(8)
	k.w.secrets.add("master code", []byte(code))
	if err := k.setupStep(k.w.run, "network", func(id uuid.UUID) error {
		_, err := svc.TurnOnNetwork(ctx, commands.TurnOnNetwork{ID: id, Lock: k.lock(), By: k.owner(),
			MasterCode: secret.FromString(code), Duration: 365 * 24 * time.Hour})
		return err
	}); err != nil {
		return fmt.Errorf("network on: %w", err)
	}
	return nil
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func randomPassword() string {
	b := make([]byte, 9)
	_, _ = crand.Read(b)
	return "pw-" + hex.EncodeToString(b)
}

// scenario runs one lifecycle, chosen at random; it stops at the first
// failing step.
func (k *worker) scenario(ctx context.Context) error {
	n := 4
	if k.w.noShred {
		n = 3
	}
	switch k.rng.IntN(n) {
	case 0:
		return k.shareKey(ctx)
	case 1:
		return k.digitalKey(ctx)
	case 2:
		return k.intercomKey(ctx)
	default:
		return k.onlineKey(ctx)
	}
}

func (k *worker) keyID() string { return fmt.Sprintf("k-%d-%d-%d", k.w.run, k.g, k.seq) }

// shareKey: create → share (To ID or To Code) → edit → download with a
// credential → unlock → reset, or deactivate → delete.
func (k *worker) shareKey(ctx context.Context) error {
	svc, key, holder := k.w.svc, k.keyID(), fmt.Sprintf("m-%d-0", k.g)
	if err := k.step("create share", func(id uuid.UUID) error {
		_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id, Key: key, Lock: k.lock(), By: k.owner(), Kind: events.KindShare,
			Settings: events.Settings{Name: "share " + key, Policy: policy.Policy{Uses: policy.UsesN(3)}}})
		return err
	}); err != nil {
		return err
	}
	toCode := k.rng.IntN(2) == 0
	var code secret.Secret
	if err := k.step("share", func(id uuid.UUID) error {
		c := commands.ShareKey{ID: id, Key: key, By: k.owner(), Method: events.ShareToID, Account: holder}
		if toCode {
			c = commands.ShareKey{ID: id, Key: key, By: k.owner(), Method: events.ShareToCode, Email: holder + "@example.com"}
		}
		res, err := svc.ShareKey(ctx, c)
		code = res.Code
		k.w.secrets.add("share code", res.Code.Reveal())
		return err
	}); err != nil {
		return err
	}
	if k.rng.IntN(2) == 0 {
		if err := k.step("edit", func(id uuid.UUID) error {
			return svc.EditKey(ctx, commands.EditKey{ID: id, Key: key, By: k.owner(), Settings: commands.SettingsPatch{Name: new("edited " + key)}})
		}); err != nil {
			return err
		}
	}
	if toCode {
		holder = fmt.Sprintf("phone-%d", k.g)
	}
	if err := k.step("download", func(id uuid.UUID) error {
		c := commands.DownloadKey{ID: id, Key: key, By: holder}
		if toCode {
			c.Key, c.Code = "", code
		}
		_, _ = crand.Read(c.HolderKey[:])
		_, err := svc.DownloadKey(ctx, c)
		return err
	}); err != nil {
		return err
	}
	if err := k.step("unlock", func(id uuid.UUID) error {
		// The key is use-limited: where it holds an offline credential (a
		// service with an issuer) the lock counts its uses, so the app's
		// unlock is recorded as refused with ReasonUsesAtLock.
		res, err := svc.Unlock(ctx, commands.Unlock{ID: id, Key: key, By: holder})
		if err == nil && !res.Granted && res.Reason != access.UsesAtLock {
			err = fmt.Errorf("unlock of a downloaded share key refused: %s", res.Reason)
		}
		return err
	}); err != nil {
		return err
	}
	kc := func(id uuid.UUID) commands.KeyCommand { return commands.KeyCommand{ID: id, Key: key, By: k.owner()} }
	if k.rng.IntN(2) == 0 {
		// A reset key whose credential went to the lock cannot be deleted
		// until the lock applies the reset (there is no lock here): its
		// life ends with the reset.
		return k.step("reset", func(id uuid.UUID) error { return svc.ResetKey(ctx, kc(id)) })
	}
	if err := k.step("request deactivation", func(id uuid.UUID) error { return svc.RequestDeactivation(ctx, kc(id)) }); err != nil {
		return err
	}
	if err := k.step("confirm deactivation", func(id uuid.UUID) error { return svc.ConfirmDeactivation(ctx, kc(id)) }); err != nil {
		return err
	}
	return k.step("delete", func(id uuid.UUID) error { return svc.DeleteKey(ctx, kc(id)) })
}

// digitalKey: create with a PIN (drawn by the library or chosen) and e-mail
// → unlock → edit → revoke → delete.
func (k *worker) digitalKey(ctx context.Context) error {
	svc, key, user := k.w.svc, k.keyID(), fmt.Sprintf("m-%d-1", k.g)
	var pin secret.Secret
	if err := k.step("create digital", func(id uuid.UUID) error {
		c := commands.CreateKey{ID: id, Key: key, Lock: k.lock(), By: k.owner(), Kind: events.KindDigital, For: user,
			Credential: events.CredentialPIN, PINDigits: 6, Email: true, EmailPIN: true, Settings: events.Settings{Name: "digital " + key}}
		res, err := svc.CreateKey(ctx, c)
		k.w.secrets.add("PIN", res.PIN.Reveal())
		if !res.PIN.IsZero() { // a retried command ID returns none: keep the first
			pin = res.PIN
		}
		return err
	}); err != nil {
		return err
	}
	if err := k.step("unlock", func(id uuid.UUID) error {
		res, err := svc.UnlockByPIN(ctx, commands.UnlockByPIN{ID: id, Lock: k.lock(), Panel: "keypad-" + user, PIN: pin})
		if err == nil && (!res.Granted || res.Key != key) {
			err = fmt.Errorf("the PIN of a digital key opened %q: %s", res.Key, res.Reason)
		}
		return err
	}); err != nil {
		return err
	}
	if err := k.step("edit", func(id uuid.UUID) error {
		return svc.EditKey(ctx, commands.EditKey{ID: id, Key: key, By: k.owner(), Settings: commands.SettingsPatch{Name: new("renamed " + key)}})
	}); err != nil {
		return err
	}
	if err := k.step("revoke", func(id uuid.UUID) error {
		return svc.RevokeKey(ctx, commands.KeyCommand{ID: id, Key: key, By: k.owner()})
	}); err != nil {
		return err
	}
	return k.step("delete", func(id uuid.UUID) error {
		return svc.DeleteKey(ctx, commands.KeyCommand{ID: id, Key: key, By: k.owner()})
	})
}

// intercomKey: create → share To ID → download → two unlocks → revoke.
func (k *worker) intercomKey(ctx context.Context) error {
	svc, key, holder := k.w.svc, k.keyID(), fmt.Sprintf("m-%d-2", k.g)
	steps := []struct {
		what string
		f    func(id uuid.UUID) error
	}{
		{"create intercom", func(id uuid.UUID) error {
			_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id, Key: key, Lock: k.lock(), By: k.owner(), Kind: events.KindIntercom,
				Settings: events.Settings{Name: "intercom " + key, Category: events.CategoryDelivery, Welcome: "hello"}})
			return err
		}},
		{"share", func(id uuid.UUID) error {
			_, err := svc.ShareKey(ctx, commands.ShareKey{ID: id, Key: key, By: k.owner(), Method: events.ShareToID, Account: holder})
			return err
		}},
		{"download", func(id uuid.UUID) error {
			_, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: id, Key: key, By: holder})
			return err
		}},
		{"unlock", func(id uuid.UUID) error {
			_, err := svc.Unlock(ctx, commands.Unlock{ID: id, Key: key, By: holder, Source: "intercom"})
			return err
		}},
		{"unlock", func(id uuid.UUID) error {
			_, err := svc.Unlock(ctx, commands.Unlock{ID: id, Key: key, By: holder, Source: "intercom"})
			return err
		}},
		{"revoke", func(id uuid.UUID) error {
			return svc.RevokeKey(ctx, commands.KeyCommand{ID: id, Key: key, By: k.owner()})
		}},
	}
	for _, s := range steps {
		if err := k.step(s.what, s.f); err != nil {
			return err
		}
	}
	return nil
}

// onlineKey: register a fresh member → create an online key → invite →
// accept with a password → online unlock → change password → remove →
// delete the key.
func (k *worker) onlineKey(ctx context.Context) error {
	svc, key := k.w.svc, "o"+k.keyID()
	member := fmt.Sprintf("om-%d-%d-%d", k.w.run, k.g, k.seq)
	pw, pw2 := randomPassword(), randomPassword()
	k.w.secrets.add("password", []byte(pw))
	k.w.secrets.add("password", []byte(pw2))
	steps := []struct {
		what string
		f    func(id uuid.UUID) error
	}{
		{"register member", func(id uuid.UUID) error {
			return svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id, Account: member, Name: member, Email: member + "@example.com"})
		}},
		{"create online", func(id uuid.UUID) error {
			_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id, Key: key, Lock: k.lock(), By: k.owner(), Kind: events.KindOnline,
				Settings: events.Settings{Name: "online " + key, Doors: access.Main}})
			return err
		}},
		{"invite", func(id uuid.UUID) error {
			return svc.InviteMember(ctx, commands.InviteMember{ID: id, Lock: k.lock(), Key: key, Account: member, By: k.owner()})
		}},
		{"accept", func(id uuid.UUID) error {
			return svc.AcceptInvitation(ctx, commands.AcceptInvitation{ID: id, Lock: k.lock(), Account: member, Password: secret.FromString(pw)})
		}},
		{"unlock online", func(id uuid.UUID) error {
			res, err := svc.UnlockOnline(ctx, commands.UnlockOnline{ID: id, Key: key, By: member, Password: secret.FromString(pw)})
			if err == nil && !res.Granted {
				err = fmt.Errorf("online unlock refused: %s", res.Reason)
			}
			return err
		}},
		{"change password", func(id uuid.UUID) error {
			return svc.ChangePassword(ctx, commands.ChangePassword{ID: id, Lock: k.lock(), Account: member, Old: secret.FromString(pw), New: secret.FromString(pw2)})
		}},
		{"remove member", func(id uuid.UUID) error {
			return svc.RemoveMember(ctx, commands.InvitationCommand{ID: id, Lock: k.lock(), Account: member, By: k.owner()})
		}},
		{"delete online", func(id uuid.UUID) error {
			return svc.DeleteKey(ctx, commands.KeyCommand{ID: id, Key: key, By: k.owner()})
		}},
	}
	for _, s := range steps {
		if err := k.step(s.what, s.f); err != nil {
			return err
		}
	}
	return nil
}

// runWorkers runs the workload with n workers until ctx ends or each ran
// scenarios scenarios (0 = until ctx ends). It returns the first setup error.
func (w *workload) runWorkers(ctx context.Context, n, scenarios int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &worker{w: w, g: g, rng: rand.New(rand.NewPCG(uint64(w.run), uint64(g)))}
			if err := k.setup(ctx); err != nil {
				if ctx.Err() == nil {
					errs <- fmt.Errorf("worker %d setup: %w", g, err)
				}
				return
			}
			for i := 0; scenarios == 0 || i < scenarios; i++ {
				if ctx.Err() != nil {
					return
				}
				if err := k.scenario(ctx); errors.Is(err, ledger.ErrFailed) {
					time.Sleep(10 * time.Millisecond) // fail-stopped: every write is refused
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// dumpProjections returns every read-model row, with history buckets
// flattened (a bucket's key carries the position of its first entry, which
// depends on how events were batched).
func dumpProjections(ctx context.Context, l ledger.StateStore) (map[string]string, error) {
	out := map[string]string{}
	for e, err := range l.ScanState(ctx, []byte("p/")) {
		if err != nil {
			return nil, err
		}
		normalizeRow(out, e.Key, e.Value)
	}
	return out, nil
}

// normalizeRow adds a read-model row to out, a history bucket as its
// entries (keyed without the bucket's first position: the canonical rows of
// projections.Dump).
func normalizeRow(out map[string]string, key, value []byte) {
	for _, r := range projections.CanonicalRows(nil, ledger.StateEntry{Key: key, Value: value}) {
		out[string(r.Key)] = string(r.Value)
	}
}

// checkProjections catches the projections up to the durable head and
// compares every row with a full rebuild.
func checkProjections(ctx context.Context, s *stack) (rows int, err error) {
	if err := s.proj.WaitApplied(ctx, s.l.DurablePosition()); err != nil {
		return 0, fmt.Errorf("projections catching up: %w", err)
	}
	before, err := dumpProjections(ctx, s.l)
	if err != nil {
		return 0, err
	}
	if err := s.proj.Rebuild(ctx); err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	if err := s.proj.WaitApplied(ctx, s.l.DurablePosition()); err != nil {
		return 0, err
	}
	after, err := dumpProjections(ctx, s.l)
	if err != nil {
		return 0, err
	}
	for k, v := range before {
		if w, ok := after[k]; !ok || w != v {
			return 0, fmt.Errorf("projection row %q differs from a rebuild (caught up %x, rebuilt %x, present %v)", k, v, w, ok)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			return 0, fmt.Errorf("projection row %q is only in the rebuild", k)
		}
	}
	return len(before), nil
}

// fatalOnUnexpected makes every failed workload step fail t.
func fatalOnUnexpected(t testing.TB) func(int, string, error) {
	var once sync.Once
	return func(g int, what string, err error) {
		once.Do(func() { t.Errorf("worker %d: %s: %v", g, what, err) })
	}
}
