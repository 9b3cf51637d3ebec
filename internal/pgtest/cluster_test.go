package pgtest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A committed row survives every way of ending the server, the server
// comes back on the same address each time, and Kill leaves no process.
func TestClusterStopKillStart(t *testing.T) {
	cl := StartCluster(t)
	if !strings.HasPrefix(cl.Addr(), "127.0.0.1:") || strings.HasSuffix(cl.Addr(), ":5432") || strings.HasSuffix(cl.Addr(), ":5433") {
		t.Fatalf("Addr() = %s, want a private port on 127.0.0.1", cl.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	exec := func(sql string, args ...any) {
		t.Helper()
		conn, err := pgx.Connect(ctx, cl.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, cl.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "select count(*) from t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec("create table t (id int primary key)")

	// A connection open across the stop gets an error, not a hang.
	held, err := pgx.Connect(ctx, cl.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())

	// Kill leaves no server process behind: Start would fail on the shared
	// memory an orphaned backend still holds.
	kill := func() {
		pid := cl.PID()
		procs := append(childPIDs(pid), pid)
		if len(procs) < 3 { // checkpointer, background writer, WAL writer, …
			t.Fatalf("postmaster %d has %d children, want its auxiliary processes", pid, len(procs)-1)
		}
		cl.Kill()
		for _, p := range procs {
			if processAlive(p) {
				t.Fatalf("server process %d alive after Kill", p)
			}
		}
	}
	for i, end := range []struct {
		name string
		do   func()
	}{
		{"Stop(Immediate)", func() { cl.Stop(Immediate) }},
		{"Kill", kill},
		{"Stop(Fast)", func() { cl.Stop(Fast) }},
	} {
		exec("insert into t values ($1)", i)
		pid := cl.PID()
		end.do()
		if cl.Running() || cl.PID() != 0 {
			t.Fatalf("%s: still running", end.name)
		}
		if c, err := net.DialTimeout("tcp", cl.Addr(), time.Second); err == nil {
			c.Close()
			t.Fatalf("%s: %s still accepts connections", end.name, cl.Addr())
		}
		if i == 0 {
			if _, err := held.Exec(ctx, "select 1"); err == nil {
				t.Fatalf("%s: a connection from before the stop still works", end.name)
			}
		}
		cl.Start()
		if cl.PID() == pid || cl.PID() == 0 {
			t.Fatalf("%s: PID %d after Start, was %d", end.name, cl.PID(), pid)
		}
		if n := count(); n != i+1 {
			t.Fatalf("after %s and Start: %d rows, want %d", end.name, n, i+1)
		}
	}
}
