package lockproto

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// Tests of the rules that harden the reference lock against the attacks
// real locks fell to; PROTOCOL.md's threat-model table names each.

// --- clock rollback ---

// After a restart the lock does not know the time until a signed time
// sync, even once its RTC reads past the last sync again: an expired
// credential does not open because a battery pull reset the RTC.
func TestRestartLeavesTheClockUnknownUntilASync(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy.NotAfter = uint32(t0.Add(time.Hour).Unix())
	h, _ := w.holder(c)
	w.advance(2 * time.Hour)
	if d, _ := w.unlock(h, 0); d.Reason != access.Expired {
		t.Fatalf("before the restart: %v", d.Reason)
	}
	rtc := &fakeClock{} // the battery was pulled: the RTC starts again from 0
	l, err := RestoreLock(w.lock.State(), &Config{Clock: rtc.now, Rand: newDetRand(4)})
	w.must(err)
	w.lock = l
	rtc.advance(3 * time.Hour) // past the RTC reading of the last sync
	if d, _ := w.unlock(h, 0); d.Granted {
		t.Fatal("an expired credential opened after a restart")
	}
	if _, ok := w.lock.Now(); ok {
		t.Fatal("the lock trusts its clock after a restart without a sync")
	}
}

// The high-water mark of lock time never goes down: once the lock has
// trusted a time past a credential's end, the credential stays expired
// even if a later (signed) sync sets the clock back, and the use counter
// dropped when it expired does not let it open again.
func TestExpiredCredentialStaysExpiredWhenTheClockGoesBack(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy.NotAfter = uint32(t0.Add(time.Hour).Unix())
	c.Policy.UseLimit = 1
	h, _ := w.holder(c)
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	w.advance(2 * time.Hour)
	// Another single-use credential takes the expired one's use counter.
	other := baseCredential(w.key)
	other.ID = CredentialID{0x77}
	other.Policy.UseLimit = 1
	oh, _ := w.holder(other)
	if d, _ := w.unlock(oh, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	w.serverT = t0.Add(10 * time.Minute) // a sync from a clock that is behind
	w.resync()
	if d, _ := w.unlock(h, 0); d.Granted || d.Reason != access.Expired {
		t.Fatalf("after the clock went back: %v, want expired", d.Reason)
	}
}

// An RTC that runs backwards within one start makes the clock unknown
// until the next sync.
func TestRTCRunningBackwardsMakesTheClockUnknown(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.clock.advance(-time.Minute)
	if _, ok := w.lock.Now(); ok {
		t.Fatal("clock trusted after the RTC went back")
	}
	w.clock.advance(2 * time.Minute)
	if _, ok := w.lock.Now(); ok {
		t.Fatal("clock trusted again without a sync")
	}
	w.resync()
	if _, ok := w.lock.Now(); !ok {
		t.Fatal("clock unknown after a sync")
	}
}

// Unknown time fails closed only where time matters: a credential with no
// validity and no windows still opens after a restart, one with them does
// not.
func TestUnknownClockFailsClosedOnlyForTimeBoundCredentials(t *testing.T) {
	w := newWorld(t)
	open := baseCredential(w.key)
	open.Policy = policy.Compact{}
	oh, _ := w.holder(open)
	bound := baseCredential(w.key)
	bound.ID = CredentialID{0x42}
	bh, _ := w.holder(bound)
	if d, _ := w.unlock(oh, 0); !d.Granted {
		t.Fatalf("credential without time bounds, clock unknown: %v", d.Reason)
	}
	if d, _ := w.unlock(bh, 0); d.Reason != access.ClockUnknown {
		t.Fatalf("time-bound credential, clock unknown: %v", d.Reason)
	}
}

// A time sync may set the clock back (the issuer's clock is the truth),
// but one more than MaxClockStepBack below the high-water mark is flagged
// in its audit record with how far it went back.
func TestTimeSyncFarBackIsFlaggedInTheAudit(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.advance(time.Hour)
	w.lock.Now() // the lock trusts t0+1h: the mark
	w.serverT = t0
	w.resync()
	if r := lastAudit(t, w); r.AdminType != TypeTimeSync || !r.Granted || r.Value != 3600 {
		t.Fatalf("sync one hour back: record %+v, want value 3600", r)
	}
	w.serverT = t0.Add(time.Hour - time.Minute) // within the bound
	w.resync()
	if r := lastAudit(t, w); r.Value != 0 {
		t.Fatalf("sync one minute back: value %d, want 0", r.Value)
	}
}

// --- issuer key rotation ---

// A rotation message signed by the current key hands the lock over to the
// next one: credentials of the new key open at once, credentials of the
// old key open until the grace ends and then stop (cached or not), and the
// old key signs no admin message any more.
func TestKeyRotationKeepsOldCredentialsForTheGraceOnly(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	oldCred := baseCredential(w.key)
	oh, _ := w.holder(oldCred)
	if d, _ := w.unlock(oh, 0); !d.Granted { // cached under the old key
		t.Fatal(d.Reason)
	}
	nextSigner, _ := GenerateEd25519Signer(newDetRand(20))
	next, err := NewIssuerKey(nextSigner, 1)
	w.must(err)
	// A credential of the next key does not open before the rotation.
	nc := baseCredential(w.key)
	nc.ID = CredentialID{0x99}
	raw, _ := next.IssueCredential(nc)
	nh, _ := NewHolder(w.key, raw, w.lock.PublicKey())
	if d, _ := w.unlock(nh, 0); d.Reason != access.BadSignature {
		t.Fatalf("next key before the rotation: %v", d.Reason)
	}
	w.seq++
	rot, err := w.issuer.RotateKey(testLock, w.seq, next, t0.Add(24*time.Hour))
	w.must(err)
	w.must(w.lock.HandleAdmin(rot))
	if d, _ := w.unlock(nh, 0); !d.Granted {
		t.Fatalf("next key after the rotation: %v", d.Reason)
	}
	if d, _ := w.unlock(oh, 0); !d.Granted {
		t.Fatalf("old credential in its grace: %v", d.Reason)
	}
	w.seq++
	oldReset, _ := w.issuer.ResetSlot(testLock, w.seq, 9, 9)
	var re *RefusalError
	if err := w.lock.HandleAdmin(oldReset); !errors.As(err, &re) || re.Reason != access.BadSignature {
		t.Fatalf("admin message of the old key: %v", err)
	}
	w.seq++ // a rotation to the ID the lock's current key has: two keys of one ID, refused
	again, _ := next.Admin(Admin{Type: TypeRotateKey, Lock: testLock, Seq: w.seq, NewKeyID: 1, NewKey: [32]byte(nextSigner.PublicKey())})
	if err := w.lock.HandleAdmin(again); !errors.As(err, &re) || re.Reason != access.Malformed {
		t.Fatalf("rotation to the key the lock has: %v", err)
	}
	w.advance(24 * time.Hour)
	for _, cached := range []bool{true, false} {
		ch := w.challenge()
		req, _ := oh.Request(ch, 0, ActionOpen, cached)
		if d := w.lock.HandleUnlock(req); d.Reason != access.KeyRetired {
			t.Fatalf("old credential after its grace (cached %v): %v", cached, d.Reason)
		}
	}
	if d, _ := w.unlock(nh, 0); !d.Granted {
		t.Fatal(d.Reason)
	}
	st := w.lock.State()
	if st.Issuer.ID != 1 || st.Retired.ID != 0 {
		t.Fatalf("keys %d (current), %d (retired)", st.Issuer.ID, st.Retired.ID)
	}
}

// A fleet of reference locks rotates while phones hold credentials of the
// old key: each lock switches when some phone delivers its pending
// rotation, old credentials open everywhere until the grace ends, new ones
// open wherever the rotation arrived (carried with the download), and
// after the grace only credentials of the new key open. A second rotation
// retires the first key for good: a lock holds at most two keys.
func TestKeyRotationAcrossAFleet(t *testing.T) {
	const locks = 4
	base := newWorld(t)
	nextSigner, _ := GenerateEd25519Signer(newDetRand(21))
	next, _ := NewIssuerKey(nextSigner, 1)
	type site struct {
		w        *world
		old, new *Holder
		pending  [][]byte
	}
	fleet := make([]*site, locks)
	for i := range fleet {
		w := newWorld(t)
		w.clock, w.serverT = base.clock, base.serverT
		p, err := NewPairing(testLock, w.signer.PublicKey(), newDetRand(byte(40+i)))
		w.must(err)
		w.lock, err = NewLock(p, &Config{Clock: base.clock.now, Rand: newDetRand(byte(60 + i))})
		w.must(err)
		w.pairing = p
		w.syncTime(0)
		old, _ := w.holder(baseCredential(w.key))
		fleet[i] = &site{w: w, old: old}
	}
	grace := t0.Add(7 * 24 * time.Hour)
	for _, s := range fleet {
		s.w.seq++
		rot, err := s.w.issuer.RotateKey(testLock, s.w.seq, next, grace)
		s.w.must(err)
		s.pending = [][]byte{rot}
		c := baseCredential(s.w.key)
		c.ID = CredentialID{0xab}
		raw, _ := next.IssueCredential(c)
		s.new, err = NewHolder(s.w.key, raw, s.w.lock.PublicKey())
		s.w.must(err)
	}
	// Phones visit half the fleet: they deliver the pending rotation first.
	for i, s := range fleet {
		if i%2 == 0 {
			for _, m := range s.pending {
				s.w.must(s.w.lock.HandleAdmin(m))
			}
		}
	}
	for i, s := range fleet {
		if d, _ := s.w.unlock(s.old, 0); !d.Granted {
			t.Fatalf("lock %d: old credential during the rotation: %v", i, d.Reason)
		}
		want := access.Granted
		if i%2 == 1 {
			want = access.BadSignature // the rotation has not reached it
		}
		if d, _ := s.w.unlock(s.new, 0); d.Reason != want {
			t.Fatalf("lock %d: new credential: %v, want %v", i, d.Reason, want)
		}
	}
	for _, s := range fleet[1:] { // the rest of the fleet; repeats are stale
		for _, m := range s.pending {
			var re *RefusalError
			if err := s.w.lock.HandleAdmin(m); err != nil && (!errors.As(err, &re) || re.Reason != access.StaleSequence) {
				t.Fatal(err)
			}
		}
	}
	base.advance(8 * 24 * time.Hour) // all locks share the clock
	for i, s := range fleet {
		s.w.serverT = base.serverT
		if d, _ := s.w.unlock(s.old, 0); d.Reason != access.KeyRetired {
			t.Fatalf("lock %d: old credential after the grace: %v", i, d.Reason)
		}
		if d, _ := s.w.unlock(s.new, 0); !d.Granted {
			t.Fatalf("lock %d: new credential after the grace: %v", i, d.Reason)
		}
	}
	// A second rotation (1 -> 2) drops key 0 altogether.
	thirdSigner, _ := GenerateEd25519Signer(newDetRand(22))
	third, _ := NewIssuerKey(thirdSigner, 2)
	s := fleet[0]
	s.w.seq++
	rot, err := next.RotateKey(testLock, s.w.seq, third, time.Time{})
	s.w.must(err)
	s.w.must(s.w.lock.HandleAdmin(rot))
	if st := s.w.lock.State(); st.Issuer.ID != 2 || st.Retired.ID != 1 || st.RetiredUntil != 0 {
		t.Fatalf("after the second rotation: current %d, retired %d until %d", st.Issuer.ID, st.Retired.ID, st.RetiredUntil)
	}
	if d, _ := s.w.unlock(s.old, 0); d.Reason != access.BadSignature {
		t.Fatalf("key 0 after two rotations: %v", d.Reason)
	}
	if d, _ := s.w.unlock(s.new, 0); d.Reason != access.KeyRetired {
		t.Fatalf("key 1 retired with no grace: %v", d.Reason)
	}
}

// --- audit erasure ---

// Requests anyone can send — unknown credential IDs, replays, forgeries —
// cannot push a grant out of the audit: they are tallied, not recorded one
// by one, however many come.
func TestUnauthenticatedRefusalsCannotEvictAGrant(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	d, _ := w.unlock(h, 0)
	if !d.Granted {
		t.Fatal(d.Reason)
	}
	grant := d.AuditSeq
	for i := range 2 * AuditRingSize {
		ch := w.challenge()
		req, _ := h.UnlockCached(ch, 0)
		req[5] ^= byte(i) | 1 // an ID the lock never cached
		w.lock.HandleUnlock(req)
		w.advance(10 * time.Millisecond)
	}
	recs, _, err := VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{}, w.lock.AuditFrom(grant))
	if err != nil && !errors.Is(err, ErrAuditGap) {
		t.Fatal(err)
	}
	if r := recs[0]; r.Seq != grant || !r.Granted || r.Credential != h.Credential().ID {
		t.Fatalf("first record from the grant's number: %+v", r)
	}
}

