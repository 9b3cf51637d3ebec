package commands_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
	"github.com/keyledger/keyledger/secret/secrettest"
)

func openKeystoreLedger(t testing.TB, dir string) *ledger.Ledger {
	t.Helper()
	var opts *ledger.Options
	if dir == "" {
		opts = &ledger.Options{InMemory: true}
	}
	l, err := ledger.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func keystoreVault(t testing.TB, ks secret.Keystore) *secret.Vault {
	t.Helper()
	v, err := secret.NewVault(&secret.Options{Root: secrettest.Root(0), Keystore: ks, Password: secret.TestPasswordParams})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLedgerKeystoreConformance(t *testing.T) {
	secrettest.RunKeystore(t, func(t *testing.T) secret.Keystore {
		return commands.NewLedgerKeystore(openKeystoreLedger(t, ""))
	})
}

// The ledger keystore survives a reopen, and after Shred no sstable holds the
// wrapped key and no file holds the plaintext.
func TestLedgerKeystoreShredOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openKeystoreLedger(t, dir)
	ks := commands.NewLedgerKeystore(l)
	v := keystoreVault(t, ks)
	const plain = "MASTER-CODE-93715"
	sealed, err := v.Seal(ctx, secret.FromString(plain), []byte("net"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := sealed.KeyID()
	wrapped, err := ks.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Force the key into an sstable, as it would be after normal operation.
	if err := l.CompactState(ctx, []byte(commands.KeystorePrefix)); err != nil {
		t.Fatal(err)
	}
	inSST := func(needle []byte) bool {
		return slices.ContainsFunc(onPebble(t, dir, needle), func(f string) bool { return strings.HasSuffix(f, ".sst") })
	}
	if !inSST(wrapped) {
		t.Fatal("test premise: wrapped key should be in an sstable before shredding")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openKeystoreLedger(t, dir)
	ks = commands.NewLedgerKeystore(l)
	v = keystoreVault(t, ks)
	if got, err := v.Open(ctx, sealed, []byte("net")); err != nil || string(got.Reveal()) != plain {
		t.Fatalf("open after reopen: %v", err)
	}
	if err := v.Shred(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(ctx, sealed, []byte("net")); !errors.Is(err, secret.ErrShredded) {
		t.Fatalf("open after shred: %v", err)
	}
	// Pebble deletes obsolete sstables asynchronously, just after the compaction.
	deadline := time.Now().Add(5 * time.Second)
	for inSST(wrapped) {
		if time.Now().After(deadline) {
			t.Fatal("an sstable still holds the shredded wrapped key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if hits := onPebble(t, dir, wrapped); len(hits) > 0 {
		t.Logf("%v still hold the wrapped key: the documented WAL residue", hits)
	}
	if hits := onPebble(t, dir, []byte(plain)); len(hits) > 0 {
		t.Errorf("plaintext found in %v", hits)
	}
	if _, err := ks.Get(ctx, secret.KeyID{1}); !errors.Is(err, secret.ErrUnknownKey) {
		t.Errorf("unknown ID: %v", err)
	}
}

// Seal with a synced ApplyState per data key (on-disk ledger).
func BenchmarkSealLedgerDisk(b *testing.B) {
	v := keystoreVault(b, commands.NewLedgerKeystore(openKeystoreLedger(b, b.TempDir())))
	s := secret.FromString("831964-master-code")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Seal(context.Background(), s, []byte("lock-7")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenLedgerDisk(b *testing.B) {
	v := keystoreVault(b, commands.NewLedgerKeystore(openKeystoreLedger(b, b.TempDir())))
	sealed, _ := v.Seal(context.Background(), secret.FromString("831964-master-code"), []byte("lock-7"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Open(context.Background(), sealed, []byte("lock-7")); err != nil {
			b.Fatal(err)
		}
	}
}

// Shred = synced delete + flush + compaction of the key range.
func BenchmarkShredLedgerDisk(b *testing.B) {
	ctx := context.Background()
	v := keystoreVault(b, commands.NewLedgerKeystore(openKeystoreLedger(b, b.TempDir())))
	for b.Loop() {
		b.StopTimer()
		sealed, _ := v.Seal(ctx, secret.FromString("x"), nil)
		b.StartTimer()
		if err := v.ShredSealed(ctx, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
