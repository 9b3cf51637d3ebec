package pgledger

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds the SQL of a store, with its schema's table names.
type queries struct {
	channel string // NOTIFY channel of appends

	lookupIDs, streamHeads, head         string
	insertEvents, upsertStreams, setHead string
	notify                               string

	readFrom, readRange, readStream, eventAt, eventByID string
	streamVersion, versionBefore                        string
	verifyChunk, afterHead, checkHeads, missingHeads    string
	eventStreamAt                                       string

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

func newQueries(schema string) queries {
	t := func(sql string) string {
		return strings.ReplaceAll(sql, "§", pgx.Identifier{schema}.Sanitize()+".")
	}
	return queries{
		channel: "keyledger_" + schema,

		lookupIDs:   t("SELECT " + fullCols + " FROM §events WHERE id = ANY($1::uuid[])"),
		streamHeads: t("SELECT stream, version, last_pos FROM §streams WHERE stream = ANY($1::text[])"),
		head:        t("SELECT position, hash FROM §head"),
		insertEvents: t(`INSERT INTO §events (position, stream, version, id, type, schema, time, payload, prev_pos, hash, append_first, append_last)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::integer[], $7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[], $11::bigint[], $12::bigint[])`),
		upsertStreams: t(`INSERT INTO §streams (stream, version, last_pos) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
			ON CONFLICT (stream) DO UPDATE SET version = excluded.version, last_pos = excluded.last_pos`),
		setHead: t("UPDATE §head SET position = $1, hash = $2"),
		notify:  "SELECT pg_notify($1, $2)",

		readFrom:      t("SELECT " + readCols + " FROM §events WHERE position >= $1 ORDER BY position LIMIT $2"),
		readRange:     t("SELECT " + readCols + " FROM §events WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3"),
		readStream:    t("SELECT " + readCols + " FROM §events WHERE stream = $1 AND version >= $2 AND version <= $3 ORDER BY version LIMIT $4"),
		eventAt:       t("SELECT " + readCols + " FROM §events WHERE position = $1"),
		eventByID:     t("SELECT " + readCols + " FROM §events WHERE id = $1"),
		streamVersion: t("SELECT version FROM §streams WHERE stream = $1"),
		versionBefore: t("SELECT version FROM §events WHERE stream = $1 AND position < $2 ORDER BY version DESC LIMIT 1"),
		verifyChunk:   t("SELECT " + fullCols + " FROM §events WHERE position >= $1 AND position <= $2 ORDER BY position"),
		eventStreamAt: t("SELECT stream, version FROM §events WHERE position = $1"),
		afterHead:     t("SELECT position FROM §events WHERE position > $1 ORDER BY position LIMIT 1"),
		// A stored stream head that names no event of its stream at its
		// version, or an older one than the stream's last.
		checkHeads: t(`SELECT s.stream, s.version, s.last_pos, coalesce(e.stream, ''), coalesce(e.version, 0), coalesce(l.version, 0)
			FROM §streams s
			LEFT JOIN §events e ON e.position = s.last_pos
			LEFT JOIN LATERAL (SELECT max(version) AS version FROM §events x WHERE x.stream = s.stream) l ON true
			WHERE e.position IS NULL OR e.stream <> s.stream OR e.version <> s.version OR l.version <> s.version
			ORDER BY s.stream LIMIT 1`),
		// A stream with events and no stored head.
		missingHeads: t(`SELECT e.stream, e.position FROM §events e
			WHERE e.version = 1 AND NOT EXISTS (SELECT 1 FROM §streams s WHERE s.stream = e.stream)
			ORDER BY e.position LIMIT 1`),

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
