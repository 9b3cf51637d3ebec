package pgledger

import (
	"context"
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// Migrations are numbered SQL files, applied in order, each once, in its own
// transaction with its number recorded in schema_version. Never edit one
// that has been released: add the next.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("pgledger: migration %s is not numbered", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrate brings the schema to the newest version. It holds a session
// advisory lock meanwhile, so processes opening the ledger at once apply
// each migration once and see it complete.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return readErr(ctx, "open", err)
	}
	defer func() {
		if err != nil {
			// Closing the session releases its lock and any open transaction.
			_ = conn.Conn().Close(context.Background())
		}
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", classMigrate, s.appendKey); err != nil {
		return readErr(ctx, "open: lock for migrations", err)
	}
	schema := pgx.Identifier{s.schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return readErr(ctx, "open: create schema", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+schema+".schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"); err != nil {
		return readErr(ctx, "open: create schema_version", err)
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+schema+".schema_version").Scan(&have); err != nil {
		return readErr(ctx, "open: read schema_version", err)
	}
	if newest := ms[len(ms)-1].version; have > newest {
		return fmt.Errorf("%w: schema %s is at version %d, this package knows up to %d", ledger.ErrUnknownFormat, s.schema, have, newest)
	}
	for _, m := range ms {
		if m.version <= have {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{schema}}", schema)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+schema+".schema_version (version) VALUES ($1)", m.version)
			return err
		})
		if err != nil {
			return readErr(ctx, fmt.Sprintf("open: migration %d", m.version), err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", classMigrate, s.appendKey); err != nil {
		return readErr(ctx, "open: unlock after migrations", err)
	}
	return nil
}