// The audit keeps every record until the backend acknowledges it: when
// the ring holds AuditRingSize unacknowledged records the lock refuses the
// next grant (audit full) instead of overwriting the oldest, and an
// acknowledgement lets it grant again. No record is ever lost.
func TestAuditKeepsGrantsUntilAcknowledged(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0) // 2 admin records
	h, _ := w.holder(baseCredential(w.key))
	granted := 0
	for range AuditRingSize + 10 {
		if d, _ := w.unlock(h, 0); d.Granted {
			granted++
		} else if d.Reason != access.AuditFull {
			t.Fatalf("after %d grants: %v", granted, d.Reason)
		}
	}
	if granted != AuditRingSize-2 {
		t.Fatalf("%d grants before the audit was full, want %d", granted, AuditRingSize-2)
	}
	if c := w.challenge(); c.Flags&FlagAuditUpload == 0 {
		t.Fatal("a full audit does not ask for an upload")
	}
	recs, cur := drainAll(t, w, AuditCursor{}) // fails on any gap
	if len(recs) != AuditRingSize || recs[0].Seq != 1 {
		t.Fatalf("%d records from %d, want all %d from 1", len(recs), recs[0].Seq, AuditRingSize)
	}
	ack := NewAuditAck(w.pairing.AuditKey, testLock, cur)
	w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &ack)))
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("after the acknowledgement: %v", d.Reason)
	}
	// The refusals while full were tallied and are recorded now, in order,
	// then the drain's clock reading (none while the ring was full).
	recs, _ = drainAll(t, w, cur)
	if len(recs) != 3 || recs[2].Kind != AuditClock || recs[0].Kind != AuditRefusals || recs[0].Value != uint32(AuditRingSize+10-granted) || recs[0].Reason != access.AuditFull || !recs[1].Granted {
		t.Fatalf("records after the acknowledgement: %+v", recs)
	}
}

