package projections_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
)

var bg = context.Background()

type env struct {
	t     testing.TB
	l     ledger.Backend
	svc   *commands.Service
	proj  *projections.Projections
	clock *keyledgertest.Clock
	n     uint64
}

// newEnv is a stack whose read models apply small batches (7 events), so
// tests cross batch boundaries.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvBatch(t, 7)
}

// newEnvBatch is newEnv with batches of size events.
func newEnvBatch(t testing.TB, size int) *env {
	t.Helper()
	st := keyledgertest.New(t, func(o *keyledger.Options) { o.BatchSize = size })
	st.Clock.Set(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	return &env{t: t, l: st.Ledger, svc: st.Commands, proj: st.Projections, clock: st.Clock}
}

func (e *env) id() uuid.UUID {
	e.n++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], e.n)
	u[0] = 0xd0
	return u
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setup() {
	for _, a := range []string{"bill", "ann", "bob"} {
		e.must(e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	e.must(e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "front", Owner: "bill", Name: "Front", Zone: "Europe/Berlin", Slots: 4}))
	e.must(e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "garage", Owner: "bill", Name: "Garage", Zone: "UTC", Slots: 1}))
}

// dump returns every row of the read models.
func dump(t testing.TB, l ledger.StateStore) map[string]string {
	t.Helper()
	out := map[string]string{}
	for e, err := range projections.Dump(bg, l) {
		if err != nil {
			t.Fatal(err)
		}
		out[string(e.Key)] = string(e.Value)
	}
	return out
}

func TestListsAndRebuild(t *testing.T) {
	e := newEnv(t)
	e.setup()
	mk := func(key, lock string) {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: lock, By: "bill", Kind: events.KindShare, Settings: events.Settings{Name: key}})
		e.must(err)
	}
	mk("f1", "front")
	mk("f2", "front")
	mk("g1", "garage")
	_, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "f1", By: "bill", Method: events.ShareToID, Account: "ann"})
	e.must(err)
	_, err = e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "f1", By: "ann"})
	e.must(err)
	_, err = e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "g1", By: "bill", Method: events.ShareToID, Account: "ann"})
	e.must(err)

	front, err := e.proj.KeyList(bg, "front", e.clock.Now())
	e.must(err)
	if len(front) != 2 || front[0].Key != "f1" || front[0].Status.Sharing != events.Shared || front[1].Status.Sharing != events.NotShared {
		t.Fatalf("front key list %+v", front)
	}
	all, err := e.proj.ShareKeyList(bg, "bill", e.clock.Now())
	e.must(err)
	if len(all) != 3 {
		t.Fatalf("share key list across locks: %d keys", len(all))
	}
	mine, err := e.proj.HolderKeys(bg, "ann", e.clock.Now())
	e.must(err)
	if len(mine) != 2 || mine[0].Key != "f1" || mine[1].Key != "g1" || mine[1].Status.Sharing != events.InSharing {
		t.Fatalf("ann's keys %+v", mine)
	}
	if r, _ := e.proj.Key(bg, "f1"); r.LockName != "Front" || r.Holder != "ann" || !r.Downloaded {
		t.Fatalf("row %+v", r)
	}

	before := dump(t, e.l)
	if err := e.proj.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	after := dump(t, e.l)
	if len(before) != len(after) {
		t.Fatalf("rebuild has %d rows, incremental %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %q differs after rebuild", k)
		}
	}
	// Commands keep working after a rebuild (read-your-writes).
	e.must(e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "g1", By: "bill"}))
	if st, _ := e.proj.KeyStatus(bg, "g1", e.clock.Now()); st.Status != projections.StatusRevoked {
		t.Fatalf("status after revoke %+v", st)
	}
}

