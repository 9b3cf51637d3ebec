package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/keyledger/keyledger/ledger"
)

func scanKeys(t *testing.T, s ledger.StateStore, prefix string) []string {
	t.Helper()
	var out []string
	for e, err := range s.ScanState(ctx, []byte(prefix)) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(e.Key)+"="+string(e.Value))
	}
	return out
}

func testState(t *testing.T, s ledger.StateStore) {
	var b ledger.StateBatch
	for _, k := range []string{"k/1", "k/2", "k/3", "kx", "other"} {
		b.Set([]byte(k), []byte("v"+k))
	}
	b.Delete([]byte("k/2"))
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetState(ctx, []byte("k/1")); err != nil || string(v) != "vk/1" {
		t.Fatalf("GetState = %q, %v", v, err)
	}
	if _, err := s.GetState(ctx, []byte("k/2")); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if got := scanKeys(t, s, "k/"); !slices.Equal(got, []string{"k/1=vk/1", "k/3=vk/3"}) {
		t.Fatalf("scan k/ = %v", got)
	}
	if got := scanKeys(t, s, ""); len(got) != 4 {
		t.Fatalf("scan all = %v", got)
	}
	b.Reset()
	b.DeletePrefix([]byte("k"))
	b.Set([]byte("k/9"), []byte("new")) // later operations win within a batch
	b.SetCheckpoint("proj", 7)
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if got := scanKeys(t, s, ""); !slices.Equal(got, []string{"k/9=new", "other=vother"}) {
		t.Fatalf("after DeletePrefix: %v", got)
	}
	if p, _ := s.Checkpoint(ctx, "proj"); p != 7 {
		t.Fatalf("checkpoint in state batch = %d", p)
	}
	// Many keys: more than one internal scan chunk, in order.
	b.Reset()
	for i := range 700 {
		b.Set(fmt.Appendf(nil, "many/%04d", i), nil)
	}
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	got := scanKeys(t, s, "many/")
	if len(got) != 700 || !slices.IsSorted(got) {
		t.Fatalf("scan of 700 keys gave %d (sorted %v)", len(got), slices.IsSorted(got))
	}
	b.Reset()
	b.DeletePrefix([]byte("many/"))
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactState(ctx, []byte("many/")); err != nil {
		t.Fatalf("CompactState: %v", err)
	}
	if got := scanKeys(t, s, "many/"); len(got) != 0 {
		t.Fatalf("deleted keys still scanned: %d", len(got))
	}
	if err := s.ApplyState(ctx, &ledger.StateBatch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	// A batch applied without waiting for its sync, or without asking for
	// one, is visible at once.
	for i, mark := range []func(*ledger.StateBatch, bool){(*ledger.StateBatch).SetNoSyncWait, (*ledger.StateBatch).SetNoSync} {
		b.Reset()
		mark(&b, true)
		want := fmt.Sprint(i + 1)
		b.Set([]byte("fast"), []byte(want))
		if err := s.ApplyState(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if v, err := s.GetState(ctx, []byte("fast")); err != nil || string(v) != want {
			t.Fatalf("GetState after a batch neither synced nor waited for (NoSyncWait %v, NoSync %v) = %q, %v", b.NoSyncWait(), b.NoSync(), v, err)
		}
	}
}

func testCheckpoints(t *testing.T, s ledger.StateStore) {
	if p, err := s.Checkpoint(ctx, "never"); err != nil || p != 0 {
		t.Fatalf("unknown checkpoint = %d, %v; want 0", p, err)
	}
	var b ledger.StateBatch
	b.SetCheckpoint("sub", 2)
	b.Set([]byte("row"), []byte("x"))
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Checkpoint(ctx, "sub"); err != nil || p != 2 {
		t.Fatalf("Checkpoint = %d, %v", p, err)
	}
	if got := scanKeys(t, s, ""); !slices.Equal(got, []string{"row=x"}) {
		t.Fatalf("checkpoints are not state keys: scan = %v", got)
	}
	b.Reset()
	b.SetCheckpoint("sub", 0)
	if err := s.ApplyState(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Checkpoint(ctx, "sub"); err != nil || p != 0 {
		t.Fatalf("checkpoint after removal = %d, %v", p, err)
	}
	for _, tc := range []struct {
		name string
		try  func() error
	}{
		{"empty name", func() error { _, err := s.Checkpoint(ctx, ""); return err }},
		{"NUL in name", func() error { _, err := s.Checkpoint(ctx, "a\x00"); return err }},
		{"empty name in batch", func() error {
			var b ledger.StateBatch
			b.Set([]byte("row"), []byte("y"))
			b.SetCheckpoint("", 1)
			return s.ApplyState(ctx, &b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.try(); !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if v, _ := s.GetState(ctx, []byte("row")); string(v) != "x" {
		t.Fatalf("a refused batch wrote its rows: row = %q", v)
	}
}

func testStateClosed(t *testing.T, s ledger.StateStore, c interface{ Close() error }) {
	var b ledger.StateBatch
	b.Set([]byte("k"), nil)
	closedErrs(t, c, map[string]func() error{
		"GetState":     func() error { _, err := s.GetState(ctx, []byte("k")); return err },
		"ScanState":    func() error { return seqErr(s.ScanState(ctx, nil)) },
		"ApplyState":   func() error { return s.ApplyState(ctx, &b) },
		"CompactState": func() error { return s.CompactState(ctx, nil) },
		"Checkpoint":   func() error { _, err := s.Checkpoint(ctx, "x"); return err },
	})
}

// State and checkpoints one instance applied are what the other reads.
func testStateTwo(t *testing.T, a, b ledger.StateStore) {
	var sb ledger.StateBatch
	sb.Set([]byte("k/1"), []byte("one"))
	sb.Set([]byte("k/2"), []byte("two"))
	sb.SetCheckpoint("sub", 9)
	if err := a.ApplyState(ctx, &sb); err != nil {
		t.Fatal(err)
	}
	if v, err := b.GetState(ctx, []byte("k/1")); err != nil || string(v) != "one" {
		t.Fatalf("second instance: GetState = %q, %v", v, err)
	}
	if got := scanKeys(t, b, "k/"); !slices.Equal(got, []string{"k/1=one", "k/2=two"}) {
		t.Fatalf("second instance: scan = %v", got)
	}
	if p, err := b.Checkpoint(ctx, "sub"); err != nil || p != 9 {
		t.Fatalf("second instance: Checkpoint = %d, %v", p, err)
	}
	sb.Reset()
	sb.DeletePrefix([]byte("k/"))
	if err := b.ApplyState(ctx, &sb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetState(ctx, []byte("k/1")); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("first instance after the second deleted: %v", err)
	}
}
