package lockproto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"errors"

	"github.com/keyledger/keyledger/access"
)

// Decision is the outcome of one unlock request.
type Decision struct {
	Granted    bool
	Reason     access.Reason
	Credential CredentialID // as presented
	Door       uint8
	Action     Action // what to do with the door when granted
	AuditSeq   uint32 // 0 if no record of its own was written (see AuditRefusals)
	Response   []byte // the frame for the phone; valid until the next call
}

type cacheEntry struct {
	inUse bool
	raw   [MaxCredentialSize]byte
	n     int
	cred  Credential
	s     *session
	used  uint64 // tick of last use, for LRU eviction
}

type authed struct {
	s     *session
	nonce *[NonceSize]byte
	cred  *Credential
}

func reasonOf(err error) access.Reason {
	switch {
	case errors.Is(err, ErrVersion):
		return access.BadVersion
	case errors.Is(err, ErrType):
		return access.UnexpectedType
	}
	return access.Malformed
}

// HandleUnlock runs every check on an unlock request, in this order (cheap
// and non-secret first; one challenge buys at most one public-key
// operation; nothing from the credential changes state before its
// signature and the holder proof verify; the use count is last, so only a
// grant spends a use):
//
//  1. frame: version, type, lengths, field ranges, known action
//  2. lock ID (full requests; a cached credential was checked when cached)
//  3. challenge: known, fresh, unused (consumed now, whatever follows)
//  4. cached requests: the credential must be in the cache
//  5. revocation list
//  6. slot: in range and generation >= the slot's minimum
//  7. issuer key: the current one, or the retired one within its grace
//  8. backoff of this source (only where a public-key operation is due)
//  9. issuer signature (skipped if these exact bytes are cached)
//  10. holder proof (X25519 + HKDF skipped if cached) — then cache it, and a
//     higher generation raises the slot's minimum (the new holder overwrites)
//  11. the credential's role permits the action (a suspended credential,
//     suspend.go, is refused first: KeySuspended)
//  12. time: an end at or before the high-water mark is expired; a
//     time-bound credential needs a known clock, one with windows a known
//     UTC offset
//  13. door permission
//  14. validity, weekly windows and use limit: policy.Compact.Allowed on
//     the lock's own clock and offset with the uses counted so far
//  15. room in the audit for the grant, room to count the use
//  16. count the use, write the audit record, persist (Config.Persist) —
//     only then the grant
//
// Refusals from 11 on are audit records of their own; earlier ones (anyone
// can cause them) are tallied into one AuditRefusals record. Failed
// signatures and proofs count towards the source's backoff.
func (l *Lock) HandleUnlock(req []byte) Decision {
	now, unix, known := l.observe()
	d := Decision{}
	u, err := DecodeUnlock(req)
	if err != nil {
		var echo uint16 // so the phone can match even a refusal of a garbled frame
		if len(req) >= 4 {
			echo = le.Uint16(req[2:])
		}
		return l.refuse(&d, reasonOf(err), echo, nil, nil, unix, known)
	}
	d.Door, d.Action, d.Credential = u.Door, u.Action, u.CredentialID

	var cred *Credential
	if u.Type == TypeUnlock {
		if l.scratch, err = DecodeCredential(u.Credential); err != nil {
			return l.refuse(&d, reasonOf(err), u.Challenge, nil, nil, unix, known)
		}
		if l.scratch.Lock != l.st.Pairing.Lock {
			return l.refuse(&d, access.WrongLock, u.Challenge, nil, nil, unix, known)
		}
		cred = &l.scratch
	}
	var ok bool
	if l.nonce, ok = l.takeNonce(now, u.Challenge, nil); !ok {
		return l.refuse(&d, access.BadNonce, u.Challenge, nil, nil, unix, known)
	}
	ce := l.cached(u.CredentialID)
	if u.Type == TypeUnlockCached {
		if ce == nil {
			return l.refuse(&d, access.NotCached, u.Challenge, nil, nil, unix, known)
		}
		cred = &ce.cred
	} else if ce != nil && !bytes.Equal(ce.raw[:ce.n], u.Credential) {
		ce = nil // same ID, other bytes: verify from scratch
	}
	if l.isRevoked(cred.ID) {
		return l.refuse(&d, access.Revoked, u.Challenge, nil, nil, unix, known)
	}
	if int(cred.Slot) >= MaxSlots {
		return l.refuse(&d, access.BadSlot, u.Challenge, nil, nil, unix, known)
	}
	if cred.Generation < l.st.MinGen[cred.Slot] {
		return l.refuse(&d, access.Superseded, u.Challenge, nil, nil, unix, known)
	}
	key, r := l.credentialKey(cred.KeyID, known)
	if r != access.Granted {
		return l.refuse(&d, r, u.Challenge, nil, nil, unix, known)
	}
	var s *session
	var src source
	if ce != nil {
		s = ce.s
	} else {
		src = sourceOf(u.Credential)
		if l.limited(now, src) {
			return l.refuse(&d, access.RateLimited, u.Challenge, nil, nil, unix, known)
		}
		if !ed25519.Verify(key[:], credentialSigned(u.Credential), cred.Signature[:]) {
			l.failedFrom(now, src)
			return l.refuse(&d, access.BadSignature, u.Challenge, nil, nil, unix, known)
		}
		if s, err = newSession(l.priv, cred.HolderKey[:], cred.Lock, cred.ID, cred.HolderKey[:], l.pub[:]); err != nil {
			l.failedFrom(now, src)
			return l.refuse(&d, access.BadProof, u.Challenge, nil, nil, unix, known)
		}
	}
	want := s.proof(u.Type, l.st.Pairing.Lock, &l.nonce, u.Challenge, doorByte(u.Door, u.Action), cred.ID)
	if !hmac.Equal(want[:], u.Proof[:]) {
		if ce == nil {
			l.failedFrom(now, src)
		}
		return l.refuse(&d, access.BadProof, u.Challenge, nil, nil, unix, known)
	}
	// Authentic from here: the issuer signed cred, the holder answered this nonce.
	if ce == nil {
		l.forgive(src)
		ce = l.remember(u.Credential, cred, s)
		cred = &ce.cred
	}
	l.tick++
	ce.used = l.tick
	l.raiseMinGen(cred.Slot, cred.Generation)
	auth := &authed{s: s, nonce: &l.nonce, cred: cred}

	if l.suspended(cred.ID) {
		return l.refuse(&d, access.KeySuspended, u.Challenge, auth, nil, unix, known)
	}
	if !cred.Role.permits(u.Action) {
		return l.refuse(&d, access.OpNotPermitted, u.Challenge, auth, nil, unix, known)
	}
	offset, r := l.when(cred, unix, known)
	if r != access.Granted {
		return l.refuse(&d, r, u.Challenge, auth, nil, unix, known)
	}
	if cred.Doors&(1<<u.Door) == 0 {
		return l.refuse(&d, access.WrongDoor, u.Challenge, auth, nil, unix, known)
	}
	uc := -1
	var used uint32
	if cred.Policy.UseLimit > 0 {
		if uc = l.useCounter(cred); uc >= 0 {
			used = l.st.Uses[uc].Uses
		}
	}
	if r := l.schedule(cred, unix, offset, used); r != access.Granted {
		return l.refuse(&d, r, u.Challenge, auth, l.usesAt(uc), unix, known)
	}
	if !l.room(classGrant) {
		return l.refuse(&d, access.AuditFull, u.Challenge, auth, l.usesAt(uc), unix, known)
	}
	if cred.Policy.UseLimit > 0 && uc < 0 {
		if uc = l.freeUseCounter(); uc < 0 {
			return l.refuse(&d, access.UseTableFull, u.Challenge, auth, nil, unix, known)
		}
	}
	undo := l.begin(uc)
	if uc >= 0 {
		c := &l.st.Uses[uc]
		if !c.InUse || c.Credential != cred.ID {
			*c = UseCounter{InUse: true, Credential: cred.ID, Slot: cred.Slot, Generation: cred.Generation, NotAfter: cred.Policy.NotAfter}
		}
		c.Uses++
	}
	d.Granted, d.Reason = true, access.Granted
	d.AuditSeq = l.record(classGrant, unix, known, AuditRecord{Kind: AuditUnlock, Slot: cred.Slot, Door: u.Door, Action: u.Action,
		Credential: cred.ID, Value: usesOf(l.usesAt(uc))})
	if err := l.persist(); err != nil {
		// Not on storage, so not done: undo the use and the record, refuse.
		l.rollback(&undo)
		d.Granted, d.AuditSeq = false, 0
		return l.refuse(&d, access.StorageFailed, u.Challenge, auth, l.usesAt(uc), unix, known)
	}
	d.Response = l.respond(&d, u.Challenge, auth, l.usesAt(uc), unix)
	return d
}

