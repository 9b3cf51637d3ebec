package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds on the waits of a Cluster: every start, stop and kill either
// completes within them or fails the test with the server's log.
const (
	clusterStartTimeout = 60 * time.Second // includes crash recovery after Immediate or Kill
	clusterStopTimeout  = 30 * time.Second
)

// StopMode is how Stop shuts a cluster's server down, as pg_ctl stop -m does.
type StopMode string

const (
	// Fast rolls back open transactions, disconnects clients and writes a
	// checkpoint (SIGINT to the postmaster).
	Fast StopMode = "fast"
	// Immediate aborts every server process without a checkpoint, as a
	// crash would; the next Start runs crash recovery (SIGQUIT).
	Immediate StopMode = "immediate"
)

// Cluster is a private PostgreSQL server for tests that stop, crash or
// restart it: its own data directory, its own port on 127.0.0.1, trust
// auth for loopback TCP only and no Unix socket. Its methods fail the test
// on error, so call them from the test's goroutine. The server is a child
// of the test process (it dies with it) and is stopped, and its directory
// removed, when the test ends.
type Cluster struct {
	t     testing.TB
	bin   string // directory of initdb and postgres
	dir   string // holds data/ and server.log
	owner *syscall.Credential
	port  int
	cmd   *exec.Cmd     // the running postmaster, nil when stopped
	done  chan struct{} // closed when cmd has exited
}

// StartCluster initialises a new cluster and starts its server. It skips
// the test when the server binaries are missing, unless CI=true (then it
// fails): KEYLEDGER_PG_BIN names their directory, else the newest
// /usr/lib/postgresql/*/bin or PATH is used. As root the cluster runs as
// the user postgres (the server refuses root), in a directory under /tmp
// when TMPDIR is not reachable by that user.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := serverBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: CI=true and %v", err)
		}
		t.Skipf("pgtest: %v", err)
	}
	owner, err := clusterOwner()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := clusterDir(owner)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir, owner: owner}
	t.Cleanup(c.cleanup)
	c.initdb()
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		err = c.start()
		if err == nil {
			return c
		}
		if !errors.Is(err, errPortTaken) || attempt == 4 {
			t.Fatalf("pgtest: %v", err)
		}
	}
}

// DSN is the superuser DSN of the cluster's postgres database.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&connect_timeout=10", c.Addr())
}

// Addr is the server's host:port on 127.0.0.1; it stays the same across
// Stop and Start, so a Proxy in front of it keeps working.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Running reports whether the server process is running.
func (c *Cluster) Running() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Start starts the stopped server again on the same port and waits until it
// accepts connections (after crash recovery, if it was stopped with
// Immediate or killed).
func (c *Cluster) Start() {
	c.t.Helper()
	if c.Running() {
		c.t.Fatalf("pgtest: Start: the server on %s is already running", c.Addr())
	}
	if err := c.start(); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
}

// Stop shuts the server down in the given mode and waits for it to exit.
func (c *Cluster) Stop(mode StopMode) {
	c.t.Helper()
	sig := map[StopMode]syscall.Signal{Fast: syscall.SIGINT, Immediate: syscall.SIGQUIT}[mode]
	if sig == 0 {
		c.t.Fatalf("pgtest: Stop: unknown mode %q (want %q or %q)", mode, Fast, Immediate)
	}
	if !c.Running() {
		c.t.Fatalf("pgtest: Stop(%s): the server on %s is not running", mode, c.Addr())
	}
	_ = c.cmd.Process.Signal(sig)
	if err := c.wait(clusterStopTimeout); err != nil {
		c.t.Fatalf("pgtest: Stop(%s): %v\n%s", mode, err, c.logTail())
	}
}

