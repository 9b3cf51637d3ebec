package reliability

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
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

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledger"
)

const (
	envCmdCrashDir = "KEYLEDGER_CMDCRASH_DIR"
	envCmdCrashRun = "KEYLEDGER_CMDCRASH_RUN"
	cmdCrashWorker = 8
)

// TestCrashCommandsChild is the commands workload TestCrashCommandsKill9 runs
// in a child process and kills: 8 workers run share, digital, intercom and
// online-key scenarios on an on-disk ledger with projections running. Every
// command is announced ("start <id>") before it is called and acknowledged
// ("ack <id> <events> <what>") after it returned nil, on stdout, a pipe to
// the parent. The event count is read back from the log after the return.
func TestCrashCommandsChild(t *testing.T) {
	dir := os.Getenv(envCmdCrashDir)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashCommandsKill9")
	}
	run, _ := strconv.Atoi(os.Getenv(envCmdCrashRun))
	s, err := openStack(dir)
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(1)
	}
	var out sync.Mutex
	say := func(format string, a ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format, a...)
	}
	w := &workload{svc: s.svc, run: run,
		started: func(id uuid.UUID) { say("start %x\n", id[:]) },
		acked: func(id uuid.UUID, what string) {
			n, err := commandEvents(bg, s.l, id)
			if err != nil {
				say("count-error %x %v\n", id[:], err)
				return
			}
			say("ack %x %d %s\n", id[:], n, strings.ReplaceAll(what, " ", "_"))
		},
		unexpected: func(g int, what string, err error) { say("step-error worker %d %s: %v\n", g, what, err) },
	}
	if err := w.runWorkers(bg, cmdCrashWorker, 0); err != nil {
		say("setup-error %v\n", err)
	}
	os.Exit(2)
}

type cmdAck struct {
	id     uuid.UUID
	events int
	what   string
}

// cmdCrashStats are the figures of one crash test.
type cmdCrashStats struct {
	crashes, acked, ackedEvents, logEvents, partialChecked, projectionRows int
	checkedUpTo                                                            uint64 // appends before it were checked whole
}

// TestCrashCommandsKill9 kills the commands workload with SIGKILL at a
// random moment, reopens the whole stack and checks:
//   - every acknowledged command's events are in the log, all of them
//     (as many as the child counted after the return), at consecutive
//     positions, in the command's order;
//   - every event in the log belongs to a command the child started, and a
//     command that is there at all is there whole: its events fill exactly
//     the append the ledger recorded for them (the ID index's first..last);
//   - projections, caught up from their checkpoint, equal a full rebuild;
//   - the hash chain verifies.
//
// The next child continues on the same directory (so recovery is also
// tested by the commands that follow). Bounded: 8 crashes; KEYLEDGER_SOAK=1:
// 200.
func TestCrashCommandsKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	crashes := 8
	if soak() {
		crashes = 200
		if n, err := strconv.Atoi(os.Getenv("KEYLEDGER_CRASHES")); err == nil {
			crashes = n
		}
	}
	dir := filepath.Join(t.TempDir(), "ledger")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	ref := map[uuid.UUID]eventRef{}
	var st cmdCrashStats
	begin := time.Now()
	for run := 1; run <= crashes; run++ {
		starts, acks := runCommandsAndKill(t, dir, run, time.Duration(30+rng.IntN(400))*time.Millisecond)
		for _, id := range starts {
			addRefs(ref, id)
		}
		checkCommandsAfterCrash(t, dir, ref, acks, &st)
		st.crashes++
		st.acked += len(acks)
		if run%25 == 0 {
			t.Logf("%d crashes survived in %v; log %d events", run, time.Since(begin).Round(time.Second), st.logEvents)
		}
	}
	t.Logf("crashes survived: %d; commands acknowledged: %d (%d events, all found); events in the final log: %d; "+
		"commands checked whole against their append: %d; projection rows compared with a rebuild (last crash): %d; acknowledged events lost: 0",
		st.crashes, st.acked, st.ackedEvents, st.logEvents, st.partialChecked, st.projectionRows)
}

