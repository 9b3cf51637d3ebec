package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// keygen makes a log key in a temporary directory and returns its file and
// public key.
func keygen(t *testing.T) (file, pub string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "log.key")
	out, _ := ok(t, "evidence", "keygen", file)
	if _, _, code := cli(t, "evidence", "keygen", file); code != exitFailed {
		t.Errorf("keygen over an existing key file: exit %d, want %d", code, exitFailed)
	}
	return file, strings.TrimSpace(out)
}

func TestEvidenceExportAndVerify(t *testing.T) {
	dir := fixture(t, projCurrent)
	before := snapshot(t, dir)
	key, pub := keygen(t)
	bundle := filepath.Join(t.TempDir(), "b.json")
	// 45 counts offline unlocks up to the lock's audit record 2 (position 42).
	ok(t, "evidence", "export", "-key", key, "-positions", "45,3", "-o", bundle, dir)
	if after := snapshot(t, dir); after != before {
		t.Fatal("export without -write changed the ledger directory")
	}
	out, _ := ok(t, "evidence", "verify", "-key", pub, bundle)
	wantLines(t, "verify", out,
		"ok: 3 events included in the log of size 47, root "+field(t, bundle, "root")+", signed "+field(t, bundle, "time"),
		"3 2026-03-02T09:00:00Z account-bob v1 account.registered",
		"42 2026-03-02T12:05:00Z lockaudit-back v2 lock.audit_recorded",
		"45 2026-03-02T12:05:00Z key-ann-back v7 key.offline_unlocks_counted (confirmed by [42])")

	// A changed payload digest, and another key.
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	tampered := strings.Replace(string(data), `"type": "account.registered"`, `"type": "account.deleted"`, 1)
	if err := os.WriteFile(bad, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	notAudit := filepath.Join(t.TempDir(), "confirmed.json")
	if err := os.WriteFile(notAudit, []byte(strings.Replace(string(data), `"confirmed_by": [
    42
   ]`, `"confirmed_by": [
    3
   ]`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	otherData := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(otherData, []byte(strings.Replace(string(data), `"Granted": 1`, `"Granted": 2`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, other := keygen(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-key", pub, bad}, "event at position 3: summary"},
		{[]string{"-key", pub, notAudit}, `event at position 45: confirmed by position 3, a "account.registered" event`},
		{[]string{"-key", other, bundle}, "evidence: wrong or missing log key"},
		{[]string{"-key", pub, otherData}, "data does not render the record's payload: event at position 45"},
	} {
		_, errOut, code := cli(t, append([]string{"evidence", "verify"}, c.args...)...)
		if code != exitFailed || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("verify %q: exit %d, stderr %q, want one line with %q", c.args, code, errOut, c.want)
		}
	}
}

// field returns a head field of a bundle file as the CLI prints it.
func field(t *testing.T, file, name string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var b struct{ Head map[string]any }
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	v := b.Head[name].(string)
	if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return ts.UTC().Format(time.RFC3339) // as verify prints it
	}
	return v
}

// A second bundle proves its head extends the first's; -write stores the
// tree so the second export reads it back.
func TestEvidenceTrustedHead(t *testing.T) {
	dir, _ := makeLedger(t, 10)
	key, pub := keygen(t)
	tmp := t.TempDir()
	first, second := filepath.Join(tmp, "1.json"), filepath.Join(tmp, "2.json")
	ok(t, "evidence", "export", "-key", key, "-stream", "notes", "-write", "-o", first, dir)

	reg := ledger.NewRegistry()
	if err := reg.Register("test.note", 1, note{}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := l.Checkpoint(context.Background(), "tree"); err != nil || cp != 10 {
		t.Fatalf("tree checkpoint after export -write: %d, %v", cp, err)
	}
	for range 5 {
		if _, err := l.Append(context.Background(), "more", ledger.ExpectAny, ledger.NewEvent{Data: note{Text: "later"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ok(t, "evidence", "export", "-key", key, "-positions", "12", "-trusted", first, "-o", second, dir)
	out, _ := ok(t, "evidence", "verify", "-key", pub, "-trusted", first, second)
	if !strings.Contains(out, "the head extends the trusted head of size 10\n") {
		t.Errorf("verify -trusted: %q", out)
	}
	_, errOut, code := cli(t, "evidence", "verify", "-key", pub, "-trusted", second, first)
	if code != exitFailed || !strings.Contains(errOut, "trusted head of size 15 is newer than the bundle's head of size 10") {
		t.Errorf("an older bundle against a newer trusted head: exit %d, %q", code, errOut)
	}
}

func TestEvidenceUsageErrors(t *testing.T) {
	dir := fixture(t, projCurrent)
	key, _ := keygen(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"evidence"}, exitUsage, "name a subcommand: keygen, export or verify"},
		{[]string{"evidence", "frob"}, exitUsage, `unknown subcommand "frob"`},
		{[]string{"evidence", "export", "-positions", "1", dir}, exitUsage, "-key is required"},
		{[]string{"evidence", "export", "-key", key, dir}, exitUsage, "name exactly one of -positions, -stream, -since, -lock, -account (got 0)"},
		{[]string{"evidence", "export", "-key", key, "-lock", "front", "-since", "2026-03-02T00:00:00Z", dir}, exitUsage, "-since and -until go with -account"},
		{[]string{"evidence", "export", "-key", key, "-account", "ann", dir}, exitUsage, "-account needs -since"},
		{[]string{"evidence", "export", "-key", key, "-at", "2026-03-02T00:00:00Z", "-positions", "1", dir}, exitUsage, "-door and -at go with -lock"},
		{[]string{"evidence", "export", "-key", key, "-lock", "front", "-account", "ann", "-since", "2026-03-02T00:00:00Z", dir}, exitUsage, "name exactly one of"},
		{[]string{"evidence", "export", "-key", key, "-lock", "nope", dir}, exitFailed, `unknown lock "nope"`},
		{[]string{"evidence", "export", "-key", key, "-account", "ann", "-since", "2026-01-01T00:00:00Z", "-until", "2026-01-02T00:00:00Z", dir}, exitFailed, "the answer cites no event"},
		{[]string{"evidence", "export", "-key", key, "-positions", "1,x", dir}, exitUsage, `-positions: "x" is not a log position`},
		{[]string{"evidence", "export", "-key", key, "-until", "2026-03-02T00:00:00Z", "-positions", "1", dir}, exitUsage, "-until needs -since"},
		{[]string{"evidence", "export", "-key", key, "-positions", "48", dir}, exitFailed, "position 48: not in the exported tree of size 47"},
		{[]string{"evidence", "export", "-key", key, "-stream", "nope", dir}, exitFailed, "no event matches"},
		{[]string{"evidence", "verify", "-key", "abc", "x.json"}, exitUsage, "want the log's Ed25519 public key as 64 hex digits"},
		{[]string{"evidence", "verify", "x.json"}, exitUsage, "want the log's Ed25519 public key"},
	} {
		_, errOut, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d (want %d), stderr %q (want one line with %q)", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}

// A time range and a stream select the events they name.
func TestEvidenceSelections(t *testing.T) {
	dir := fixture(t, projCurrent)
	key, pub := keygen(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-since", "2026-03-02T12:05:00Z", "-until", "2026-03-02T12:06:00Z"}, "ok: 5 events"},
		{[]string{"-since", "2026-03-02T12:05:00Z"}, "ok: 7 events"},
		{[]string{"-stream", "lockaudit-back"}, "ok: 3 events"},
	} {
		bundle := filepath.Join(t.TempDir(), "b.json")
		ok(t, append(append([]string{"evidence", "export", "-key", key, "-o", bundle}, c.args...), dir)...)
		if out, _ := ok(t, "evidence", "verify", "-key", pub, bundle); !strings.HasPrefix(out, c.want) {
			t.Errorf("export %q: verify says %q, want %q", c.args, out, c.want)
		}
	}
}

// Export without -write keeps the tree in memory; the tree writes its nodes
// in batches of 4096 events, reusing the batch's buffer, so a log longer
// than one batch checks that the nodes kept are copies.
func TestEvidenceExportOfALongLogInMemory(t *testing.T) {
	dir := t.TempDir()
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(dir, &ledger.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 9000
	for i := 0; i < n; i += 500 {
		evs := make([]ledger.NewEvent, 500)
		for j := range evs {
			evs[j].Data = events.AccountRegistered{Account: fmt.Sprintf("a%d", i+j), Name: "n"}
		}
		if _, err := l.Append(ctx, fmt.Sprintf("s%d", i), ledger.ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	key, pub := keygen(t)
	bundle := filepath.Join(t.TempDir(), "b.json")
	ok(t, "evidence", "export", "-key", key, "-positions", "1,4096,4097,8191,9000", "-o", bundle, dir)
	out, _ := ok(t, "evidence", "verify", "-key", pub, bundle)
	if !strings.HasPrefix(out, "ok: 5 events included in the log of size 9000") {
		t.Fatalf("verify: %s", out)
	}
}

// An as-of answer exported as evidence: the bundle holds every event the
// answer cites and the question and answer signed with the head; a
// verifier offline accepts it and refuses it with the answer, the
// question or a citation altered.
func TestEvidenceOfAnAnswer(t *testing.T) {
	dir := fixture(t, projCurrent)
	before := snapshot(t, dir)
	key, pub := keygen(t)
	bundle := filepath.Join(t.TempDir(), "who.json")
	ok(t, "evidence", "export", "-key", key, "-lock", "front", "-at", "2026-03-02T12:00:00Z", "-o", bundle, dir)
	if after := snapshot(t, dir); after != before {
		t.Fatal("export of an answer changed the ledger directory")
	}
	access, _ := ok(t, "access", "-lock", "front", "-at", "2026-03-02T12:00:00Z", dir)
	out, _ := ok(t, "evidence", "verify", "-key", pub, bundle)
	want := []string{
		"ok: 7 events included in the log of size 47, root " + field(t, bundle, "root") + ", signed " + field(t, bundle, "time"),
		"question (signed with the head, citing 4,6,10,25,26,29,33): who could open the main door of lock front at 2026-03-02T12:00:00Z",
	}
	for _, l := range lines(access) {
		want = append(want, "  "+strings.TrimRight(l, " "))
	}
	got := lines(out)
	if len(got) != len(want)+7 || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("verify printed\n%s\nwant it to start with\n%s\nthen 7 events", out, strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(got[len(want)], "4 2026-03-02T09:00:00Z lock-front v1 ") {
		t.Errorf("first event line %q", got[len(want)])
	}
	var b struct{ Version int }
	data, err := os.ReadFile(bundle)
	if err != nil || json.Unmarshal(data, &b) != nil || b.Version != 2 {
		t.Fatalf("bundle version %d (%v), want 2: a question is version 2", b.Version, err)
	}

	tamper := func(old, new string) string {
		t.Helper()
		if !strings.Contains(string(data), old) {
			t.Fatalf("bundle lacks %q", old)
		}
		f := filepath.Join(t.TempDir(), "tampered.json")
		if err := os.WriteFile(f, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		name, file, want string
	}{
		{"an answer line", tamper(`"ann          ann-week`, `"bob          ann-week`), "question's signature does not verify"},
		{"the question", tamper(`lock front at`, `lock back at`), "question's signature does not verify"},
		{"a citation dropped", tamper("\n   10,\n", "\n"), "question's signature does not verify"},
		{"a citation outside the bundle", tamper("\n   10,\n", "\n   11,\n"), "the question cites position 11, which is not an event of the bundle"},
		{"the version", tamper(`"version": 2`, `"version": 1`), "a question in a version 1 bundle"},
		{"an event", tamper(`"stream": "lock-front"`, `"stream": "lock-back"`), "event at position 4: summary"},
	} {
		_, errOut, code := cli(t, "evidence", "verify", "-key", pub, c.file)
		if code != exitFailed || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s altered: exit %d, stderr %q, want one line with %q", c.name, code, errOut, c.want)
		}
	}

	// Every door Ann could open over ten days.
	acct := filepath.Join(t.TempDir(), "ann.json")
	ok(t, "evidence", "export", "-key", key, "-account", "ann", "-since", "2026-03-02T00:00:00Z", "-until", "2026-03-12T00:00:00Z", "-o", acct, dir)
	out, _ = ok(t, "evidence", "verify", "-key", pub, acct)
	if !strings.Contains(out, "question (signed with the head, citing 4,5,6,18,25,27,29,34,35,39): which doors could account ann open from 2026-03-02T00:00:00Z until 2026-03-12T00:00:00Z\n") ||
		!strings.Contains(out, "\n  garage  main  once      2026-03-02T09:30:00Z  2026-03-02T11:00:00Z  -        5,18,27\n") {
		t.Errorf("verify of ann's doors:\n%s", out)
	}
}
