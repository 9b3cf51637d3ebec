package pgledger_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
)

const (
	envProcDSN  = "KEYLEDGER_PGPROC_DSN" // the database a child appends to
	envProcID   = "KEYLEDGER_PGPROC_ID"  // "run proc" of the child
	procWriters = 4                      // appending goroutines per child
	procHot     = "hot"                  // the stream every writer of every child contends for
	procLife    = 2 * time.Minute        // a child not killed by then exits by itself
)

// TestProcChild is the workload TestKill9Appenders runs in child processes
// and kills. It does nothing unless started by that test. Each writer
// appends in turn: to its own stream at its exact version; to its own
// stream and a shared one at once; and to the hot stream at the version it
// just read, which another process may have moved (a conflict, reported).
// It prints "ack run proc writer seq parts first" after each append
// returns and "conflict run proc writer seq" after each refused one.
func TestProcChild(t *testing.T) {
	dsn := os.Getenv(envProcDSN)
	if dsn == "" {
		t.Skip("runs only as a child of TestKill9Appenders")
	}
	var run, proc int
	if _, err := fmt.Sscan(os.Getenv(envProcID), &run, &proc); err != nil {
		fmt.Printf("setup-error %s=%q: %v\n", envProcID, os.Getenv(envProcID), err)
		os.Exit(1)
	}
	time.AfterFunc(procLife, func() { os.Exit(3) })
	ctx := context.Background()
	s, err := pgledger.Open(ctx, dsn, &pgledger.Options{Registry: faultRegistry(), PollInterval: 100 * time.Millisecond})
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(1)
	}
	var out sync.Mutex
	say := func(format string, a ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format, a...) // a pipe to the parent: written before the next append starts
	}
	var wg sync.WaitGroup
	for w := range procWriters {
		wg.Go(func() {
			own := fmt.Sprintf("p%d-%d-w%d", run, proc, w)
			var version uint64
			for seq := 0; ; seq++ {
				ev := func(part, of int) ledger.NewEvent {
					return ledger.NewEvent{ID: faultID(run, proc, w, seq, part), Data: faultOp{run, proc, w, seq, part, of}}
				}
				var res ledger.AppendResult
				var err error
				n := 1
				switch seq % 3 {
				case 0:
					res, err = s.Append(ctx, own, ledger.ExpectVersion(version), ev(0, 1))
				case 1:
					n = 3
					res, err = s.AppendMulti(ctx,
						ledger.StreamAppend{Stream: own, Expect: ledger.ExpectVersion(version), Events: []ledger.NewEvent{ev(0, 3), ev(1, 3)}},
						ledger.StreamAppend{Stream: fmt.Sprintf("shared-%d", seq%4), Expect: ledger.ExpectAny, Events: []ledger.NewEvent{ev(2, 3)}})
				case 2:
					var v uint64
					if v, err = s.StreamVersion(ctx, procHot); err == nil {
						res, err = s.Append(ctx, procHot, ledger.ExpectVersion(v), ev(0, 1))
					}
					var ce *ledger.ConflictError
					if errors.As(err, &ce) && ce.Stream == procHot {
						say("conflict %d %d %d %d\n", run, proc, w, seq)
						continue
					}
				}
				if err != nil {
					say("append-error %d %d: %v\n", w, seq, err)
					return
				}
				if seq%3 != 2 {
					version = res.Versions[0]
				}
				say("ack %d %d %d %d %d %d\n", run, proc, w, seq, n, res.First)
			}
		})
	}
	wg.Wait()
	os.Exit(2)
}

// child is a running TestProcChild and what it printed.
type child struct {
	cmd       *exec.Cmd
	mu        sync.Mutex
	acks      []ack
	conflicts []uuid.UUID
	failure   string
	first     chan struct{} // closed at the first ack
	done      chan struct{} // closed when its output ended
}

func startChild(t *testing.T, dsn string, run, proc int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envProcDSN+"="+dsn, fmt.Sprintf("%s=%d %d", envProcID, run, proc))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, first: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			n := make([]int, len(f))
			for i := 1; i < len(f); i++ {
				n[i], _ = strconv.Atoi(f[i])
			}
			c.mu.Lock()
			switch {
			case len(f) == 7 && f[0] == "ack":
				c.acks = append(c.acks, ack{run: n[1], proc: n[2], writer: n[3], seq: n[4], parts: n[5], first: uint64(n[6])})
				once.Do(func() { close(c.first) })
			case len(f) == 5 && f[0] == "conflict":
				c.conflicts = append(c.conflicts, faultID(n[1], n[2], n[3], n[4], 0))
			case len(f) > 0 && strings.HasSuffix(f[0], "-error"):
				c.failure = sc.Text()
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// TestKill9Appenders runs appending child processes on one database, all
// contending for shared streams, and kills them with SIGKILL at random
// moments, round after round: every append a child acknowledged is in the
// log in full at its position, no append is in part, a conflict wrote
// nothing, positions have no gaps, the chain verifies, and the log takes
// appends at once after the kills (the killed transactions' locks are gone).
func TestKill9Appenders(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	rounds, procs := 3, 3
	if os.Getenv("KEYLEDGER_SOAK") != "" {
		rounds = 30
	}
	dsn := pgtest.Database(t)
	s := openFault(t, dsn, pgledger.Options{}) // creates the tables before the children race to
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var acks []ack
	var conflicts []uuid.UUID
	for run := 1; run <= rounds; run++ {
		children := make([]*child, procs)
		for p := range children {
			children[p] = startChild(t, dsn, run, p)
		}
		for p, c := range children {
			select {
			case <-c.first:
			case <-c.done:
				killAll(children)
				t.Fatalf("run %d: child %d ended before its first ack: %s", run, p, c.failure)
			case <-time.After(60 * time.Second):
				killAll(children)
				t.Fatalf("run %d: no ack from child %d in 60s", run, p)
			}
		}
		for _, c := range children { // at staggered moments
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
		}
		for p, c := range children {
			<-c.done
			_ = c.cmd.Wait()
			if c.failure != "" {
				t.Fatalf("run %d: child %d: %s", run, p, c.failure)
			}
			acks = append(acks, c.acks...)
			conflicts = append(conflicts, c.conflicts...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := s.Append(ctx, "after-kill", ledger.ExpectAny, ledger.NewEvent{Data: faultOp{Run: run, Proc: -1, Of: 1}})
		cancel()
		if err != nil {
			t.Fatalf("run %d: append after the kills: %v", run, err)
		}
		n := checkLog(t, s, acks, conflicts)
		t.Logf("run %d: %d appends acknowledged, %d conflicts refused so far; log of %d events verified", run, len(acks), len(conflicts), n)
	}
	if len(acks) == 0 {
		t.Fatal("no child acknowledged an append")
	}
}

func killAll(cs []*child) {
	for _, c := range cs {
		_ = c.cmd.Process.Kill()
		<-c.done
		_ = c.cmd.Wait()
	}
}
