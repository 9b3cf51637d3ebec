package lockproto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyledger/keyledger/access"
)

// drainAll drains the lock into the backend's view, batch by batch.
func drainAll(t *testing.T, w *world, cur AuditCursor) ([]AuditRecord, AuditCursor) {
	t.Helper()
	var all []AuditRecord
	for {
		b := w.lock.DrainAudit()
		if b == nil {
			return all, cur
		}
		recs, next, err := VerifyAudit(w.pairing.AuditKey, testLock, cur, b)
		if err != nil {
			t.Fatal(err)
		}
		all, cur = append(all, recs...), next
	}
}

func TestAuditRecordsVerifyChainAndConfirmAdmin(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0) // time sync + time zone: 2 admin records
	h, _ := w.holder(baseCredential(w.key))
	for range 20 {
		w.unlock(h, 0)
	}
	w.unlock(h, 1) // wrong door
	m, _ := w.issuer.DeactivateSlot(testLock, 2, 3, 2)
	w.must(w.lock.HandleAdmin(m))

	// 24 records, then the clock reading the last drain appended (the
	// first drain's batch was full: no room for one).
	recs, cur := drainAll(t, w, AuditCursor{})
	if len(recs) != 25 || cur.Seq != 25 {
		t.Fatalf("%d records, cursor %d; want 25", len(recs), cur.Seq)
	}
	if r := recs[24]; r.Kind != AuditClock || r.LockTime != uint32(t0.Unix()) || ClockFlags(r.Slot) != ClockKnown|ClockZoneKnown|ClockZoneTable {
		t.Fatalf("clock reading %+v", r)
	}
	for i, r := range recs {
		if r.Seq != uint32(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
	if r := recs[0]; r.Kind != AuditAdmin || r.AdminType != TypeTimeSync || !r.Granted || r.LockTime != uint32(t0.Unix()) {
		t.Fatalf("time sync record %+v", r)
	}
	if r := recs[2]; r.Kind != AuditUnlock || !r.Granted || r.Credential != h.Credential().ID || r.Slot != 3 {
		t.Fatalf("unlock record %+v", r)
	}
	if r := recs[22]; r.Granted || r.Reason != access.WrongDoor || r.Door != 1 {
		t.Fatalf("refusal record %+v", r)
	}
	// The lock's confirmation of a deactivation is this record.
	if r := recs[23]; r.Kind != AuditAdmin || r.AdminType != TypeDeactivateSlot || r.Value != 2 || r.Slot != 3 || !r.Granted {
		t.Fatalf("deactivation record %+v", r)
	}

	// Re-uploading old records adds nothing and keeps the cursor.
	again, cur2, err := VerifyAudit(w.pairing.AuditKey, testLock, cur, w.lock.AuditFrom(10))
	if err != nil || len(again) != 0 || cur2 != cur {
		t.Fatalf("re-upload: %d records, %v, %v", len(again), cur2, err)
	}
}

func TestAuditDetectsGapsTamperingAndForeignKeys(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	for range 40 {
		w.unlock(h, 0)
	}
	first := w.lock.DrainAudit()
	_, cur, err := VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{}, first)
	w.must(err)
	w.lock.DrainAudit() // lost on the way
	third := w.lock.DrainAudit()
	recs, cur3, err := VerifyAudit(w.pairing.AuditKey, testLock, cur, third)
	var gap *AuditGapError
	if !errors.As(err, &gap) || gap.After != 16 || gap.First != 33 || len(recs) != 11 || cur3.Seq != 43 || recs[10].Kind != AuditClock {
		t.Fatalf("gap: %v, %d records, cursor %d", err, len(recs), cur3.Seq)
	}
	// The lost batch is still in the lock's ring: resend it.
	recs, _, err = VerifyAudit(w.pairing.AuditKey, testLock, cur, w.lock.AuditFrom(17))
	if err != nil || len(recs) != 16 || recs[0].Seq != 17 {
		t.Fatalf("resend: %v %d", err, len(recs))
	}

	for i := range first {
		bad := bytes.Clone(first)
		bad[i] ^= 1
		if _, _, err := VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{}, bad); err == nil {
			t.Fatalf("byte %d altered, batch verified", i)
		}
	}
	other := w.pairing.AuditKey
	other[0] ^= 1
	if _, _, err := VerifyAudit(other, testLock, AuditCursor{}, first); !errors.Is(err, ErrMAC) {
		t.Fatalf("foreign key: %v", err)
	}
	if _, _, err := VerifyAudit(w.pairing.AuditKey, otherLock, AuditCursor{}, first); !errors.Is(err, ErrWrongLock) {
		t.Fatalf("other lock: %v", err)
	}
	// A batch that does not chain to the cursor (a forked history) is refused.
	forked := cur
	forked.Tag[0] ^= 1
	if _, _, err := VerifyAudit(w.pairing.AuditKey, testLock, forked, w.lock.AuditFrom(17)); !errors.Is(err, ErrMAC) {
		t.Fatalf("fork: %v", err)
	}
}
