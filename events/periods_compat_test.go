package events_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/vmihailenco/msgpack/v5"
)

// A policy stored before dated periods and expiry after first use reads
// back without them, a new one keeps them, and a policy without them is
// stored byte for byte as before (the new fields are omitted when empty).
func TestPolicyPeriodsCompat(t *testing.T) {
	type oldPolicy struct {
		Start, End time.Time
		Uses       policy.Uses
		Windows    []policy.Window
		Blackouts  []policy.Blackout
		Zone       string
	}
	end := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	old := oldPolicy{End: end, Uses: policy.UsesN(3), Windows: []policy.Window{{Days: policy.Workdays, From: 480, To: 1080}}, Zone: "Europe/Berlin"}
	ob, err := msgpack.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var p policy.Policy
	if err := msgpack.Unmarshal(ob, &p); err != nil {
		t.Fatal(err)
	}
	if !p.End.Equal(end) || p.Uses != old.Uses || len(p.Windows) != 1 || p.Periods != nil || p.AfterFirstUse != 0 {
		t.Fatalf("old policy read as %+v", p)
	}
	nb, err := msgpack.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(nb) != string(ob) {
		t.Fatal("a policy without the new fields is stored differently than before")
	}
	p.Periods = []policy.Period{{Start: end.AddDate(0, -1, 0), End: end.AddDate(0, 0, -20)}}
	p.AfterFirstUse = 2 * time.Hour
	b, err := msgpack.Marshal(events.KeyEdited{Key: "k", Settings: events.Settings{Policy: p}})
	if err != nil {
		t.Fatal(err)
	}
	var back events.KeyEdited
	if err := msgpack.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	q := back.Settings.Policy
	if len(q.Periods) != 1 || !q.Periods[0].Start.Equal(p.Periods[0].Start) || !q.Periods[0].End.Equal(p.Periods[0].End) || q.AfterFirstUse != 2*time.Hour {
		t.Fatalf("round trip: %+v", q)
	}
}

// An offline-uses event stored before it named the first use's lock time
// reads with First zero.
func TestOfflineUnlocksCountedCompat(t *testing.T) {
	type old struct {
		Key, Lock string
		Granted   uint32
		Uses      uint32
		AuditSeq  uint32
	}
	b, err := msgpack.Marshal(old{Key: "k", Lock: "l", Granted: 2, Uses: 5, AuditSeq: 9})
	if err != nil {
		t.Fatal(err)
	}
	var e events.OfflineUnlocksCounted
	if err := msgpack.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.Granted != 2 || e.Uses != 5 || e.AuditSeq != 9 || !e.First.IsZero() {
		t.Fatalf("read as %+v", e)
	}
}
