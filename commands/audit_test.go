package commands_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

func limited(key string, n uint32) events.Settings {
	st := settings(key)
	st.Policy.Uses = policy.UsesN(n)
	return st
}

// Offline unlocks at the lock come back with the audit: they are in the
// lock's and the key's history with the lock's time and reasons, count
// toward the key's uses, and an online unlock afterwards respects them.
func TestAuditOfflineUsesCount(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, limited("k1", 3))
	var lockTimes []time.Time
	for i := range 3 {
		e.now = e.now.Add(time.Hour)
		if d := e.visit(e.lock, ann, 0); !d.Granted {
			t.Fatalf("offline unlock %d refused: %v", i, d.Reason)
		}
		lockTimes = append(lockTimes, e.now.Truncate(time.Second))
	}
	e.now = e.now.Add(time.Minute)
	if d := e.visit(e.lock, ann, 1); d.Granted || d.Reason != access.WrongDoor {
		t.Fatalf("inner door: %+v", d)
	}
	if d := e.visit(e.lock, ann, 0); d.Granted || d.Reason != access.Exhausted {
		t.Fatalf("fourth use: %+v", d)
	}
	e.now = e.now.Add(24 * time.Hour) // uploaded a day later
	res := e.upload(e.lock, "front")
	// 3 grants, wrong door, exhausted and the drain's clock reading (1..3
	// were uploaded at pairing)
	if res.New != 6 || res.Gap != nil || res.Cursor != 9 {
		t.Fatalf("upload %+v", res)
	}
	st, err := e.proj.KeyStatus(bg, "k1", e.now)
	if err != nil || st.Uses != 3 || st.Status != projections.StatusExhausted {
		t.Fatalf("status %+v %v", st, err)
	}
	// The lock counts a use-limited credential's uses: the app never grants
	// one online (which could add uses the lock does not know of).
	u, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "k1", By: "ann"})
	if err != nil || u.Granted || u.Reason != access.UsesAtLock {
		t.Fatalf("online unlock after three offline uses: %+v %v", u, err)
	}

	page, err := e.proj.History(bg, projections.HistoryQuery{Key: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	var offline []projections.HistoryEntry
	for _, h := range page.Entries {
		if h.Offline {
			offline = append(offline, h)
		}
	}
	if len(offline) != 5 {
		t.Fatalf("offline entries in the key's history: %+v", offline)
	}
	for i, h := range offline[:3] {
		if !h.Granted || !h.Time.Equal(lockTimes[i]) || h.AuditSeq != uint32(4+i) || h.Door != access.Main || !h.Uploaded.Equal(e.now) {
			t.Fatalf("offline unlock %d: %+v", i, h)
		}
	}
	if offline[3].Reason != access.WrongDoor || offline[3].Door != access.Inner || offline[4].Reason != access.Exhausted {
		t.Fatalf("denials: %+v", offline[3:])
	}
	lp, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front"})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, h := range lp.Entries {
		if h.Offline {
			n++
		}
	}
	if n != 7 {
		t.Fatalf("lock history has %d offline entries, want 7 (2 admin, 5 unlock)", n)
	}
}

// The same batch twice, overlapping batches from two phones, and an
// old batch after a newer one record each record once.
func TestAuditIdempotent(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, limited("k1", 10))
	for range 4 {
		e.now = e.now.Add(time.Minute)
		e.visit(e.lock, ann, 0)
	}
	first := e.lock.AuditFrom(1) // records 1..7, 1..3 uploaded at pairing
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: first})
	if err != nil || r.New != 4 || r.Duplicates != 3 {
		t.Fatalf("first upload %+v %v", r, err)
	}
	pos := e.l.DurablePosition()
	again, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bob", Batch: first})
	if err != nil || again.New != 0 || again.Duplicates != 7 || again.Cursor != 7 {
		t.Fatalf("same batch again %+v %v", again, err)
	}
	for range 2 {
		e.now = e.now.Add(time.Minute)
		e.visit(e.lock, ann, 0)
	}
	overlap := e.lock.AuditFrom(4) // 4..9: 4..7 known
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bob", Batch: overlap})
	if err != nil || r.New != 2 || r.Duplicates != 4 || r.Cursor != 9 {
		t.Fatalf("overlapping batch %+v %v", r, err)
	}
	old := e.lock.AuditFrom(2)
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: old})
	if err != nil || r.New != 0 || r.Duplicates != 8 {
		t.Fatalf("old batch %+v %v", r, err)
	}
	var recs, counted int
	var seqs []uint32
	for ev, err := range e.l.ReadAll(bg, pos+1) {
		if err != nil {
			t.Fatal(err)
		}
		switch d := ev.Data.(type) {
		case events.AuditRecorded:
			recs++
			seqs = append(seqs, d.Seq)
		case events.OfflineUnlocksCounted:
			counted++
		}
	}
	if recs != 2 || !slices.Equal(seqs, []uint32{8, 9}) || counted != 1 {
		t.Fatalf("after the first upload: %d records %v, %d counts", recs, seqs, counted)
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 6 {
		t.Fatalf("uses %d, want 6", st.Uses)
	}
}

