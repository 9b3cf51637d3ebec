package commands

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// Back from the lock: IngestAudit verifies a batch of the lock's audit
// records and appends them to history once each, at the lock's own time, and
// confirms the deactivations the lock applied.

// auditStream holds a lock's uploaded audit records, in its sequence order.
func auditStream(lock string) string { return "lockaudit-" + lock }

// auditAAD binds a lock's sealed audit key to the lock.
func auditAAD(lock string) []byte { return []byte("keyledger/lock\x00" + lock + "\x00audit key") }

// auditState is the fold of a lock's audit stream: the last record recorded
// (cursor) and the runs of records before it not recorded yet (gaps).
type auditState struct {
	cursor lockproto.AuditCursor
	gaps   []events.AuditGap // in sequence order, disjoint
}

func (a *auditState) evolve(ev ledger.Event) {
	switch e := ev.Data.(type) {
	case events.AuditGap:
		a.gaps = append(slices.Clip(a.gaps), e)
	case events.AuditRecorded:
		if e.Seq > a.cursor.Seq {
			a.cursor = lockproto.AuditCursor{Seq: e.Seq, Tag: e.Tag}
			return
		}
		i := a.gapOf(e.Seq)
		if i < 0 {
			return
		}
		// The record fills part of the gap: what is left after it stays a
		// gap (what is left before it was appended as its own AuditGap just
		// before this record, since only the upload knew its link).
		g := a.gaps[i]
		var rest []events.AuditGap
		if e.Seq+1 < g.First {
			rest = append(rest, events.AuditGap{Lock: g.Lock, By: g.By, After: e.Seq, AfterTag: e.Tag, First: g.First, Link: g.Link})
		}
		a.gaps = slices.Concat(a.gaps[:i], rest, a.gaps[i+1:])
	}
}

// gapOf returns the index of the gap holding record seq, or -1.
func (a *auditState) gapOf(seq uint32) int {
	for i, g := range a.gaps {
		if g.After < seq && seq < g.First {
			return i
		}
	}
	return -1
}

func (a *auditState) clone() aggregate {
	c := *a
	c.gaps = slices.Clip(a.gaps) // evolve never writes in place
	return &c
}

// ErrAudit means an audit batch was refused: it does not verify under the
// lock's audit key (forged, altered, truncated, from another lock, or
// forking the records already recorded). See AuditError.
var ErrAudit = errors.New("commands: audit batch refused")

// AuditError names the lock whose batch was refused and lockproto's reason
// (errors.Is with lockproto.ErrMAC, ErrMalformed, ErrWrongLock …).
type AuditError struct {
	Lock string
	Err  error
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("commands: audit batch for lock %q refused: %v", e.Lock, e.Err)
}

// Unwrap makes errors.Is true for ErrAudit and for lockproto's error.
func (e *AuditError) Unwrap() []error { return []error{ErrAudit, e.Err} }

// UploadAudit is a batch of a lock's audit records (lockproto.Lock.DrainAudit
// or AuditFrom) carried to the backend by a phone.
type UploadAudit struct {
	Lock  string
	By    string // the account or device that carried it
	Batch []byte
	// ReadAt is when the phone read the batch from the lock, on its
	// network time; zero if it does not know. With it the lock's clock
	// reading gives its offset; without it the upload's receipt bounds it
	// (clock.go).
	ReadAt time.Time
}