func TestHistoryPagination(t *testing.T) {
	e := annIntercom(t)
	var err error
	start := e.clock.Now()
	for i := range 25 { // one unlock every 6 hours over about a week
		e.clock.Set(start.Add(time.Duration(i) * 6 * time.Hour))
		door := access.MainDoor
		if i%5 == 4 {
			door = access.InnerDoor // not permitted: denied, still history
		}
		_, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann", Door: door, Source: "intercom"})
		e.must(err)
	}
	from, to := start.Add(24*time.Hour), start.Add(5*24*time.Hour) // unlocks 4..19
	var got []projections.HistoryEntry
	q := projections.HistoryQuery{Key: "i1", From: from, To: to, Limit: 6}
	pages := 0
	for {
		p, err := e.proj.History(bg, q)
		e.must(err)
		pages++
		got = append(got, p.Entries...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(got) != 16 || pages != 3 {
		t.Fatalf("%d entries in %d pages, want 16 in 3", len(got), pages)
	}
	for i, h := range got {
		if !h.Time.Equal(start.Add(time.Duration(i+4) * 6 * time.Hour)) {
			t.Fatalf("entry %d at %v", i, h.Time)
		}
		if h.Type != "key.unlock_attempted" || h.Account != "ann" || h.Source != "intercom" {
			t.Fatalf("entry %+v", h)
		}
		if wantDenied := (i+4)%5 == 4; h.Granted == wantDenied || (wantDenied && h.Reason != access.WrongDoor) {
			t.Fatalf("entry %d granted=%v reason=%q", i, h.Granted, h.Reason)
		}
	}
	// The lock's and the account's histories hold the same attempts, plus
	// their other actions; an open range gives all of them.
	lp, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front", Limit: 1000})
	e.must(err)
	if len(lp.Entries) != 1+3+25 { // lock registered, key created+shared+downloaded, 25 unlocks
		t.Fatalf("lock history has %d entries", len(lp.Entries))
	}
	ap, err := e.proj.History(bg, projections.HistoryQuery{Account: "ann", From: start, Limit: 1000})
	e.must(err)
	if len(ap.Entries) != 3+25 { // registered, shared with her, downloaded; 25 unlocks
		t.Fatalf("account history has %d entries", len(ap.Entries))
	}
	if _, err := e.proj.History(bg, projections.HistoryQuery{Key: "i1", Lock: "front"}); err == nil {
		t.Fatal("two subjects accepted")
	}
	if _, err := e.proj.History(bg, projections.HistoryQuery{Key: "i1", Cursor: "zz"}); err == nil {
		t.Fatal("bad cursor accepted")
	}
}

// Projections stopped while commands go on catch up from their checkpoint
// when reopened, and end equal to a rebuild.
func TestCatchUpAfterRestart(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom})
	e.must(err)
	e.must(e.proj.Close())
	// Commands without read models meanwhile (another process, or a crash
	// before the projections applied them).
	bare, err := commands.New(e.l, &commands.Options{Clock: e.clock.Now})
	e.must(err)
	_, err = bare.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"})
	e.must(err)
	_, err = bare.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"})
	e.must(err)
	for range 10 {
		_, err = bare.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"})
		e.must(err)
	}
	cp, err := e.l.Checkpoint(bg, projections.DefaultName)
	e.must(err)
	if cp >= e.l.DurablePosition() {
		t.Fatalf("checkpoint %d already at the head %d", cp, e.l.DurablePosition())
	}
	p2, err := projections.Open(e.l, nil)
	e.must(err)
	defer p2.Close()
	e.must(p2.WaitApplied(bg, e.l.DurablePosition()))
	r, err := p2.Key(bg, "i1")
	if err != nil || r.Uses != 10 || r.Holder != "ann" {
		t.Fatalf("caught-up row %+v %v", r, err)
	}
	before := dump(t, e.l)
	e.must(p2.Rebuild(bg))
	after := dump(t, e.l)
	if len(before) != len(after) {
		t.Fatalf("rebuild: %d rows, caught up %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %q differs", k)
		}
	}
}

// syncCounter counts the state batches applied and those that ask for a
// WAL sync (not marked ledger.StateBatch.SetNoSync).
type syncCounter struct {
	ledger.Backend
	batches, syncs atomic.Int64
}