// An acknowledgement must carry the audit key's MAC and name the record the
// lock wrote; a replayed older one changes nothing.
func TestAuditAckRefusals(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	for range 5 {
		w.unlock(h, 0)
	}
	_, cur := drainAll(t, w, AuditCursor{})
	reason := func(err error) access.Reason {
		var re *RefusalError
		if !errors.As(err, &re) {
			t.Fatalf("%v is not a RefusalError", err)
		}
		return re.Reason
	}
	other := w.pairing.AuditKey
	other[0] ^= 1
	forged := NewAuditAck(other, testLock, cur)
	if r := reason(w.lock.HandleAuditAck(AppendAuditAck(nil, &forged))); r != access.BadSignature {
		t.Fatalf("foreign key: %v", r)
	}
	wrongTag := cur
	wrongTag.Tag[0] ^= 1
	a := NewAuditAck(w.pairing.AuditKey, testLock, wrongTag)
	if r := reason(w.lock.HandleAuditAck(AppendAuditAck(nil, &a))); r != access.BadSignature {
		t.Fatalf("another record's tag: %v", r)
	}
	ahead := NewAuditAck(w.pairing.AuditKey, testLock, AuditCursor{Seq: cur.Seq + 1})
	if r := reason(w.lock.HandleAuditAck(AppendAuditAck(nil, &ahead))); r != access.Malformed {
		t.Fatalf("a record not written: %v", r)
	}
	early := cur
	early.Seq, early.Tag = 2, w.lock.State().AuditRing[1].Record.Tag
	earlyAck := NewAuditAck(w.pairing.AuditKey, testLock, early)
	w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &earlyAck)))
	good := NewAuditAck(w.pairing.AuditKey, testLock, cur)
	w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &good)))
	if r := reason(w.lock.HandleAuditAck(AppendAuditAck(nil, &earlyAck))); r != access.StaleSequence {
		t.Fatalf("an older acknowledgement again: %v", r)
	}
	if st := w.lock.State(); st.AuditAcked != cur.Seq || st.AuditDrained != early.Seq {
		t.Fatalf("acknowledged %d, drained %d; want %d, %d", st.AuditAcked, st.AuditDrained, cur.Seq, early.Seq)
	}
	// The same one again rewinds the drain position only: the backend says
	// it lacks what came after.
	w.unlock(h, 0)
	w.lock.DrainAudit()
	w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &good)))
	if st := w.lock.State(); st.AuditAcked != cur.Seq || st.AuditDrained != cur.Seq {
		t.Fatalf("after a repeat: acknowledged %d, drained %d; want %d", st.AuditAcked, st.AuditDrained, cur.Seq)
	}
}