// AuditResult is what an upload added.
type AuditResult struct {
	Lock       string
	New        int    // records appended to the history
	Duplicates int    // records already recorded by an earlier upload
	Cursor     uint32 // the lock's last audit sequence number now recorded
	// Gap is set when records were missing between what was recorded and
	// this batch (the lock overwrote them): the batch's records are
	// recorded all the same, and the gap is in the lock's history.
	Gap *lockproto.AuditGapError
	// Confirmed lists keys whose deactivation the lock confirmed.
	Confirmed []string
	// Applied lists admin sequence numbers the lock consumed; Reissued those
	// issued anew because the lock can no longer apply the pending message
	// (more than its window below the highest it applied).
	Applied, Reissued []uint32
	// Ack is the acknowledgement for the lock (lockproto.AuditAck) of every
	// record now stored without a gap; the phone delivers it
	// (Lock.HandleAuditAck). The lock keeps records until acknowledged and
	// refuses grants when it holds no room for more. Nil when there is
	// nothing to acknowledge.
	Ack []byte
	// SyncNeeded: the lock's clock is unknown or off by more than
	// Options.ClockTolerance (ClockHealth); SyncClock signs its time sync.
	SyncNeeded bool
	// ZoneQueued is the sequence number of fresh zone rules this upload
	// queued for the lock because its table was stale (0: none).
	ZoneQueued uint32
	// PassageOpens is how many opens in passage mode the new records stand
	// for: a record may tally many (AuditRecorded.Value).
	PassageOpens int
	// SuspensionsRefused lists keys whose suspension the lock refused
	// (access.RevocationsFull: its suspension table is full). They still
	// open there, though refused online: apps prompt the owner to revoke,
	// deactivate or reset the key, or to reset every key of the lock
	// (doc.go, "A suspension the lock refuses").
	SuspensionsRefused []string
}

// IngestAudit verifies an audit batch with the lock's audit key (sealed at
// RegisterLock) and appends every record not yet recorded, once: event
// IDs derive from the lock and the record's sequence number, and the lock's
// cursor (the last record and its tag) lives in the stream
// "lockaudit-<lock>", appended with an exact expected version. So the same
// batch uploaded twice, or overlapping batches from two phones, record each
// record once. With the records, in the same atomic append:
//
//   - granted offline unlocks count toward their key's uses
//     (OfflineUnlocksCounted), so an exhausted key is EXHAUSTED and refused
//     online too;
//   - admin messages the lock consumed stop being pending (AdminApplied); a
//     deactivation it applied confirms the key's deactivation
//     (DeactivationConfirmed, the slot freed at the next generation);
//   - a pending message below one the lock applied stays pending while the
//     lock can still apply it (a phone delivered a later one first: the lock
//     applies the earlier one whenever it arrives, and its record counts
//     as applied then); once it is older than the lock's window of sequence
//     numbers (lockproto.AdminTooOld) it is issued again under a new
//     sequence number, if it still states what is wanted (stillWanted);
//   - records missing before the batch are an AuditGap event and
//     AuditResult.Gap; a later upload of them fills the gap (records of a
//     gap must chain to the recorded ones on both sides, or the batch is
//     refused as a fork).
//
// Errors: *NotFoundError for an unknown lock, ErrInvalid for a lock without
// an audit key or a service without a vault, *AuditError (ErrAudit) for a
// batch that does not verify. Nothing is appended on error.
func (s *Service) IngestAudit(ctx context.Context, c UploadAudit) (AuditResult, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return AuditResult{}, err
	}
	if len(c.Batch) == 0 {
		return AuditResult{}, invalid("batch", "empty")
	}
	if err := s.needVault(); err != nil {
		return AuditResult{}, err
	}
	l, err := s.lockNow(ctx, c.Lock)
	if err != nil {
		return AuditResult{}, err
	}
	if !l.Exists() {
		return AuditResult{}, &NotFoundError{What: "lock", ID: c.Lock}
	} else if len(l.AuditKey) == 0 {
		return AuditResult{}, invalid("lock", "%q was registered without its audit key (RegisterLock.AuditKey)", c.Lock)
	}
	key, err := s.vault.Open(ctx, l.AuditKey, auditAAD(c.Lock))
	if err != nil {
		return AuditResult{}, vaultErr(err, "")
	}
	kb := key.Reveal()
	if len(kb) != 32 {
		clear(kb)
		return AuditResult{}, invalid("lock", "%q: audit key of %d bytes", c.Lock, len(kb))
	}
	auditKey := [32]byte(kb)
	clear(kb)
	defer clear(auditKey[:])

	lockID := LockUUID(c.Lock)
	sum := sha256.Sum256(c.Batch)
	cmd := uuid.NewSHA1(lockID, append([]byte("audit batch\x00"), sum[:]...))
	var res AuditResult
	for try := 0; ; try++ {
		// The command ID is the batch's digest: nothing else can reuse it.
		_, err = s.executeOn(ctx, cmd, auditStream(c.Lock), nil, func(t *txn) error {
			res = AuditResult{Lock: c.Lock}
			return s.decideAudit(t, c, lockID, &auditKey, &res)
		})
		// Another process recorded some of these records first (their event
		// IDs are the records'): catch up and record only the rest.
		if errors.Is(err, ledger.ErrDuplicateID) && try < 3 {
			s.cache.stale(auditStream(c.Lock))
			s.cache.stale(lockStream(c.Lock))
			continue
		}
		break
	}
	if err != nil {
		return AuditResult{}, err
	}
	return res, nil
}

