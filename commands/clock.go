package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// A lock's clock and zone table, as its audit uploads show them.
//
// The lock writes a clock reading (lockproto.AuditClock) when a phone
// drains its audit; the phone notes when it read the batch
// (UploadAudit.ReadAt, network time). The reading that ends its batch was
// written at that drain, so lock time − ReadAt is the lock's offset, give
// or take the BLE exchange. A ReadAt more than a minute after the upload's
// receipt is ignored: it would let a phone hide a lock ahead (one that
// backdates ReadAt can still hide a lock behind). Without ReadAt the
// upload's receipt (the service clock) is the only reference, and it is
// later than the read by an unknown delay: lock time − receipt then only
// proves the lock is ahead by at least that much; a lock behind cannot be
// told from one in time. A reading that does not end its batch is treated
// the same way, as a lower bound. One that ends it is taken as written at
// the read: a lock whose newest reading is handed out again after a rewind
// writes a fresh one after it when the old one is more than a minute old
// (lockproto). A time sync the lock applied sets the offset to zero at its
// record; records with lock time 0 say the lock does not know the time (it
// lost its clock, or never had one); refusals for an unknown zone say its
// table gives no offset.
//
// The fold is recorded as events.ClockObserved on the lock's stream only
// when it changed meaningfully (clockChanged), so the log does not grow
// per upload. A lock whose clock is unknown or off by more than
// Options.ClockTolerance is flagged (SyncNeeded) until a later reading is
// off by less than half the tolerance (a lock around the tolerance would
// flip the flag, its warning and its event on every upload); SyncClock
// signs the time sync for the next phone's challenge.
// A lock whose zone table is stale (zoneStale) gets fresh zone rules in its
// admin queue from the ingestion itself, once: not while a time-zone
// message is pending, nor while a lock holding a table needs a time sync.

// Defaults of the clock options.
const (
	DefaultClockTolerance  = 2 * time.Minute
	DefaultZoneRenewBefore = 30 * 24 * time.Hour
	DefaultZoneRulesAhead  = 365 * 24 * time.Hour
	// clockJitter: an offset that moved less than this since the last
	// ClockObserved is not recorded again.
	clockJitter = 30 * time.Second
	// readAtSkew: a ReadAt later than the upload's receipt by more is not
	// believed (a phone cannot read a batch after uploading it; a lie
	// would hide a lock ahead).
	readAtSkew = time.Minute
	// zoneRulesBefore: re-issued zone rules start at least this long
	// before the upload (twice the tolerance if longer).
	zoneRulesBefore = 24 * time.Hour
)