func runCommandsAndKill(t *testing.T, dir string, run int, after time.Duration) (starts []uuid.UUID, acks []cmdAck) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashCommandsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCmdCrashDir+"="+dir, envCmdCrashRun+"="+strconv.Itoa(run))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	first := make(chan struct{})
	done := make(chan error, 1)
	parseID := func(s string) (uuid.UUID, error) {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 16 {
			return uuid.Nil, fmt.Errorf("bad id %q", s)
		}
		return uuid.UUID(b), nil
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "start":
				id, err := parseID(f[1])
				if err != nil {
					done <- err
					return
				}
				mu.Lock()
				starts = append(starts, id)
				mu.Unlock()
			case len(f) == 4 && f[0] == "ack":
				id, err := parseID(f[1])
				n, nerr := strconv.Atoi(f[2])
				if err != nil || nerr != nil {
					done <- fmt.Errorf("bad ack line %q", line)
					return
				}
				mu.Lock()
				acks = append(acks, cmdAck{id: id, events: n, what: f[3]})
				mu.Unlock()
				if !strings.HasPrefix(f[3], "setup") {
					once.Do(func() { close(first) })
				}
			case len(f) > 0 && strings.HasSuffix(f[0], "error"):
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
		t.Fatalf("run %d: child ended before its first acknowledged command: %v", run, err)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("run %d: no acknowledged command from the child in 60s", run)
	}
	select {
	case err := <-done: // the child failed on its own
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("run %d: %v", run, err)
	case <-time.After(after):
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !strings.Contains(err.Error(), "file already closed") {
		t.Fatalf("run %d: %v", run, err)
	}
	_ = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	return starts, acks
}

// eventRef names one event of a command.
type eventRef struct {
	cmd uuid.UUID
	i   int
}

// span is where a command's events are in the log.
type span struct {
	first, last uint64
	n           int
}

// checkAcked: every acknowledged command has all the events it had when
// acknowledged (a negative count: at least its first), at consecutive
// positions, and no more. It returns the events checked.
func checkAcked(ctx context.Context, l ledger.Log, acks []cmdAck) (int, error) {
	checked := 0
	for _, a := range acks {
		n := a.events
		if n < 0 {
			n = 1
		}
		if a.events == 0 && !strings.HasPrefix(a.what, "setup") {
			return checked, fmt.Errorf("command %s (%s) was acknowledged with no events", a.id, a.what)
		}
		var prev uint64
		for i := range n {
			ev, err := l.EventByID(ctx, eventID(a.id, i))
			if err != nil {
				return checked, fmt.Errorf("acknowledged command %s (%s) lost its event %d of %d: %w", a.id, a.what, i, a.events, err)
			}
			if i > 0 && ev.Position != prev+1 {
				return checked, fmt.Errorf("acknowledged command %s (%s): event %d at %d, not after %d", a.id, a.what, i, ev.Position, prev)
			}
			prev = ev.Position
			checked++
		}
		if a.events < 0 {
			continue
		}
		if _, err := l.EventByID(ctx, eventID(a.id, a.events)); !errors.Is(err, ledger.ErrNotFound) {
			return checked, fmt.Errorf("acknowledged command %s (%s) has more events than when acknowledged (%d): %v", a.id, a.what, a.events, err)
		}
	}
	return checked, nil
}

// addRefs maps the event IDs a command can have to the command.
func addRefs(ref map[uuid.UUID]eventRef, id uuid.UUID) {
	for i := range 24 {
		ref[eventID(id, i)] = eventRef{id, i}
	}
}

func refsOf(started map[uuid.UUID]bool) map[uuid.UUID]eventRef {
	ref := map[uuid.UUID]eventRef{}
	for id := range started {
		addRefs(ref, id)
	}
	return ref
}

// commandSpans reads the whole log: positions have no gaps, every event
// belongs to a started command, and a command's events are consecutive and
// in its order. It returns each present command's span and the event count.
func commandSpans(ctx context.Context, l ledger.Log, ref map[uuid.UUID]eventRef) (map[uuid.UUID]*span, int, error) {
	spans := map[uuid.UUID]*span{}
	n := 0
	want := uint64(1)
	for ev, err := range l.ReadAll(ctx, 0) {
		if err != nil {
			return nil, n, fmt.Errorf("read: %w", err)
		}
		if ev.Position != want {
			return nil, n, fmt.Errorf("gap in the log: position %d after %d", ev.Position, want-1)
		}
		want++
		n++
		r, ok := ref[ev.ID]
		if !ok {
			return nil, n, fmt.Errorf("event %d (%s on %s, ID %s) belongs to no command the workload started", ev.Position, ev.Type, ev.Stream, ev.ID)
		}
		sp := spans[r.cmd]
		if sp == nil {
			if r.i != 0 {
				return nil, n, fmt.Errorf("command %s starts with its event %d at position %d", r.cmd, r.i, ev.Position)
			}
			sp = &span{first: ev.Position}
			spans[r.cmd] = sp
		} else if r.i != sp.n || ev.Position != sp.last+1 {
			return nil, n, fmt.Errorf("command %s: event %d at position %d breaks its run (%d events, last at %d)", r.cmd, r.i, ev.Position, sp.n, sp.last)
		}
		sp.last = ev.Position
		sp.n++
	}
	return spans, n, nil
}