func (s *Service) decideAudit(t *txn, c UploadAudit, lockID uuid.UUID, auditKey *[32]byte, res *AuditResult) error {
	l, err := t.lock(c.Lock)
	if err != nil {
		return err
	}
	a, err := t.load(auditStream(c.Lock), func() aggregate { return &auditState{} })
	if err != nil {
		return err
	}
	st := a.clone().(*auditState) // evolved below with the events decided
	res.Cursor = st.cursor.Seq
	res.SyncNeeded = l.Clock.SyncNeeded
	before := st.cursor.Seq
	// Every tag and the chain inside the batch under the lock's key; how the
	// batch joins what is recorded is checked below.
	recs, _, verr := lockproto.VerifyAudit(*auditKey, lockID, lockproto.AuditCursor{}, c.Batch)
	var gap *lockproto.AuditGapError
	if verr != nil && !errors.As(verr, &gap) {
		return &AuditError{Lock: c.Lock, Err: verr}
	}
	b, err := lockproto.DecodeAuditBatch(c.Batch)
	if err != nil {
		return &AuditError{Lock: c.Lock, Err: err}
	}
	fork := func(seq uint32) error {
		return &AuditError{Lock: c.Lock, Err: fmt.Errorf("%w: audit record %d does not chain to the records recorded", lockproto.ErrMAC, seq)}
	}

	// Event IDs: lock, record sequence number, index of the event among
	// those the record caused.
	n := map[uint32]int{}
	emit := func(stream string, seq uint32, ev any) {
		t.emitID(stream, uuid.NewSHA1(lockID, fmt.Appendf(nil, "audit\x00%d\x00%d", seq, n[seq])), ev)
		n[seq]++
	}
	stream := auditStream(c.Lock)
	var fresh []lockproto.AuditRecord
	for i, r := range recs {
		prev := b.PrevTag
		if i > 0 {
			prev = recs[i-1].Tag
		}
		cur := st.cursor
		switch {
		case r.Seq == cur.Seq:
			if r.Tag != cur.Tag {
				return fork(r.Seq)
			}
			continue
		case r.Seq == cur.Seq+1:
			if prev != cur.Tag {
				return fork(r.Seq)
			}
		case r.Seq > cur.Seq:
			g := events.AuditGap{Lock: c.Lock, By: c.By, After: cur.Seq, AfterTag: cur.Tag, First: r.Seq, Link: prev}
			emit(stream, r.Seq, g)
			st.evolve(ledger.Event{Data: g})
			res.Gap = &lockproto.AuditGapError{After: cur.Seq, First: r.Seq}
		default: // before the cursor: new only inside a gap
			gi := st.gapOf(r.Seq)
			if gi < 0 {
				continue
			}
			g := st.gaps[gi]
			if (r.Seq == g.After+1 && prev != g.AfterTag) || (r.Seq+1 == g.First && r.Tag != g.Link) {
				return fork(r.Seq)
			}
			if r.Seq > g.After+1 { // records before this one are still missing
				left := events.AuditGap{Lock: c.Lock, By: c.By, After: g.After, AfterTag: g.AfterTag, First: r.Seq, Link: prev}
				emit(stream, r.Seq, left)
				st.evolve(ledger.Event{Data: left})
			}
		}
		st.evolve(ledger.Event{Data: events.AuditRecorded{Seq: r.Seq, Tag: r.Tag}})
		fresh = append(fresh, r)
	}
	res.Duplicates = len(recs) - len(fresh)
	res.Cursor = st.cursor.Seq
	res.Ack = ackFor(st, lockID, auditKey)
	if len(fresh) == 0 {
		return nil
	}
	res.New = len(fresh)
	recs = fresh
	type counted struct {
		n, last uint32
		first   time.Time // lock time of the first granted record that had one
	}
	uses := map[string]*counted{}
	var order []string
	view := syncView{t: t, moved: map[string]events.LockSync{}}
	pending := l.Pending // issued, not yet seen; shrinks as records show them
	seen, nextSeq, rotated := l.AdminSeen, l.nextAdminSeq()-1, l.Rotated
	codes := codeUpload{t: t, lock: c.Lock} // offlinecodes.go
	zoneAgain := false                      // a time-zone message was issued again
	for i := range recs {
		r := &recs[i]
		ev := events.AuditRecorded{Lock: c.Lock, By: c.By, Seq: r.Seq, Kind: r.Kind, Granted: r.Granted, Reason: r.Reason,
			Code: uint8(r.Reason), Credential: r.Credential, AdminType: r.AdminType, Value: r.Value, Tag: r.Tag}
		if r.Granted {
			ev.Reason = access.Granted
		}
		if r.LockTime != 0 {
			ev.LockTime = time.Unix(int64(r.LockTime), 0).UTC()
		}
		switch r.Kind {
		case lockproto.AuditUnlock, lockproto.AuditRefusals: // refusals: Value attempts, the last one's credential as presented
			ev.Door = access.Doors(1) << r.Door
			owner := l.Credentials[lockproto.CredentialID(r.Credential)]
			if r.Kind == lockproto.AuditUnlock && verifiedUnlock(r.Reason) {
				ev.Key, ev.Slot = owner, int(r.Slot)+1
			} else {
				ev.Presented = owner
			}
			emit(stream, r.Seq, ev)
			if ev.Key != "" { // the lock verified the credential: it is there
				if err := view.move(ev.Key, c.Lock, r.Seq, events.SyncApplied, 0, emit); err != nil {
					return err
				}
			}
			if r.Granted && ev.Key != "" {
				u := uses[ev.Key]
				if u == nil {
					u = &counted{}
					uses[ev.Key] = u
					order = append(order, ev.Key)
				}
				u.n++
				u.last = r.Seq
				if u.first.IsZero() && r.LockTime != 0 {
					u.first = time.Unix(int64(r.LockTime), 0).UTC()
				}
			}
		case lockproto.AuditCode:
			if err := codes.attribute(r, &ev); err != nil {
				return err
			}
			emit(stream, r.Seq, ev)
			if err := codes.granted(r, &ev, emit); err != nil {
				return err
			}
		case lockproto.AuditClock: // read by decideClock below
			emit(stream, r.Seq, ev)
		case lockproto.AuditKeypad, lockproto.AuditCard, lockproto.AuditRemoteOpen, lockproto.AuditKeypadLockout:
			// Records of the lock's keypad, card reader and remote opens
			// name the entry that matched (or the key a remote open was
			// signed for); a lockout alarm names none.
			ev.Door = access.Doors(1) << r.Door
			ev.Key = l.Credentials[lockproto.CredentialID(r.Credential)]
			emit(stream, r.Seq, ev)
			if r.Granted && ev.Key != "" && r.Kind != lockproto.AuditRemoteOpen { // a remote open was counted when decided
				u := uses[ev.Key]
				if u == nil {
					u = &counted{}
					uses[ev.Key] = u
					order = append(order, ev.Key)
				}
				u.n++
				u.last = r.Seq
				if u.first.IsZero() && r.LockTime != 0 {
					u.first = time.Unix(int64(r.LockTime), 0).UTC()
				}
			}
		case lockproto.AuditPassage:
			// A door opened in passage mode: no key, no account. Value is
			// how many opens the record stands for (a tally), 0 in records
			// from before tallies: one.
			ev.Door = access.Doors(1) << r.Door
			ev.Value = max(r.Value, 1)
			res.PassageOpens += int(ev.Value)
			emit(stream, r.Seq, ev)
		case lockproto.AuditAdmin:
			if r.AdminType != lockproto.TypeTimeSync {
				ev.Slot = int(r.Slot) + 1
			}
			emit(stream, r.Seq, ev)
			if r.AdminType == lockproto.TypeTimeSync {
				continue
			}
			i := slices.IndexFunc(pending, func(p events.AdminIssued) bool { return p.Seq == r.Value })
			if i < 0 && r.Value <= seen {
				// Not pending: a record from a gap filled late of a message
				// the lock could no longer apply by the time a later upload
				// showed it, which was issued again. What it shows applied
				// is recorded now (the reissue, applied too, changes nothing).
				for _, p := range pending {
					if p.Reissues != r.Value {
						continue
					}
					if err := s.appliedAtLock(t, c, l, p, r, emit, res, &view, &codes); err != nil {
						return err
					}
				}
				continue
			}
			// Pending, or signed outside this ledger: applied. A record of
			// a message below one already seen is a reversed delivery, not
			// a duplicate (the lock applies each sequence number once).
			seen = max(seen, r.Value)
			res.Applied = append(res.Applied, r.Value)
			emit(lockStream(c.Lock), r.Seq, events.AdminApplied{Lock: c.Lock, Seq: r.Value, Type: r.AdminType, Applied: r.Granted,
				Reason: ev.Reason, AuditSeq: r.Seq})
			if r.AdminType == lockproto.TypeRevokeCode && r.Granted {
				if err := codes.adminApplied(l.Pending, r, emit); err != nil {
					return err
				}
			}
			if i >= 0 {
				p := pending[i]
				pending = slices.Concat(pending[:i:i], pending[i+1:])
				if err := s.appliedAtLock(t, c, l, p, r, emit, res, &view, &codes); err != nil {
					return err
				}
			}
			// Messages more than the lock's window below the highest it
			// applied can no longer be applied (lockproto.AdminTooOld):
			// issue them again above what the lock consumed, if they still
			// say what is wanted. (Without an issuer they are dropped.)
			// Anything nearer stays pending: the lock applies it whenever
			// it arrives.
			var lost []events.AdminIssued
			if r.AdminType == lockproto.TypeRotateKey && r.Granted {
				rotated = max(rotated, r.Value)
			}
			tooOld := func(p events.AdminIssued) bool { return adminLost(p.Seq, seen, rotated) }
			if slices.ContainsFunc(pending, tooOld) { // rare: copy only then
				pending = slices.DeleteFunc(slices.Clone(pending), func(p events.AdminIssued) bool {
					if tooOld(p) {
						lost = append(lost, p)
						return true
					}
					return false
				})
			}
			nextSeq = max(nextSeq, seen)
			for _, p := range lost {
				if s.issuer == nil {
					break
				}
				if ok, err := stillWanted(t, l, p); err != nil {
					return err
				} else if !ok {
					continue
				}
				nextSeq++
				again, err := s.reissue(p, nextSeq)
				if err != nil {
					return err
				}
				res.Reissued = append(res.Reissued, again.Seq)
				zoneAgain = zoneAgain || again.Type == lockproto.TypeTimeZone
				emit(lockStream(c.Lock), r.Seq, again)
			}
		}
	}
	if err := s.clockAfterAudit(t, l, c, recs, before, b.Records[b.N-1].Seq, max(nextSeq, seen),
		zoneAgain || zonePending(pending, 0), emit, res); err != nil {
		return err
	}
	for _, key := range order {
		k, err := t.key(key)
		if err != nil {
			return err
		}
		if k.State == events.StateNone {
			continue
		}
		u := uses[key]
		emit(keyStream(key), u.last, events.OfflineUnlocksCounted{Key: key, Lock: c.Lock, Granted: u.n, Uses: k.Uses + u.n, AuditSeq: u.last, First: u.first})
	}
	return nil
}