// observeClock folds what an upload's new records show of the lock's
// clock onto prev. batchLast is the sequence number of the batch's last
// record; readAt is zero when the phone did not say; receipt is the
// service's time; a readAt later than receipt + readAtSkew is ignored.
// evidence says the records held a clock reading, a record with lock time
// 0 or a refusal for an unknown zone: records with a known lock time alone
// say nothing of the offset.
func observeClock(prev events.ClockObserved, lock string, recs []lockproto.AuditRecord, batchLast uint32,
	readAt, receipt time.Time, tolerance time.Duration) (o events.ClockObserved, evidence bool) {
	if readAt.After(receipt.Add(readAtSkew)) {
		readAt = time.Time{}
	}
	o = prev
	o.Lock = lock
	for i := range recs {
		r := &recs[i]
		o.AuditSeq = r.Seq
		o.Known = r.LockTime != 0
		lt := time.Unix(int64(r.LockTime), 0).UTC()
		switch {
		case r.Kind == lockproto.AuditAdmin && r.AdminType == lockproto.TypeTimeSync && r.Granted:
			// Set from the issuer's clock: in time as of this record.
			o.Offset, o.Bound, o.ReadAt, o.MeasuredAt = 0, false, false, lt
		case !r.Granted && r.Reason == access.ZoneUnknown:
			o.ZoneKnown, o.ZoneReported, evidence = false, true, true
		}
		evidence = evidence || !o.Known
		c, ok := r.Clock()
		if !ok {
			continue
		}
		evidence = true
		o.ZoneTable, o.ZoneKnown, o.ZoneReported = c.Flags&lockproto.ClockZoneTable != 0, c.Flags&lockproto.ClockZoneKnown != 0, true
		o.ZoneSeq, o.ZoneValidUntil = c.ZoneSeq, time.Time{}
		if c.ZoneValidUntil != 0 {
			o.ZoneValidUntil = time.Unix(int64(c.ZoneValidUntil), 0).UTC()
		}
		if !o.Known {
			continue
		}
		if r.Seq == batchLast && !readAt.IsZero() {
			o.Offset, o.Bound, o.ReadAt, o.MeasuredAt = lt.Sub(readAt).Truncate(time.Second), false, true, readAt
			continue
		}
		ref := receipt
		if !readAt.IsZero() {
			ref = readAt
		}
		// Only "ahead by at least b" is certain; an earlier measurement
		// that agrees with it stands.
		if b := lt.Sub(ref); o.MeasuredAt.IsZero() || o.Offset < b {
			o.Offset, o.Bound, o.ReadAt, o.MeasuredAt = max(b, 0), true, !readAt.IsZero(), ref
		}
	}
	o.SyncNeeded = syncNeeded(prev.SyncNeeded, o.Known, o.Offset, tolerance)
	return o, evidence
}

// syncNeeded flags a clock that is unknown or off by more than tolerance;
// a flag already set clears only below half the tolerance, so a lock
// drifting around the tolerance does not flip it on every upload.
func syncNeeded(flagged, known bool, offset, tolerance time.Duration) bool {
	offset = max(offset, -offset)
	switch {
	case !known:
		return true
	case flagged:
		return offset >= tolerance/2
	}
	return offset > tolerance
}

// clockChanged reports whether o is worth a ClockObserved after prev: the
// first once there is evidence, then a meaningful change.
func clockChanged(prev, o events.ClockObserved, evidence bool) bool {
	if prev.Lock == "" {
		return evidence
	}
	d := o.Offset - prev.Offset
	return o.Known != prev.Known || o.SyncNeeded != prev.SyncNeeded ||
		o.ZoneTable != prev.ZoneTable || o.ZoneKnown != prev.ZoneKnown || !o.ZoneValidUntil.Equal(prev.ZoneValidUntil) ||
		o.ZoneSeq != prev.ZoneSeq || d >= clockJitter || d <= -clockJitter
}

// zoneStale says why the lock's zone table needs fresh rules at now, or
// "": the lock holds none, it gave no offset for the lock's known time,
// it ends within renew, or the lock holds the last table sent and the
// rules the service would send now (want) give other offsets over their
// common span (the zone's rules changed, e.g. new tzdata).
func zoneStale(o events.ClockObserved, sent *lockproto.ZoneRules, sentSeq uint32, want *lockproto.ZoneRules, now time.Time, renew time.Duration) string {
	switch {
	case o.Lock == "" || !o.ZoneReported:
		return "" // the audit has not shown the lock's table yet
	case o.Known && !o.ZoneKnown:
		return "the lock has no zone offset for its time"
	case !o.ZoneTable:
		return "the lock holds no zone table"
	case !o.ZoneValidUntil.IsZero() && o.ZoneValidUntil.Sub(now) < renew:
		return fmt.Sprintf("the lock's zone table ends %s", o.ZoneValidUntil.Format(time.RFC3339))
	case sent != nil && want != nil && o.ZoneSeq == sentSeq && !sameOffsets(sent, want, now):
		return "the zone's rules changed since its table was sent"
	}
	return ""
}

