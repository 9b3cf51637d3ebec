package pgledger

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds the SQL of a store, with its schema's table names.
type queries struct {
	channel string // NOTIFY channel of appends

	lookupIDs, streamHeads, head string
	insertEvents, insertGuarded  string
	insertOne, insertOneGuarded  string
	appendRebased                string
	notify                       string

	readFrom, readRange, readStream, eventAt, eventByID string
	streamVersion, versionBefore                        string
	verifyChunk, eventStreamAt                          string

	getState, scanFrom, scanRange, setState, deleteState string
	deleteRange, deleteFrom, deleteAll                   string
	getCheckpoint, setCheckpoint, deleteCheckpoint       string
}

// The columns of an event as reads return it (see parseRow), and with what
// the chain and idempotency need.
const (
	readCols = "position, stream, version, id, type, schema, time, payload"
	fullCols = readCols + ", prev_pos, hash, append_first, append_last"
)

// An append's rows (fullCols), as an array of the table's row type or as
// 12 values.
const eventParams = "$1::bigint, $2::text, $3::bigint, $4::uuid, $5::text, $6::integer, $7::bigint, $8::bytea, $9::bigint, $10::bytea, $11::bigint, $12::bigint"

// guard is the condition of the one-round-trip path, on parameters from
// $n on: the head is still $n, no event ID of $n+1 is stored and no stream
// of $n+2 has events. Each ID and each stream is one probe of an index, in
// a LIMIT 1 subquery the planner cannot flatten into a join: as
// "id = ANY($n+1)", the generic plan the server settles on for a prepared
// statement scanned the whole table whenever its statistics were of a
// smaller table (a new ledger's first minutes), and did so for an empty
// array too, so every append got slower as the log grew.
func guard(n int) string {
	return fmt.Sprintf(`(SELECT coalesce(max(position), 0) FROM §events) = $%d
		AND NOT EXISTS (SELECT 1 FROM unnest($%d::uuid[]) AS i (id)
			CROSS JOIN LATERAL (SELECT 1 FROM §events e WHERE e.id = i.id LIMIT 1) y)
		AND NOT EXISTS (SELECT 1 FROM unnest($%d::text[]) AS s (stream)
			CROSS JOIN LATERAL (SELECT 1 FROM §events e WHERE e.stream = s.stream ORDER BY e.version LIMIT 1) x)`, n, n+1, n+2)
}

func newQueries(schema string) queries {
	t := func(sql string) string {
		return strings.ReplaceAll(sql, "§", pgx.Identifier{schema}.Sanitize()+".")
	}
	return queries{
		channel: "keyledger_" + schema,

		lookupIDs: t(`SELECT e.* FROM unnest($1::uuid[]) AS i (id)
			CROSS JOIN LATERAL (SELECT ` + fullCols + ` FROM §events WHERE id = i.id LIMIT 1) e`),
		streamHeads: t(`SELECT s.stream, e.version, e.position FROM unnest($1::text[]) AS s (stream)
			JOIN LATERAL (SELECT version, position FROM §events WHERE stream = s.stream ORDER BY version DESC LIMIT 1) e ON true`),
		head:          t("SELECT position, hash FROM §events ORDER BY position DESC LIMIT 1"),
		insertEvents:  t("INSERT INTO §events (" + fullCols + ") SELECT (r).* FROM unnest($1::§events[]) r"),
		insertGuarded: t("INSERT INTO §events (" + fullCols + ") SELECT (r).* FROM unnest($1::§events[]) r WHERE " + guard(2)),
		// One row: even one function scan costs more than the rest of a
		// one-event append's transaction on the server.
		insertOne:        t("INSERT INTO §events (" + fullCols + ") VALUES (" + eventParams + ")"),
		insertOneGuarded: t("INSERT INTO §events (" + fullCols + ") SELECT " + eventParams + " WHERE " + guard(13)),
		appendRebased:    t("SELECT head_before, head_hash FROM §append_rebased($1, $2, $3, $4, $5, $6, $7, $8)"),
		// Sent after the COMMIT, in a transaction of its own: it names the
		// last position committed, whatever the append's outcome.
		notify: t("SELECT pg_notify($1, (SELECT coalesce(max(position), 0) FROM §events)::text)"),

		readFrom:      t("SELECT " + readCols + " FROM §events WHERE position >= $1 ORDER BY position LIMIT $2"),
		readRange:     t("SELECT " + readCols + " FROM §events WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3"),
		readStream:    t("SELECT " + readCols + " FROM §events WHERE stream = $1 AND version >= $2 AND version <= $3 ORDER BY version LIMIT $4"),
		eventAt:       t("SELECT " + readCols + " FROM §events WHERE position = $1"),
		eventByID:     t("SELECT " + readCols + " FROM §events WHERE id = $1"),
		streamVersion: t("SELECT version FROM §events WHERE stream = $1 ORDER BY version DESC LIMIT 1"),
		versionBefore: t("SELECT version FROM §events WHERE stream = $1 AND position < $2 ORDER BY version DESC LIMIT 1"),
		verifyChunk:   t("SELECT " + fullCols + " FROM §events WHERE position >= $1 AND position <= $2 ORDER BY position"),
		eventStreamAt: t("SELECT stream, version FROM §events WHERE position = $1"),

		getState:    t("SELECT value FROM §state WHERE key = $1"),
		scanFrom:    t("SELECT key, value FROM §state WHERE key >= $1 ORDER BY key LIMIT $2"),
		scanRange:   t("SELECT key, value FROM §state WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3"),
		setState:    t("INSERT INTO §state (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
		deleteState: t("DELETE FROM §state WHERE key = $1"),
		deleteRange: t("DELETE FROM §state WHERE key >= $1 AND key < $2"),
		deleteFrom:  t("DELETE FROM §state WHERE key >= $1"),
		deleteAll:   t("DELETE FROM §state"),

		getCheckpoint:    t("SELECT position FROM §checkpoints WHERE name = $1"),
		setCheckpoint:    t("INSERT INTO §checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET position = excluded.position"),
		deleteCheckpoint: t("DELETE FROM §checkpoints WHERE name = $1"),
	}
}