// The tally of unrecorded refusals becomes one record (how many, the last
// reason) before the next record the lock writes.
func TestTalliedRefusalsAreRecordedAsOne(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	for range 7 {
		w.lock.HandleUnlock([]byte{Version, 3, 0})
	}
	h, _ := w.holder(baseCredential(w.key))
	d, _ := w.unlock(h, 0)
	if !d.Granted {
		t.Fatal(d.Reason)
	}
	recs, _ := drainAll(t, w, AuditCursor{})
	if r := recs[len(recs)-3]; r.Kind != AuditRefusals || r.Value != 7 || r.Reason != access.Malformed {
		t.Fatalf("tally record %+v", r)
	}
	if w.lock.State().Unrecorded.Count != 0 {
		t.Fatal("tally not cleared")
	}
}

// A holder refused again and again (authentic, outside their window)
// cannot fill the audit and lock the others out: past AuditRingSize -
// AuditReserve unacknowledged records refusals are tallied, and grants
// still have the reserve.
func TestRepeatedRefusalsLeaveTheReserveToGrants(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.ID, c.Doors = CredentialID{0x31}, 0b10
	refused, _ := w.holder(c)
	for range AuditRingSize {
		if d, _ := w.unlock(refused, 0); d.Reason != access.WrongDoor {
			t.Fatal(d.Reason)
		}
	}
	if st := w.lock.State(); st.AuditSeq != AuditRingSize-AuditReserve {
		t.Fatalf("%d records written, want %d", st.AuditSeq, AuditRingSize-AuditReserve)
	}
	h, _ := w.holder(baseCredential(w.key))
	for i := range AuditReserve {
		if d, _ := w.unlock(h, 0); !d.Granted {
			t.Fatalf("grant %d of the reserve: %v", i, d.Reason)
		}
	}
}

