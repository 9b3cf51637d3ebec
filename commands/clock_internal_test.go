package commands

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
)

var clockT0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// reading is a clock reading record at lock time lt (zero: unknown) with a
// zone table ending at end (zero: forever).
func reading(seq uint32, lt time.Time, end time.Time) lockproto.AuditRecord {
	r := lockproto.AuditRecord{Seq: seq, Kind: lockproto.AuditClock, Granted: true, Value: 1}
	f := lockproto.ClockZoneTable
	if !lt.IsZero() {
		r.LockTime = uint32(lt.Unix())
		f |= lockproto.ClockKnown | lockproto.ClockZoneKnown
	}
	if !end.IsZero() {
		binary.LittleEndian.PutUint32(r.Credential[0:], uint32(end.Unix()))
	}
	binary.LittleEndian.PutUint32(r.Credential[4:], 2)
	r.Slot = uint8(f)
	return r
}

func unlockAt(seq uint32, lt time.Time, reason access.Reason) lockproto.AuditRecord {
	r := lockproto.AuditRecord{Seq: seq, Kind: lockproto.AuditUnlock, Reason: reason, Granted: reason == access.Granted}
	if !lt.IsZero() {
		r.LockTime = uint32(lt.Unix())
	}
	return r
}

// The offset rules: what each upload proves of the lock's clock.
func TestObserveClockRules(t *testing.T) {
	read := clockT0                       // when the phone read the batch
	receipt := clockT0.Add(3 * time.Hour) // when it reached the service
	measured := events.ClockObserved{Lock: "front", Known: true, Offset: -5 * time.Minute, MeasuredAt: clockT0.Add(-time.Hour),
		ReadAt: true, ZoneTable: true, ZoneKnown: true, SyncNeeded: true}
	for _, tc := range []struct {
		name       string
		prev       events.ClockObserved
		recs       []lockproto.AuditRecord
		readAt     time.Time
		offset     time.Duration
		bound      bool
		known      bool
		syncNeeded bool
		zoneKnown  bool
	}{
		{name: "ahead, read time known", recs: []lockproto.AuditRecord{reading(5, read.Add(10*time.Minute), time.Time{})},
			readAt: read, offset: 10 * time.Minute, known: true, syncNeeded: true, zoneKnown: true},
		{name: "behind, read time known", recs: []lockproto.AuditRecord{reading(5, read.Add(-4*time.Minute), time.Time{})},
			readAt: read, offset: -4 * time.Minute, known: true, syncNeeded: true, zoneKnown: true},
		{name: "within the tolerance", recs: []lockproto.AuditRecord{reading(5, read.Add(90*time.Second), time.Time{})},
			readAt: read, offset: 90 * time.Second, known: true, zoneKnown: true},
		{name: "behind without a read time is undetectable", recs: []lockproto.AuditRecord{reading(5, read.Add(-4*time.Minute), time.Time{})},
			offset: 0, bound: true, known: true, zoneKnown: true},
		{name: "ahead of the receipt without a read time", recs: []lockproto.AuditRecord{reading(5, receipt.Add(10*time.Minute), time.Time{})},
			offset: 10 * time.Minute, bound: true, known: true, syncNeeded: true, zoneKnown: true},
		{name: "a read time after the receipt is ignored", recs: []lockproto.AuditRecord{reading(5, receipt.Add(10*time.Minute), time.Time{})},
			readAt: receipt.Add(10 * time.Minute), offset: 10 * time.Minute, bound: true, known: true, syncNeeded: true, zoneKnown: true},
		{name: "a read time within a minute after the receipt stands", recs: []lockproto.AuditRecord{reading(5, receipt.Add(90*time.Second), time.Time{})},
			readAt: receipt.Add(time.Minute), offset: 30 * time.Second, known: true, zoneKnown: true},
		{name: "an earlier measurement agreeing with a bound stands", prev: measured,
			recs:   []lockproto.AuditRecord{reading(5, receipt.Add(-time.Hour), time.Time{})},
			offset: -5 * time.Minute, known: true, syncNeeded: true, zoneKnown: true},
		{name: "a reading that does not end its batch is only a bound",
			recs:   []lockproto.AuditRecord{reading(5, read.Add(-4*time.Minute), time.Time{}), unlockAt(6, read, access.Granted)},
			readAt: read, offset: 0, bound: true, known: true, zoneKnown: true},
		{name: "lost clock", prev: events.ClockObserved{Lock: "front", Known: true, ZoneTable: true, ZoneKnown: true},
			recs:       []lockproto.AuditRecord{unlockAt(5, read, access.Granted), unlockAt(6, time.Time{}, access.ClockUnknown)},
			syncNeeded: true, zoneKnown: true},
		{name: "never had a clock", recs: []lockproto.AuditRecord{reading(5, time.Time{}, time.Time{})}, readAt: read, syncNeeded: true},
		{name: "a time sync applied puts it in time", prev: measured,
			recs:  []lockproto.AuditRecord{{Seq: 5, LockTime: uint32(read.Unix()), Kind: lockproto.AuditAdmin, AdminType: lockproto.TypeTimeSync, Granted: true}},
			known: true, zoneKnown: true},
		{name: "zone unknown refusal", prev: events.ClockObserved{Lock: "front", Known: true, ZoneTable: true, ZoneKnown: true},
			recs: []lockproto.AuditRecord{unlockAt(5, read, access.ZoneUnknown)}, known: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last := tc.recs[len(tc.recs)-1].Seq
			o, evidence := observeClock(tc.prev, "front", tc.recs, last, tc.readAt, receipt, DefaultClockTolerance)
			if !evidence && tc.prev.Lock == "" {
				t.Fatal("no evidence")
			}
			if o.Offset != tc.offset || o.Bound != tc.bound || o.Known != tc.known || o.SyncNeeded != tc.syncNeeded || o.ZoneKnown != tc.zoneKnown {
				t.Fatalf("got offset %v bound %v known %v sync %v zone %v; want %v %v %v %v %v", o.Offset, o.Bound, o.Known, o.SyncNeeded,
					o.ZoneKnown, tc.offset, tc.bound, tc.known, tc.syncNeeded, tc.zoneKnown)
			}
			if o.AuditSeq != last {
				t.Fatalf("audit seq %d, want %d", o.AuditSeq, last)
			}
		})
	}
}