// appliedAtLock records what the lock's record r of the pending message p
// (or of the message p issues again) says: of its key (adminAtLock), or of
// the keys and codes a reset of every key took from the lock.
func (s *Service) appliedAtLock(t *txn, c UploadAudit, l *LockState, p events.AdminIssued, r *lockproto.AuditRecord,
	emit func(string, uint32, any), res *AuditResult, view *syncView, codes *codeUpload) error {
	switch {
	case p.Key != "":
		return s.adminAtLock(t, c, l, p, r, emit, res, view)
	case p.Type == lockproto.TypeResetAll:
		if err := s.resetAtLock(l, p, r, emit, view, c.Lock); err != nil {
			return err
		}
		return codes.resetApplied(p, r, emit)
	}
	return nil
}

// stillWanted reports whether a message the lock can no longer apply still
// states what is wanted, so issuing it again (newer than everything issued
// since) changes nothing decided after it: a set-PIN or set-card only if
// it is its live key's latest, a suspend or resume only if its live key
// made no change since, a passage or zone table only if none replaced it.
// Slot resets, deactivations, revocations and resets of every key only
// take away (a reset keeps its mark), so they are always issued again.
func stillWanted(t *txn, l *LockState, p events.AdminIssued) (bool, error) {
	switch p.Type {
	case lockproto.TypePassage:
		return !l.supersededPassage(p), nil
	case lockproto.TypeTimeZone:
		return p.Seq >= l.ZoneSent.Seq, nil
	case lockproto.TypeSetPIN, lockproto.TypeSetCard, lockproto.TypeSuspend:
		if p.Key == "" {
			return false, nil
		}
		k, err := t.key(p.Key)
		if err != nil {
			return false, err
		}
		if !live(k) {
			return false, nil
		}
		if p.Type != lockproto.TypeSuspend {
			set, ok := l.CodeSets[p.Key]
			return ok && set.Seq == p.Seq, nil
		}
		a, err := lockproto.DecodeAdmin(p.Message)
		if err != nil {
			return false, fmt.Errorf("commands: pending admin message %d of lock %q: %w", p.Seq, p.Lock, err)
		}
		return a.Change == k.Changes, nil
	}
	return true, nil
}

