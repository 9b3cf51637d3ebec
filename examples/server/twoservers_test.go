package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyledger/keyledger/internal/pgtest"
)

// childVar makes the test binary a server process (TestServerProcess).
const childVar = "KEYLEDGER_SERVER_CHILD_DSN"

// TestServerProcess is the body of a server process that
// TestTwoServerProcessesOneDatabase starts: main's serve on the database
// the parent names, until SIGTERM.
func TestServerProcess(t *testing.T) {
	dsn := os.Getenv(childVar)
	if dsn == "" {
		t.Skip("runs only as a child of TestTwoServerProcessesOneDatabase")
	}
	ctx, stop := signalContext()
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := serve(ctx, log, ln, storage{dsn: dsn}); err != nil {
		t.Fatal(err)
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// proc is a server process the test started.
type proc struct {
	cmd  *exec.Cmd
	base string
}

func startServer(t *testing.T, dsn, root string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), childVar+"="+dsn, "KEYLEDGER_ROOT="+root)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &proc{cmd: cmd}
	t.Cleanup(func() { s.stop(t) })
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("the server process did not start listening within 60 s")
	}
	return s
}

// stop ends the process as Ctrl-C would and waits for it.
func (s *proc) stop(t *testing.T) {
	if s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server process: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		t.Error("server process did not stop within 30 s of SIGTERM")
	}
}

// call sends one request and returns status and body.
func (s *proc) call(t *testing.T, method, path, account, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if account != "" {
		req.Header.Set(headerAccount, account)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (s *proc) must(t *testing.T, status int, method, path, account, body string) string {
	t.Helper()
	got, b := s.call(t, method, path, account, body)
	if got != status {
		t.Fatalf("%s %s%s: status %d, want %d\n%s", method, s.base, path, got, status, b)
	}
	return b
}

// Two server processes on one PostgreSQL database serve one lock's keys:
// what a client writes through one it reads at once through the other,
// whichever of them applies the read models, and when that one stops the
// other goes on alone.
func TestTwoServerProcessesOneDatabase(t *testing.T) {
	dsn := pgtest.Database(t)
	root := "two servers share this root secret, 32+ bytes"
	a, b := startServer(t, dsn, root), startServer(t, dsn, root)

	a.must(t, 201, "POST", "/v1/accounts", "", `{"account":"bill","name":"Bill","email":"bill@example.com"}`)
	b.must(t, 201, "POST", "/v1/accounts", "", `{"account":"ann","name":"Ann","email":"ann@example.com"}`)
	b.must(t, 201, "POST", "/v1/locks", "bill", `{"lock":"front","name":"Front door","zone":"Europe/Berlin","slots":8}`)
	for i, s := range []*proc{a, b, a, b, a, b} {
		other := []*proc{b, a}[i%2]
		key := fmt.Sprintf("k%d", i)
		s.must(t, 201, "POST", "/v1/locks/front/keys", "bill",
			fmt.Sprintf(`{"key":%q,"kind":"share","name":"Key %d","policy":{"uses":3}}`, key, i))
		// Read-your-writes across processes: the other server has it.
		if got := other.must(t, 200, "GET", "/v1/keys/"+key, "bill", ""); !strings.Contains(got, key) {
			t.Fatalf("key %s written through %s is not shown by %s: %s", key, s.base, other.base, got)
		}
	}
	// An edit through one conflicts with nothing and shows through the other.
	a.must(t, 200, "PUT", "/v1/keys/k1/settings", "bill", `{"name":"Renamed"}`)
	if got := b.must(t, 200, "GET", "/v1/keys/k1", "bill", ""); !strings.Contains(got, "Renamed") {
		t.Fatalf("an edit through one server is not shown by the other: %s", got)
	}
	list := a.must(t, 200, "GET", "/v1/locks/front/keys", "bill", "")
	for i := range 6 {
		if !strings.Contains(list, fmt.Sprintf(`"k%d"`, i)) {
			t.Fatalf("key list through one server lacks k%d: %s", i, list)
		}
	}

	// Every event is applied once: no history entry twice.
	hist := a.must(t, 200, "GET", "/v1/locks/front/history?limit=1000&order=position", "bill", "")
	var page struct {
		Entries []struct {
			Position uint64 `json:"position"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(hist), &page); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, e := range page.Entries {
		if seen[e.Position] {
			t.Fatalf("the lock's history shows the event at position %d twice: both servers applied it\n%s", e.Position, hist)
		}
		seen[e.Position] = true
	}
	if len(seen) < 8 {
		t.Fatalf("the lock's history has %d entries, want the lock and its keys: %s", len(seen), hist)
	}

	// One server stops; the other writes and reads on its own.
	a.stop(t)
	b.must(t, 201, "POST", "/v1/locks/front/keys", "bill", `{"key":"late","kind":"share","name":"Late","policy":{"uses":1}}`)
	if got := b.must(t, 200, "GET", "/v1/locks/front/keys", "bill", ""); !strings.Contains(got, `"late"`) {
		t.Fatalf("after the other server stopped, a new key is not listed: %s", got)
	}
}