// --- lockout ---

// Garbage costs the lock nothing and locks nobody out: with a garbage
// frame every second for an hour, the lock still issues challenges and the
// honest holder opens every time they try.
func TestGarbageCannotLockOutAnHonestHolder(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	tries, opened := 0, 0
	for sec := range 3600 {
		w.lock.HandleUnlock([]byte{Version, 3, 0})
		w.advance(time.Second)
		if sec%97 != 0 {
			continue
		}
		tries++
		chb, err := w.lock.Challenge()
		if err != nil {
			continue
		}
		ch, _ := DecodeChallenge(chb)
		req, _ := h.Unlock(ch, 0)
		if d := w.lock.HandleUnlock(req); d.Granted {
			opened++
		}
		if st := w.lock.State(); st.AuditSeq-st.AuditAcked > AuditRingSize/2 {
			w.upload()
		}
	}
	if opened != tries {
		t.Fatalf("the honest holder opened %d of %d times", opened, tries)
	}
}

// An honest request whose challenge another phone's challenge evicted is
// refused (bad nonce) but is not a failure: it never starts a backoff.
func TestEvictedChallengesAreNotFailures(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	for range 10 {
		ch := w.challenge()
		req, _ := h.Unlock(ch, 0)
		for range MaxOutstandingNonces {
			w.challenge()
		}
		if d := w.lock.HandleUnlock(req); d.Reason != access.BadNonce {
			t.Fatalf("evicted challenge: %v", d.Reason)
		}
	}
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("after evicted challenges: %v", d.Reason)
	}
}

