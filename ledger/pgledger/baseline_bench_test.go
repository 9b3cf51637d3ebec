package pgledger_test

// Baselines for the PostgreSQL backend's benchmarks: what the server does
// with no ledger in the way. Each target in BENCHMARKS.md is a ratio of a
// ledger benchmark to one of these, measured in one run against one server:
//
//	go test ./ledger/pgledger -run '^$' -bench 'BareInsert|RawSelectDecode' -benchtime 2s -count 5
//
// They write to a table shaped like the backend's events table (the same
// columns, keys and unique indexes), in a database of their own on the
// server named by KEYLEDGER_PG_DSN (pgtest.Database), and use pgx alone:
// no code of the backend, so the baseline stays fixed while it changes.

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
	"github.com/vmihailenco/msgpack/v5"
)

// baselineNote is the payload every baseline row carries: the same shape and
// size as the Pebble ledger's benchmark payload, msgpack-encoded as the
// ledger's registry encodes payloads.
type baselineNote struct{ Text string }

// baselineEvents is how many rows BenchmarkRawSelectDecode reads per op.
const baselineEvents = 10_000

var baselinePayload = func() []byte {
	b, err := msgpack.Marshal(baselineNote{Text: strings.Repeat("k", 64)})
	if err != nil {
		panic(err)
	}
	return b
}()

const baselineTable = `CREATE TABLE events (
	position     bigint  PRIMARY KEY,
	stream       text    COLLATE "C" NOT NULL,
	version      bigint  NOT NULL,
	id           uuid    NOT NULL UNIQUE,
	type         text    NOT NULL,
	schema       integer NOT NULL,
	time         bigint  NOT NULL,
	payload      bytea   NOT NULL,
	prev_pos     bigint  NOT NULL,
	hash         bytea   NOT NULL,
	append_first bigint  NOT NULL,
	append_last  bigint  NOT NULL,
	UNIQUE (stream, version)
)`

const baselineInsert = `INSERT INTO events
	(position, stream, version, id, type, schema, time, payload, prev_pos, hash, append_first, append_last)
	VALUES ($1, $2, $3, $4, 'bench.note', 1, $5, $6, $7, $8, $1, $1)`

// baselineArgs are one row's varying values; hash and id are random, as a
// chain hash and a UUID are.
func baselineArgs(pos int64, stream string, version, prev int64) []any {
	var id [16]byte
	hash := make([]byte, 32)
	_, _ = rand.Read(id[:])
	_, _ = rand.Read(hash)
	return []any{pos, stream, version, id, time.Now().UnixNano(), baselinePayload, prev, hash}
}

// baselineDB creates a database with the events table on the test server
// (pgtest.Database: KEYLEDGER_PG_DSN) and returns its DSN.
func baselineDB(b *testing.B) string {
	b.Helper()
	dsn := pgtest.Database(b)
	conn := baselineConn(b, dsn)
	if _, err := conn.Exec(context.Background(), baselineTable); err != nil {
		b.Fatal(err)
	}
	return dsn
}

// baselineConn opens a connection closed when b ends, with synchronous
// commit on whatever the server's default: every commit waits for its WAL
// flush, as the ledger's appends do.
func baselineConn(b *testing.B, dsn string) *pgx.Conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "SET synchronous_commit = on"); err != nil {
		b.Fatal(err)
	}
	return conn
}

