package pgledger

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keyledger/keyledger/ledger"
)

// The statements of appends (those under the append lock above all) and of
// reads probe indexes under the generic plan the server settles on for a
// prepared statement: a sequential scan would make every append or read
// slower as the log grows. The plans are checked on an empty ledger,
// because a connection keeps the plan it made then until the table's
// statistics change (autovacuum's first look at a new ledger), and on a
// ledger of 5,000 events analyzed.
func TestStatementsUseIndexes(t *testing.T) {
	s := open(t, testRegistry(t))
	conn, err := s.pool.Acquire(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(bg, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec("SET plan_cache_mode = force_generic_plan")
	defer conn.Exec(bg, "RESET plan_cache_mode")
	checkPlans(t, s, conn.Conn(), "empty")
	fiveStreams(t, s)
	exec("ANALYZE " + s.schema + ".events")
	checkPlans(t, s, conn.Conn(), "5000 events")
}

func checkPlans(t *testing.T, s *Store, conn *pgx.Conn, stats string) {
	const row = `1, 's', 1, '00000000-0000-0000-0000-000000000001', 't', 1, 1, '\x00', 0, '\x00', 1, 1`
	for _, c := range []struct{ name, sql, args string }{
		{"insertGuarded", s.q.insertGuarded, `'{}', 5000, '{}', '{s-a,s-z}'`},
		{"insertGuarded with IDs", s.q.insertGuarded, `'{}', 5000, '{00000000-0000-0000-0000-000000000001}', '{s-a,s-z}'`},
		{"insertOneGuarded", s.q.insertOneGuarded, row + `, 5000, '{}', '{}'`},
		{"streamHeads", s.q.streamHeads, `'{s-a,s-z}'`},
		{"lookupIDs", s.q.lookupIDs, `'{00000000-0000-0000-0000-000000000001}'`},
		{"head", s.q.head, ``},
		{"readFrom", s.q.readFrom, `1, 100`},
		{"readRange", s.q.readRange, `1, 100, 100`},
		{"readStream", s.q.readStream, `'s-a', 1, 100, 100`},
		{"eventAt", s.q.eventAt, `7`},
		{"eventByID", s.q.eventByID, `'00000000-0000-0000-0000-000000000001'`},
		{"streamVersion", s.q.streamVersion, `'s-a'`},
		{"versionBefore", s.q.versionBefore, `'s-a', 7`},
		{"verifyChunk", s.q.verifyChunk, `1, 100`},
		{"eventStreamAt", s.q.eventStreamAt, `7`},
		{"notify", s.q.notify, `'c'`},
	} {
		t.Run(stats+"/"+c.name, func(t *testing.T) {
			if _, err := conn.Exec(bg, "PREPARE plan_check AS "+c.sql); err != nil {
				t.Fatal(err)
			}
			defer conn.Exec(bg, "DEALLOCATE plan_check")
			exec := "EXPLAIN EXECUTE plan_check"
			if c.args != "" {
				exec += "(" + c.args + ")"
			}
			rows, err := conn.Query(bg, exec)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if p := strings.Join(plan, "\n"); strings.Contains(p, "Seq Scan on events") {
				t.Errorf("the generic plan scans the events table:\n%s", p)
			}
		})
	}
}

// The statements inside append_rebased probe indexes too, under the
// generic plans PL/pgSQL keeps for a session: on an empty ledger, and with
// the head moved past the batch's base on an analyzed one. auto_explain
// (a contrib module shipped with the server) logs each nested statement's
// plan to this session.
func TestRebasedAppendUsesIndexes(t *testing.T) {
	s := open(t, testRegistry(t))
	var mu sync.Mutex
	var plans []string
	cfg := s.connCfg.Copy()
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		plans = append(plans, n.Message)
		mu.Unlock()
	}
	conn, err := pgx.ConnectConfig(bg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	if _, err := conn.Exec(bg, "LOAD 'auto_explain'"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("auto_explain: %v", err)
		}
		t.Skipf("auto_explain cannot be loaded here: %v", err)
	}
	for _, sql := range []string{"SET auto_explain.log_min_duration = 0", "SET auto_explain.log_nested_statements = on",
		"SET client_min_messages = log", "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.Exec(bg, sql); err != nil {
			t.Fatal(err)
		}
	}
	call := func(name string, base, head, version, prev int) {
		t.Helper()
		mu.Lock()
		plans = nil
		mu.Unlock()
		row := fmt.Sprintf(`ROW(%d, 's-a', %d, '00000000-0000-0000-0000-000000000001', 't', 1, 1, '\x00', %d, '\x00', %d, %d)::%s.events`,
			base+1, version+1, prev, base+1, base+1, s.schema)
		tx, err := conn.Begin(bg)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(bg)
		var before *int64
		err = tx.QueryRow(bg, fmt.Sprintf(`SELECT head_before FROM %s.append_rebased(%d, '\x02', ARRAY[%s], ARRAY['\x00'::bytea],
			ARRAY['00000000-0000-0000-0000-000000000001'::uuid], ARRAY['s-z'], ARRAY['s-a'], ARRAY[%d::bigint])`, s.schema, base, row, version),
			pgx.QueryExecModeSimpleProtocol).Scan(&before)
		if err != nil {
			t.Fatal(err)
		}
		if before == nil || *before != int64(head) {
			t.Fatalf("%s: written after %v, want %d", name, before, head)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(plans) < 4 {
			t.Fatalf("%s: %d plans logged, want one per statement", name, len(plans))
		}
		for _, p := range plans {
			if strings.Contains(p, "Seq Scan on events") {
				t.Errorf("%s: a statement of append_rebased scans the events table:\n%s", name, p)
			}
		}
	}
	call("empty", 0, 0, 0, 0)
	fiveStreams(t, s)
	if _, err := conn.Exec(bg, "ANALYZE "+s.schema+".events"); err != nil {
		t.Fatal(err)
	}
	call("5000 events", 4000, 5000, 1000, 1000)
}

// fiveStreams appends 1,000 events to each of the streams s-a .. s-e.
func fiveStreams(t *testing.T, s *Store) {
	t.Helper()
	evs := make([]ledger.NewEvent, 1000)
	for i := range evs {
		evs[i] = ledger.NewEvent{Data: testNote{Text: "x"}}
	}
	for i := range 5 {
		if _, err := s.Append(bg, "s-"+string(rune('a'+i)), ledger.ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
}
