package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
	"github.com/vmihailenco/msgpack/v5"
)

// openLedger opens an existing ledger read-only: a directory, or a
// PostgreSQL database when dir is a DSN (see isDSN). It never creates one:
// a missing or empty directory, or a database without a ledger, is an
// error, so a typo cannot make a new ledger.
func openLedger(dir string, reg *ledger.Registry) (ledger.Backend, error) {
	return open(dir, reg, true)
}

// openWritable opens an existing ledger for writing (rebuild -write). On
// a directory it takes the directory's lock like any writer.
func openWritable(dir string, reg *ledger.Registry) (ledger.Backend, error) {
	return open(dir, reg, false)
}

func open(dir string, reg *ledger.Registry, readOnly bool) (ledger.Backend, error) {
	if isDSN(dir) {
		return openPostgres(dir, reg)
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no ledger at %s: directory does not exist", dir)
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, fmt.Errorf("no ledger at %s: not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
			return nil, fmt.Errorf("no ledger at %s: not a ledger directory", dir)
		}
	}
	l, err := ledger.Open(dir, &ledger.Options{ReadOnly: readOnly, Registry: reg})
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held") {
			return nil, fmt.Errorf("ledger at %s is locked by another process (close it first): %w", dir, err)
		}
		return nil, err
	}
	return l, nil
}

// isDSN reports whether the ledger argument names a PostgreSQL database
// (postgres:// or postgresql://) rather than a directory.
func isDSN(arg string) bool {
	return strings.HasPrefix(arg, "postgres://") || strings.HasPrefix(arg, "postgresql://")
}

// openPostgres opens the ledger in the database dsn names, in the schema
// KEYLEDGER_PG_SCHEMA (default pgledger's), after checking that it holds
// one: Open would create the tables. Nothing else is written; the commands
// that only read never take the read models' lease.
func openPostgres(dsn string, reg *ledger.Registry) (ledger.Backend, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := os.Getenv("KEYLEDGER_PG_SCHEMA")
	if schema == "" {
		schema = pgledger.DefaultSchema
	}
	exists, err := pgledger.Exists(ctx, dsn, schema)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("no ledger in that database: schema %q has no ledger tables (set KEYLEDGER_PG_SCHEMA for another)", schema)
	}
	return pgledger.Open(ctx, dsn, &pgledger.Options{Registry: reg, Schema: schema})
}

func isCorrupt(err error) bool { return errors.Is(err, ledger.ErrCorrupt) }

const verifyHelp = `Recomputes every record's hash and the chain from the first event to the
head and prints the head digest (POS:HASH). Save it: -digest later proves
that the log still begins with exactly that history. Exits 3 when a record
or link is broken, naming the first bad position. Read-only.`

func runVerify(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	digest := fs.String("digest", "", "a head digest saved earlier (POS:HASH); fail unless it is still a prefix of the log")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	var want ledger.Digest
	if *digest != "" {
		if want, err = ledger.ParseDigest(*digest); err != nil {
			return usageErr("-digest %q: %v", *digest, err)
		}
	}
	l, err := openLedger(dir, rawRegistry())
	if err != nil {
		return err
	}
	defer l.Close()
	head, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d events, chain intact\nhead %s\n", head.Position, head)
	if *digest != "" {
		if err := l.CheckDigest(ctx, want); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "digest %s: still a prefix of the log\n", want)
	}
	return nil
}

// jsonEvent is one line of `keyledger events`.
type jsonEvent struct {
	Position uint64 `json:"position"`
	Stream   string `json:"stream"`
	Version  uint64 `json:"version"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Schema   uint16 `json:"schema"`
	Time     string `json:"time"`
	Data     any    `json:"data"`
}

const eventsHelp = `Prints events as JSON lines: position, stream, version, ID, type name,
schema, time (UTC) and the payload as stored (msgpack decoded generically,
bytes as hex), so it reads logs whose event types or schemas this build
does not know. -tail N prints the last N events. Read-only.`

func runEvents(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	from := fs.Uint64("from", 1, "first position")
	n := fs.Int("n", 0, "print at most this many events (0 = all)")
	tail := fs.Int("tail", 0, "print only the last N events (overrides -from)")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *n < 0 || *tail < 0 {
		return usageErr("-n and -tail must not be negative")
	}
	l, err := openLedger(dir, rawRegistry())
	if err != nil {
		return err
	}
	defer l.Close()
	start := *from
	if *tail > 0 {
		head := l.DurablePosition()
		start = 1
		if head > uint64(*tail) {
			start = head - uint64(*tail) + 1
		}
	}
	enc := json.NewEncoder(stdout)
	count := 0
	for ev, err := range l.ReadAll(ctx, start) {
		if err != nil {
			return err
		}
		if *n > 0 && count == *n {
			break
		}
		if err := enc.Encode(toJSON(ev)); err != nil {
			return err
		}
		count++
	}
	return nil
}

func toJSON(ev ledger.Event) jsonEvent {
	je := jsonEvent{
		Position: ev.Position, Stream: ev.Stream, Version: ev.Version, ID: ev.ID.String(),
		Type: ev.Type, Schema: ev.Schema, Time: ev.Time.UTC().Format(time.RFC3339Nano),
	}
	// The stored payload, not the upcast one: this is a raw view of the log.
	var v any
	if err := msgpack.Unmarshal(ev.Raw, &v); err != nil {
		je.Data = map[string]string{"undecodable": hex.EncodeToString(ev.Raw)}
	} else {
		je.Data = jsonSafe(v)
	}
	return je
}

// jsonSafe turns msgpack's generic values into ones encoding/json accepts.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonSafe(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
		return x
	case []byte:
		return hex.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}