// checkWholeAppends opens the closed ledger's Pebble database read-only: the
// ledger's ID index records, with each event ID, the extent (first..last
// position) of the append it was written in. A command present at all must
// fill that extent exactly — nothing of it half there.
func checkWholeAppends(dir string, fs vfs.FS, spans map[uuid.UUID]*span) error {
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, FS: fs, Logger: quietLogger{}, EventListener: &pebble.EventListener{}})
	if err != nil {
		return fmt.Errorf("open pebble read-only: %w", err)
	}
	defer db.Close()
	for cmd, sp := range spans {
		id := eventID(cmd, 0)
		v, closer, err := db.Get(append([]byte{'i'}, id[:]...))
		if err != nil {
			return fmt.Errorf("ID index of command %s: %w", cmd, err)
		}
		if len(v) != 24 {
			closer.Close()
			return fmt.Errorf("ID index entry of %s: %d bytes", cmd, len(v))
		}
		first, last := binary.BigEndian.Uint64(v[8:]), binary.BigEndian.Uint64(v[16:])
		closer.Close()
		if first != sp.first || last != sp.last {
			return fmt.Errorf("command %s is partly there: its append was %d..%d, the log has %d events at %d..%d", cmd, first, last, sp.n, sp.first, sp.last)
		}
	}
	return nil
}

// sweepGroups finishes shredding a crash may have interrupted (data keys
// are destroyed after the append that records it), as the commands doc asks.
func sweepGroups(ctx context.Context, s *stack, locks []string) error {
	for _, lock := range locks {
		if err := s.svc.SweepGroup(ctx, lock); err != nil && !errors.Is(err, commands.ErrNotFound) {
			return fmt.Errorf("sweep %s: %w", lock, err)
		}
	}
	return nil
}

func checkCommandsAfterCrash(t *testing.T, dir string, ref map[uuid.UUID]eventRef, acks []cmdAck, st *cmdCrashStats) {
	t.Helper()
	ctx := context.Background()
	crash := st.crashes + 1
	s, err := openStack(dir)
	if err != nil {
		t.Fatalf("reopen after crash %d: %v", crash, err)
	}
	n, err := checkAcked(ctx, s.l, acks)
	if err != nil {
		t.Fatalf("after crash %d: %v", crash, err)
	}
	st.ackedEvents += n
	spans, logEvents, err := commandSpans(ctx, s.l, ref)
	if err != nil {
		t.Fatalf("after crash %d: %v", crash, err)
	}
	st.logEvents = logEvents
	rows, err := checkProjections(ctx, s)
	if err != nil {
		t.Fatalf("after crash %d: %v", crash, err)
	}
	st.projectionRows = rows
	if _, err := s.l.Verify(ctx); err != nil {
		t.Fatalf("verify after crash %d: %v", crash, err)
	}
	var locks []string // the run just killed; earlier runs' were swept after their crash
	for g := range cmdCrashWorker {
		locks = append(locks, fmt.Sprintf("lk-%d-%d", crash, g))
	}
	if err := sweepGroups(ctx, s, locks); err != nil {
		t.Fatalf("after crash %d: %v", crash, err)
	}
	if err := s.close(); err != nil {
		t.Fatalf("close after checks: %v", err)
	}
	fresh := map[uuid.UUID]*span{} // appends checked after an earlier crash cannot change
	for id, sp := range spans {
		if sp.first > st.checkedUpTo {
			fresh[id] = sp
		}
	}
	if err := checkWholeAppends(dir, nil, fresh); err != nil {
		t.Fatalf("after crash %d: %v", crash, err)
	}
	st.partialChecked += len(fresh)
	st.checkedUpTo = uint64(logEvents)
}

// quietLogger keeps Pebble's informational lines out of the test output; a
// fatal error panics (Pebble's default would exit the test binary).
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)           {}
func (quietLogger) Errorf(string, ...any)          {}
func (quietLogger) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
