package reliability

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/ledger"
)

// crashOp is the event the crash workload appends. Of is how many events its
// append had, so a reader can tell a whole append from a partial one.
type crashOp struct {
	Run, Writer, Seq, Part, Of int
}

func crashRegistry() *ledger.Registry {
	reg := ledger.NewRegistry()
	if err := reg.Register("reliability.crash-op", 1, crashOp{}); err != nil {
		panic(err)
	}
	return reg
}

func opID(run, writer, seq, part int) uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint32(u[0:], uint32(run))
	binary.BigEndian.PutUint32(u[4:], uint32(writer))
	binary.BigEndian.PutUint32(u[8:], uint32(seq))
	binary.BigEndian.PutUint32(u[12:], uint32(part))
	return u
}

const (
	envCrashDir  = "KEYLEDGER_CRASH_DIR"
	envCrashRun  = "KEYLEDGER_CRASH_RUN"
	crashWriters = 8
)

// TestCrashChild is the workload the crash test runs in a child process and
// kills. It does nothing unless started by TestCrashKill9.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashKill9")
	}
	run, _ := strconv.Atoi(os.Getenv(envCrashRun))
	l, err := ledger.Open(dir, &ledger.Options{Registry: crashRegistry()})
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(1)
	}
	var out sync.Mutex
	ack := func(format string, a ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format, a...) // stdout is a pipe to the parent: written before the next ack
	}
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for seq := 0; ; seq++ {
				var res ledger.AppendResult
				var err error
				n := 1
				if seq%3 == 2 { // a multi-stream append of 3 events
					n = 3
					res, err = l.AppendMulti(ctx,
						ledger.StreamAppend{Stream: fmt.Sprintf("w%d-a", w), Expect: ledger.ExpectAny, Events: []ledger.NewEvent{
							{ID: opID(run, w, seq, 0), Data: crashOp{run, w, seq, 0, 3}},
							{ID: opID(run, w, seq, 1), Data: crashOp{run, w, seq, 1, 3}},
						}},
						ledger.StreamAppend{Stream: fmt.Sprintf("shared-%d", seq%4), Expect: ledger.ExpectAny, Events: []ledger.NewEvent{
							{ID: opID(run, w, seq, 2), Data: crashOp{run, w, seq, 2, 3}},
						}})
				} else {
					res, err = l.Append(ctx, fmt.Sprintf("w%d", w), ledger.ExpectAny,
						ledger.NewEvent{ID: opID(run, w, seq, 0), Data: crashOp{run, w, seq, 0, 1}})
				}
				if err != nil {
					ack("append-error %d %d %v\n", w, seq, err)
					return
				}
				ack("ack %d %d %d %d\n", w, seq, n, res.First)
			}
		}()
	}
	wg.Wait()
	os.Exit(2)
}

type acked struct {
	run, writer, seq, parts int
	first                   uint64
}

// TestCrashKill9 runs the append workload in a child process on an on-disk
// ledger, kills it with SIGKILL at a random moment, reopens and checks that
// every acknowledged append is there in full at its position, that no append
// is partly there, that positions have no gaps and that the chain verifies.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	crashes := 12
	if os.Getenv("KEYLEDGER_SOAK") != "" {
		crashes = 200
	}
	dir := filepath.Join(t.TempDir(), "ledger")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	totalAcked, totalChecked := 0, 0
	for run := 1; run <= crashes; run++ {
		acks := runAndKill(t, dir, run, time.Duration(20+rng.IntN(200))*time.Millisecond)
		totalAcked += len(acks)
		totalChecked += checkAfterCrash(t, dir, acks)
	}
	t.Logf("crashes survived: %d; appends acknowledged: %d; events checked after reopen: %d; events lost: 0", crashes, totalAcked, totalChecked)
}

func runAndKill(t *testing.T, dir string, run int, after time.Duration) []acked {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashRun+"="+strconv.Itoa(run))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []acked
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) == 5 && f[0] == "ack" {
				a := acked{run: run}
				a.writer, _ = strconv.Atoi(f[1])
				a.seq, _ = strconv.Atoi(f[2])
				a.parts, _ = strconv.Atoi(f[3])
				a.first, _ = strconv.ParseUint(f[4], 10, 64)
				acks = append(acks, a)
				once.Do(func() { close(first) })
			} else if strings.HasSuffix(f[0], "error") {
				done <- fmt.Errorf("child: %s", line)
				return
			}
		}
		done <- sc.Err()
	}()
	select {
	case <-first:
	case err := <-done:
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("run %d: child ended before its first ack: %v", run, err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("run %d: no ack from the child in 30s", run)
	}
	time.Sleep(after)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !strings.Contains(err.Error(), "file already closed") {
		t.Fatalf("run %d: %v", run, err)
	}
	_ = cmd.Wait()
	return acks
}

func checkAfterCrash(t *testing.T, dir string, acks []acked) int {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.Open(dir, &ledger.Options{Registry: crashRegistry()})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer l.Close()
	for _, a := range acks {
		for part := range a.parts {
			ev, err := l.EventByID(ctx, opID(a.run, a.writer, a.seq, part))
			if err != nil {
				maxAck := uint64(0)
				for _, b := range acks {
					maxAck = max(maxAck, b.first)
				}
				t.Fatalf("acknowledged append run %d writer %d seq %d part %d (position %d; log ends at %d; highest acked %d of %d acks) lost: %v", a.run, a.writer, a.seq, part, a.first, l.DurablePosition(), maxAck, len(acks), err)
			}
			if ev.Position != a.first+uint64(part) {
				t.Fatalf("acknowledged event moved: position %d, acknowledged at %d", ev.Position, a.first+uint64(part))
			}
		}
	}
	type appendKey struct{ run, writer, seq int }
	seen := map[appendKey]int{}
	of := map[appendKey]int{}
	var want uint64 = 1
	n := 0
	for ev, err := range l.ReadAll(ctx, 0) {
		if err != nil {
			t.Fatalf("read after crash: %v", err)
		}
		if ev.Position != want {
			t.Fatalf("gap: position %d after %d", ev.Position, want-1)
		}
		want++
		op := ev.Data.(crashOp)
		k := appendKey{op.Run, op.Writer, op.Seq}
		seen[k]++
		of[k] = op.Of
		n++
	}
	for k, c := range seen {
		if c != of[k] {
			t.Fatalf("partial append visible after crash: %+v has %d of %d events", k, c, of[k])
		}
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatalf("verify after crash: %v", err)
	}
	return n
}