func (l *Lock) usesAt(i int) *UseCounter {
	if i < 0 {
		return nil
	}
	return &l.st.Uses[i]
}

func usesOf(uc *UseCounter) uint32 {
	if uc == nil {
		return 0
	}
	return uc.Uses
}

// grantUndo is what a grant changes before it is persisted.
type grantUndo struct {
	uc       int
	counter  UseCounter
	seq      uint32
	tag      [AuditTagSize]byte
	unrec    Unrecorded
	passed   PassageTally
	ring     [3]AuditEntry // the entries the grant (and the tallies flushed before it) may overwrite
	ringSlot [3]int
}

func (l *Lock) begin(uc int) grantUndo {
	u := grantUndo{uc: uc, seq: l.st.AuditSeq, tag: l.st.AuditTag, unrec: l.st.Unrecorded, passed: l.st.Passed}
	if uc >= 0 {
		u.counter = l.st.Uses[uc]
	}
	for i := range u.ring {
		u.ringSlot[i] = int((l.st.AuditSeq + uint32(i)) % AuditRingSize)
		u.ring[i] = l.st.AuditRing[u.ringSlot[i]]
	}
	return u
}

func (l *Lock) rollback(u *grantUndo) {
	if u.uc >= 0 {
		l.st.Uses[u.uc] = u.counter
	}
	l.st.AuditSeq, l.st.AuditTag, l.st.Unrecorded, l.st.Passed = u.seq, u.tag, u.unrec, u.passed
	for i := range u.ring {
		l.st.AuditRing[u.ringSlot[i]] = u.ring[i]
	}
}