// Forgeries naming an honest holder's credential ID are another source:
// they cannot block the genuine credential, cached or not.
func TestForgeriesOfACredentialIDDoNotBlockIt(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	h, raw := w.holder(c)
	for round := range 2 {
		for i := range 3 * LimiterSize {
			forged := bytes.Clone(raw)
			forged[len(forged)-1-i%64] ^= byte(i) | 1 // the victim's ID, a bad signature
			ch := w.challenge()
			req, _ := h.Unlock(ch, 0)
			copy(req[5:], forged)
			w.lock.HandleUnlock(req)
		}
		if d, _ := w.unlock(h, 0); !d.Granted {
			t.Fatalf("round %d: genuine credential after forgeries of its ID: %v", round, d.Reason)
		}
	}
}

// --- admin message order ---

// Pending admin messages commute: whatever order phones deliver them in,
// the lock ends in the same state (a revocation delivered after a later
// reset still revokes).
func TestAdminMessagesCommute(t *testing.T) {
	run := func(order []int) (State, access.Reason) {
		w := newWorld(t)
		w.syncTime(0)
		victim := baseCredential(w.key)
		vh, _ := w.holder(victim)
		w.unlock(vh, 0)
		z := ZoneRules{N: 1}
		z.Transitions[0] = ZoneTransition{Offset: 7200}
		msgs := make([][]byte, 4)
		msgs[0], _ = w.issuer.RevokeCredential(testLock, 2, victim)
		msgs[1], _ = w.issuer.ResetSlot(testLock, 3, 5, 4)
		msgs[2], _ = w.issuer.TimeZone(testLock, 4, z)
		msgs[3], _ = w.issuer.DeactivateSlot(testLock, 5, 6, 2)
		for _, i := range order {
			w.must(w.lock.HandleAdmin(msgs[i]))
		}
		for _, m := range msgs { // delivered again by other phones: all stale
			var re *RefusalError
			if err := w.lock.HandleAdmin(m); !errors.As(err, &re) || re.Reason != access.StaleSequence {
				t.Fatalf("order %v: redelivery: %v", order, err)
			}
		}
		d, _ := w.unlock(vh, 0)
		return w.lock.State(), d.Reason
	}
	want, wr := run([]int{0, 1, 2, 3})
	if wr != access.Revoked {
		t.Fatalf("in order: %v", wr)
	}
	for _, order := range [][]int{{3, 2, 1, 0}, {1, 0, 3, 2}, {2, 3, 0, 1}} {
		got, r := run(order)
		if r != wr || got.MinGen != want.MinGen || got.Revoked != want.Revoked || got.Zone != want.Zone ||
			got.ZoneSeq != want.ZoneSeq || got.AdminSeq != want.AdminSeq || got.AdminWindow != want.AdminWindow {
			t.Errorf("order %v: reason %v, state differs from in-order delivery", order, r)
		}
	}
}

