package commands_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/logtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// newObservedEnv is newEnv with log given to the ledger, the projections
// and the service, cheap argon2id parameters, and the clock at now.
func newObservedEnv(t testing.TB, log *slog.Logger, now time.Time) *env {
	t.Helper()
	e := &env{t: t, fs: vfs.NewMem(), now: now}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return e.now }
	l, err := ledger.Open("db", &ledger.Options{FS: e.fs, Registry: reg, Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.l = l
	e.vault, err = secret.NewVault(&secret.Options{Root: secret.New(testRoot), Keystore: commands.NewLedgerKeystore(l),
		Rand: seedRand{rand.NewChaCha8([32]byte{7})}, Password: secret.TestPasswordParams})
	if err != nil {
		t.Fatal(err)
	}
	if e.proj, err = projections.Open(l, &projections.Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if e.svc, err = commands.New(l, &commands.Options{Clock: clock, Vault: e.vault, Projections: e.proj, Logger: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

// newObservedLockEnv is newLockEnv over newObservedEnv, its service logging to log.
func newObservedLockEnv(t testing.TB, log *slog.Logger) *lockEnv {
	t.Helper()
	base := newObservedEnv(t, log, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	e := &lockEnv{env: base, rnd: seedRand{rand.NewChaCha8([32]byte{6})}}
	e.start = e.now
	signer, err := lockproto.GenerateEd25519Signer(e.rnd)
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = lockproto.NewIssuer(signer)
	e.svc, err = commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault,
		Projections: e.proj, Issuer: e.issuer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.given(accounts()...)
	e.pairing, e.lock = e.pair("front")
	return e
}

// secrets holds what no log line may contain, by name.
type secrets map[string][]byte

func (s secrets) add(name string, b []byte) { s[fmt.Sprintf("%s #%d", name, len(s))] = b }

// addSealed adds every sealed value and secret hash stored in the ledger's events.
func (s secrets) addSealed(t testing.TB, l ledger.Log) {
	t.Helper()
	for ev, err := range l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatal(err)
		}
		switch d := ev.Data.(type) {
		case events.LockRegistered:
			s.add("sealed audit key", d.AuditKey)
		case events.NotificationQueued:
			s.add("sealed notification secret", d.Secret)
		case events.NetworkManagementOn:
			s.add("sealed master code", d.MasterCode)
		case events.InvitationAccepted:
			s.add("sealed password", d.Password)
		case events.MemberPasswordSet:
			s.add("sealed password", d.Password)
		case events.KeyCreated:
			s.add("PIN hash", d.PINHash)
		case events.KeyShared:
			s.add("share code hash", d.CodeHash)
		}
	}
}

// lockoutScenario: network management with a master code, an online key,
// a member who accepts with a password, unlocks, changes it, and then
// types wrong passwords until she is locked out.
func lockoutScenario(t *testing.T, log *slog.Logger, sec secrets) *env {
	e := newObservedEnv(t, log, tuesday9.Add(90*time.Minute)) // Tuesday 10:30 in Berlin: in the key's window
	id := e.id
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	svc := e.svc
	for _, a := range []string{"bill", "ann"} {
		must(svc.RegisterAccount(bg, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(bg, commands.RegisterLock{ID: id(), Lock: "garage", Owner: "bill", Name: "Garage",
		Zone: "Europe/Berlin", Slots: 2, Doors: access.Main | access.Inner}))
	const master, pw1, pw2 = "MC-480213", "ann-first-pass", "ann-second-pass"
	sec.add("master code", []byte(master))
	sec.add("password", []byte(pw1))
	sec.add("password", []byte(pw2))
	_, err := svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(master), Duration: 24 * time.Hour})
	must(err)
	if c, err := svc.RevealMasterCode(bg, "garage", "bill"); err != nil || string(c.Reveal()) != master {
		t.Fatalf("reveal: %v", err)
	}
	_, err = svc.CreateKey(bg, commands.CreateKey{ID: id(), Key: "client", Lock: "garage", By: "bill", Kind: events.KindOnline, Settings: tuesdayClient()})
	must(err)
	must(svc.InviteMember(bg, commands.InviteMember{ID: id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
	must(svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: id(), Lock: "garage", Account: "ann", Password: secret.FromString(pw1)}))
	unlock := func(pw string, want access.Reason) {
		t.Helper()
		r, err := svc.UnlockOnline(bg, commands.UnlockOnline{ID: id(), Key: "client", By: "ann", Password: secret.FromString(pw), Door: access.MainDoor})
		if err != nil || r.Reason != want {
			t.Fatalf("unlock with %d-byte password: %+v %v, want %v", len(pw), r, err, want)
		}
	}
	unlock(pw1, access.Granted)
	must(svc.ChangePassword(bg, commands.ChangePassword{ID: id(), Lock: "garage", Account: "ann", Old: secret.FromString(pw1), New: secret.FromString(pw2)}))
	unlock(pw2, access.Granted)
	for i := range commands.MaxPasswordFailures {
		wrong := fmt.Sprintf("wrong-pass-%d", i)
		sec.add("wrong password", []byte(wrong))
		unlock(wrong, access.WrongPassword)
	}
	unlock(pw2, access.LockedOut)
	return e
}

// gapScenario: a key shared by code and a PIN key, then a phone that
// visits the lock more often than its audit ring holds before uploading.
// keypadScenario: a PIN key, its right code and enough wrong ones at a
// keypad to lock it out (logged), every code a secret.
func keypadScenario(t *testing.T, log *slog.Logger, sec secrets) *env {
	e := newObservedEnv(t, log, tuesday9)
	e.given(frontLock()...)
	const right = "604918"
	sec.add("PIN", []byte(right))
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString(right), Settings: settings("d1")}); err != nil {
		t.Fatal(err)
	}
	code := func(pin string) {
		t.Helper()
		if _, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "panel-1", PIN: secret.FromString(pin)}); err != nil {
			t.Fatal(err)
		}
	}
	code(right)
	for i := range commands.MaxPINFailures {
		wrong := fmt.Sprintf("73%04d", 1357*(i+1)%10000)
		sec.add("wrong PIN", []byte(wrong))
		code(wrong)
	}
	return e
}

func gapScenario(t *testing.T, log *slog.Logger, sec secrets) *lockEnv {
	e := newObservedLockEnv(t, log)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k2", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings("k2"), Slot: 2}); err != nil {
		t.Fatal(err)
	}
	sr, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k2", By: "bill", Method: events.ShareToCode, Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	sec.add("share code", sr.Code.Reveal())
	if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), By: "bob", Code: sr.Code}); err != nil {
		t.Fatal(err)
	}
	cr, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
		Settings: settings("d1"), For: "ann", Credential: events.CredentialPIN})
	if err != nil {
		t.Fatal(err)
	}
	sec.add("PIN", cr.PIN.Reveal())
	sec.add("audit key", e.pairing.AuditKey[:])
	if r, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "k1", By: "ann"}); err != nil || !r.Granted {
		t.Fatalf("online unlock: %+v %v", r, err)
	}
	for range 20 {
		e.now = e.now.Add(time.Second)
		e.visit(e.lock, ann, 0)
	}
	e.lock.DrainAudit() // a phone drains a batch and never uploads it
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: e.lock.DrainAudit()})
	if err != nil || r.Gap == nil {
		t.Fatalf("gap upload %+v %v", r, err)
	}
	return e
}

