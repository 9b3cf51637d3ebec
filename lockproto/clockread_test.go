package lockproto

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

// lastRecord is the newest record in the lock's ring.
func lastRecord(l *Lock) AuditRecord {
	st := l.State()
	return st.AuditRing[(st.AuditSeq-1)%AuditRingSize].Record
}

// A drain appends a clock reading with the lock's time, its boot counter
// and its zone table's end and sequence number, as the batch's last record.
func TestClockReadingSaysTheLockTimeAndZone(t *testing.T) {
	w := newWorld(t)
	c := w.challenge()
	m, _ := w.issuer.TimeSync(testLock, c.Nonce, w.serverT)
	w.must(w.lock.HandleAdmin(m))
	end := uint32(t0.Add(20 * 24 * time.Hour).Unix())
	z := ZoneRules{N: 1, ValidUntil: end}
	z.Transitions[0] = ZoneTransition{From: 0, Offset: 3600}
	m, _ = w.issuer.TimeZone(testLock, 7, z)
	w.must(w.lock.HandleAdmin(m))
	w.advance(90 * time.Second)

	recs, _, err := VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{}, w.lock.DrainAudit())
	w.must(err)
	if len(recs) != 3 {
		t.Fatalf("%d records, want time sync, zone, reading", len(recs))
	}
	got, ok := recs[2].Clock()
	want := ClockReading{LockTime: uint32(t0.Unix()) + 90, Flags: ClockKnown | ClockZoneKnown | ClockZoneTable,
		ZoneValidUntil: end, ZoneSeq: 7, Boot: 1}
	if !ok || got != want {
		t.Fatalf("reading %+v (%v), want %+v", got, ok, want)
	}
	if _, ok := recs[0].Clock(); ok {
		t.Fatal("an admin record read as a clock reading")
	}

	// A restarted lock does not know the time: its reading says so.
	l, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(9)})
	w.must(err)
	l.HandleUnlock([]byte{Version, 3, 0}) // a tallied refusal: something to hand out
	recs, _, err = VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{Seq: 3, Tag: recs[2].Tag}, l.DrainAudit())
	w.must(err)
	got, _ = recs[len(recs)-1].Clock()
	if want := (ClockReading{Flags: ClockZoneTable, ZoneValidUntil: end, ZoneSeq: 7, Boot: 2}); got != want {
		t.Fatalf("after a restart: %+v, want %+v", got, want)
	}
}

// Draining again and again adds no reading until the interval has passed;
// delivering the same acknowledgement again (which rewinds the drain
// position) adds none either.
func TestClockReadingsAreBounded(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	w.unlock(h, 0)
	w.upload() // 3 records + a reading, acknowledged
	seq := w.lock.State().AuditSeq
	if lastRecord(w.lock).Kind != AuditClock || seq != 4 {
		t.Fatalf("after the upload: %d records, last %v", seq, lastRecord(w.lock).Kind)
	}
	for range 5 {
		if b := w.lock.DrainAudit(); b != nil {
			t.Fatal("a drain with nothing new handed out a batch")
		}
	}
	w.unlock(h, 0)
	w.lock.DrainAudit() // record 5 and a reading (6)
	ack := NewAuditAck(w.pairing.AuditKey, testLock, w.cursor)
	for range 5 { // rewinds the drain to 4 each time
		w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &ack)))
		w.lock.DrainAudit()
	}
	if st := w.lock.State(); st.AuditSeq != 6 {
		t.Fatalf("rewound drains wrote %d records, want 6", st.AuditSeq)
	}
	w.advance(6 * time.Hour)
	w.lock.DrainAudit()
	if st := w.lock.State(); st.AuditSeq != 7 || lastRecord(w.lock).Kind != AuditClock {
		t.Fatalf("after the interval: %d records", st.AuditSeq)
	}
}