// An older zone table delivered after a newer one changes nothing.
func TestOlderZoneRulesDoNotReplaceNewer(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0) // zone at seq 1, offset 0
	z := func(off int32) ZoneRules {
		r := ZoneRules{N: 1}
		r.Transitions[0] = ZoneTransition{Offset: off}
		return r
	}
	newer, _ := w.issuer.TimeZone(testLock, 3, z(7200))
	older, _ := w.issuer.TimeZone(testLock, 2, z(3600))
	w.must(w.lock.HandleAdmin(newer))
	w.must(w.lock.HandleAdmin(older))
	st := w.lock.State()
	if off, _ := st.Zone.OffsetAt(uint32(t0.Unix())); off != 7200 {
		t.Fatalf("offset %d, want the newer table's 7200", off)
	}
}

// --- freshness across reboots ---

// A lock whose RNG restarts from the same state after a reboot issues
// other nonces (the persisted boot counter is mixed in), so a request
// recorded before the reboot is refused after it.
func TestRebootWithARepeatingRNGRefusesOldRequests(t *testing.T) {
	w := newWorld(t) // the lock's RNG is newDetRand(2)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy = policy.Compact{} // no time bounds: the restart's unknown clock does not matter
	h, _ := w.holder(c)
	ch := w.challenge() // the second challenge since the start
	recorded, _ := h.Unlock(ch, 0)
	l, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(2)})
	w.must(err)
	w.lock = l
	w.challenge()
	again := w.challenge()
	if d := w.lock.HandleUnlock(recorded); d.Granted || (d.Reason != access.BadNonce && d.Reason != access.BadProof) {
		t.Fatalf("pre-reboot request after the reboot: %v (challenge %d, was %d)", d.Reason, again.ID, ch.ID)
	}
	if again.Nonce == ch.Nonce {
		t.Fatal("the same nonce again after a reboot")
	}
}

// --- persist before actuate ---

// The lock persists the use count and the audit record before it grants:
// a power cut right after a single-use grant (the door opened, nothing
// else ran) restores a lock that refuses the credential.
func TestPowerCutAfterASingleUseGrantNeverOpensTwice(t *testing.T) {
	var flash State
	persist := func(st *State) error { flash = *st; return nil }
	w := newWorldConfig(t, Config{Persist: persist})
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy.UseLimit = 1
	h, _ := w.holder(c)
	grant, _ := w.unlock(h, 0)
	if !grant.Granted {
		t.Fatal(grant.Reason)
	}
	// Power cut: only what was persisted survives.
	if r := flash.AuditRing[grant.AuditSeq-1].Record; r.Seq != grant.AuditSeq || !r.Granted || r.Credential != c.ID {
		t.Fatalf("the grant's record was not persisted: %+v", r)
	}
	l, err := RestoreLock(flash, &Config{Clock: w.clock.now, Rand: newDetRand(5), Persist: persist})
	w.must(err)
	w.lock = l
	w.resync()
	if d, _ := w.unlock(h, 0); d.Granted || d.Reason != access.Exhausted {
		t.Fatalf("single-use credential after a power cut: %v", d.Reason)
	}
}

// When storage fails the lock does not open, spends no use and writes no
// grant; once storage works the credential opens.
func TestStorageFailureRefusesWithoutSpendingTheUse(t *testing.T) {
	fail := false
	w := newWorldConfig(t, Config{Persist: func(*State) error {
		if fail {
			return errors.New("flash write failed")
		}
		return nil
	}})
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy.UseLimit = 1
	h, _ := w.holder(c)
	fail = true
	d, resp := w.unlock(h, 0)
	if d.Granted || d.Reason != access.StorageFailed || !resp.Authenticated {
		t.Fatalf("with failing storage: %+v", d)
	}
	if _, err := RestoreLock(w.lock.State(), &Config{Persist: func(*State) error { return errors.New("x") }}); !errors.Is(err, ErrPersist) {
		t.Fatalf("restore with failing storage: %v", err)
	}
	fail = false
	ok, _ := w.unlock(h, 0)
	if !ok.Granted {
		t.Fatalf("once storage works: %v", ok.Reason)
	}
	for _, r := range mustDrain(t, w) {
		if r.Kind == AuditUnlock && r.Granted && r.Seq != ok.AuditSeq {
			t.Fatalf("a grant record from the failed attempt: %+v", r)
		}
	}
}