// Concurrent uploads of overlapping batches by two phones record each
// record once (the lock's audit stream is appended with an exact version).
func TestAuditConcurrentUploads(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	for range 14 {
		e.now = e.now.Add(time.Minute)
		e.visit(e.lock, ann, 0)
	}
	batches := [][]byte{e.lock.AuditFrom(1), e.lock.AuditFrom(5), e.lock.AuditFrom(9), e.lock.AuditFrom(1)}
	errs := make(chan error, len(batches))
	for _, b := range batches {
		go func() {
			_, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: b})
			errs <- err
		}()
	}
	for range batches {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint32]int{}
	for ev, err := range e.l.ReadStream(bg, "lockaudit-front", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := ev.Data.(events.AuditRecorded); ok {
			seen[d.Seq]++
		}
	}
	if len(seen) != 17 { // 3 at pairing (time sync, zone, clock reading), 14 unlocks
		t.Fatalf("%d records recorded, want 17", len(seen))
	}
	for s, n := range seen {
		if n != 1 {
			t.Fatalf("record %d recorded %d times", s, n)
		}
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 14 {
		t.Fatalf("uses %d, want 14", st.Uses)
	}
}

// Records a phone drained and never uploaded are reported as a gap; the
// records of the batch are recorded all the same, and the acknowledgement
// covers only what came before the gap, so the lock hands the missing
// records out again and the next upload fills it.
func TestAuditGap(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	for range 20 {
		e.now = e.now.Add(time.Second)
		e.visit(e.lock, ann, 0)
	}
	e.lock.DrainAudit() // records 4..19: lost with the phone that drained them
	// 20..23 and the drain's clock reading
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: e.lock.DrainAudit()})
	if err != nil || r.Gap == nil || r.Gap.After != 3 || r.Gap.First != 20 || r.New != 5 {
		t.Fatalf("gap upload %+v %v", r, err)
	}
	if !errors.Is(r.Gap, lockproto.ErrAuditGap) {
		t.Fatal("gap does not match lockproto.ErrAuditGap")
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var gaps int
	for _, h := range page.Entries {
		if h.Reason == access.AuditRecordsMissing {
			gaps++
		}
	}
	if gaps != 1 {
		t.Fatalf("%d gap entries in the lock's history", gaps)
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 4 {
		t.Fatalf("uses %d: only the uploaded grants count", st.Uses)
	}
	ack, err := lockproto.DecodeAuditAck(r.Ack)
	if err != nil || ack.Seq != 3 {
		t.Fatalf("acknowledgement %+v %v: want up to the gap, record 3", ack, err)
	}
	if err := e.lock.HandleAuditAck(r.Ack); err != nil {
		t.Fatal(err)
	}
	if res := e.upload(e.lock, "front"); res.New != 16 || res.Cursor != 24 {
		t.Fatalf("upload after the acknowledgement: %+v", res)
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 20 {
		t.Fatalf("uses %d after the gap was filled", st.Uses)
	}
}

// A reset issues a signed reset message, pending until the lock's audit
// shows it; it rides with the next download of any phone of the lock, and
// the old key loses at the lock as soon as that phone delivers it.
func TestResetRidesWithAnotherDownload(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	if d := e.visit(e.lock, ann, 0); !d.Granted {
		t.Fatalf("ann refused: %v", d.Reason)
	}
	resetID := e.id()
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: resetID, Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: resetID, Key: "k1", By: "bill"}); err != nil { // a retry
		t.Fatal(err)
	}
	pend := e.pending("front")
	if len(pend) != 1 {
		t.Fatalf("%d pending admin messages after one reset", len(pend))
	}
	a, err := lockproto.VerifyAdmin(pend[0], e.issuer.PublicKey())
	if err != nil || a.Type != lockproto.TypeResetSlot || a.Seq != 2 || a.Slot != 0 || a.Generation != 1 || a.Lock != commands.LockUUID("front") {
		t.Fatalf("reset message %+v %v", a, err)
	}
	// Bob downloads a key for the other slot: the reset rides along.
	bob := e.shareTo("k2", "bob", 2, settings("k2"))
	if len(bob.res.Admin) != 1 || !bytes.Equal(bob.res.Admin[0], pend[0]) {
		t.Fatalf("download carries %d admin messages", len(bob.res.Admin))
	}
	d, err := lockproto.DecodeDownload(bob.res.Download)
	if err != nil || len(d.Admin) != 1 {
		t.Fatalf("download frame: %d admin messages, %v", len(d.Admin), err)
	}
	if d := e.visit(e.lock, bob, 0); !d.Granted {
		t.Fatalf("bob refused: %v", d.Reason)
	}
	if d := e.visit(e.lock, ann, 0); d.Granted || d.Reason != access.Superseded {
		t.Fatalf("reset key at the lock: %+v", d)
	}
	res := e.upload(e.lock, "front")
	if !slices.Equal(res.Applied, []uint32{2}) || len(res.Reissued) != 0 {
		t.Fatalf("upload %+v", res)
	}
	if p := e.pending("front"); len(p) != 0 {
		t.Fatalf("still pending after the audit showed it: %d", len(p))
	}
	// The superseded attempt (refused before any proof: tallied, recorded
	// before the lock's next record) names ann's key as presented, not as
	// verified.
	if d := e.visit(e.lock, bob, 0); !d.Granted {
		t.Fatalf("bob refused: %v", d.Reason)
	}
	e.upload(e.lock, "front")
	page, err := e.proj.History(bg, projections.HistoryQuery{Lock: "front", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	tally := page.Entries[len(page.Entries)-2]
	if !tally.Offline || tally.Reason != access.Superseded || tally.Presented != "k1" || tally.Key != "" {
		t.Fatalf("superseded entry %+v", tally)
	}
	// A new Service on the same ledger (a restart) continues the sequence.
	svc2, err := commands.New(e.l, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Projections: e.proj, Issuer: e.issuer})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc2.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	p, err := svc2.PendingAdmin(bg, "front")
	if err != nil || len(p) != 1 {
		t.Fatalf("pending %d %v", len(p), err)
	}
	if a, _ := lockproto.DecodeAdmin(p[0]); a.Seq != 3 || a.Slot != 1 {
		t.Fatalf("after a restart: %+v", a)
	}
}

// A deactivation request issues the signed message; the owner's phone
// delivers it; the lock's audit confirms the deactivation.
func TestDeactivationConfirmedByAudit(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	pd, err := e.proj.PendingDeactivations(bg, "front", e.now)
	if err != nil || len(pd) != 1 {
		t.Fatalf("pending deactivations %v %v", pd, err)
	}
	// Ann still opens until a phone brings the message to the lock: the key
	// stays valid there until its slot is deactivated.
	if d := e.visit(e.lock, ann, 0); !d.Granted {
		t.Fatalf("before delivery: %v", d.Reason)
	}
	e.deliver(e.lock, e.pending("front")) // the owner's phone at the lock
	if d := e.visit(e.lock, ann, 0); d.Granted || d.Reason != access.Superseded {
		t.Fatalf("deactivated key at the lock: %+v", d)
	}
	res := e.upload(e.lock, "front")
	if !slices.Equal(res.Confirmed, []string{"k1"}) {
		t.Fatalf("upload %+v", res)
	}
	st, err := e.proj.KeyStatus(bg, "k1", e.now)
	if err != nil || st.State != events.StateDeactivated {
		t.Fatalf("status %+v %v", st, err)
	}
	if pd, _ := e.proj.PendingDeactivations(bg, "front", e.now); len(pd) != 0 {
		t.Fatalf("still pending: %v", pd)
	}
	slots, err := e.proj.Slots(bg, "front")
	if err != nil || slots[0].Key != "" || slots[0].Generation != 1 {
		t.Fatalf("slots %+v %v", slots, err)
	}
	// Uploading again confirms nothing twice.
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bill", Batch: e.lock.AuditFrom(1)})
	if err != nil || r.New != 0 || len(r.Confirmed) != 0 {
		t.Fatalf("again %+v %v", r, err)
	}
}

// Refused uploads: unknown lock, forged or altered batch, batch from
// another lock, garbage, a lock without audit key; nothing is appended.
func TestAuditErrors(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	e.visit(e.lock, ann, 0)
	good := e.lock.AuditFrom(1)
	_, back := e.pair("back")
	backBatch := back.AuditFrom(1)
	e.upload(back, "back")

	upload := func(lock string, b []byte) func() error {
		return func() error {
			_, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: lock, By: "ann", Batch: b})
			return err
		}
	}
	err := e.refused(upload("nowhere", good), commands.ErrNotFound)
	var nf *commands.NotFoundError
	if !errors.As(err, &nf) || nf.What != "lock" || nf.ID != "nowhere" {
		t.Fatalf("unknown lock: %v", err)
	}
	for i := 40; i < len(good); i += 7 { // every altered byte of a record or tag
		bad := bytes.Clone(good)
		bad[i] ^= 0x10
		err := e.refused(upload("front", bad), commands.ErrAudit)
		var ae *commands.AuditError
		if !errors.As(err, &ae) || ae.Lock != "front" {
			t.Fatalf("altered byte %d: %v", i, err)
		}
	}
	forged := bytes.Clone(good)
	copy(forged[len(forged)-16:], make([]byte, 16))
	e.refused(upload("front", forged), lockproto.ErrMAC)
	e.refused(upload("front", backBatch), lockproto.ErrWrongLock)
	e.refused(upload("back", good), lockproto.ErrWrongLock)
	e.refused(upload("front", []byte{lockproto.Version, 0x30, 0}), lockproto.ErrMalformed)
	e.refused(upload("front", nil), commands.ErrInvalid)
	// A record that forks what was recorded (same sequence number, another
	// tag) is refused: replaying another lock's or an old pairing's chain.
	e.upload(e.lock, "front")
	if err := e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "side", Owner: "bill", Name: "side", Zone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	e.refused(upload("side", good), commands.ErrInvalid) // registered without an audit key

	// The audit key is in no stored event in plaintext.
	for ev, err := range e.l.ReadAll(bg, 1) {
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(ev.Raw, e.pairing.AuditKey[:]) {
			t.Fatalf("event %d (%s) holds the audit key in plaintext", ev.Position, ev.Type)
		}
	}
}