// Kill ends the server as a machine crash would: SIGKILL to the postmaster
// and to every server process it started, with no chance to clean up (the
// operating system's page cache survives: what a commit wrote is there).
// The next Start runs crash recovery.
func (c *Cluster) Kill() {
	c.t.Helper()
	if !c.Running() {
		c.t.Fatalf("pgtest: Kill: the server on %s is not running", c.Addr())
	}
	pid := c.cmd.Process.Pid
	// Stopped, the postmaster can neither fork nor notice its children dying.
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	children := childPIDs(pid)
	for _, p := range children {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if err := c.wait(clusterStopTimeout); err != nil {
		c.t.Fatalf("pgtest: Kill: %v", err)
	}
	// A new postmaster refuses to start while a process of the old one is
	// still attached to its shared memory.
	deadline := time.Now().Add(clusterStopTimeout)
	for _, p := range children {
		for processAlive(p) {
			if time.Now().After(deadline) {
				c.t.Fatalf("pgtest: Kill: server process %d still alive after %v", p, clusterStopTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// PID is the postmaster's process ID, 0 when the server is not running.
func (c *Cluster) PID() int {
	if !c.Running() {
		return 0
	}
	return c.cmd.Process.Pid
}

func (c *Cluster) initdb() {
	c.t.Helper()
	out, err := c.command(filepath.Join(c.bin, "initdb"), "-D", c.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		c.t.Fatalf("pgtest: initdb in %s: %v\n%s", c.dataDir(), err, out)
	}
	// Loopback TCP only; trust is safe because nothing else can connect.
	if err := os.WriteFile(filepath.Join(c.dataDir(), "pg_hba.conf"), []byte("host all all 127.0.0.1/32 trust\n"), 0o600); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
	if c.owner != nil {
		_ = os.Chown(filepath.Join(c.dataDir(), "pg_hba.conf"), int(c.owner.Uid), int(c.owner.Gid))
	}
}

var errPortTaken = errors.New("port taken")

func (c *Cluster) start() error {
	logf, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	cmd := c.command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir(),
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(c.port),
		"-c", "unix_socket_directories=", "-c", "max_connections=200",
		"-c", "shared_buffers=32MB", "-c", "fsync=on",
		"-c", "recovery_init_sync_method=syncfs")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // never outlives the test process
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	done := c.done
	go func() { _ = cmd.Wait(); close(done) }()

	deadline := time.Now().Add(clusterStartTimeout)
	for {
		if ready(filepath.Join(c.dataDir(), "postmaster.pid"), cmd.Process.Pid) {
			return nil
		}
		select {
		case <-done:
			log := c.logSince(logStart)
			c.cmd = nil
			if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, c.port)
			}
			return fmt.Errorf("the server on port %d exited while starting:\n%s", c.port, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			c.cmd = nil
			return fmt.Errorf("the server on port %d was not ready after %v:\n%s", c.port, clusterStartTimeout, c.logSince(logStart))
		}
	}
}

// ready reports whether postmaster.pid belongs to pid and says the server
// accepts connections (its eighth line, the status, is "ready").
func ready(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

// wait waits for the postmaster to exit; the stop signal was sent.
func (c *Cluster) wait(timeout time.Duration) error {
	select {
	case <-c.done:
		c.cmd = nil
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the server on %s did not exit in %v", c.Addr(), timeout)
	}
}

func (c *Cluster) cleanup() {
	if c.Running() {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		if c.wait(clusterStopTimeout) != nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	if c.t.Failed() {
		c.t.Logf("pgtest: server log of %s:\n%s", c.Addr(), c.logTail())
	}
	_ = os.RemoveAll(c.dir)
}

// command runs name as the cluster's owner.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.owner}
	cmd.WaitDelay = clusterStopTimeout
	return cmd
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.dir, "server.log") }

func (c *Cluster) logSince(off int64) string {
	b, _ := os.ReadFile(c.logPath())
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath())
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// serverBinaries finds the directory holding initdb and postgres.
func serverBinaries() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("KEYLEDGER_PG_BIN"); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("KEYLEDGER_PG_BIN=%s holds no initdb and postgres", dir)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) in KEYLEDGER_PG_BIN, /usr/lib/postgresql/*/bin or PATH; install the postgresql package")
}

// pgMajor is the version in /usr/lib/postgresql/<version>/bin.
func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// clusterOwner is the user the server runs as: nil (the current user)
// unless the test runs as root.
func clusterOwner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the server needs the user postgres to run as: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// clusterDir makes the cluster's directory, owned by owner. It is not under
// t.TempDir: that directory's parent is private to the test's user, which
// the server's user may not be.
func clusterDir(owner *syscall.Credential) (string, error) {
	base := os.TempDir()
	if owner != nil && !traversable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "keyledger-pgcluster-")
	if err != nil {
		return "", err
	}
	if owner != nil {
		if err := os.Chown(dir, int(owner.Uid), int(owner.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// traversable reports whether every directory on the way to dir may be
// searched by any user.
func traversable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childPIDs lists the processes whose parent is pid (Linux /proc).
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procStat(p); ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	ppid, state := procStat(pid)
	return ppid >= 0 && state != 'Z' && state != 'X'
}

// procStat reads a process's parent and state from /proc/pid/stat; ppid is
// -1 when there is no such process.
func procStat(pid int) (ppid int, state byte) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1, 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+4 > len(b) {
		return -1, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0][0]
}