func mustDrain(t *testing.T, w *world) []AuditRecord {
	recs, _ := drainAll(t, w, AuditCursor{})
	return recs
}

// --- revocation overflow: TestRevocationBeyondTheListStillRevokes (lock_test.go) ---

// --- role, eviction ---

// The role byte is enforced at the lock: an admin-only action (holding
// the door open) is refused for a user credential and granted for an admin.
func TestUserCredentialCannotTakeAnAdminAction(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	user, _ := w.holder(baseCredential(w.key))
	c := baseCredential(w.key)
	c.ID, c.Role = CredentialID{0xad}, RoleAdmin
	admin, _ := w.holder(c)
	for _, tc := range []struct {
		h    *Holder
		want access.Reason
	}{{user, access.OpNotPermitted}, {admin, access.Granted}} {
		ch := w.challenge()
		req, err := tc.h.Request(ch, 0, ActionHoldOpen, false)
		w.must(err)
		d := w.lock.HandleUnlock(req)
		if d.Reason != tc.want || (d.Granted && d.Action != ActionHoldOpen) {
			t.Fatalf("role %v: %v (action %v), want %v", tc.h.Credential().Role, d.Reason, d.Action, tc.want)
		}
		if rec := lastAudit(t, w); rec.Action != ActionHoldOpen || rec.Reason != tc.want {
			t.Fatalf("audit record %+v", rec)
		}
	}
	if d, _ := w.unlock(user, 0); !d.Granted {
		t.Fatalf("user's plain open: %v", d.Reason)
	}
}

// A fifth challenge evicts the oldest outstanding one, also when all were
// issued within one RTC tick; the newer ones stay answerable.
func TestChallengeEvictionReplacesTheOldest(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	var chs []Challenge
	for range MaxOutstandingNonces + 2 { // the clock does not move
		chs = append(chs, w.challenge())
	}
	for i, want := range []access.Reason{access.BadNonce, access.BadNonce, access.Granted, access.Granted, access.Granted, access.Granted} {
		req, _ := h.Unlock(chs[i], 0)
		if d := w.lock.HandleUnlock(req); d.Reason != want {
			t.Errorf("challenge %d: %v, want %v", i, d.Reason, want)
		}
	}
}

// A persisted state of the previous format is read as that version meant
// it: its issuer key, applied admin messages, clock mark and drained
// records carry over.
func TestRestoreReadsStateOfThePreviousFormat(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	h, _ := w.holder(baseCredential(w.key))
	w.unlock(h, 0)
	w.lock.DrainAudit()
	old := w.lock.State()
	old.Format, old.Issuer, old.AdminWindow, old.ZoneSeq, old.ClockMark, old.AuditAcked, old.Boot = 0, IssuerKey{}, 0, 0, 0, 0, 0
	old.Clock.Boot = 0
	l, err := RestoreLock(old, &Config{Clock: w.clock.now, Rand: newDetRand(7)})
	w.must(err)
	st := l.State()
	if st.Format != StateFormat || st.Issuer.Key != w.pairing.Issuer || st.Boot != 1 || st.ClockMark != uint32(t0.Unix()) ||
		st.AuditAcked != old.AuditDrained || st.ZoneSeq != old.AdminSeq || st.AdminWindow != ^uint64(0) {
		t.Fatalf("upgraded state: format %d boot %d mark %d acked %d zone seq %d window %x", st.Format, st.Boot, st.ClockMark, st.AuditAcked, st.ZoneSeq, st.AdminWindow)
	}
	w.lock = l
	w.resync()
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("after the upgrade: %v", d.Reason)
	}
	if _, err := RestoreLock(State{Format: StateFormat + 1, Pairing: w.pairing}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a newer format: %v", err)
	}
}