// An audit batch whose record 1 matches the sequence number recorded but not
// its tag (a second lock paired under the same ID, or a forged chain) is
// refused as a fork.
func TestAuditForkRefused(t *testing.T) {
	e := newLockEnv(t)
	// A lock with the same pairing but another history.
	impostor, err := lockproto.NewLock(e.pairing, &lockproto.Config{Clock: func() time.Duration { return e.now.Sub(e.start) + time.Hour }, Rand: e.rnd})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		impostorSync(e, impostor) // a record of its own history
	}
	e.refused(func() error {
		_, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: impostor.AuditFrom(1)})
		return err
	}, lockproto.ErrMAC)
}

// By default a record the lock made offline merges into the history at
// the lock's time, also across pages; with ByPosition entries of a day keep
// log order (the upload comes after what was recorded before it), and a
// cursor of one order is refused by the other.
func TestOfflineRecordsMergeByTime(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1")) // Monday 10:00 UTC
	e.now = e.now.Add(time.Hour)
	e.visit(e.lock, ann, 0) // offline, 11:00
	e.now = e.now.Add(4 * time.Hour)
	if _, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "k1", By: "ann"}); err != nil { // online, 15:00
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Hour)
	e.upload(e.lock, "front") // 16:00
	times := func(q projections.HistoryQuery) []string {
		var out []string
		for {
			p, err := e.proj.History(bg, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range p.Entries {
				if (h.Type == "lock.audit_recorded" || h.Type == "key.unlock_attempted") && h.Key == "k1" {
					out = append(out, h.Time.Format("15:04"))
				}
			}
			if p.Next == "" {
				return out
			}
			q.Cursor = p.Next
		}
	}
	for _, c := range []struct {
		name string
		q    projections.HistoryQuery
		want []string
	}{
		{"by time (default), one per page", projections.HistoryQuery{Key: "k1", Limit: 1}, []string{"11:00", "15:00"}},
		{"by time, lock", projections.HistoryQuery{Lock: "front", Limit: 2}, []string{"11:00", "15:00"}},
		{"by time, holder", projections.HistoryQuery{Account: "ann", Limit: 3}, []string{"11:00", "15:00"}},
		{"by position", projections.HistoryQuery{Key: "k1", Limit: 2, ByPosition: true}, []string{"15:00", "11:00"}},
		{"by position, one per page", projections.HistoryQuery{Key: "k1", Limit: 1, ByPosition: true}, []string{"15:00", "11:00"}},
	} {
		if got := times(c.q); !slices.Equal(got, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	p, err := e.proj.History(bg, projections.HistoryQuery{Key: "k1", Limit: 1})
	if err != nil || p.Next == "" {
		t.Fatal(p, err)
	}
	if _, err := e.proj.History(bg, projections.HistoryQuery{Key: "k1", Limit: 1, ByPosition: true, Cursor: p.Next}); !errors.Is(err, projections.ErrInvalid) {
		t.Fatalf("a time-order cursor in position order: %v", err)
	}
}

// Uploads from two phones race with online unlocks of the same key;
// no use is lost or counted twice.
func TestAuditRacesOnlineUnlocks(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1")) // unlimited: online unlocks count beside the lock's
	for range 30 {
		e.now = e.now.Add(time.Second)
		if d := e.visit(e.lock, ann, 0); !d.Granted {
			t.Fatal(d.Reason)
		}
	}
	batches := [][]byte{e.lock.AuditFrom(3), e.lock.AuditFrom(19), e.lock.AuditFrom(10), e.lock.AuditFrom(25)}
	errs := make(chan error, 20+len(batches))
	for i := range 20 {
		id := e.id()
		go func() {
			r, err := e.svc.Unlock(bg, commands.Unlock{ID: id, Key: "k1", By: "ann"})
			if err == nil && !r.Granted {
				err = errors.New(r.Reason.Name())
			}
			errs <- err
		}()
		if i < len(batches) {
			b := batches[i]
			go func() {
				_, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bob", Batch: b})
				errs <- err
			}()
		}
	}
	for range 20 + len(batches) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 50 {
		t.Fatalf("uses %d, want 20 online + 30 offline", st.Uses)
	}
}

// Two phones drain the lock in turn (DrainAudit hands each record out
// once); the later batch reaches the ledger first. The gap it leaves is
// filled when the earlier batch arrives: every record is recorded once.
func TestAuditGapFilledByLateUpload(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	drain := func(n int) []byte {
		for range n {
			e.now = e.now.Add(time.Minute)
			e.visit(e.lock, ann, 0)
		}
		return e.lock.DrainAudit()
	}
	// records 4..8, 10..14, 16..20, each batch ending with a clock reading
	first, second, third := drain(5), drain(5), drain(5)
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bob", Batch: third})
	if err != nil || r.Gap == nil || r.Gap.After != 3 || r.Gap.First != 16 || r.New != 6 {
		t.Fatalf("third first: %+v %v", r, err)
	}
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: second})
	if err != nil || r.New != 6 || r.Duplicates != 0 || r.Gap != nil || r.Cursor != 21 {
		t.Fatalf("second fills the end of the gap: %+v %v", r, err)
	}
	// A forged run claiming to be records 3..7 (another lock's chain under
	// the same key would be needed to pass: here, an impostor lock with the
	// same pairing but its own history) does not chain into record 8.
	impostor, err := lockproto.NewLock(e.pairing, &lockproto.Config{Clock: func() time.Duration { return 0 }, Rand: e.rnd})
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		impostorSync(e, impostor)
	}
	e.refused(func() error {
		_, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "eve", Batch: impostor.AuditFrom(3)})
		return err
	}, lockproto.ErrMAC)
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: first})
	if err != nil || r.New != 6 || r.Cursor != 21 {
		t.Fatalf("first fills the rest: %+v %v", r, err)
	}
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: e.lock.AuditFrom(1)})
	if err != nil || r.New != 0 || r.Duplicates != 16 {
		t.Fatalf("everything again: %+v %v", r, err)
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 15 {
		t.Fatalf("uses %d, want 15", st.Uses)
	}
	seen := map[uint32]int{}
	for ev, err := range e.l.ReadStream(bg, "lockaudit-front", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := ev.Data.(events.AuditRecorded); ok {
			seen[d.Seq]++
		}
	}
	for s := uint32(1); s <= 21; s++ {
		if seen[s] != 1 {
			t.Fatalf("record %d recorded %d times", s, seen[s])
		}
	}
}

