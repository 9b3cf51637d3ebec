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
	"github.com/keyledger/keyledger/projections"
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
	head, err := l.Head(context.Background())
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

// ok runs the CLI and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
	}
	return out, errOut
}

// lines splits output into lines without trailing blanks.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.TrimRight(l, " "))
	}
	return out
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	g := lines(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\ngot\n%s\nwant\n%s", what, strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// With -at, NEXT OPEN of a key open at that instant is the instant itself,
// not "now" (which the table says only of the present).
func TestKeysTableAtAnInstant(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, errOut := ok(t, "keys", "-lock", "front", "-at", "2026-03-03T09:00:00Z", dir)
	if errOut != "" {
		t.Fatalf("stderr %q for current read models", errOut)
	}
	wantLines(t, "keys -lock front", out,
		"KEY         LOCK   KIND   NAME            STATE                 SHARING  STATUS    USES  HOLDER       FROM                  UNTIL                 NEXT OPEN",
		"ann-week    front  share  Ann's week      downloaded            shared   ACTIVE    1/3   ann          2026-03-02T09:00:00Z  2026-03-09T09:00:00Z  2026-03-03T09:00:00Z",
		"bob-later   front  share  Bob next month  sharing               sharing  UPCOMING  0     bob          2026-04-01T09:00:00Z  -                     2026-04-01T09:00:00Z",
		"guest-code  front  share  Guest           deactivation pending  shared   REVOKED   0     guest-phone  -                     -                     -",
	)
	// A week later Ann's key has expired; in Berlin time with -tz.
	out, _ = ok(t, "keys", "-lock", "front", "-at", "2026-03-10T09:00:00Z", "-tz", "Europe/Berlin", dir)
	if l := lines(out)[1]; !strings.HasPrefix(l, "ann-week ") || !strings.Contains(l, " EXPIRED ") || !strings.Contains(l, "2026-03-09T10:00:00+01:00") {
		t.Fatalf("ann-week at t0+8d: %q", l)
	}
	// Before its start Ann's week key is upcoming, and opens at its start.
	// -at moves the schedule's clock only: state and uses are the head's.
	out, _ = ok(t, "keys", "-holder", "ann", "-at", "2026-03-01T00:00:00Z", dir)
	wantLines(t, "keys -holder ann", out,
		"KEY       LOCK    KIND      NAME         STATE       SHARING  STATUS     USES  HOLDER  FROM                  UNTIL                 NEXT OPEN",
		"ann-back  back    share     Ann offline  downloaded  shared   ACTIVE     1     ann     -                     -                     2026-03-01T00:00:00Z",
		"ann-week  front   share     Ann's week   downloaded  shared   UPCOMING   1/3   ann     2026-03-02T09:00:00Z  2026-03-09T09:00:00Z  2026-03-02T09:00:00Z",
		"once      garage  intercom  Parcel       downloaded  shared   EXHAUSTED  1/1   ann     2026-02-23T09:00:00Z  2026-04-01T09:00:00Z  -",
	)
}

// NEXT OPEN says "now" only when the status is the present's (no -at).
func TestNextOpenSaysNowOnlyWithoutAt(t *testing.T) {
	at := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	k := projections.KeyView{Status: projections.KeyStatus{Status: projections.StatusActive, InWindow: true, NextOpen: at}}
	if got := nextOpen(k, true, time.UTC); got != "now" {
		t.Errorf("open now: %q, want now", got)
	}
	if got := nextOpen(k, false, time.UTC); got != "2026-03-03T09:00:00Z" {
		t.Errorf("open at -at: %q, want the instant", got)
	}
}

func TestKeysJSON(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, _ := ok(t, "keys", "-owner", "bill", "-at", "2026-03-03T09:00:00Z", "-json", dir)
	got := map[string]keyLine{}
	for _, l := range lines(out) {
		var k keyLine
		if err := json.Unmarshal([]byte(l), &k); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		got[k.Key] = k
	}
	for key, status := range map[string]string{"ann-week": "ACTIVE", "bob-digital": "ACTIVE", "bob-later": "UPCOMING",
		"guest-code": "REVOKED", "once": "EXHAUSTED", "revoked-one": "REVOKED", "ann-back": "ACTIVE"} {
		if got[key].Status != status {
			t.Errorf("%s: status %q, want %q", key, got[key].Status, status)
		}
	}
	if len(got) != 7 {
		t.Errorf("bill owns %d keys, want 7 (share, intercom and digital)", len(got))
	}
	if ab := got["ann-back"]; ab.Uses != 1 {
		t.Errorf("ann-back counts %d uses, want the offline one", ab.Uses)
	}
	aw := got["ann-week"]
	if aw.Uses != 1 || aw.UseLimit != 3 || aw.Holder != "ann" || aw.State != "downloaded" || aw.Sharing != "shared" ||
		aw.Zone != "Europe/Berlin" || aw.ValidUntil != "2026-03-09T09:00:00Z" || aw.At != "2026-03-03T09:00:00Z" || !aw.InWindow {
		t.Errorf("ann-week = %+v", aw)
	}
	if gc := got["guest-code"]; gc.State != "deactivation pending" || gc.Method != "To Code" || gc.Holder != "guest-phone" {
		t.Errorf("guest-code = %+v", gc)
	}
	if bd := got["bob-digital"]; bd.Kind != "digital" || bd.Recipient != "bob" {
		t.Errorf("bob-digital = %+v", bd)
	}
}

// The account an entry is about is the SUBJECT column: the word of -json
// ("subject"), of the server's JSON and of the quickstart's table.
func TestHistoryTable(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, _ := ok(t, "history", "-key", "ann-week", dir)
	wantLines(t, "history -key ann-week", out,
		"TIME                  WHAT                LOCK   KEY       BY    SUBJECT  OUTCOME",
		"2026-03-02T09:00:00Z  key created         front  ann-week  bill  -        -",
		"2026-03-02T09:00:00Z  key shared          front  ann-week  bill  ann      -",
		"2026-03-02T09:30:00Z  key downloaded      front  ann-week  ann   -        -",
		"2026-03-02T10:00:00Z  unlock (main, app)  front  ann-week  ann   -        granted",
		"2026-03-02T10:00:00Z  unlock (main, app)  front  ann-week  bob   -        denied: not_holder",
		"2026-03-10T09:00:00Z  unlock (main, app)  front  ann-week  ann   -        denied: expired",
	)
	out, _ = ok(t, "history", "-account", "bob", "-tz", "Europe/Berlin", "-n", "2", dir)
	wantLines(t, "history -account bob -n 2", out,
		"TIME                       WHAT                LOCK   KEY        BY    SUBJECT  OUTCOME",
		"2026-03-02T10:00:00+01:00  account registered  -      -          bob   -        -",
		"2026-03-02T10:00:00+01:00  key shared          front  bob-later  bill  bob      -",
	)
	// A device that downloaded To Code has a history without an account.
	out, _ = ok(t, "history", "-account", "guest-phone", dir)
	if l := lines(out); len(l) != 2 || !strings.Contains(l[1], "key downloaded") {
		t.Fatalf("guest-phone history %q", out)
	}
}

// Records the lock made offline come back through IngestAudit and show in
// the lock's and the key's history by the lock's time.
func TestHistoryOfflineRecords(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, _ := ok(t, "history", "-key", "ann-back", dir)
	wantLines(t, "history -key ann-back", out,
		"TIME                  WHAT                          LOCK  KEY       BY    SUBJECT  OUTCOME",
		"2026-03-02T12:00:00Z  key created                   back  ann-back  bill  -        -",
		"2026-03-02T12:00:00Z  key shared                    back  ann-back  bill  ann      -",
		"2026-03-02T12:00:00Z  key downloaded                back  ann-back  ann   -        -",
		"2026-03-02T12:01:00Z  offline unlock (main, lock)   back  ann-back  ann   -        granted",
		"2026-03-02T12:01:00Z  offline unlock (inner, lock)  back  ann-back  ann   -        denied: door_not_permitted",
	)
	byTime, _ := ok(t, "history", "-lock", "back", dir)
	byPos, _ := ok(t, "history", "-lock", "back", "-by-position", dir)
	if len(lines(byTime)) != len(lines(byPos)) || len(lines(byTime)) < 3 {
		t.Fatalf("-by-position gives other entries:\n%s\nvs\n%s", byPos, byTime)
	}
	out, _ = ok(t, "history", "-lock", "back", "-since", "2026-03-02T12:01:00Z", "-json", dir)
	var h historyLine
	if err := json.Unmarshal([]byte(lines(out)[0]), &h); err != nil {
		t.Fatal(err)
	}
	if !h.Offline || h.AuditSeq == 0 || h.Uploaded != "2026-03-02T12:05:00Z" || h.Time != "2026-03-02T12:01:00Z" ||
		h.Granted == nil || !*h.Granted || h.Door != "main" || h.What != "offline unlock (main, lock)" {
		t.Fatalf("offline unlock = %+v", h)
	}
}

func TestHistoryJSONInATimeRange(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, _ := ok(t, "history", "-lock", "garage", "-since", "2026-03-02T10:30:00Z", "-until", "2026-03-03T00:00:00Z", "-json", dir)
	var got []historyLine
	for _, l := range lines(out) {
		var h historyLine
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		got = append(got, h)
	}
	if len(got) != 3 {
		t.Fatalf("want the 3 garage entries of 11:00, got %d: %s", len(got), out)
	}
	g, d, r := got[0], got[1], got[2]
	if g.Type != "key.unlock_attempted" || g.Granted == nil || !*g.Granted || g.Key != "once" || g.By != "ann" || g.Door != "main" || g.Source != "app" || g.Time != "2026-03-02T11:00:00Z" {
		t.Errorf("granted unlock = %+v", g)
	}
	if d.Granted == nil || *d.Granted || d.Reason != "exhausted" || d.What != "unlock (main, app)" {
		t.Errorf("denied unlock = %+v", d)
	}
	if r.Type != "key.revoked" || r.What != "key revoked" || r.Granted != nil || r.Key != "revoked-one" || r.By != "bill" {
		t.Errorf("revocation = %+v", r)
	}
	if !(g.Position < d.Position && d.Position < r.Position) {
		t.Errorf("positions not ascending: %d %d %d", g.Position, d.Position, r.Position)
	}
	// -until is exclusive.
	out, _ = ok(t, "history", "-lock", "garage", "-since", "2026-03-02T10:30:00Z", "-until", "2026-03-02T11:00:00Z", dir)
	if l := lines(out); len(l) != 1 {
		t.Fatalf("[10:30, 11:00) holds nothing, got %q", out)
	}
}

// Read models behind the head, absent, or ignored with -replay give the
// answer of the head, and say how on stderr.
func TestStaleOrMissingReadModelsAnswerAtTheHead(t *testing.T) {
	queries := [][]string{
		{"keys", "-owner", "bill", "-at", "2026-03-03T09:00:00Z"},
		{"keys", "-holder", "bob", "-at", "2026-03-10T09:00:00Z", "-json"},
		{"history", "-lock", "garage"},
		{"history", "-account", "bob", "-json"},
	}
	current := fixture(t, projCurrent)
	for _, q := range queries {
		want, _ := ok(t, append(q, current)...)
		for _, c := range []struct {
			name string
			args []string
			note string
		}{
			{"behind", append(q, fixture(t, projBehind)), "stored read models are at position 45 of 47: applied the last 2 events in memory (nothing written)"},
			{"none", append(q, fixture(t, projNone)), "no stored read models: replayed 47 events in memory (nothing written)"},
			{"replay", append(append([]string{q[0], "-replay"}, q[1:]...), current), "replayed 47 events in memory (-replay; nothing written)"},
		} {
			out, errOut := ok(t, c.args...)
			if out != want {
				t.Errorf("%s %q:\n%s\nwant\n%s", c.name, q, out, want)
			}
			if errOut != "keyledger: note: "+c.note+"\n" {
				t.Errorf("%s %q: stderr %q", c.name, q, errOut)
			}
		}
	}
}

func TestRebuildComparesWithTheStoredReadModels(t *testing.T) {
	out, _ := ok(t, "rebuild", fixture(t, projCurrent))
	if l := lines(out); len(l) != 3 || !strings.HasPrefix(l[0], "replayed 47 events in ") || !strings.HasSuffix(l[0], " (in memory; nothing written)") ||
		l[1] != "stored read models: at position 47 of 47" || !strings.HasPrefix(l[2], "agree: ") {
		t.Fatalf("current: %q", out)
	}
	out, _ = ok(t, "rebuild", fixture(t, projBehind))
	if !strings.Contains(out, "stored read models: at position 45 of 47 (caught up in memory for the comparison)\nagree: ") {
		t.Fatalf("behind: %q", out)
	}
	out, _ = ok(t, "rebuild", fixture(t, projNone))
	if !strings.Contains(out, "stored read models: none") {
		t.Fatalf("none: %q", out)
	}

	// A stored row that no replay would produce is found and named.
	dir := copyFixture(t, projCurrent)
	tamper(t, dir, func(b *ledger.StateBatch) {
		b.Set([]byte("p/lock/front"), []byte{0xa3, 'b', 'a', 'd'}) // msgpack "bad"
		b.Set([]byte("p/zz/extra"), nil)
	})
	out, errOut, code := cli(t, "rebuild", dir)
	if code != exitFailed || !strings.Contains(out, `differ: 2 of `) ||
		!strings.Contains(out, `first: row "p/lock/front": stored "bad", rebuilt {"`) ||
		!strings.Contains(out, `"Name":"Front door"`) {
		t.Fatalf("tampered: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "stored read models differ from a rebuild (2 rows); repair with 'keyledger rebuild -write ") {
		t.Fatalf("tampered: stderr %q", errOut)
	}

	// -write repairs them in place; afterwards they agree.
	out, _ = ok(t, "rebuild", "-write", dir)
	if !strings.HasPrefix(out, "rebuilt the read models in "+dir+": replayed 47 events in ") {
		t.Fatalf("-write: %q", out)
	}
	out, _ = ok(t, "rebuild", dir)
	if !strings.Contains(out, "\nagree: ") {
		t.Fatalf("after -write: %q", out)
	}
	out, _ = ok(t, "keys", "-lock", "front", "-at", "2026-03-03T09:00:00Z", dir)
	want, _ := ok(t, "keys", "-lock", "front", "-at", "2026-03-03T09:00:00Z", fixture(t, projCurrent))
	if out != want {
		t.Fatalf("keys after -write:\n%s\nwant\n%s", out, want)
	}
}

// tamper writes state rows straight into a closed ledger directory.
func tamper(t *testing.T, dir string, f func(*ledger.StateBatch)) {
	t.Helper()
	l, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b ledger.StateBatch
	f(&b)
	if err := l.ApplyState(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyCommandsLeaveTheDirectoryAlone(t *testing.T) {
	for _, mode := range []fixtureMode{projCurrent, projBehind, projNone} {
		dir := fixture(t, mode)
		before := snapshot(t, dir)
		for _, args := range [][]string{
			{"verify"}, {"events"}, {"events", "-tail", "3"},
			{"history", "-lock", "front"}, {"history", "-key", "once", "-json"}, {"history", "-account", "ann", "-replay"},
			{"keys", "-lock", "garage"}, {"keys", "-owner", "bill", "-json"}, {"keys", "-holder", "ann", "-replay"},
			{"rebuild"},
			{"history", "-lock", "nope"}, // errors too
		} {
			cli(t, append(args, dir)...)
		}
		if after := snapshot(t, dir); after != before {
			t.Fatalf("mode %d: read-only commands changed the directory:\nbefore\n%s\nafter\n%s", mode, before, after)
		}
	}
}

func TestInspectionErrors(t *testing.T) {
	dir := fixture(t, projCurrent)
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"history", "-lock", "front", missing}, exitFailed, "no ledger at " + missing + ": directory does not exist"},
		{[]string{"keys", "-lock", "front", missing}, exitFailed, "directory does not exist"},
		{[]string{"rebuild", missing}, exitFailed, "directory does not exist"},
		{[]string{"rebuild", "-write", missing}, exitFailed, "directory does not exist"},
		{[]string{"history", dir}, exitUsage, "name exactly one of -account, -key, -lock (got 0)"},
		{[]string{"history", "-lock", "front", "-key", "once", dir}, exitUsage, "name exactly one of -account, -key, -lock (got 2)"},
		{[]string{"keys", dir}, exitUsage, "name exactly one of -holder, -lock, -owner (got 0)"},
		{[]string{"history", "-lock", "front", "-since", "yesterday", dir}, exitUsage, `-since "yesterday": not an RFC 3339 time`},
		{[]string{"history", "-lock", "front", "-until", "2026-03-02", dir}, exitUsage, `-until "2026-03-02": not an RFC 3339 time`},
		{[]string{"history", "-lock", "front", "-since", "2026-03-03T00:00:00Z", "-until", "2026-03-02T00:00:00Z", dir}, exitUsage, "-since 2026-03-03T00:00:00Z is not before -until 2026-03-02T00:00:00Z"},
		{[]string{"history", "-lock", "front", "-n", "-1", dir}, exitUsage, "-n -1 must not be negative"},
		{[]string{"keys", "-lock", "front", "-at", "noon", dir}, exitUsage, `-at "noon": not an RFC 3339 time`},
		{[]string{"keys", "-lock", "front", "-tz", "Mars/Olympus", dir}, exitUsage, `-tz "Mars/Olympus": not an IANA time zone`},
		{[]string{"keys", "-frob", dir}, exitUsage, "flag provided but not defined: -frob"},
		{[]string{"keys", "-lock", "front", dir, "extra"}, exitUsage, "want one directory"},
		{[]string{"help", "frob"}, exitUsage, `unknown command "frob"`},
		{[]string{"history", "-lock", "nope", dir}, exitFailed, `unknown lock "nope"`},
		{[]string{"history", "-key", "nope", dir}, exitFailed, `unknown key "nope"`},
		{[]string{"history", "-account", "nobody", dir}, exitFailed, `unknown account "nobody": not registered and no history`},
		{[]string{"keys", "-lock", "nope", dir}, exitFailed, `unknown lock "nope"`},
		{[]string{"keys", "-owner", "nobody", dir}, exitFailed, `unknown account "nobody": not registered and no keys`},
		{[]string{"keys", "-holder", "nobody", dir}, exitFailed, `unknown account "nobody"`},
	} {
		_, errOut, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d (want %d), stderr %q (want one line with %q)", tc.args, code, tc.code, errOut, tc.want)
		}
	}
	// A registered account with no keys is not an error.
	if out, _ := ok(t, "keys", "-holder", "bill", dir); len(lines(out)) != 1 {
		t.Errorf("bill holds no keys: %q", out)
	}
}