// adminAtLock records what the lock's admin record r says of the key the
// message p concerns: a deactivation applied is confirmed (confirmAtLock),
// a reset or revocation applied has removed the key's credential, and a
// message the lock refused after its signature verified (revocation list
// full, no such slot) failed: the credential stays where it was.
func (s *Service) adminAtLock(t *txn, c UploadAudit, l *LockState, p events.AdminIssued, r *lockproto.AuditRecord,
	emit func(string, uint32, any), res *AuditResult, view *syncView) error {
	switch {
	case p.Type == lockproto.TypeSuspend:
		return s.suspensionAtLock(t, c.Lock, p, r, emit, res) // the credential stays where it is
	case !r.Granted && r.Reason == access.Superseded && (p.Type == lockproto.TypeSetPIN || p.Type == lockproto.TypeSetCard):
		return nil // a newer generation of the key's code reached the lock first: it stands
	case !r.Granted:
		return view.move(p.Key, c.Lock, r.Seq, events.SyncFailed, r.Reason, emit)
	case p.Type == lockproto.TypeDeactivateSlot:
		n := len(res.Confirmed)
		if err := s.confirmAtLock(t, c, l, p, r.Seq, emit, res); err != nil {
			return err
		}
		if len(res.Confirmed) > n { // DeactivationConfirmed moved it
			view.moved[p.Key] = events.SyncRemoved
			return nil
		}
		// Confirmed by hand already, or revoked since (a reset of every
		// key): the slot is off the lock all the same.
		return view.move(p.Key, c.Lock, r.Seq, events.SyncRemoved, 0, emit)
	case p.Type == lockproto.TypeResetSlot, p.Type == lockproto.TypeRevoke, p.Type == lockproto.TypeClearPIN, p.Type == lockproto.TypeClearCard:
		return view.move(p.Key, c.Lock, r.Seq, events.SyncRemoved, 0, emit)
	case p.Type == lockproto.TypeSetPIN, p.Type == lockproto.TypeSetCard:
		return view.move(p.Key, c.Lock, r.Seq, events.SyncApplied, 0, emit)
	}
	return nil
}