// A flagged lock stays flagged until its clock is off by less than half
// the tolerance; an unflagged one is flagged past the tolerance.
func TestSyncNeededHysteresis(t *testing.T) {
	tol := DefaultClockTolerance
	for _, tc := range []struct {
		flagged bool
		offset  time.Duration
		want    bool
	}{
		{false, tol, false},
		{false, -tol, false},
		{false, tol + time.Second, true},
		{false, -tol - time.Second, true},
		{true, tol, true},
		{true, tol / 2, true},
		{true, -tol / 2, true},
		{true, tol/2 - time.Second, false},
		{true, -tol/2 + time.Second, false},
	} {
		prev := events.ClockObserved{Lock: "front", Known: true, ZoneTable: true, ZoneKnown: true, SyncNeeded: tc.flagged}
		o, _ := observeClock(prev, "front", []lockproto.AuditRecord{reading(5, clockT0.Add(tc.offset), time.Time{})}, 5,
			clockT0, clockT0, tol)
		if o.SyncNeeded != tc.want {
			t.Errorf("flagged %v, offset %v: sync needed %v, want %v", tc.flagged, tc.offset, o.SyncNeeded, tc.want)
		}
	}

	// A lock drifting around the tolerance is flagged once and recorded
	// once, not on every upload.
	prev := events.ClockObserved{Lock: "front", Known: true, ZoneTable: true, ZoneKnown: true, ZoneReported: true, ZoneSeq: 2}
	changes := 0
	for i, d := range []time.Duration{125, 115, 125, 115, 125, 115} {
		o, evidence := observeClock(prev, "front", []lockproto.AuditRecord{reading(uint32(5+i), clockT0.Add(d*time.Second), time.Time{})},
			uint32(5+i), clockT0, clockT0, tol)
		if clockChanged(prev, o, evidence) {
			changes++
			prev = o
		}
	}
	if changes != 1 || !prev.SyncNeeded {
		t.Errorf("%d clock events around the tolerance, flagged %v; want 1, flagged", changes, prev.SyncNeeded)
	}
}