// A reading handed out again after a rewind, hours after it was written,
// is followed by a fresh one, so the batch does not end with a stale time;
// a second fresh one needs an acknowledgement of the reading before.
func TestStaleReadingHandedOutAgainIsFollowedByAFreshOne(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	w.unlock(h, 0)
	w.upload() // acknowledged up to the reading, 4
	acked := w.cursor
	ack := func(c AuditCursor) {
		a := NewAuditAck(w.pairing.AuditKey, testLock, c)
		w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &a)))
	}
	w.unlock(h, 0)
	if b := w.lock.DrainAudit(); b == nil { // record 5 and a reading, 6: lost
		t.Fatal("nothing drained")
	}
	w.advance(3 * time.Hour)
	ack(acked) // another phone delivers the last acknowledgement again

	recs, _, err := VerifyAudit(w.pairing.AuditKey, testLock, acked, w.lock.DrainAudit())
	w.must(err)
	if len(recs) != 3 || recs[1].Kind != AuditClock || recs[2].Kind != AuditClock {
		t.Fatalf("%d records handed out, want the unlock, the old reading and a fresh one", len(recs))
	}
	if got, want := recs[2].LockTime, uint32(w.serverT.Unix()); got != want {
		t.Fatalf("the batch ends with lock time %d, want now, %d", got, want)
	}

	// Rewound again: the reading before the newest is not acknowledged,
	// so no third one.
	w.advance(3 * time.Hour)
	ack(acked)
	w.lock.DrainAudit()
	if st := w.lock.State(); st.AuditSeq != 7 {
		t.Fatalf("%d records after a second rewind, want 7", st.AuditSeq)
	}
	// The backend acknowledges up to the old reading: the next rewound
	// drain may refresh again.
	ack(AuditCursor{Seq: 6, Tag: recs[1].Tag})
	w.lock.DrainAudit()
	if st := w.lock.State(); st.AuditSeq != 8 || lastRecord(w.lock).LockTime != uint32(w.serverT.Unix()) {
		t.Fatalf("%d records after an acknowledgement, want a fresh reading, 8", st.AuditSeq)
	}
}

// A reading never takes one of the places the ring keeps for grants, and
// waits for the batch that can carry it.
func TestClockReadingLeavesTheReserve(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	for range AuditRingSize - AuditReserve - 2 {
		w.unlock(h, 0)
	}
	for b := w.lock.DrainAudit(); b != nil; b = w.lock.DrainAudit() {
	}
	st := w.lock.State()
	if st.AuditSeq != AuditRingSize-AuditReserve || st.Unrecorded.Count != 0 {
		t.Fatalf("%d records, %d tallied: a reading took a place of the reserve", st.AuditSeq, st.Unrecorded.Count)
	}
	for _, e := range st.AuditRing[:st.AuditSeq] {
		if e.Record.Kind == AuditClock {
			t.Fatalf("reading at %d", e.Record.Seq)
		}
	}
}