func (s *syncCounter) ApplyState(ctx context.Context, b *ledger.StateBatch) error {
	s.batches.Add(1)
	if !b.NoSync() {
		s.syncs.Add(1)
	}
	return s.Backend.ApplyState(ctx, b)
}

// unlocks appends n granted unlocks of i1 (a multiple of 100), 100 per
// append.
func (e *env) unlocks(n int) {
	e.t.Helper()
	for i := range n / 100 {
		evs := make([]ledger.NewEvent, 100)
		for j := range evs {
			evs[j] = ledger.NewEvent{Data: events.UnlockAttempted{Key: "i1", Lock: "front", By: "ann", Door: access.Main,
				Source: "app", Granted: true, Uses: uint32(i*100 + j + 1)}}
		}
		_, err := e.l.Append(bg, "key-i1", ledger.ExpectAny, evs...)
		e.must(err)
	}
}

// A rebuild asks for a WAL sync only when it clears the read models and
// when it reaches the head of the log: the sync of the last batch covers
// the batches before it.
func TestRebuildSyncsOnce(t *testing.T) {
	e := annIntercom(t)
	e.unlocks(600) // more events than the reader hands over at once
	s := &syncCounter{Backend: e.l}
	p, err := projections.Open(s, &projections.Options{Name: "sync-count", BatchSize: 7})
	e.must(err)
	defer p.Close()
	e.must(p.WaitApplied(bg, e.l.DurablePosition()))
	batches, syncs := s.batches.Load(), s.syncs.Load()
	e.must(p.Rebuild(bg))
	batches, syncs = s.batches.Load()-batches, s.syncs.Load()-syncs
	if batches < 4 || syncs != 2 {
		t.Fatalf("a rebuild applied %d state batches, %d of them asking for a sync; want 2 (the clearing, the last)", batches, syncs)
	}
}

// A rebuild while commands run: commands keep returning (their waits end
// once the replay reaches them) and the result equals a quiet rebuild.
func TestRebuildDuringCommands(t *testing.T) {
	e := annIntercom(t)
	ids := make([]uuid.UUID, 40)
	for i := range ids {
		ids[i] = e.id()
	}
	done := make(chan error, 1)
	go func() {
		for _, id := range ids {
			if _, err := e.svc.Unlock(bg, commands.Unlock{ID: id, Key: "i1", By: "ann"}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 3 {
		e.must(e.proj.Rebuild(bg))
	}
	e.must(<-done)
	if r, _ := e.proj.Key(bg, "i1"); r.Uses != 40 {
		t.Fatalf("uses %d after rebuilds during unlocks", r.Uses)
	}
	before := dump(t, e.l)
	e.must(e.proj.Rebuild(bg))
	after := dump(t, e.l)
	if len(before) != len(after) {
		t.Fatalf("rows %d vs %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %q differs", k)
		}
	}
}

// Damaged rows are reported as ErrCorrupt, never a panic, and a rebuild
// repairs them.
func TestCorruptRows(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindShare})
	e.must(err)
	var sb ledger.StateBatch
	sb.Set([]byte("p/st/i1"), []byte{1, 2})
	sb.Set([]byte("p/key/i1"), []byte{0xc1})
	sb.Set([]byte("p/h/l/front/x"), []byte{1})
	sb.Set([]byte("p/slot/front/\x00"), []byte{0xc1})
	e.must(e.l.ApplyState(bg, &sb))
	if _, err := e.proj.KeyStatus(bg, "i1", e.clock.Now()); !errors.Is(err, projections.ErrCorrupt) {
		t.Fatalf("status: %v", err)
	}
	if _, err := e.proj.Key(bg, "i1"); !errors.Is(err, projections.ErrCorrupt) {
		t.Fatalf("key: %v", err)
	}
	if _, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front"}); !errors.Is(err, projections.ErrCorrupt) {
		t.Fatalf("history: %v", err)
	}
	if _, err := e.proj.Slots(bg, "front"); !errors.Is(err, projections.ErrCorrupt) {
		t.Fatalf("slots: %v", err)
	}
	e.must(e.proj.Rebuild(bg))
	if st, err := e.proj.KeyStatus(bg, "i1", e.clock.Now()); err != nil || st.State != events.StateCreated {
		t.Fatalf("after rebuild: %+v %v", st, err)
	}
}