// BenchmarkBareInsert1: one connection, one single-row INSERT per op, each
// its own synced commit: the round trip a one-event append cannot beat.
// p50-ns is the median op's latency.
func BenchmarkBareInsert1(b *testing.B) {
	ctx := context.Background()
	conn := baselineConn(b, baselineDB(b))
	var lat []time.Duration
	b.ReportAllocs()
	for pos := int64(1); b.Loop(); pos++ {
		start := time.Now()
		if _, err := conn.Exec(ctx, baselineInsert, baselineArgs(pos, "s", pos, pos-1)...); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(float64(percentile(lat, 50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppend1BesideBareInsert: one appender on the ledger and one bare
// synced INSERT taking turns within each iteration, against the same
// server, so both meet the same machine (on a shared machine two
// benchmarks run a minute apart do not); x-bare is the ratio of their
// median latencies, the figure the one-appender target is set on.
func BenchmarkAppend1BesideBareInsert(b *testing.B) {
	ctx := context.Background()
	conn := baselineConn(b, baselineDB(b))
	reg := ledger.NewRegistry()
	if err := reg.Register("bench.note", 1, baselineNote{}); err != nil {
		b.Fatal(err)
	}
	s, err := pgledger.Open(ctx, pgtest.Database(b), &pgledger.Options{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	note := baselineNote{Text: strings.Repeat("k", 64)}
	var ours, bare []time.Duration
	b.ReportAllocs()
	for pos := int64(1); b.Loop(); pos++ {
		start := time.Now()
		if _, err := s.Append(ctx, "s", ledger.ExpectAny, ledger.NewEvent{Data: note}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := conn.Exec(ctx, baselineInsert, baselineArgs(pos, "s", pos, pos-1)...); err != nil {
			b.Fatal(err)
		}
		ours, bare = append(ours, mid.Sub(start)), append(bare, time.Since(mid))
	}
	po, pb := percentile(ours, 50), percentile(bare, 50)
	b.ReportMetric(float64(po.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(pb.Nanoseconds()), "bare-p50-ns")
	b.ReportMetric(float64(po)/float64(pb), "x-bare")
}

// BenchmarkBareInsert64: 64 connections, each doing single-row synced
// INSERTs on its own stream: the server's throughput for independent
// commits (they share WAL flushes), the bar the batcher must clear.
func BenchmarkBareInsert64(b *testing.B) {
	dsn := baselineDB(b)
	par := max(1, 64/runtime.GOMAXPROCS(0))
	n := par * runtime.GOMAXPROCS(0)
	conns := make([]*pgx.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { conns[i] = baselineConn(b, dsn) })
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	// The sub-benchmark runs several times (growing b.N) on the same table.
	var pos atomic.Int64
	versions := make([]int64, n) // each connection's stream's version
	b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			w := int(next.Add(1) - 1)
			conn, stream := conns[w], fmt.Sprintf("writer-%d", w)
			ctx := context.Background()
			for pb.Next() {
				v := versions[w] + 1
				if _, err := conn.Exec(ctx, baselineInsert, baselineArgs(pos.Add(1), stream, v, 0)...); err != nil {
					b.Error(err)
					return
				}
				versions[w] = v
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkBareLockedBatches: connections taking turns at one advisory
// lock, each committing a batch of rows per transaction (BEGIN, the lock,
// one INSERT of the batch, COMMIT, pipelined), as the committers of stores
// on one database do: the floor under the ledger's multi-process figure.
// One connection with batches of 32 is what one store with 64 appenders
// commits; four with batches of 8, four stores with 16 each (a committer
// takes what was queued while its previous batch ran, about half its
// appenders). ns/op is per row.
func BenchmarkBareLockedBatches(b *testing.B) {
	for _, c := range []struct{ conns, rows int }{{1, 32}, {4, 8}} {
		b.Run(fmt.Sprintf("conns=%d/rows=%d", c.conns, c.rows), func(b *testing.B) {
			dsn := baselineDB(b)
			conns := make([]*pgx.Conn, c.conns)
			for i := range conns {
				conns[i] = baselineConn(b, dsn)
			}
			var pos, left atomic.Int64
			left.Store(int64(b.N))
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w, conn := range conns {
				wg.Go(func() {
					ctx := context.Background()
					version := int64(0)
					for left.Add(-int64(c.rows)) > -int64(c.rows) {
						pb := &pgx.Batch{}
						pb.Queue("BEGIN")
						pb.Queue("SELECT pg_advisory_xact_lock(1, 2)")
						rows := make([][]any, c.rows)
						for i := range rows {
							version++
							rows[i] = baselineArgs(pos.Add(1), fmt.Sprintf("writer-%d-%d", w, i), version, 0)
						}
						pb.Queue(baselineBatchInsert, columns(rows)...)
						pb.Queue("COMMIT")
						if err := conn.SendBatch(ctx, pb).Close(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// baselineBatchInsert inserts the rows of columns(rows).
const baselineBatchInsert = `INSERT INTO events
	(position, stream, version, id, type, schema, time, payload, prev_pos, hash, append_first, append_last)
	SELECT p, s, v, i, 'bench.note', 1, t, pl, pr, h, p, p
	FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::bigint[], $6::bytea[], $7::bigint[], $8::bytea[])
		AS r (p, s, v, i, t, pl, pr, h)`

// columns turns rows of baselineArgs into its eight columns.
func columns(rows [][]any) []any {
	var (
		pos, ver, tm, prev []int64
		stream             []string
		id                 [][16]byte
		payload, hash      [][]byte
	)
	for _, r := range rows {
		pos, stream, ver = append(pos, r[0].(int64)), append(stream, r[1].(string)), append(ver, r[2].(int64))
		id, tm, payload = append(id, r[3].([16]byte)), append(tm, r[4].(int64)), append(payload, r[5].([]byte))
		prev, hash = append(prev, r[6].(int64)), append(hash, r[7].([]byte))
	}
	return []any{pos, stream, ver, id, tm, payload, prev, hash}
}

// BenchmarkRawSelectDecode: one SELECT of all 10,000 rows in position
// order, every column scanned and the payload msgpack-decoded: what a
// catch-up read does with no ledger in the way.
func BenchmarkRawSelectDecode(b *testing.B) {
	ctx := context.Background()
	conn := baselineConn(b, baselineDB(b))
	rows := make([][]any, baselineEvents)
	for i := range rows {
		pos := int64(i + 1)
		args := baselineArgs(pos, fmt.Sprintf("s%d", i%100), int64(i/100+1), 0)
		// position..hash, then append_first, append_last and the constant type and schema.
		rows[i] = append(args, pos, pos, "bench.note", int32(1))
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"position", "stream", "version", "id", "time", "payload", "prev_pos", "hash", "append_first", "append_last", "type", "schema"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := conn.Query(ctx, `SELECT position, stream, version, id, type, schema, time, payload, prev_pos, hash
			FROM events WHERE position > $1 ORDER BY position`, int64(0))
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for rs.Next() {
			var (
				pos, version, tm, prev int64
				schema                 int32
				id                     [16]byte
				stream, typ            string
				payload, hash          []byte
				note                   baselineNote
			)
			if err := rs.Scan(&pos, &stream, &version, &id, &typ, &schema, &tm, &payload, &prev, &hash); err != nil {
				b.Fatal(err)
			}
			if err := msgpack.Unmarshal(payload, &note); err != nil {
				b.Fatal(err)
			}
			count++
		}
		if err := rs.Err(); err != nil {
			b.Fatal(err)
		}
		if count != baselineEvents {
			b.Fatalf("read %d rows, want %d", count, baselineEvents)
		}
	}
	b.ReportMetric(float64(b.N*baselineEvents)/b.Elapsed().Seconds(), "events/s")
}

// percentile is the p-th percentile of d (sorted in place).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}
