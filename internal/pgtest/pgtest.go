// Package pgtest gives tests a PostgreSQL server to run against: the
// server named by KEYLEDGER_PG_DSN, and a fresh database on it per test.
//
// Outside CI a test without the variable is skipped; in CI (CI=true) it
// fails, so the PostgreSQL suites can never pass there by not running.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dsnVar names the variable holding the server's DSN, for example
// postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable. Its user must
// be allowed to create databases.
const dsnVar = "KEYLEDGER_PG_DSN"

// dbPrefix starts the name of every database Database creates, so leftovers
// of a killed test run are recognisable (and safe to drop).
const dbPrefix = "keyledger_test_"

// BaseDSN returns the DSN of the test server. Without one it skips the test,
// or fails it when the CI variable is "true".
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnVar)
	if dsn != "" {
		return dsn
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set, and in CI (CI=true) the PostgreSQL tests must run", dsnVar)
	}
	t.Skipf("%s is not set: PostgreSQL tests skipped", dsnVar)
	return ""
}

// Database creates a database with a unique name on the test server and
// returns its DSN (the base DSN with only the database changed). The
// database is dropped when the test ends, connections still open to it
// included: close the stores on it in an earlier Cleanup (registered later)
// to see their errors.
func Database(t testing.TB) string {
	t.Helper()
	base := BaseDSN(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := dbPrefix + hex.EncodeToString(b[:])
	dsn, err := dsnWithDatabase(base, name)
	if err != nil {
		t.Fatalf("%s: %v", dsnVar, err)
	}
	adminExec(t, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'")
	t.Cleanup(func() {
		adminExec(t, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return dsn
}

// adminExec runs one statement on the base database.
func adminExec(t testing.TB, base, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test server (%s): %v", dsnVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// dsnWithDatabase returns dsn (a URL or keyword/value string) naming database
// name instead of its own.
func dsnWithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}
