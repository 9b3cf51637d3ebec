package keyledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
	"github.com/keyledger/keyledger/secret"
	"github.com/keyledger/keyledger/secret/secrettest"
)

var bg = context.Background()

// Options that cannot work are refused before anything is opened, all
// problems at once, each naming its field.
func TestOpenInvalidOptions(t *testing.T) {
	root := secrettest.Root(0)
	cases := []struct {
		name string
		dir  bool // pass a directory
		opts keyledger.Options
		want []string
	}{
		{"in memory with a directory", true, keyledger.Options{InMemory: true}, []string{"InMemory with the directory"}},
		{"short root", false, keyledger.Options{Root: secret.New(make([]byte, secret.MinRootLen-1))}, []string{"Root has 31 bytes, need at least 32"}},
		{"keystore without root", false, keyledger.Options{Keystore: secret.NewMemKeystore()}, []string{"Keystore is set without Root"}},
		{"rand without root", false, keyledger.Options{Rand: bytes.NewReader(nil)}, []string{"Rand is set without Root"}},
		{"password without root", false, keyledger.Options{Password: secret.TestPasswordParams}, []string{"Password is set without Root"}},
		{"negative batch", false, keyledger.Options{Root: root, BatchSize: -1}, []string{"BatchSize -1 < 0"}},
		{"all at once", true, keyledger.Options{InMemory: true, Rand: bytes.NewReader(nil), BatchSize: -2},
			[]string{"InMemory", "Rand", "BatchSize -2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := ""
			if c.dir {
				dir = filepath.Join(t.TempDir(), "db")
			}
			st, err := keyledger.Open(dir, &c.opts)
			if err == nil {
				st.Close()
				t.Fatal("Open accepted the options")
			}
			if !errors.Is(err, keyledger.ErrInvalidOptions) {
				t.Fatalf("error %v does not match ErrInvalidOptions", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if dir != "" {
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the directory was created (%v): Open must refuse before opening", err)
				}
			}
		})
	}
}

// Password parameters the vault refuses: secret.ErrConfig, and the ledger
// is closed again (the directory opens afterwards).
func TestOpenVaultErrorClosesLedger(t *testing.T) {
	dir := t.TempDir()
	_, err := keyledger.Open(dir, &keyledger.Options{Root: secrettest.Root(0), Password: secret.PasswordParams{Memory: 1}})
	if !errors.Is(err, secret.ErrConfig) {
		t.Fatalf("Open with bad password parameters: %v, want secret.ErrConfig", err)
	}
	st, err := keyledger.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen after a failed Open: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// A command's effects are in the read models when it returns, every time.
func TestOpenReadYourWrites(t *testing.T) {
	st, err := keyledger.Open("", &keyledger.Options{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := st.Commands
	must(t, svc.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"}))
	must(t, svc.RegisterLock(bg, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front", Zone: "UTC", Slots: 64}))
	for i := range 64 {
		key := "k" + string(rune('A'+i))
		if _, err := svc.CreateKey(bg, commands.CreateKey{ID: commands.NewID(), Key: key, Lock: "front", By: "bill", Kind: events.KindShare}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Projections.KeyStatus(bg, key, time.Now()); err != nil {
			t.Fatalf("key %d right after CreateKey returned: %v", i, err)
		}
		if got := st.Projections.Applied(); got != st.Ledger.DurablePosition() {
			t.Fatalf("read models at %d, log at %d", got, st.Ledger.DurablePosition())
		}
	}
}

// On disk, a stack reopens with what it recorded, and the vault's data keys
// live in the ledger: a share code made before Close is redeemed after it.
func TestOpenReopen(t *testing.T) {
	dir := t.TempDir()
	opts := &keyledger.Options{Root: secrettest.Root(3)}
	st, err := keyledger.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	svc := st.Commands
	must(t, svc.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"}))
	must(t, svc.RegisterLock(bg, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front", Zone: "UTC", Slots: 2}))
	_, err = svc.CreateKey(bg, commands.CreateKey{ID: commands.NewID(), Key: "k", Lock: "front", By: "bill", Kind: events.KindShare})
	must(t, err)
	res, err := svc.ShareKey(bg, commands.ShareKey{ID: commands.NewID(), Key: "k", By: "bill", Method: events.ShareToCode, Email: "guest@example.com"})
	must(t, err)
	must(t, st.Close())
	if err := st.Close(); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("second Close: %v, want ledger.ErrClosed", err)
	}

	st, err = keyledger.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pending, err := st.Projections.Pending(bg, 10)
	must(t, err)
	if len(pending) != 1 {
		t.Fatalf("outbox after reopen: %d notifications, want 1", len(pending))
	}
	code, err := st.Commands.RevealNotificationSecret(bg, pending[0].Key, pending[0].Secret)
	if err != nil || !code.Equal(res.Code) {
		t.Fatalf("the sealed code does not open after reopen: %v", err)
	}
	if _, err := st.Commands.DownloadKey(bg, commands.DownloadKey{ID: commands.NewID(), By: "guest-phone", Code: res.Code}); err != nil {
		t.Fatalf("download with the code after reopen: %v", err)
	}
	status, err := st.Projections.KeyStatus(bg, "k", time.Now())
	must(t, err)
	if status.Sharing != events.Shared {
		t.Errorf("after download: %s, want %s", status.Sharing, events.Shared)
	}
}

// Without a root secret the stack works, and what needs one is refused
// with commands.ErrInvalid rather than done without protection.
func TestOpenWithoutRoot(t *testing.T) {
	st, err := keyledger.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := st.Commands
	for _, a := range []string{"bill", "ann"} {
		must(t, svc.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(t, svc.RegisterLock(bg, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front", Zone: "UTC", Slots: 2}))
	for _, k := range []string{"k1", "k2"} {
		_, err := svc.CreateKey(bg, commands.CreateKey{ID: commands.NewID(), Key: k, Lock: "front", By: "bill", Kind: events.KindShare})
		must(t, err)
	}
	if _, err := svc.ShareKey(bg, commands.ShareKey{ID: commands.NewID(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatalf("share To ID without a root: %v", err)
	}
	if _, err := svc.ShareKey(bg, commands.ShareKey{ID: commands.NewID(), Key: "k2", By: "bill", Method: events.ShareToCode}); !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("share To Code without a root: %v, want commands.ErrInvalid", err)
	}
	if st.Commands.Vault() != nil {
		t.Error("a vault without a root")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A stack runs on a backend the caller opened, owns it from then on, and
// refuses one whose registry lacks the catalogue (closing it all the same).
func TestOpenOnBackend(t *testing.T) {
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := keyledger.Open("", &keyledger.Options{Backend: l})
	if err != nil {
		t.Fatal(err)
	}
	if st.Ledger != ledger.Backend(l) {
		t.Fatalf("Stack.Ledger = %T, want the backend passed in", st.Ledger)
	}
	if err := st.Commands.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "ann", Name: "Ann", Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	pos := l.DurablePosition()
	if pos == 0 {
		t.Fatal("the command wrote nothing to the backend")
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := st.Projections.WaitApplied(ctx, pos); err != nil {
		t.Fatalf("the read models did not follow the backend to %d: %v", pos, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.StreamVersion(bg, "x"); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("after Stack.Close the backend answers %v, want ledger.ErrClosed", err)
	}

	bare, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: ledger.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = keyledger.Open("", &keyledger.Options{Backend: bare})
	if !errors.Is(err, keyledger.ErrInvalidOptions) || !strings.Contains(err.Error(), `lacks event type "account.registered"`) {
		t.Fatalf("backend without the catalogue: %v, want ErrInvalidOptions naming a type", err)
	}
	if _, err := bare.StreamVersion(bg, "x"); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("a refused backend is left open: %v", err)
	}

	_, err = keyledger.Open(t.TempDir(), &keyledger.Options{Backend: l})
	if !errors.Is(err, keyledger.ErrInvalidOptions) || !strings.Contains(err.Error(), "Backend with the directory") {
		t.Fatalf("backend and directory: %v", err)
	}
}

// With AsOf and Proofs the stack keeps the as-of index and the Merkle tree
// following the log: both cover every event a command recorded, the tree
// signs a head that evidence verifies, and after a reopen the tree resumes
// from what it stored.
func TestOpenKeepsAsOfAndProofs(t *testing.T) {
	dir := t.TempDir()
	opts := &keyledger.Options{AsOf: true, Proofs: true}
	st, err := keyledger.Open(dir, opts)
	must(t, err)
	svc := st.Commands
	must(t, svc.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"}))
	must(t, svc.RegisterLock(bg, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front", Zone: "UTC", Slots: 2}))
	head := st.Ledger.DurablePosition()
	must(t, st.AsOf.WaitApplied(bg, head))
	waitTree(t, st, head)
	pub, key, err := ed25519.GenerateKey(nil)
	must(t, err)
	b, err := proofs.Export(bg, st.Proofs, proofs.Request{Positions: []uint64{1, head}, Key: key})
	must(t, err)
	if rep, err := evidence.Verify(b, evidence.Options{Key: pub}); err != nil || rep.Events != 2 || rep.Head.Size != head {
		t.Fatalf("bundle from the kept tree: %+v, %v; want 2 events under a head of size %d", rep, err, head)
	}
	must(t, st.Close())

	st, err = keyledger.Open(dir, opts)
	must(t, err)
	defer st.Close()
	if n, err := st.Proofs.Size(bg); err != nil || n < head {
		t.Fatalf("tree after reopen covers %d events (%v), want at least the %d it stored", n, err, head)
	}
	must(t, st.Commands.RegisterAccount(bg, commands.RegisterAccount{ID: commands.NewID(), Account: "ann", Name: "Ann", Email: "ann@example.com"}))
	waitTree(t, st, st.Ledger.DurablePosition())
}

// waitTree waits until the kept tree covers size events.
func waitTree(t *testing.T, st *keyledger.Stack, size uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := st.Proofs.Size(bg)
		must(t, err)
		if n >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tree covers %d events after 20 s, want %d", n, size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
