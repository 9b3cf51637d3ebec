package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/keyledger/keyledger/internal/logtest"
)

// findOne returns the only record at level whose message contains msg.
func findOne(t *testing.T, c *logtest.Capture, level slog.Level, msg string) logtest.Record {
	t.Helper()
	rs, err := c.Find(level, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		all, _ := c.Records()
		t.Fatalf("%d %v records with %q, want 1; all: %+v", len(rs), level, msg, all)
	}
	return rs[0]
}

// A failed WAL sync fail-stops the ledger: logged once at Error with the
// cause and the durable position, however many writes are refused after it.
func TestLogFailStop(t *testing.T) {
	log, c := logtest.New()
	fault := &pathFault{paths: []string{".log"}, kinds: faultSyncs}
	l, err := Open("db", &Options{FS: errorfs.Wrap(vfs.NewMem(), fault), Registry: testRegistry(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range uint64(3) {
		if _, err := l.Append(bg, "s", ExpectVersion(i), tev(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if rs, _ := c.AtLeast(slog.LevelInfo); len(rs) != 0 {
		t.Fatalf("a healthy ledger logged %+v", rs)
	}
	fault.on.Store(true)
	for i := range 2 {
		if _, err := l.Append(bg, "s", ExpectVersion(3), tev(4)); !errors.Is(err, ErrFailed) {
			t.Fatalf("append %d under a WAL sync fault: %v, want ErrFailed", i, err)
		}
	}
	r := findOne(t, c, slog.LevelError, "failed after a storage error")
	if e := r.String("err"); !strings.Contains(e, "sync") || !strings.Contains(e, ".log") || !strings.Contains(e, errorfs.ErrInjected.Error()) {
		t.Fatalf("err attribute %q does not name the failed sync of the WAL", e)
	}
	if p := r.String("durable_position"); p != "3" {
		t.Fatalf("durable_position %q, want 3", p)
	}
	if st := l.Stats(); !st.Failed || st.Failures != 2 || st.Appends != 3 {
		t.Fatalf("stats after the failure: %+v", st)
	}
}

// A failed sstable write is a Pebble background error (Pebble retries the
// flush): logged at Error, and at most once per logEvery however often
// Pebble reports it.
func TestLogBackgroundError(t *testing.T) {
	log, c := logtest.New()
	fault := &pathFault{paths: []string{".sst"}, kinds: faultWrites}
	l, err := Open("db", &Options{FS: errorfs.Wrap(vfs.NewMem(), fault), Registry: testRegistry(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 20)
	fault.on.Store(true)
	if err := l.CompactState(bg, nil); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("CompactState with failing table writes: %v", err)
	}
	// Let Pebble retry the flush a few more times.
	for deadline := time.Now().Add(10 * time.Second); l.Stats().BackgroundErrors < 3; runtimeYield() {
		if time.Now().After(deadline) {
			t.Fatalf("Pebble reported %d background errors in 10 s, want a retried flush", l.Stats().BackgroundErrors)
		}
	}
	fault.on.Store(false)
	r := findOne(t, c, slog.LevelError, "pebble background error")
	if !strings.Contains(r.String("err"), errorfs.ErrInjected.Error()) || r.String("background_errors") != "1" {
		t.Fatalf("background error logged as %+v", r)
	}
	if err := l.Close(); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("Close: %v, want the background error", err)
	}
}

// Verify names tampering at Warn with the position and reason, and so does
// CheckDigest; a healthy Verify logs nothing.
func TestLogVerifyDamage(t *testing.T) {
	log, c := logtest.New()
	l, err := Open("", &Options{InMemory: true, Registry: testRegistry(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fill(t, l, 30)
	before, err := l.Verify(bg)
	if err != nil {
		t.Fatal(err)
	}
	if rs, _ := c.AtLeast(slog.LevelInfo); len(rs) != 0 {
		t.Fatalf("a healthy Verify logged %+v", rs)
	}
	v := rawRecord(t, l, 12)
	v[bytes.Index(v, []byte("MARKER"))] ^= 1
	_ = l.db.Set(logKey(12), v, pebble.Sync)
	if _, err := l.Verify(bg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify: %v", err)
	}
	if err := l.CheckDigest(bg, before); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CheckDigest: %v", err)
	}
	rs, err := c.Find(slog.LevelWarn, "damage found")
	if err != nil || len(rs) != 2 {
		t.Fatalf("damage lines %+v %v, want one for Verify and one for CheckDigest", rs, err)
	}
	for i, op := range []string{"verify", "check_digest"} {
		r := rs[i]
		if r.String("op") != op || r.String("position") != "12" || r.String("reason") != "hash chain broken" {
			t.Fatalf("%s logged %+v", op, r)
		}
	}
}

// Damage Pebble finds in a table (a block checksum) is logged at Error with
// the file, and Verify's report of it at Warn.
func TestLogPebbleCorruption(t *testing.T) {
	fs, reg, l := flushedLedger(t, 200)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.List("db")
	for _, name := range names {
		if !strings.HasSuffix(name, ".sst") {
			continue
		}
		path := fs.PathJoin("db", name)
		f, _ := fs.Open(path)
		data, _ := io.ReadAll(f)
		_ = f.Close()
		h := sha256.Sum256([]byte{150, 0})
		if i := bytes.Index(data, fmt.Appendf(nil, "%x", h[:16])); i >= 0 {
			data[i+3] ^= 0x01
			w, _ := fs.Create(path, vfs.WriteCategoryUnspecified)
			_, _ = w.Write(data)
			_ = w.Close()
		}
	}
	log, c := logtest.New()
	l, err := Open("db", &Options{FS: fs, Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Verify(bg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of a damaged table: %v", err)
	}
	r := findOne(t, c, slog.LevelError, "pebble found damaged data")
	if !strings.HasSuffix(r.String("file"), ".sst") || r.String("err") == "" {
		t.Fatalf("corruption logged as %+v", r)
	}
	r = findOne(t, c, slog.LevelWarn, "damage found")
	if r.String("op") != "verify" || r.String("position") == "0" || r.String("position") == "" {
		t.Fatalf("Verify's damage logged as %+v", r)
	}
}

// Damaged stored heads found by Open are logged at Error: every append
// fails until the store is repaired.
func TestLogOpenHeadsDamaged(t *testing.T) {
	fs, reg, l := reopenedLedger(t)
	_ = l.db.Set(headsKey, []byte{1, 2, 3}, pebble.Sync)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	log, c := logtest.New()
	l, err := Open("db", &Options{FS: fs, Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := findOne(t, c, slog.LevelError, "stored stream heads are damaged")
	if !strings.Contains(r.String("reason"), "heads checkpoint") {
		t.Fatalf("logged %+v", r)
	}
}
