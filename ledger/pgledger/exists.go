package pgledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// DefaultSchema is the schema of the ledger's tables when Options.Schema is
// empty.
const DefaultSchema = defaultSchema

// Exists reports whether the database dsn names holds a ledger in schema
// (its version table), without creating or changing anything: Open creates
// what is missing, so a tool that must only read asks first. Errors are
// ErrUnavailable when the server cannot be reached and ledger.ErrInvalid for
// a DSN or schema name that cannot work.
func Exists(ctx context.Context, dsn, schema string) (bool, error) {
	if !validSchema(schema) {
		return false, fmt.Errorf("%w: schema %q: want 1..%d bytes of a-z, 0-9 and _, not starting with a digit", ledger.ErrInvalid, schema, maxSchemaLen)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return false, fmt.Errorf("%w: the DSN does not parse (want postgres://user@host:port/database or key=value pairs)", ledger.ErrInvalid)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, readErr(ctx, "exists", err)
	}
	defer conn.Close(context.Background())
	var found bool
	err = conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&found)
	if err != nil {
		return false, readErr(ctx, "exists", err)
	}
	return found, nil
}