// sameOffsets reports whether a and b give the same offset (or both none)
// from now until the first of them ends: at now and at every transition
// of either in between.
func sameOffsets(a, b *lockproto.ZoneRules, now time.Time) bool {
	from := uint32(max(0, min(now.Unix(), 1<<32-1)))
	end := uint64(1 << 32)
	for _, z := range []*lockproto.ZoneRules{a, b} {
		if z.ValidUntil != 0 {
			end = min(end, uint64(z.ValidUntil))
		}
	}
	same := func(t uint32) bool {
		oa, ka := a.OffsetAt(t)
		ob, kb := b.OffsetAt(t)
		return ka == kb && oa == ob
	}
	if uint64(from) >= end {
		return true
	}
	if !same(from) {
		return false
	}
	for _, z := range []*lockproto.ZoneRules{a, b} {
		for _, tr := range z.Transitions[:min(int(z.N), len(z.Transitions))] {
			if tr.From > from && uint64(tr.From) < end && !same(tr.From) {
				return false
			}
		}
	}
	return true
}

// zoneRulesFor derives the rules the service would send lock l for [from,
// until) from its IANA zone.
func zoneRulesFor(l *LockState, from, until time.Time) (lockproto.ZoneRules, error) {
	loc, err := policy.LoadZone(l.Zone)
	if err != nil {
		return lockproto.ZoneRules{}, invalid("zone", "lock %q: %q: %v", l.ID, l.Zone, err)
	}
	rules, err := lockproto.ZoneRulesFor(loc, from, until)
	if err != nil {
		return lockproto.ZoneRules{}, invalid("zone", "lock %q: %v", l.ID, err)
	}
	return rules, nil
}

// reissueRules derives the rules the ingestion re-issues to lock l at now:
// from well before now (a lock a little behind needs offsets for its own
// time, or its fresh table is stale at once) to ZoneRulesAhead after.
func (s *Service) reissueRules(l *LockState, now time.Time) (lockproto.ZoneRules, error) {
	before := max(zoneRulesBefore, 2*s.clockOpts.tolerance)
	return zoneRulesFor(l, now.Add(-before), now.Add(s.clockOpts.ahead))
}

// zoneMessage signs lock l's zone rules as admin message seq: what
// SendZoneRules and the ingestion's re-issue queue.
func (s *Service) zoneMessage(l *LockState, seq uint32, rules lockproto.ZoneRules) (events.AdminIssued, error) {
	a := events.AdminIssued{Lock: l.ID, Seq: seq, Type: lockproto.TypeTimeZone}
	if a.Seq == 0 {
		return events.AdminIssued{}, invalid("admin sequence", "lock %q has used every sequence number", l.ID)
	}
	var err error
	if a.Message, err = s.issuer.TimeZone(LockUUID(l.ID), a.Seq, rules); err != nil {
		return events.AdminIssued{}, err
	}
	return a, nil
}

// sentZone returns the table of the last time-zone message issued to l.
func sentZone(l *LockState) (*lockproto.ZoneRules, uint32) {
	if l.ZoneSent.Seq == 0 {
		return nil, 0
	}
	a, err := lockproto.DecodeAdmin(l.ZoneSent.Message)
	if err != nil {
		return nil, 0
	}
	return &a.Zone, l.ZoneSent.Seq
}

// clockUpload is the clock part of one audit upload (decideAudit).
type clockUpload struct {
	obs       events.ClockObserved
	changed   bool
	zoneWhy   string
	zoneQueue events.AdminIssued // Seq 0: none queued
}