func TestEveryCommandRefusesALockedDirectory(t *testing.T) {
	dir := copyFixture(t, projCurrent)
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, args := range [][]string{
		{"verify"}, {"events"}, {"history", "-lock", "front"}, {"keys", "-lock", "front"}, {"rebuild"}, {"rebuild", "-write"},
	} {
		_, errOut, code := cli(t, append(args, dir)...)
		if code != exitFailed || !strings.Contains(errOut, "ledger at "+dir+" is locked by another process") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// A stored row that does not decode is an error that says what to do, and
// -replay answers from the log regardless.
func TestDamagedReadModels(t *testing.T) {
	dir := copyFixture(t, projCurrent)
	tamper(t, dir, func(b *ledger.StateBatch) { b.Set([]byte("p/key/ann-week"), []byte{0xc1}) })
	_, errOut, code := cli(t, "keys", "-lock", "front", "-at", "2026-03-03T09:00:00Z", dir)
	if code != exitFailed || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `"p/key/ann-week"`) ||
		!strings.Contains(errOut, "-replay answers from the log") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	out, _ := ok(t, "keys", "-replay", "-lock", "front", "-at", "2026-03-03T09:00:00Z", dir)
	want, _ := ok(t, "keys", "-lock", "front", "-at", "2026-03-03T09:00:00Z", fixture(t, projCurrent))
	if out != want {
		t.Fatalf("-replay:\n%s\nwant\n%s", out, want)
	}
}