// suspensionAtLock records what the lock's admin record r says of the
// suspend message p: applied, or refused (its suspension table full), for
// the key's current suspension only — a message of an earlier change, or
// a resume, leaves nothing open beyond what the key may do anyway. A
// refusal is listed in res.SuspensionsRefused: the key still opens there.
func (s *Service) suspensionAtLock(t *txn, lock string, p events.AdminIssued, r *lockproto.AuditRecord,
	emit func(string, uint32, any), res *AuditResult) error {
	a, err := lockproto.DecodeAdmin(p.Message)
	if err != nil {
		return fmt.Errorf("commands: pending admin message %d of lock %q: %w", p.Seq, p.Lock, err)
	}
	k, err := t.key(p.Key)
	if err != nil {
		return err
	}
	if !a.Suspended || !k.Suspended || k.Changes != a.Change || k.AtLock.Suspension == events.SyncNone {
		return nil
	}
	ev := events.SuspensionSynced{Key: p.Key, Lock: lock, Change: a.Change, Sync: events.SyncApplied, AuditSeq: r.Seq}
	if !r.Granted {
		ev.Sync, ev.Reason = events.SyncFailed, r.Reason
		res.SuspensionsRefused = append(res.SuspensionsRefused, p.Key)
	}
	if ev.Sync == k.AtLock.Suspension && ev.Reason == k.AtLock.SuspensionReason {
		return nil // shown already (a message issued again)
	}
	emit(keyStream(p.Key), r.Seq, ev)
	return nil
}

