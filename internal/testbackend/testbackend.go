// Package testbackend opens the storage backend a test run selects, so that
// the command-level tests, the read models' tests and the test kit run on
// every backend unchanged: KEYLEDGER_TEST_BACKEND=postgres (with
// KEYLEDGER_PG_DSN) runs them on PostgreSQL, anything else on the embedded
// ledger in memory.
package testbackend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
)

// Var names the variable that selects the backend.
const Var = "KEYLEDGER_TEST_BACKEND"

// TB is what Open needs of a test; *testing.T, *testing.B and *rapid.T have it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Postgres reports whether this run's tests use the PostgreSQL backend.
func Postgres() bool { return os.Getenv(Var) == "postgres" }

// Name is the selected backend's name, for test logs and skips.
func Name() string {
	if Postgres() {
		return "postgres"
	}
	return "pebble"
}

// Open returns a new, empty backend with reg and clock (nil: time.Now),
// closed when the test ends: an in-memory ledger, or a PostgreSQL ledger in
// a schema of its own on the server KEYLEDGER_PG_DSN names, dropped when
// the test ends. Asking for PostgreSQL without a DSN fails the test.
func Open(t TB, reg *ledger.Registry, clock func() time.Time) ledger.Backend {
	t.Helper()
	if !Postgres() {
		l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg, Clock: clock})
		if err != nil {
			t.Fatalf("open an in-memory ledger: %v", err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	dsn := os.Getenv("KEYLEDGER_PG_DSN")
	if dsn == "" {
		t.Fatalf("%s=postgres but KEYLEDGER_PG_DSN is not set", Var)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "kltest_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgledger.Open(ctx, dsn, &pgledger.Options{Registry: reg, Clock: clock, Schema: schema,
		MaxConns: 4, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("open a PostgreSQL ledger in schema %s: %v", schema, err)
	}
	schemas.Store(s, schema)
	t.Cleanup(func() {
		_ = s.Close()
		if err := dropSchema(dsn, schema); err != nil {
			t.Fatalf("drop the test schema %s: %v", schema, err)
		}
	})
	return s
}

// schemas maps each PostgreSQL store Open made to its schema.
var schemas sync.Map // *pgledger.Store -> string

// Find returns the tables of a PostgreSQL store Open made (closed or not)
// where needle occurs in a stored value, to prove a secret is stored
// nowhere in plaintext. Only live rows are read: deleted ones linger in
// the table files until a vacuum and in the WAL (see pgledger's doc).
func Find(t TB, b ledger.Backend, needle []byte) []string {
	t.Helper()
	v, ok := schemas.Load(b)
	if !ok {
		t.Fatalf("testbackend.Find: %T is not a PostgreSQL store opened by testbackend.Open", b)
	}
	schema := v.(string)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv("KEYLEDGER_PG_DSN"))
	if err != nil {
		t.Fatalf("testbackend.Find: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", schema)
	if err != nil {
		t.Fatalf("testbackend.Find: %v", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("testbackend.Find: %v", err)
	}
	var hits []string
	for _, table := range tables {
		rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{schema, table}.Sanitize())
		if err != nil {
			t.Fatalf("testbackend.Find: %s: %v", table, err)
		}
		found := false
		for rows.Next() {
			for _, raw := range rows.RawValues() {
				found = found || bytes.Contains(raw, needle)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("testbackend.Find: %s: %v", table, err)
		}
		if found {
			hits = append(hits, table)
		}
	}
	return hits
}

func dropSchema(dsn, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("%s: %w", schema, err)
	}
	return nil
}