// A deactivation applied at the lock whose record reaches the ledger only
// after a later record (two phones, the later batch first) confirms the key
// when it arrives: the message stayed pending meanwhile.
func TestLateDeactivationRecordConfirms(t *testing.T) {
	e := newLockEnv(t)
	e.shareTo("k1", "ann", 1, settings("k1"))
	e.shareTo("k2", "bob", 2, settings("k2"))
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k2", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	pend := e.pending("front") // 2 deactivate k1, 3 reset k2
	e.deliver(e.lock, pend[:1])
	phoneA := e.lock.DrainAudit()
	e.deliver(e.lock, pend[1:])
	phoneB := e.lock.DrainAudit()
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bob", Batch: phoneB})
	if err != nil || r.Gap == nil || len(r.Confirmed) != 0 || len(r.Reissued) != 0 || len(e.pending("front")) != 1 {
		t.Fatalf("later batch first: %+v %v", r, err)
	}
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: phoneA})
	if err != nil || !slices.Equal(r.Confirmed, []string{"k1"}) || len(e.pending("front")) != 0 {
		t.Fatalf("late record: %+v %v", r, err)
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.State != events.StateDeactivated {
		t.Fatalf("k1 %v", st.State)
	}
}

// The same when the later batch shows the lock beyond its window: the
// deactivation was issued again in between, and the late record of the
// original confirms the key all the same.
func TestLateDeactivationRecordConfirmsAfterReissue(t *testing.T) {
	e := newLockEnv(t)
	e.shareTo("k1", "ann", 1, settings("k1"))
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	phoneA := e.lock.DrainAudit()
	top := e.outrun(e.lock)
	phoneB := e.lock.DrainAudit()
	r, err := e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "bob", Batch: phoneB})
	if err != nil || r.Gap == nil || len(r.Confirmed) != 0 || !slices.Equal(r.Reissued, []uint32{top + 1}) {
		t.Fatalf("later batch first: %+v %v", r, err)
	}
	r, err = e.svc.IngestAudit(bg, commands.UploadAudit{Lock: "front", By: "ann", Batch: phoneA})
	if err != nil || !slices.Equal(r.Confirmed, []string{"k1"}) {
		t.Fatalf("late record: %+v %v", r, err)
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.State != events.StateDeactivated {
		t.Fatalf("k1 %v", st.State)
	}
	// The reissued message, delivered and audited later, changes nothing.
	e.deliver(e.lock, e.pending("front"))
	if r := e.upload(e.lock, "front"); len(r.Confirmed) != 0 || len(e.pending("front")) != 0 {
		t.Fatalf("after the reissue: %+v", r)
	}
}