// decideClock folds the upload's new records onto the lock's clock state
// and queues fresh zone rules when the table is stale and none are
// pending. seen is the highest admin sequence number the lock consumed,
// nextSeq the highest issued, both after the upload; zonePending says a
// time-zone message is still on its way.
func (s *Service) decideClock(t *txn, l *LockState, c UploadAudit, recs []lockproto.AuditRecord, batchLast, nextSeq uint32, zonePending bool) (clockUpload, error) {
	var u clockUpload
	var evidence bool
	u.obs, evidence = observeClock(l.Clock, c.Lock, recs, batchLast, c.ReadAt, t.now, s.clockOpts.tolerance)
	u.changed = clockChanged(l.Clock, u.obs, evidence)
	if l.Clock.Lock == "" && !evidence {
		u.obs = l.Clock // nothing known yet: nothing to judge
		return u, nil
	}
	sent, sentSeq := sentZone(l)
	var want *lockproto.ZoneRules
	if sent != nil {
		if w, err := s.reissueRules(l, t.now); err == nil {
			want = &w
		}
	}
	u.zoneWhy = zoneStale(u.obs, sent, sentSeq, want, t.now, s.clockOpts.renewBefore)
	// A lock with a table and a wrong clock may find no offset only because
	// of its clock: fresh rules wait for the sync.
	wrongClock := u.obs.SyncNeeded && u.obs.ZoneTable
	if u.zoneWhy == "" || zonePending || wrongClock || s.issuer == nil {
		return u, nil
	}
	rules, err := s.reissueRules(l, t.now)
	if err != nil {
		return u, nil // a zone the service cannot derive: shown, not queued
	}
	u.zoneQueue, err = s.zoneMessage(l, nextSeq+1, rules)
	return u, err
}

// clockAfterAudit runs decideClock on the records of an upload past the
// cursor before it (records filling a gap are older than what is known)
// and emits what it decided.
func (s *Service) clockAfterAudit(t *txn, l *LockState, c UploadAudit, recs []lockproto.AuditRecord, before, batchLast, nextSeq uint32,
	zonePending bool, emit func(string, uint32, any), res *AuditResult) error {
	i := 0
	for i < len(recs) && recs[i].Seq <= before {
		i++
	}
	if i == len(recs) {
		return nil
	}
	recs = recs[i:]
	u, err := s.decideClock(t, l, c, recs, batchLast, nextSeq, zonePending)
	if err != nil {
		return err
	}
	last := recs[len(recs)-1].Seq
	res.SyncNeeded = u.obs.SyncNeeded
	if u.changed {
		emit(lockStream(c.Lock), last, u.obs)
	}
	if u.zoneQueue.Seq != 0 {
		emit(lockStream(c.Lock), last, u.zoneQueue)
		res.ZoneQueued = u.zoneQueue.Seq
	}
	return nil
}

// clockOptions are the service's clock thresholds (Options).
type clockOptions struct {
	tolerance, renewBefore, ahead time.Duration
}

// clockOptionsOf fills in the defaults. Rules that reach no further than
// ZoneRenewBefore would be stale as they are sent, and re-issued on every
// upload: that is a *ValidationError for field "ZoneRulesAhead".
func clockOptionsOf(o *Options) (clockOptions, error) {
	c := clockOptions{tolerance: o.ClockTolerance, renewBefore: o.ZoneRenewBefore, ahead: o.ZoneRulesAhead}
	if c.tolerance <= 0 {
		c.tolerance = DefaultClockTolerance
	}
	if c.renewBefore <= 0 {
		c.renewBefore = DefaultZoneRenewBefore
	}
	if c.ahead <= 0 {
		c.ahead = DefaultZoneRulesAhead
	}
	if c.ahead <= c.renewBefore {
		return c, invalid("ZoneRulesAhead", "%v is not longer than ZoneRenewBefore, %v: every zone table sent would be stale at once",
			c.ahead, c.renewBefore)
	}
	return c, nil
}