// reissueScenario: the lock can no longer apply an admin message a phone
// did not deliver, which is issued again.
func reissueScenario(t *testing.T, log *slog.Logger) *lockEnv {
	e := newObservedLockEnv(t, log)
	e.shareTo("k1", "ann", 1, settings("k1"))
	e.shareTo("k2", "bob", 2, settings("k2"))
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front")[1:]) // the deactivation, not the reset before it
	top := e.outrun(e.lock)                   // then so many more that the lock can no longer apply the reset
	if res := e.upload(e.lock, "front"); !slices.Equal(res.Reissued, []uint32{top + 1}) {
		t.Fatalf("upload %+v", res)
	}
	return e
}

// conflicting is a store on which every append meets a concurrent change.
type conflicting struct{ ledger.Backend }

func (c conflicting) AppendMulti(_ context.Context, appends ...ledger.StreamAppend) (ledger.AppendResult, error) {
	return ledger.AppendResult{}, &ledger.ConflictError{Stream: appends[0].Stream, Expected: appends[0].Expect, Actual: 99}
}

// busyScenario runs a command on a store where every append conflicts.
func busyScenario(t *testing.T, log *slog.Logger) (*commands.Service, error) {
	base := newObservedEnv(t, log, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	svc, err := commands.New(conflicting{base.l}, &commands.Options{MaxRetries: 3, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cmd := base.id()
	err = svc.RegisterAccount(bg, commands.RegisterAccount{ID: cmd, Account: "zed", Name: "Zed", Email: "zed@example.com"})
	return svc, err
}

func only(t *testing.T, c *logtest.Capture, level slog.Level, msg string) logtest.Record {
	t.Helper()
	rs, err := c.Find(level, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		all, _ := c.AtLeast(slog.LevelInfo)
		t.Fatalf("%d %v lines %q, want 1; logged at Info and above: %+v", len(rs), level, msg, all)
	}
	return rs[0]
}

func TestLogMemberLockout(t *testing.T) {
	log, c := logtest.New()
	e := lockoutScenario(t, log, secrets{})
	r := only(t, c, slog.LevelWarn, "member locked out")
	if r.String("lock") != "garage" || r.String("account") != "ann" || r.String("failures") != fmt.Sprint(commands.MaxPasswordFailures) ||
		r.String("locked_until") != e.now.Add(commands.LockoutDuration).Format(time.RFC3339Nano) {
		t.Fatalf("lockout logged as %+v", r)
	}
	st := e.svc.Stats()
	want := map[access.Reason]uint64{access.Granted: 2, access.WrongPassword: uint64(commands.MaxPasswordFailures), access.LockedOut: 1}
	if !deepEqual(st.Unlocks, want) || st.PasswordsRejected != uint64(commands.MaxPasswordFailures) || st.Lockouts != 1 || len(st.OfflineUnlocks) != 0 {
		t.Fatalf("stats %+v, want unlocks %v", st, want)
	}
}

func TestLogAuditGap(t *testing.T) {
	log, c := logtest.New()
	e := gapScenario(t, log, secrets{})
	r := only(t, c, slog.LevelWarn, "audit records missing")
	if r.String("lock") != "front" || r.String("by") != "ann" || r.String("after") != "3" || r.String("first") != "20" || r.String("missing") != "16" {
		t.Fatalf("gap logged as %+v", r)
	}
	st := e.svc.Stats()
	if st.AuditGaps != 1 || st.OfflineUnlocks[access.Granted] != 4 || st.Unlocks[access.Granted] != 1 || len(st.Unlocks) != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLogAdminReissued(t *testing.T) {
	log, c := logtest.New()
	e := reissueScenario(t, log)
	r := only(t, c, slog.LevelInfo, "admin message reissued")
	if r.String("lock") != "front" || r.String("key") != "k1" || r.String("type") != lockproto.TypeResetSlot.String() ||
		r.String("seq") != fmt.Sprint(3+lockproto.AdminWindow+2) || r.String("reissues") != "2" {
		t.Fatalf("reissue logged as %+v", r)
	}
	if st := e.svc.Stats(); st.AdminReissued != 1 || st.AdminIssued < 3 || st.AdminApplied == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLogBusy(t *testing.T) {
	log, c := logtest.New()
	svc, err := busyScenario(t, log)
	if !errors.Is(err, commands.ErrBusy) {
		t.Fatalf("command on a store where every append conflicts: %v, want ErrBusy", err)
	}
	r := only(t, c, slog.LevelWarn, "gave up on a command")
	if r.String("attempts") != "3" || r.String("command") == "" {
		t.Fatalf("busy logged as %+v", r)
	}
	if st := svc.Stats(); st.Busy != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Everything the scenarios above log — ledger, projections and commands,
// at every level down to Debug — holds no master code, password, share
// code, PIN, audit key, sealed value or secret hash, in any encoding.
func TestLogNoSecrets(t *testing.T) {
	log, c := logtest.New()
	sec := secrets{}
	e := lockoutScenario(t, log, sec)
	sec.addSealed(t, e.l)
	le := gapScenario(t, log, sec)
	sec.addSealed(t, le.l)
	le = reissueScenario(t, log)
	sec.addSealed(t, le.l)
	ke := keypadScenario(t, log, sec)
	sec.addSealed(t, ke.l)
	if _, err := busyScenario(t, log); !errors.Is(err, commands.ErrBusy) {
		t.Fatal(err)
	}
	logged := c.Bytes()
	for _, msg := range []string{"member locked out", "keypad locked out", "audit records missing", "admin message reissued", "gave up on a command", "ledger: pebble"} {
		if !slices.ContainsFunc(mustRecords(t, c), func(r logtest.Record) bool { return strings.Contains(r.Msg, msg) }) {
			t.Fatalf("the scenarios logged no %q: the scan would prove little", msg)
		}
	}
	probe := secrets{"probe": []byte("probe-secret")}
	if leaks := logtest.Leaks(append(logged, []byte(" cHJvYmUtc2VjcmV0")...), probe); len(leaks) == 0 {
		t.Fatalf("the scan misses a base64 secret: %v", leaks)
	}
	if leaks := logtest.Leaks(logged, sec); len(leaks) > 0 {
		t.Fatalf("secrets in the logs: %v", leaks)
	}
	t.Logf("%d secrets scanned for in %d log bytes", len(sec), len(logged))
}

func mustRecords(t *testing.T, c *logtest.Capture) []logtest.Record {
	t.Helper()
	rs, err := c.Records()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