// syncView is where each key's credential stands at the lock within one
// upload: as folded, then as the events decided so far move it. Each key
// is looked up once per upload (a batch names few keys many times).
type syncView struct {
	t     *txn
	moved map[string]events.LockSync // syncGone: no such key
}

// syncGone marks a key the upload found no stream for.
const syncGone events.LockSync = 255

// move appends a LockSynced when it is a step forward from where the key
// stands: applied only from pending (a late record of a key since taken
// away changes nothing), removed and failed only for a key whose
// credential is at the lock or on its way out.
func (v *syncView) move(key, lock string, seq uint32, to events.LockSync, why access.Reason, emit func(string, uint32, any)) error {
	cur, ok := v.moved[key]
	if !ok {
		k, err := v.t.key(key)
		if err != nil {
			return err
		}
		cur = k.AtLock.Sync
		if k.State == events.StateNone {
			cur = syncGone
		}
		v.moved[key] = cur
	}
	switch to {
	case events.SyncApplied:
		ok = cur == events.SyncPending
	case events.SyncRemoved:
		ok = cur == events.SyncRemoving || cur == events.SyncFailed
	case events.SyncFailed:
		ok = cur == events.SyncPending || cur == events.SyncApplied || cur == events.SyncRemoving
	}
	if !ok {
		return nil
	}
	v.moved[key] = to
	emit(keyStream(key), seq, events.LockSynced{Key: key, Lock: lock, Sync: to, Reason: why, AuditSeq: seq})
	return nil
}

// confirmAtLock records the lock's confirmation of a key's deactivation.
func (s *Service) confirmAtLock(t *txn, c UploadAudit, l *LockState, p events.AdminIssued, seq uint32, emit func(string, uint32, any), res *AuditResult) error {
	k, err := t.key(p.Key)
	if err != nil {
		return err
	}
	if k.State != events.StateDeactivationPending || k.Slot != p.Slot {
		return nil // confirmed by hand already, or another key's
	}
	emit(keyStream(p.Key), seq, events.DeactivationConfirmed{Key: p.Key, Lock: c.Lock, By: c.By, Slot: k.Slot, Generation: k.Generation + 1})
	for _, ev := range releaseAll(k, l, true) {
		emit(lockStream(c.Lock), seq, ev)
	}
	res.Confirmed = append(res.Confirmed, p.Key)
	return nil
}

// reissue signs an admin message again under a new sequence number.
func (s *Service) reissue(p events.AdminIssued, seq uint32) (events.AdminIssued, error) {
	if seq == 0 {
		return events.AdminIssued{}, invalid("admin sequence", "lock %q has used every sequence number", p.Lock)
	}
	a, err := lockproto.DecodeAdmin(p.Message)
	if err != nil {
		return events.AdminIssued{}, fmt.Errorf("commands: pending admin message %d of lock %q: %w", p.Seq, p.Lock, err)
	}
	a.Seq = seq
	msg, err := s.signerFor(&a, p.Message).Admin(a)
	if err != nil {
		return events.AdminIssued{}, err
	}
	p.Reissues, p.Seq, p.Message = p.Seq, seq, msg
	return p, nil
}

// verifiedUnlock reports whether the lock reached this reason only after the
// credential's issuer signature and holder proof verified (lockproto's
// check order: the record's slot and credential ID are then authentic).
func verifiedUnlock(r access.Reason) bool {
	switch r {
	case access.Granted, access.ClockUnknown, access.ZoneUnknown, access.NotYetValid,
		access.Expired, access.OutsideWindow, access.Exhausted, access.WrongDoor,
		access.UseTableFull, access.Policy, access.KeySuspended:
		return true
	}
	return false
}