// Only a meaningful change is recorded again.
func TestClockChangedRules(t *testing.T) {
	base := events.ClockObserved{Lock: "front", Known: true, Offset: time.Minute, ZoneTable: true, ZoneKnown: true}
	for _, tc := range []struct {
		name string
		edit func(o *events.ClockObserved)
		want bool
	}{
		{"same", func(*events.ClockObserved) {}, false},
		{"offset moved 29 s", func(o *events.ClockObserved) { o.Offset += 29 * time.Second }, false},
		{"offset moved 30 s", func(o *events.ClockObserved) { o.Offset -= 30 * time.Second }, true},
		{"clock lost", func(o *events.ClockObserved) { o.Known = false }, true},
		{"sync flag", func(o *events.ClockObserved) { o.SyncNeeded = true }, true},
		{"zone table end", func(o *events.ClockObserved) { o.ZoneValidUntil = clockT0 }, true},
		{"zone table seq", func(o *events.ClockObserved) { o.ZoneSeq = 9 }, true},
		{"later measurement only", func(o *events.ClockObserved) { o.MeasuredAt, o.AuditSeq = clockT0, 99 }, false},
	} {
		o := base
		tc.edit(&o)
		if got := clockChanged(base, o, false); got != tc.want {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.want)
		}
	}
	if !clockChanged(events.ClockObserved{}, base, true) {
		t.Error("the first observation is not recorded")
	}
	// Records that only carry a known lock time (a lock that writes no
	// clock readings) say nothing of its offset: nothing is recorded.
	o, evidence := observeClock(events.ClockObserved{}, "front", []lockproto.AuditRecord{unlockAt(3, clockT0, access.Granted)}, 3,
		time.Time{}, clockT0, DefaultClockTolerance)
	if evidence || clockChanged(events.ClockObserved{}, o, evidence) {
		t.Error("a known lock time alone was recorded")
	}
}

// When the lock's zone table needs fresh rules.
func TestZoneStaleRules(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	now := clockT0
	sent, err := lockproto.ZoneRulesFor(loc, now.AddDate(0, 0, -1), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := lockproto.ZoneRulesFor(loc, now, now.AddDate(1, 0, 0))
	changed := sent // new tzdata: summer time starts a week later
	changed.Transitions[1].From += 7 * 24 * 3600
	fresh := events.ClockObserved{Lock: "front", Known: true, ZoneTable: true, ZoneKnown: true, ZoneSeq: 2, ZoneReported: true,
		ZoneValidUntil: time.Unix(int64(sent.ValidUntil), 0)}
	for _, tc := range []struct {
		name  string
		edit  func(o *events.ClockObserved)
		sent  *lockproto.ZoneRules
		stale bool
	}{
		{"fresh", func(*events.ClockObserved) {}, &sent, false},
		{"never observed", func(o *events.ClockObserved) { *o = events.ClockObserved{} }, &sent, false},
		{"not reported by a reading", func(o *events.ClockObserved) { o.ZoneReported, o.ZoneTable, o.ZoneKnown = false, false, false }, nil, false},
		{"no table", func(o *events.ClockObserved) { o.ZoneTable, o.ZoneKnown, o.ZoneSeq = false, false, 0 }, nil, true},
		{"zone unknown at the lock's time", func(o *events.ClockObserved) { o.ZoneKnown = false }, &sent, true},
		{"zone unknown with the clock unknown", func(o *events.ClockObserved) { o.Known, o.ZoneKnown = false, false }, &sent, false},
		{"ends within 30 days", func(o *events.ClockObserved) { o.ZoneValidUntil = now.AddDate(0, 0, 29) }, &sent, true},
		{"ends in 31 days", func(o *events.ClockObserved) { o.ZoneValidUntil = now.AddDate(0, 0, 31) }, &sent, false},
		{"never ends", func(o *events.ClockObserved) { o.ZoneValidUntil = time.Time{} }, &sent, false},
		{"tzdata changed the table sent", func(*events.ClockObserved) {}, &changed, true},
		{"tzdata changed, the lock holds another table", func(o *events.ClockObserved) { o.ZoneSeq = 1 }, &changed, false},
	} {
		o := fresh
		tc.edit(&o)
		why := zoneStale(o, tc.sent, 2, &want, now, DefaultZoneRenewBefore)
		if (why != "") != tc.stale {
			t.Errorf("%s: %q, want stale %v", tc.name, why, tc.stale)
		}
	}
}