// refuse answers a refusal. One reached before the holder proof verified
// (a == nil) is tallied, not recorded on its own: anyone can cause it.
func (l *Lock) refuse(d *Decision, r access.Reason, chal uint16, a *authed, uc *UseCounter, unix uint32, known bool) Decision {
	d.Reason = r
	rec := AuditRecord{Kind: AuditUnlock, Reason: r, Door: d.Door, Action: d.Action, Credential: d.Credential, Value: usesOf(uc)}
	if a != nil {
		rec.Slot = a.cred.Slot
		d.AuditSeq = l.record(classRefusal, unix, known, rec)
	} else {
		l.tally(&rec, unix, known)
	}
	d.Response = l.respond(d, chal, a, uc, unix)
	return *d
}

func (l *Lock) respond(d *Decision, chal uint16, a *authed, uc *UseCounter, unix uint32) []byte {
	p := Response{Challenge: chal, Granted: d.Granted, Reason: d.Reason, LockTime: unix, Uses: usesOf(uc), AuditSeq: d.AuditSeq}
	if a != nil {
		p.MAC = a.s.responseMAC(l.st.Pairing.Lock, a.nonce, a.cred.ID, &p)
	}
	return AppendResponse(l.out[:0], &p)
}

// credentialKey returns the key a credential signed under id verifies
// with: the current issuer key, or the retired one while its grace lasts
// on a clock the lock trusts (unknown time: the grace may be over, so no).
func (l *Lock) credentialKey(id KeyID, known bool) (*[32]byte, access.Reason) {
	if id == l.st.Issuer.ID {
		return &l.st.Issuer.Key, access.Granted
	}
	if l.st.Retired.Key != ([32]byte{}) && id == l.st.Retired.ID {
		if known && l.st.ClockMark < l.st.RetiredUntil {
			return &l.st.Retired.Key, access.Granted
		}
		return nil, access.KeyRetired
	}
	return nil, access.BadSignature // no key of this ID: nothing it signed can verify
}

func (l *Lock) cached(id CredentialID) *cacheEntry {
	if i := l.cachedIndex(id); i >= 0 {
		return &l.cache[i]
	}
	return nil
}

func (l *Lock) cachedIndex(id CredentialID) int {
	for i := range l.cache {
		if l.cache[i].inUse && l.cache[i].cred.ID == id {
			return i
		}
	}
	return -1
}

// remember caches a verified credential, replacing an entry with the same
// ID (a reissue) or else evicting the least recently used.
func (l *Lock) remember(raw []byte, c *Credential, s *session) *cacheEntry {
	v := l.cachedIndex(c.ID)
	if v < 0 {
		v = 0
		for i := range l.cache {
			if !l.cache[i].inUse {
				v = i
				break
			}
			if l.cache[i].used < l.cache[v].used {
				v = i
			}
		}
	}
	e := &l.cache[v]
	*e = cacheEntry{inUse: true, cred: *c, s: s}
	e.n = copy(e.raw[:], raw)
	return e
}

func (l *Lock) forget(id CredentialID) {
	if e := l.cached(id); e != nil {
		*e = cacheEntry{}
	}
}

func (l *Lock) isRevoked(id CredentialID) bool {
	for i := range l.st.Revoked {
		if l.st.Revoked[i].InUse && l.st.Revoked[i].Credential == id {
			return true
		}
	}
	return false
}

// raiseMinGen raises a slot's minimum generation and drops the entries it
// makes moot, so the state after a set of raises is the same in any order.
func (l *Lock) raiseMinGen(slot uint8, gen uint32) {
	if int(slot) >= MaxSlots || gen <= l.st.MinGen[slot] {
		return
	}
	l.st.MinGen[slot] = gen
	l.dropMoot()
}

// dropMoot clears revocations and use counters that can no longer matter.
func (l *Lock) dropMoot() {
	for i := range l.st.Revoked {
		if e := &l.st.Revoked[i]; e.InUse && l.moot(e.Slot, e.Generation, e.NotAfter) {
			*e = Revocation{}
		}
	}
	for i := range l.st.Uses {
		if u := &l.st.Uses[i]; u.InUse && l.moot(u.Slot, u.Generation, u.NotAfter) {
			*u = UseCounter{}
		}
	}
}

func (l *Lock) useCounter(c *Credential) int {
	for i := range l.st.Uses {
		if u := &l.st.Uses[i]; u.InUse && u.Credential == c.ID {
			return i
		}
	}
	return -1
}

// freeUseCounter returns a free or moot entry, or -1.
func (l *Lock) freeUseCounter() int {
	for i := range l.st.Uses {
		if u := &l.st.Uses[i]; !u.InUse || l.moot(u.Slot, u.Generation, u.NotAfter) {
			return i
		}
	}
	return -1
}