// Per-lock queries of a lock that is not registered, and a key's history of
// an unknown key, are *NotFoundError naming it (errors.Is both packages'
// ErrNotFound), not an empty list.
func TestUnknownLockIsNotFound(t *testing.T) {
	e := newEnv(t)
	e.setup()
	for _, c := range []struct {
		name, what, id string
		query          func() error
	}{
		{"KeyList", "lock", "back", func() error { _, err := e.proj.KeyList(bg, "back", e.clock.Now()); return err }},
		{"Slots", "lock", "back", func() error { _, err := e.proj.Slots(bg, "back"); return err }},
		{"PendingDeactivations", "lock", "back", func() error { _, err := e.proj.PendingDeactivations(bg, "back", e.clock.Now()); return err }},
		{"History of a lock", "lock", "back", func() error {
			_, err := e.proj.History(bg, projections.HistoryQuery{Lock: "back"})
			return err
		}},
		{"History of a key", "key", "nope", func() error {
			_, err := e.proj.History(bg, projections.HistoryQuery{Key: "nope"})
			return err
		}},
		{"Lock", "lock", "back", func() error { _, err := e.proj.Lock(bg, "back"); return err }},
		{"KeyStatus", "key", "nope", func() error { _, err := e.proj.KeyStatus(bg, "nope", e.clock.Now()); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.query()
			var nf *projections.NotFoundError
			if !errors.As(err, &nf) || nf.What != c.what || nf.ID != c.id {
				t.Fatalf("%v, want *NotFoundError for %s %q", err, c.what, c.id)
			}
			if !errors.Is(err, projections.ErrNotFound) || !errors.Is(err, commands.ErrNotFound) {
				t.Fatalf("%v: not errors.Is both ErrNotFound", err)
			}
		})
	}
	// A registered lock with no keys is an empty list, and an account
	// nothing concerns an empty history.
	if keys, err := e.proj.KeyList(bg, "garage", e.clock.Now()); err != nil || len(keys) != 0 {
		t.Fatalf("garage: %v, %v", keys, err)
	}
	if p, err := e.proj.History(bg, projections.HistoryQuery{Account: "zed"}); err != nil || len(p.Entries) != 0 {
		t.Fatalf("zed: %v, %v", p, err)
	}
}