// History per account: the offline records of a verified credential are in its
// holder's history (Account = the holder who downloaded the key), not in the
// uploader's; a rebuild gives the same entries.
func TestOfflineRecordsInHolderHistory(t *testing.T) {
	e := newLockEnv(t)
	bob := e.shareTo("k1", "bob", 1, settings("k1"))
	for range 2 {
		e.now = e.now.Add(time.Minute)
		if d := e.visit(e.lock, bob, 0); !d.Granted {
			t.Fatal(d.Reason)
		}
	}
	e.now = e.now.Add(time.Hour)
	e.upload(e.lock, "front") // ann's phone uploads
	offline := func(account string) []projections.HistoryEntry {
		t.Helper()
		p, err := e.proj.History(bg, projections.HistoryQuery{Account: account, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []projections.HistoryEntry
		for _, h := range p.Entries {
			if h.Offline {
				out = append(out, h)
			}
		}
		return out
	}
	for _, pass := range []string{"incremental", "rebuilt"} {
		got := offline("bob")
		if len(got) != 2 {
			t.Fatalf("%s: bob's history has %d offline records, want his 2 unlocks", pass, len(got))
		}
		for _, h := range got {
			if h.Account != "bob" || h.Key != "k1" || !h.Granted {
				t.Fatalf("%s: %+v", pass, h)
			}
		}
		if n := len(offline("ann")); n != 0 {
			t.Fatalf("%s: the uploader's history has %d offline records", pass, n)
		}
		if err := e.proj.Rebuild(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// impostorSync makes a lock write a record of its own: a time sync.
func impostorSync(e *lockEnv, l *lockproto.Lock) {
	e.t.Helper()
	sync, err := e.issuer.TimeSync(commands.LockUUID("front"), e.challenge(l).Nonce, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := l.HandleAdmin(sync); err != nil {
		e.t.Fatal(err)
	}
}
