package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

var cliBinary string

// TestMain builds the real binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyledger-cli")
	if err != nil {
		panic(err)
	}
	cliBinary = filepath.Join(dir, "keyledger")
	if out, err := exec.Command("go", "build", "-o", cliBinary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	if fixtureRoot != "" {
		os.RemoveAll(fixtureRoot)
	}
	os.Exit(code)
}

type note struct{ Text string }

// makeLedger writes n events to a new on-disk ledger and returns its directory and head.
func makeLedger(t *testing.T, n int) (string, ledger.Digest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	reg := ledger.NewRegistry()
	if err := reg.Register("test.note", 1, note{}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg, Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := l.Append(context.Background(), "notes", ledger.ExpectAny, ledger.NewEvent{Data: note{Text: "n" + string(rune('a'+i%26))}}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := l.Head()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, head
}

func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(cliBinary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestVerifyPrintsHeadDigest(t *testing.T) {
	dir, head := makeLedger(t, 5)
	out, errOut, code := cli(t, "verify", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "ok: 5 events") || !strings.Contains(out, head.String()) {
		t.Fatalf("verify output %q lacks the count or head %s", out, head)
	}
	out, errOut, code = cli(t, "verify", "-digest", head.String(), dir)
	if code != 0 || !strings.Contains(out, "still a prefix") {
		t.Fatalf("verify -digest: exit %d, %q %q", code, out, errOut)
	}
	bad := ledger.Digest{Position: head.Position, Hash: [32]byte{1}}
	_, errOut, code = cli(t, "verify", "-digest", bad.String(), dir)
	if code == 0 {
		t.Fatalf("a wrong digest passed: %q", errOut)
	}
}

func TestEventsAsJSONLines(t *testing.T) {
	dir, _ := makeLedger(t, 4)
	out, errOut, code := cli(t, "events", "-from", "2", "-n", "2", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %q", len(lines), out)
	}
	var ev jsonEvent
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Position != 2 || ev.Type != "test.note" || ev.Stream != "notes" {
		t.Fatalf("first line = %+v", ev)
	}
	if d, ok := ev.Data.(map[string]any); !ok || d["Text"] != "nb" {
		t.Fatalf("payload = %#v, want Text nb", ev.Data)
	}
	out, _, _ = cli(t, "events", "-tail", "1", dir)
	if !strings.Contains(out, `"position":4`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("-tail 1 = %q", out)
	}
}

func TestVerifyDoesNotModifyTheDirectory(t *testing.T) {
	dir, _ := makeLedger(t, 3)
	before := snapshot(t, dir)
	if _, e, code := cli(t, "verify", dir); code != 0 {
		t.Fatal(e)
	}
	if _, e, code := cli(t, "events", dir); code != 0 {
		t.Fatal(e)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("read-only commands changed the directory:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot names every file under dir with its size, modification time and
// content hash, so any write shows (LOCK is flock'd by every open, read-only
// too, and not compared).
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %s %x\n", path[len(dir):], info.Size(), info.ModTime().UTC().Format(time.RFC3339Nano), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestClearErrors(t *testing.T) {
	dir, _ := makeLedger(t, 1)
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "usage: keyledger"},
		{"unknown command", []string{"frobnicate", dir}, exitUsage, `unknown command "frobnicate"`},
		{"missing dir argument", []string{"verify"}, exitUsage, "missing ledger directory"},
		{"two dirs", []string{"verify", dir, dir}, exitUsage, "want one directory"},
		{"missing dir", []string{"verify", filepath.Join(empty, "nope")}, exitFailed, "directory does not exist"},
		{"not a ledger", []string{"events", empty}, exitFailed, "not a ledger directory"},
		{"bad digest", []string{"verify", "-digest", "xyz", dir}, exitUsage, `-digest "xyz"`},
		{"bad flag", []string{"events", "-n", "-3", dir}, exitUsage, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := cli(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errOut, tc.want)
			}
		})
	}
}

func TestLockedDirectory(t *testing.T) {
	dir, _ := makeLedger(t, 1)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, errOut, code := cli(t, "verify", dir)
	if code != exitFailed || !strings.Contains(errOut, "locked by another process") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestHelpForEverySubcommand(t *testing.T) {
	out, _, code := cli(t, "-help")
	if code != 0 {
		t.Fatalf("-help exit %d", code)
	}
	for _, c := range subcommands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("top-level help lacks %s", c.name)
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			out, errOut, code := cli(t, args...)
			if code != 0 || !strings.HasPrefix(out, "usage: keyledger "+c.name+" ") || errOut != "" {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
			if !strings.Contains(out, "flags:\n") {
				t.Errorf("%q lists no flags: %q", args, out)
			}
		}
	}
}