// Compare: the read models a live service built (one small batch per
// command) and a rebuild of the same log (batches of 7) hold history rows
// grouped differently but agree in canonical form; a missing history entry
// or a changed row is reported, the first one named.
func TestCompareRebuild(t *testing.T) {
	e := newEnv(t)
	e.setup()
	for i, k := range []string{"a", "b", "c"} {
		_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: k, Lock: "front", By: "bill", Kind: events.KindIntercom})
		e.must(err)
		_, err = e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: k, By: "bill", Method: events.ShareToID, Account: "ann"})
		e.must(err)
		_, err = e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: k, By: "ann"})
		e.must(err)
		for range i + 2 {
			e.clock.Advance(time.Hour)
			_, err = e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: k, By: "ann"})
			e.must(err)
		}
	}
	// A copy of the live read models in another store.
	live, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: e.l.Registry()})
	e.must(err)
	defer live.Close()
	copyRows := func() {
		var sb ledger.StateBatch
		sb.DeletePrefix([]byte(projections.StatePrefix))
		for r, err := range e.l.ScanState(bg, []byte(projections.StatePrefix)) {
			e.must(err)
			sb.Set(r.Key, r.Value)
		}
		e.must(live.ApplyState(bg, &sb))
	}
	copyRows()
	raw := func(s ledger.StateStore) map[string]string {
		out := map[string]string{}
		for r, err := range s.ScanState(bg, []byte(projections.StatePrefix)) {
			e.must(err)
			out[string(r.Key)] = string(r.Value)
		}
		return out
	}
	e.must(e.proj.Rebuild(bg))
	if fmt.Sprint(raw(live)) == fmt.Sprint(raw(e.l)) {
		t.Fatal("the rebuild's rows are byte-for-byte the live ones: the test shows nothing")
	}
	c, err := projections.Compare(bg, live, e.l)
	e.must(err)
	if c.Differ != 0 || c.First != nil || c.Rows == 0 {
		t.Fatalf("live vs rebuilt: %+v (%v)", c, c.First)
	}

	// Drop one history row of the lock from the copy, and change a key row.
	var sb ledger.StateBatch
	var dropped []byte
	for r, err := range live.ScanState(bg, []byte(projections.StatePrefix+"h/l/front/")) {
		e.must(err)
		dropped = r.Key
		break
	}
	sb.Delete(dropped)
	sb.Set([]byte(projections.StatePrefix+"lk/front/zzz"), nil)
	e.must(live.ApplyState(bg, &sb))
	c, err = projections.Compare(bg, live, e.l)
	e.must(err)
	if c.Differ < 2 || c.First == nil || c.First.InA || !c.First.InB ||
		!strings.HasPrefix(c.First.Row, `history of lock "front", entry for the event at position `) {
		t.Fatalf("after dropping %q: %+v, first %v", dropped, c, c.First)
	}
}

// History rows an older version wrote (16 bytes per entry) read as before
// next to the compact rows this one writes, in every query and in Dump, so
// read models upgrade without a rebuild; a rebuild rewrites them.
func TestHistoryRowsOfTheOlderLayout(t *testing.T) {
	e := annIntercom(t)
	var err error
	unlock := func(n int) {
		for range n {
			e.clock.Advance(5 * time.Hour)
			_, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"})
			e.must(err)
		}
	}
	unlock(12)
	e.must(e.proj.Rebuild(bg)) // batches of 7: rows of several entries
	queries := []projections.HistoryQuery{{Lock: "front"}, {Key: "i1"}, {Account: "ann"}, {Key: "i1", ByPosition: true},
		{Key: "i1", Limit: 4}, {Account: "ann", From: e.clock.Now().Add(-30 * time.Hour)}}
	histories := func() string {
		var b strings.Builder
		for _, q := range queries {
			p, err := e.proj.History(bg, q)
			e.must(err)
			fmt.Fprintf(&b, "%+v\n", p)
		}
		return b.String()
	}
	want, wantRows := histories(), dump(t, e.l)

	// Write every history row as the older version did.
	var sb ledger.StateBatch
	rows := 0
	for r, err := range e.l.ScanState(bg, []byte(projections.StatePrefix+"h/")) {
		e.must(err)
		var old []byte
		for _, c := range projections.CanonicalRows(nil, r) {
			old = append(old, c.Key[len(c.Key)-16:]...)
		}
		if len(old) <= len(r.Value) {
			t.Fatalf("row %q: %d bytes, in the older layout %d", r.Key, len(r.Value), len(old))
		}
		sb.Set(r.Key, old)
		rows++
	}
	if rows == 0 {
		t.Fatal("no history rows")
	}
	e.must(e.l.ApplyState(bg, &sb))
	if got := histories(); got != want {
		t.Fatalf("older layout:\n%s\nwant\n%s", got, want)
	}
	if got := dump(t, e.l); fmt.Sprint(got) != fmt.Sprint(wantRows) {
		t.Fatal("Dump differs with rows of the older layout")
	}

	// New events add compact rows next to the older ones.
	unlock(5)
	p, err := e.proj.History(bg, projections.HistoryQuery{Key: "i1", Limit: 1000})
	e.must(err)
	if len(p.Entries) != 3+17 {
		t.Fatalf("%d entries, want 20", len(p.Entries))
	}
	for i := 1; i < len(p.Entries); i++ {
		if p.Entries[i].Time.Before(p.Entries[i-1].Time) || (i >= 3 && !p.Entries[i].Time.After(p.Entries[i-1].Time)) {
			t.Fatalf("entry %d at %v after %v", i, p.Entries[i].Time, p.Entries[i-1].Time)
		}
	}
	mixed := dump(t, e.l)
	e.must(e.proj.Rebuild(bg))
	if got := dump(t, e.l); fmt.Sprint(got) != fmt.Sprint(mixed) {
		t.Fatal("a rebuild differs from the read models of mixed layouts")
	}
}