// A malformed clock reading is refused by the decoder.
func TestClockReadingDecodeRules(t *testing.T) {
	good := AuditRecord{Seq: 1, LockTime: 1_700_000_000, Kind: AuditClock, Granted: true,
		Slot: uint8(ClockKnown | ClockZoneKnown | ClockZoneTable), Credential: CredentialID{1, 0, 0, 0, 2}, Value: 3}
	for _, tc := range []struct {
		name string
		edit func(r *AuditRecord)
		ok   bool
	}{
		{"good", func(*AuditRecord) {}, true},
		{"clock unknown, no zone", func(r *AuditRecord) { r.LockTime, r.Slot, r.Credential = 0, 0, CredentialID{} }, true},
		{"reason", func(r *AuditRecord) { r.Granted, r.Reason = false, access.ClockUnknown }, false},
		{"door", func(r *AuditRecord) { r.Door = 1 }, false},
		{"unknown flag", func(r *AuditRecord) { r.Slot |= 8 }, false},
		{"known without time", func(r *AuditRecord) { r.LockTime = 0 }, false},
		{"time without known", func(r *AuditRecord) { r.Slot = uint8(ClockZoneTable) }, false},
		{"zone known without table", func(r *AuditRecord) { r.Slot = uint8(ClockKnown | ClockZoneKnown) }, false},
		{"zone fields without table", func(r *AuditRecord) { r.Slot = uint8(ClockKnown) }, false},
		{"sequence number 0, like any record", func(r *AuditRecord) { r.Seq = 0 }, false},
	} {
		r := good
		tc.edit(&r)
		b := AuditBatch{Lock: testLock, N: 1}
		b.Records[0] = r
		raw, err := AppendAuditBatch(nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeAuditBatch(raw)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Any sequence of drains, acknowledgements (repeated ones too), unlocks,
// refusals, restarts and time keeps the ring's promises: the chain
// verifies, a drain writes at most one reading and only outside the
// reserve and inside the batch it hands out, readings never outnumber the
// other records plus one per interval, start and acknowledgement that
// moved, and no unacknowledged record is overwritten.
func TestClockReadingsKeepTheRingInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t)
		w.syncTime(0)
		h, _ := w.holder(baseCredential(w.key))
		interval := 6 * time.Hour
		var cur, lastAck AuditCursor
		readings, others, starts, acks := 0, 2, 1, 0
		var elapsed time.Duration
		count := func(before uint32) (int, int) {
			st := w.lock.State()
			r, o := 0, 0
			for s := before + 1; s <= st.AuditSeq; s++ {
				if st.AuditRing[(s-1)%AuditRingSize].Record.Kind == AuditClock {
					r++
				} else {
					o++
				}
			}
			return r, o
		}
		rt.Repeat(map[string]func(*rapid.T){
			"unlock": func(rt *rapid.T) {
				before := w.lock.State().AuditSeq
				w.unlock(h, uint8(rapid.IntRange(0, 1).Draw(rt, "door")))
				_, o := count(before)
				others += o
			},
			"tallied": func(rt *rapid.T) { w.lock.HandleUnlock([]byte{Version, 3, 0}) },
			"drain": func(rt *rapid.T) {
				st := w.lock.State()
				unacked := st.AuditSeq - st.AuditAcked
				b := w.lock.DrainAudit()
				r, o := count(st.AuditSeq)
				readings, others = readings+r, others+o
				if r > 1 {
					rt.Fatalf("one drain wrote %d readings", r)
				}
				if r == 1 {
					if unacked+uint32(o)+1 > AuditRingSize-AuditReserve {
						rt.Fatalf("a reading with %d records unacknowledged", unacked)
					}
					got, err := DecodeAuditBatch(b)
					if err != nil || got.Records[got.N-1].Kind != AuditClock || got.Records[got.N-1].Seq != w.lock.State().AuditSeq {
						rt.Fatalf("the reading is not the last record of the batch handed out (%v)", err)
					}
				}
				if b == nil {
					return
				}
				recs, next, err := VerifyAudit(w.pairing.AuditKey, testLock, cur, b)
				var gap *AuditGapError
				if err != nil && !errors.As(err, &gap) {
					rt.Fatal(err)
				}
				if gap == nil && len(recs) > 0 && rapid.Bool().Draw(rt, "uploaded") {
					cur = next
				}
			},
			"ack": func(rt *rapid.T) {
				if cur.Seq == 0 {
					return
				}
				if cur.Seq > lastAck.Seq || rapid.Bool().Draw(rt, "repeat") {
					a := NewAuditAck(w.pairing.AuditKey, testLock, cur)
					if err := w.lock.HandleAuditAck(AppendAuditAck(nil, &a)); err == nil {
						if cur.Seq > lastAck.Seq {
							acks++
						}
						lastAck = cur
					}
				}
			},
			"advance": func(rt *rapid.T) {
				d := time.Duration(rapid.Int64Range(0, 8*3600).Draw(rt, "seconds")) * time.Second
				w.advance(d)
				elapsed += d
			},
			"restart": func(rt *rapid.T) {
				l, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(byte(starts + 10))})
				if err != nil {
					rt.Fatal(err)
				}
				w.lock = l
				starts++
				w.resync()
				others++
			},
		})
		st := w.lock.State()
		if st.AuditSeq-st.AuditAcked > AuditRingSize {
			rt.Fatalf("%d unacknowledged records in a ring of %d", st.AuditSeq-st.AuditAcked, AuditRingSize)
		}
		if bound := others + starts + acks + int(elapsed/interval); readings > bound {
			rt.Fatalf("%d readings, %d other records, %d starts, %d acknowledgements, %v", readings, others, starts, acks, elapsed)
		}
	})
}
