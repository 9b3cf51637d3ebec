package pgledger

import (
	"strings"
	"testing"

	"github.com/keyledger/keyledger/ledger"
)

// An append's statements that run under the append lock probe indexes
// under the generic plan the server settles on for a prepared statement:
// a sequential scan would make every append slower as the log grows.
func TestAppendStatementsUseIndexes(t *testing.T) {
	s := open(t, testRegistry(t))
	evs := make([]ledger.NewEvent, 1000)
	for i := range evs {
		evs[i] = ledger.NewEvent{Data: testNote{Text: "x"}}
	}
	for i := range 5 {
		if _, err := s.Append(bg, "s-"+string(rune('a'+i)), ledger.ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.pool.Acquire(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, sql := range []string{"ANALYZE " + s.schema + ".events", "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.Exec(bg, sql); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.Exec(bg, "RESET plan_cache_mode")
	const row = `1, 's', 1, '00000000-0000-0000-0000-000000000001', 't', 1, 1, '\x00', 0, '\x00', 1, 1`
	for _, c := range []struct{ name, sql, args string }{
		{"insertGuarded", s.q.insertGuarded, `'{}', 5000, '{}', '{s-a,s-z}'`},
		{"insertOneGuarded", s.q.insertOneGuarded, row + `, 5000, '{}', '{}'`},
		{"streamHeads", s.q.streamHeads, `'{s-a,s-z}'`},
		{"lookupIDs", s.q.lookupIDs, `'{00000000-0000-0000-0000-000000000001}'`},
		{"head", s.q.head, ``},
	} {
		t.Run(c.name, func(t *testing.T) {
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