// ClockHealth is a lock's clock and zone table as its audit uploads
// showed them (see the package documentation, Lock clocks).
type ClockHealth struct {
	Lock string
	// Observed: an upload has shown the lock's clock; the rest is zero
	// before.
	Observed bool
	Known    bool // the lock trusted its clock
	// Offset is how far the lock is ahead (negative: behind) as of
	// MeasuredAt. Bound: it is only a lower bound (no read time came with
	// the batch): a lock behind is not detectable then.
	Offset     time.Duration
	Bound      bool
	MeasuredAt time.Time
	// SyncNeeded: the clock is unknown or off by more than the tolerance
	// (once set, until it is off by less than half); SyncClock returns the
	// time sync for the next phone's challenge.
	SyncNeeded bool
	// The lock's zone table, once ZoneReported (a clock reading or a
	// refusal for an unknown zone said it): whether it holds one, whether
	// it gave an offset for the lock's time, and where it ends (zero:
	// never).
	ZoneReported   bool
	ZoneTable      bool
	ZoneKnown      bool
	ZoneValidUntil time.Time
	// ZoneStale says why the table needs fresh rules ("" = it does not);
	// ZonePending that a time-zone message is on its way to the lock.
	ZoneStale   string
	ZonePending bool
}

// ClockHealth reads a lock's clock health straight from the log, at the
// service's time. Errors: *NotFoundError for an unknown lock, ErrInvalid
// for a bad ID.
func (s *Service) ClockHealth(ctx context.Context, lock string) (ClockHealth, error) {
	if err := checkID("lock", lock); err != nil {
		return ClockHealth{}, err
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return ClockHealth{}, err
	}
	if !l.Exists() {
		return ClockHealth{}, &NotFoundError{What: "lock", ID: lock}
	}
	o := l.Clock
	h := ClockHealth{Lock: lock, Observed: o.Lock != "", ZoneReported: o.ZoneReported, Known: o.Known, Offset: o.Offset, Bound: o.Bound,
		MeasuredAt: o.MeasuredAt, SyncNeeded: o.SyncNeeded, ZoneTable: o.ZoneTable, ZoneKnown: o.ZoneKnown,
		ZoneValidUntil: o.ZoneValidUntil, ZonePending: zonePending(l.Pending, 0)}
	now := s.clock()
	sent, sentSeq := sentZone(l)
	var want *lockproto.ZoneRules
	if sent != nil {
		if w, err := s.reissueRules(l, now); err == nil {
			want = &w
		}
	}
	h.ZoneStale = zoneStale(o, sent, sentSeq, want, now, s.clockOpts.renewBefore)
	return h, nil
}

// zonePending reports whether a time-zone message above seen is pending.
func zonePending(pending []events.AdminIssued, seen uint32) bool {
	for _, p := range pending {
		if p.Type == lockproto.TypeTimeZone && p.Seq > seen {
			return true
		}
	}
	return false
}

// SyncClock returns the signed time sync (lockproto admin 0x13) for the
// lock's challenge (the frame Lock.Challenge returned, as the phone holds
// it), at the service's time — when the lock needs one: its audit flagged
// it (ClockHealth.SyncNeeded) or the challenge says its clock is unknown.
// Otherwise it returns nil, unless force. The message is bound to the
// challenge's nonce, so it is signed only now, for this visit, never
// queued. Errors: *NotFoundError for an unknown lock, ErrInvalid for a bad
// ID, a challenge that does not decode or is another lock's, or a service
// without an issuer.
func (s *Service) SyncClock(ctx context.Context, lock string, challenge []byte, force bool) ([]byte, error) {
	if err := checkID("lock", lock); err != nil {
		return nil, err
	}
	ch, err := lockproto.DecodeChallenge(challenge)
	if err != nil {
		return nil, invalid("challenge", "%v", err)
	}
	if ch.Lock != LockUUID(lock) {
		return nil, invalid("challenge", "from lock %v, not lock %q", ch.Lock, lock)
	}
	if s.issuer == nil {
		return nil, invalid("issuer", "a time sync is signed: set Options.Issuer")
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return nil, err
	}
	if !l.Exists() {
		return nil, &NotFoundError{What: "lock", ID: lock}
	}
	if !force && !l.Clock.SyncNeeded && ch.Flags&lockproto.FlagClockKnown != 0 {
		return nil, nil
	}
	return s.issuer.TimeSync(ch.Lock, ch.Nonce, s.clock())
}