// No history row is a whole number of 16-byte entries: versions before the
// compact layout read such a value as entries of theirs, and would answer
// wrong instead of reporting the read model corrupt until a rebuild.
func TestHistoryRowsNeverLookOld(t *testing.T) {
	e := annIntercomIn(newEnvBatch(t, 1024))
	// Gaps of different sizes give entries of 3 to 7 bytes; a rebuild after
	// each unlock gives rows of one more entry each time (every event is in
	// the rebuild's one batch).
	gaps := []time.Duration{time.Microsecond, time.Millisecond, time.Second, time.Hour, 3 * time.Minute, 90 * time.Millisecond, 5 * time.Microsecond}
	lengths := map[int]bool{}
	for i := range 60 {
		e.clock.Advance(gaps[(i*i+i/3)%len(gaps)])
		_, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"})
		e.must(err)
		e.must(e.proj.Rebuild(bg))
		for r, err := range e.l.ScanState(bg, []byte(projections.StatePrefix+"h/")) {
			e.must(err)
			if len(r.Value)%16 == 0 {
				t.Fatalf("row %q is %d bytes, a whole number of 16-byte entries", r.Key, len(r.Value))
			}
			lengths[len(r.Value)] = true
		}
	}
	if len(lengths) < 100 {
		t.Fatalf("rows of %d lengths, want many", len(lengths))
	}
}

// annIntercom is an env after setup in which bill's intercom key i1 of the
// front lock is shared with ann and downloaded by her.
func annIntercom(t *testing.T) *env {
	t.Helper()
	return annIntercomIn(newEnv(t))
}

// annIntercomIn sets e up as annIntercom does.
func annIntercomIn(e *env) *env {
	e.t.Helper()
	e.setup()
	_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom})
	e.must(err)
	_, err = e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"})
	e.must(err)
	_, err = e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"})
	e.must(err)
	return e
}

// checkpointSteps records how far each ApplyState moves the checkpoint
// name: the events of each batch.
type checkpointSteps struct {
	ledger.Backend
	name string
	mu   sync.Mutex
	last uint64
	max  uint64
}

func (s *checkpointSteps) ApplyState(ctx context.Context, b *ledger.StateBatch) error {
	for op := range b.Ops() {
		if op.Kind == ledger.OpSetCheckpoint && op.Name == s.name {
			s.mu.Lock()
			if op.Position > s.last {
				s.max = max(s.max, op.Position-s.last)
			}
			s.last = op.Position
			s.mu.Unlock()
		}
	}
	return s.Backend.ApplyState(ctx, b)
}

// Options.BatchSize bounds the events of every batch, below and above the
// number the reader hands over at once.
func TestBatchSizeBoundsBatches(t *testing.T) {
	e := annIntercom(t)
	e.unlocks(700)
	for _, size := range []int{1, 5, 300, 1024} {
		name := fmt.Sprintf("batch-%d", size)
		s := &checkpointSteps{Backend: e.l, name: name}
		p, err := projections.Open(s, &projections.Options{Name: name, BatchSize: size})
		e.must(err)
		e.must(p.WaitApplied(bg, e.l.DurablePosition()))
		e.must(p.Rebuild(bg))
		e.must(p.Close())
		if s.max == 0 || s.max > uint64(size) {
			t.Errorf("BatchSize %d: a batch applied %d events", size, s.max)
		}
	}
}
