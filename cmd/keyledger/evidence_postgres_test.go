package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
)

// Export and verify work on a PostgreSQL ledger as on a directory, and
// export without -write leaves the database without a tree index.
func TestEvidenceFromPostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	pgFixture(t, dsn)
	key, pub := keygen(t)
	tmp := t.TempDir()
	fromDir, fromPG := filepath.Join(tmp, "dir.json"), filepath.Join(tmp, "pg.json")
	ok(t, "evidence", "export", "-key", key, "-positions", "45,3", "-o", fromDir, fixture(t, projCurrent))
	ok(t, "evidence", "export", "-key", key, "-positions", "45,3", "-o", fromPG, dsn)
	out, _ := ok(t, "evidence", "verify", "-key", pub, fromPG)
	if !strings.HasPrefix(out, "ok: 3 events included in the log of size 47") {
		t.Fatalf("verify the bundle from PostgreSQL: %q", out)
	}
	// The fixture's secrets are random, so the two logs differ in payloads
	// but not in shape: the same events at the same positions.
	a, b := readBundle(t, fromDir), readBundle(t, fromPG)
	for i := range a.Events {
		x, y := a.Events[i].Summary, b.Events[i].Summary
		x.Payload, y.Payload = "", ""
		if x != y {
			t.Errorf("event %d from the directory %+v, from PostgreSQL %+v", i, x, y)
		}
	}

	reg := ledger.NewRegistry()
	s, err := pgledger.Open(context.Background(), dsn, &pgledger.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if cp, err := s.Checkpoint(context.Background(), "tree"); err != nil || cp != 0 {
		t.Fatalf("tree checkpoint after export without -write: %d, %v", cp, err)
	}
}

func readBundle(t *testing.T, file string) *evidence.Bundle {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := evidence.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
