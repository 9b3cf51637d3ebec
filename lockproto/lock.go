package lockproto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
)

// Bounds of the reference lock's state: every table is a fixed array.
const (
	MaxSlots             = 32
	MaxRevocations       = 32
	MaxUseCounters       = 64
	MaxCachedCredentials = 8
	MaxOutstandingNonces = 4
	AuditRingSize        = 128
)

// Pairing is what a lock is provisioned with at installation. The backend
// keeps Lock, the lock's public key and AuditKey; LockKey never leaves the lock.
type Pairing struct {
	Lock     uuid.UUID
	Issuer   [32]byte // Ed25519 public key of the issuer
	LockKey  [32]byte // X25519 private key, random (never derived from an identifier)
	AuditKey [32]byte // HMAC key for audit records, shared with the backend
}

// NewPairing makes the secrets for a new lock from r (nil = crypto/rand).
func NewPairing(lock uuid.UUID, issuer ed25519.PublicKey, r io.Reader) (Pairing, error) {
	var p Pairing
	if len(issuer) != ed25519.PublicKeySize {
		return p, invalidf("issuer key of %d bytes", len(issuer))
	}
	if r == nil {
		r = rand.Reader
	}
	p.Lock = lock
	copy(p.Issuer[:], issuer)
	if _, err := io.ReadFull(r, p.LockKey[:]); err != nil {
		return p, err
	}
	if _, err := io.ReadFull(r, p.AuditKey[:]); err != nil {
		return p, err
	}
	return p, nil
}

// LockPublicKey is the X25519 public key phones need with their credential.
func (p *Pairing) LockPublicKey() ([32]byte, error) {
	var pub [32]byte
	k, err := ecdh.X25519().NewPrivateKey(p.LockKey[:])
	if err != nil {
		return pub, err
	}
	copy(pub[:], k.PublicKey().Bytes())
	return pub, nil
}

// Revocation is one entry of the lock's revocation list. It can be dropped
// once the slot's minimum generation passes Generation or the lock's time
// passes NotAfter (if not 0).
type Revocation struct {
	InUse      bool
	Credential CredentialID
	Slot       uint8
	Generation uint32
	NotAfter   uint32
}

// UseCounter counts granted unlocks of one limited credential; it is dropped
// on the same terms as a Revocation, never earlier.
type UseCounter struct {
	InUse      bool
	Credential CredentialID
	Slot       uint8
	Generation uint32
	NotAfter   uint32
	Uses       uint32
}

// ClockState is the lock's wall clock: Unix seconds at the RTC reading At.
type ClockState struct {
	Synced bool
	Unix   uint32
	At     time.Duration
}

// AuditEntry is a record in the ring with the tag it chains from.
type AuditEntry struct {
	Record  AuditRecord
	PrevTag [AuditTagSize]byte
}

// State is everything a lock must keep across power cycles. A firmware port
// mirrors it field by field; Lock.State and RestoreLock move it in and out.
type State struct {
	Pairing      Pairing
	AdminSeq     uint32           // last admin sequence number accepted
	MinGen       [MaxSlots]uint32 // per slot: credentials below it lose
	Revoked      [MaxRevocations]Revocation
	Uses         [MaxUseCounters]UseCounter
	Clock        ClockState
	Zone         ZoneRules
	AuditSeq     uint32 // last record written
	AuditTag     [AuditTagSize]byte
	AuditDrained uint32 // last record handed out by DrainAudit
	AuditRing    [AuditRingSize]AuditEntry
	Failures     uint32        // consecutive authentication failures
	BlockedUntil time.Duration // RTC reading until which attempts are refused
}

// Config tunes a Lock; the zero value (or nil) gives the defaults.
type Config struct {
	// Clock reads a counter that keeps running across restarts (an RTC).
	// Default: time elapsed since NewLock/RestoreLock.
	Clock func() time.Duration
	// Rand supplies nonces. Default crypto/rand.
	Rand io.Reader
	// NonceLifetime: a challenge older than this is refused. Default 30 s.
	NonceLifetime time.Duration
	// ClockValidity: how long after a time sync the lock trusts its clock.
	// A 50 ppm crystal drifts at most 2.2 minutes in the default 30 days;
	// that is the stated tolerance at window and validity edges. After it,
	// the time is unknown and schedules fail closed until the next sync.
	ClockValidity time.Duration
	// MaxFailures consecutive failures start the backoff. Default 5.
	MaxFailures int
	// Backoff doubles with every failure past MaxFailures, up to MaxBackoff.
	// Defaults 1 s and 5 min.
	Backoff, MaxBackoff time.Duration
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Clock == nil {
		start := time.Now()
		out.Clock = func() time.Duration { return time.Since(start) }
	}
	if out.Rand == nil {
		out.Rand = rand.Reader
	}
	if out.NonceLifetime <= 0 {
		out.NonceLifetime = 30 * time.Second
	}
	if out.ClockValidity <= 0 {
		out.ClockValidity = 30 * 24 * time.Hour
	}
	if out.MaxFailures <= 0 {
		out.MaxFailures = 5
	}
	if out.Backoff <= 0 {
		out.Backoff = time.Second
	}
	if out.MaxBackoff <= 0 {
		out.MaxBackoff = 5 * time.Minute
	}
	return out
}

type nonceEntry struct {
	inUse  bool
	id     uint16
	nonce  [NonceSize]byte
	issued time.Duration
}

type cacheEntry struct {
	inUse bool
	raw   [MaxCredentialSize]byte
	n     int
	cred  Credential
	s     *session
	used  uint64 // tick of last use, for LRU eviction
}

// Lock is the reference lock. It is not safe for concurrent use: a
// lock handles one frame at a time.
type Lock struct {
	st  State
	cfg Config

	// Volatile: lost on restart, which is safe (phones ask again).
	priv     *ecdh.PrivateKey
	pub      [32]byte
	audit    *auditMAC
	nonces   [MaxOutstandingNonces]nonceEntry
	nextChal uint16
	tick     uint64
	scratch  Credential // the credential being checked
	cache    [MaxCachedCredentials]cacheEntry
	out      [ResponseSize]byte
}

// NewLock starts a factory-fresh lock: no clock, no zone, no admin messages.
func NewLock(p Pairing, cfg *Config) (*Lock, error) {
	return RestoreLock(State{Pairing: p}, cfg)
}

// RestoreLock starts a lock from persisted state.
func RestoreLock(st State, cfg *Config) (*Lock, error) {
	l := &Lock{st: st, cfg: cfg.withDefaults()}
	k, err := ecdh.X25519().NewPrivateKey(st.Pairing.LockKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: lock key: %v", ErrInvalid, err)
	}
	l.priv = k
	copy(l.pub[:], k.PublicKey().Bytes())
	l.audit = newAuditMAC(st.Pairing.AuditKey)
	var b [2]byte
	if _, err := io.ReadFull(l.cfg.Rand, b[:]); err != nil {
		return nil, err
	}
	l.nextChal = le.Uint16(b[:])
	return l, nil
}

// State returns a copy of the state to persist.
func (l *Lock) State() State { return l.st }

// PublicKey is the lock's X25519 public key.
func (l *Lock) PublicKey() [32]byte { return l.pub }

// Now returns the lock's Unix time and whether it trusts it.
func (l *Lock) Now() (uint32, bool) { return l.wallAt(l.cfg.Clock()) }

func (l *Lock) wallAt(now time.Duration) (uint32, bool) {
	c := l.st.Clock
	if !c.Synced || now < c.At || now-c.At > l.cfg.ClockValidity {
		return 0, false
	}
	t := uint64(c.Unix) + uint64((now-c.At)/time.Second)
	if t > 1<<32-1 {
		return 0, false
	}
	return uint32(t), true
}

func (l *Lock) blocked(now time.Duration) bool { return now < l.st.BlockedUntil }

func (l *Lock) failed(now time.Duration, r access.Reason) {
	if !countsAsFailure(r) {
		return
	}
	l.st.Failures++
	if over := int(l.st.Failures) - l.cfg.MaxFailures; over >= 0 {
		d := l.cfg.MaxBackoff
		if over < 30 {
			d = min(l.cfg.Backoff<<over, l.cfg.MaxBackoff)
		}
		l.st.BlockedUntil = now + d
	}
}

// Challenge issues a fresh nonce. At most MaxOutstandingNonces are live; a
// new one evicts the oldest. While backing off after failures it refuses.
func (l *Lock) Challenge() ([]byte, error) {
	now := l.cfg.Clock()
	if l.blocked(now) {
		return nil, &RefusalError{Reason: access.RateLimited, Detail: fmt.Sprintf("for %v", l.st.BlockedUntil-now)}
	}
	slot := 0
	for i := range l.nonces {
		e := &l.nonces[i]
		if !e.inUse || now-e.issued > l.cfg.NonceLifetime {
			slot = i
			break
		}
		if e.issued < l.nonces[slot].issued {
			slot = i
		}
	}
	e := &l.nonces[slot]
	if _, err := io.ReadFull(l.cfg.Rand, e.nonce[:]); err != nil {
		e.inUse = false
		return nil, fmt.Errorf("lockproto: nonce: %w", err)
	}
	l.nextChal++
	e.inUse, e.id, e.issued = true, l.nextChal, now
	c := Challenge{Lock: l.st.Pairing.Lock, ID: e.id, Nonce: e.nonce, AdminSeq: l.st.AdminSeq}
	if unix, ok := l.wallAt(now); ok {
		c.Flags |= FlagClockKnown
		if _, ok := l.st.Zone.OffsetAt(unix); ok {
			c.Flags |= FlagZoneKnown
		}
	}
	return AppendChallenge(make([]byte, 0, ChallengeSize), &c), nil
}

// takeNonce consumes the live challenge with this ID (or, if nonce is not
// nil, this nonce); single use even when the request then fails.
func (l *Lock) takeNonce(now time.Duration, id uint16, nonce *[NonceSize]byte) (nonceEntry, bool) {
	for i := range l.nonces {
		e := &l.nonces[i]
		if e.inUse && ((nonce == nil && e.id == id) || (nonce != nil && e.nonce == *nonce)) {
			e.inUse = false
			if now-e.issued > l.cfg.NonceLifetime || now < e.issued {
				return nonceEntry{}, false
			}
			return *e, true
		}
	}
	return nonceEntry{}, false
}

// Decision is the outcome of one unlock request.
type Decision struct {
	Granted    bool
	Reason     access.Reason
	Credential CredentialID // as presented
	Door       uint8
	AuditSeq   uint32 // 0 if no record was written (rate limited)
	Response   []byte // the frame for the phone; valid until the next call
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
// and non-secret first; nothing from the credential changes state before its
// signature and the holder proof verify; the use count is last, so only a
// grant spends a use):
//
//  1. backoff after repeated failures
//  2. frame: version, type, lengths, field ranges
//  3. lock ID (full requests; a cached credential was checked when cached)
//  4. challenge: known, fresh, unused (consumed now, whatever follows)
//  5. cached requests: the credential must be in the cache
//  6. revocation list
//  7. slot: in range and generation >= the slot's minimum
//  8. issuer signature (skipped if these exact bytes are cached)
//  9. holder proof (X25519 + HKDF skipped if cached) — then cache it, and a
//     higher generation raises the slot's minimum (the new holder overwrites)
//  10. the lock's clock is known (fail closed) and, for credentials with
//     windows, its UTC offset
//  11. door permission
//  12. validity, weekly windows and use limit: policy.Compact.Allowed on
//     the lock's own clock and offset with the uses counted so far
//  13. room to count the use; count it
//
// Every outcome but a backoff refusal is an audit record. Garbage, wrong
// lock, bad nonce, bad signature and bad proof count towards the backoff.
func (l *Lock) HandleUnlock(req []byte) Decision {
	now := l.cfg.Clock()
	d := Decision{}
	if l.blocked(now) {
		d.Reason = access.RateLimited
		var echo uint16
		if len(req) >= 4 {
			echo = le.Uint16(req[2:])
		}
		d.Response = l.respond(&d, echo, nil, nil, 0)
		return d
	}
	u, err := DecodeUnlock(req)
	if err != nil {
		var echo uint16 // so the phone can match even a refusal of a garbled frame
		if len(req) >= 4 {
			echo = le.Uint16(req[2:])
		}
		return l.refuse(now, &d, reasonOf(err), echo, nil, nil)
	}
	d.Door, d.Credential = u.Door, u.CredentialID

	var cred *Credential
	var ce *cacheEntry
	if u.Type == TypeUnlock {
		if l.scratch, err = DecodeCredential(u.Credential); err != nil {
			return l.refuse(now, &d, reasonOf(err), u.Challenge, nil, nil)
		}
		if l.scratch.Lock != l.st.Pairing.Lock {
			return l.refuse(now, &d, access.WrongLock, u.Challenge, nil, nil)
		}
		cred = &l.scratch
	}
	n, ok := l.takeNonce(now, u.Challenge, nil)
	if !ok {
		return l.refuse(now, &d, access.BadNonce, u.Challenge, nil, nil)
	}
	ce = l.cached(u.CredentialID)
	if u.Type == TypeUnlockCached {
		if ce == nil {
			return l.refuse(now, &d, access.NotCached, u.Challenge, nil, nil)
		}
		cred = &ce.cred
	} else if ce != nil && !bytes.Equal(ce.raw[:ce.n], u.Credential) {
		ce = nil // same ID, other bytes: verify from scratch
	}
	if l.isRevoked(cred.ID) {
		return l.refuse(now, &d, access.Revoked, u.Challenge, nil, nil)
	}
	if int(cred.Slot) >= MaxSlots {
		return l.refuse(now, &d, access.BadSlot, u.Challenge, nil, nil)
	}
	if cred.Generation < l.st.MinGen[cred.Slot] {
		return l.refuse(now, &d, access.Superseded, u.Challenge, nil, nil)
	}
	var s *session
	if ce != nil {
		s = ce.s
	} else {
		if !ed25519.Verify(l.st.Pairing.Issuer[:], credentialSigned(u.Credential), cred.Signature[:]) {
			return l.refuse(now, &d, access.BadSignature, u.Challenge, nil, nil)
		}
		if s, err = newSession(l.priv, cred.HolderKey[:], cred.Lock, cred.ID, cred.HolderKey[:], l.pub[:]); err != nil {
			return l.refuse(now, &d, access.BadProof, u.Challenge, nil, nil)
		}
	}
	want := s.proof(u.Type, l.st.Pairing.Lock, &n.nonce, u.Challenge, u.Door, cred.ID)
	if !hmac.Equal(want[:], u.Proof[:]) {
		return l.refuse(now, &d, access.BadProof, u.Challenge, nil, nil)
	}
	// Authentic from here: the issuer signed cred, the holder answered this nonce.
	l.st.Failures = 0
	if ce == nil {
		ce = l.remember(u.Credential, cred, s)
		cred = &ce.cred
	}
	l.tick++
	ce.used = l.tick
	if cred.Generation > l.st.MinGen[cred.Slot] {
		l.st.MinGen[cred.Slot] = cred.Generation
	}
	auth := &authed{s: s, nonce: &n.nonce, cred: cred}

	unix, ok := l.wallAt(now)
	if !ok {
		return l.refuse(now, &d, access.ClockUnknown, u.Challenge, auth, nil)
	}
	offset, ok := l.st.Zone.OffsetAt(unix)
	if !ok {
		if cred.Policy.NumWindows > 0 {
			return l.refuse(now, &d, access.ZoneUnknown, u.Challenge, auth, nil)
		}
		offset = 0 // validity and use limit do not depend on it
	}
	if cred.Doors&(1<<u.Door) == 0 {
		return l.refuse(now, &d, access.WrongDoor, u.Challenge, auth, nil)
	}
	var uc *UseCounter
	var used uint32
	if cred.Policy.UseLimit > 0 {
		if uc = l.useCounter(cred); uc != nil {
			used = uc.Uses
		}
	}
	if r := l.schedule(cred, unix, offset, used); r != access.Granted {
		return l.refuse(now, &d, r, u.Challenge, auth, uc)
	}
	if cred.Policy.UseLimit > 0 {
		if uc == nil {
			if uc = l.newUseCounter(unix, cred); uc == nil {
				return l.refuse(now, &d, access.UseTableFull, u.Challenge, auth, nil)
			}
		}
		uc.Uses++
	}
	d.Granted, d.Reason = true, access.Granted
	d.AuditSeq = l.record(unix, true, AuditRecord{Kind: AuditUnlock, Slot: cred.Slot, Door: u.Door, Credential: cred.ID, Value: usesOf(uc)})
	d.Response = l.respond(&d, u.Challenge, auth, uc, unix)
	return d
}

type authed struct {
	s     *session
	nonce *[NonceSize]byte
	cred  *Credential
}

func usesOf(uc *UseCounter) uint32 {
	if uc == nil {
		return 0
	}
	return uc.Uses
}

func (l *Lock) refuse(now time.Duration, d *Decision, r access.Reason, chal uint16, a *authed, uc *UseCounter) Decision {
	l.failed(now, r)
	d.Reason = r
	unix, known := l.wallAt(now)
	rec := AuditRecord{Kind: AuditUnlock, Reason: r, Door: d.Door, Credential: d.Credential, Value: usesOf(uc)}
	if a != nil {
		rec.Slot = a.cred.Slot
	}
	d.AuditSeq = l.record(unix, known, rec)
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

// moot reports whether an entry about a credential can be dropped: a reset
// made it lose anyway, or its validity ended on a clock the lock trusts.
func (l *Lock) moot(slot uint8, gen, notAfter uint32, unix uint32, known bool) bool {
	if int(slot) < MaxSlots && gen < l.st.MinGen[slot] {
		return true
	}
	return known && notAfter != 0 && unix >= notAfter
}

func (l *Lock) useCounter(c *Credential) *UseCounter {
	for i := range l.st.Uses {
		if u := &l.st.Uses[i]; u.InUse && u.Credential == c.ID {
			return u
		}
	}
	return nil
}

func (l *Lock) newUseCounter(unix uint32, c *Credential) *UseCounter {
	for i := range l.st.Uses {
		u := &l.st.Uses[i]
		if !u.InUse || l.moot(u.Slot, u.Generation, u.NotAfter, unix, true) {
			*u = UseCounter{InUse: true, Credential: c.ID, Slot: c.Slot, Generation: c.Generation, NotAfter: c.Policy.NotAfter}
			return u
		}
	}
	return nil
}

// record appends an audit record, chaining its tag, and returns its sequence number.
func (l *Lock) record(unix uint32, known bool, r AuditRecord) uint32 {
	l.st.AuditSeq++
	r.Seq = l.st.AuditSeq
	if known {
		r.LockTime = unix
	}
	r.Granted = r.Reason == access.Granted
	prev := l.st.AuditTag
	r.Tag = l.audit.tag(l.st.Pairing.Lock, &prev, &r)
	l.st.AuditTag = r.Tag
	l.st.AuditRing[(r.Seq-1)%AuditRingSize] = AuditEntry{Record: r, PrevTag: prev}
	return r.Seq
}

// HandleAdmin applies an issuer-signed admin message. Checks, in order:
// backoff; frame; lock ID; for a time sync a live nonce of this lock
// (consumed), otherwise a sequence number above the last accepted; the
// issuer signature; then the message's own rules. A message whose signature
// verified is recorded in the audit log, applied or not, and its sequence
// number is consumed. Refusals are *RefusalError.
func (l *Lock) HandleAdmin(msg []byte) error {
	now := l.cfg.Clock()
	if l.blocked(now) {
		return &RefusalError{Reason: access.RateLimited}
	}
	refuse := func(r access.Reason, detail string) error {
		l.failed(now, r)
		return &RefusalError{Reason: r, Detail: detail}
	}
	a, err := DecodeAdmin(msg)
	if err != nil {
		return refuse(reasonOf(err), err.Error())
	}
	if a.Lock != l.st.Pairing.Lock {
		return refuse(access.WrongLock, fmt.Sprintf("for lock %v", a.Lock))
	}
	if a.Type == TypeTimeSync {
		if _, ok := l.takeNonce(now, 0, &a.Nonce); !ok {
			return refuse(access.BadNonce, "time sync for no live challenge")
		}
	} else if a.Seq <= l.st.AdminSeq {
		// Normal when several phones carry the same pending messages: not a failure.
		return &RefusalError{Reason: access.StaleSequence, Detail: fmt.Sprintf("sequence %d, already at %d", a.Seq, l.st.AdminSeq)}
	}
	if !ed25519.Verify(l.st.Pairing.Issuer[:], msg[:len(msg)-signatureSize], a.Signature[:]) {
		return refuse(access.BadSignature, fmt.Sprintf("%v seq %d", a.Type, a.Seq))
	}
	l.st.Failures = 0
	if a.Type != TypeTimeSync {
		l.st.AdminSeq = a.Seq
	}
	r := l.apply(now, &a)
	unix, known := l.wallAt(now)
	l.record(unix, known, AuditRecord{Kind: AuditAdmin, Reason: r, Slot: a.Slot, Credential: a.Credential, AdminType: a.Type, Value: a.Seq})
	if r != access.Granted {
		return &RefusalError{Reason: r, Detail: fmt.Sprintf("%v seq %d", a.Type, a.Seq)}
	}
	return nil
}

func (l *Lock) apply(now time.Duration, a *Admin) access.Reason {
	switch a.Type {
	case TypeResetSlot, TypeDeactivateSlot:
		if int(a.Slot) >= MaxSlots {
			return access.BadSlot
		}
		l.st.MinGen[a.Slot] = max(l.st.MinGen[a.Slot], a.Generation)
	case TypeRevoke:
		if l.isRevoked(a.Credential) {
			return access.Granted
		}
		unix, known := l.wallAt(now)
		for i := range l.st.Revoked {
			e := &l.st.Revoked[i]
			if !e.InUse || l.moot(e.Slot, e.Generation, e.NotAfter, unix, known) {
				*e = Revocation{InUse: true, Credential: a.Credential, Slot: a.Slot, Generation: a.Generation, NotAfter: a.NotAfter}
				l.forget(a.Credential)
				return access.Granted
			}
		}
		return access.RevocationsFull
	case TypeTimeSync:
		l.st.Clock = ClockState{Synced: true, Unix: a.Time, At: now}
	case TypeTimeZone:
		l.st.Zone = a.Zone
	}
	return access.Granted
}

// DrainAudit returns a batch of the oldest records not yet drained (at most
// MaxAuditBatch), or nil when there are none. Records stay in the ring until
// overwritten, so a lost upload can be repeated with AuditFrom.
func (l *Lock) DrainAudit() []byte {
	b := l.auditFrom(l.st.AuditDrained + 1)
	if b == nil {
		return nil
	}
	l.st.AuditDrained = b.Records[b.N-1].Seq
	out, _ := AppendAuditBatch(make([]byte, 0, MaxAuditBatchSize), b)
	return out
}

// AuditFrom returns a batch starting at seq (or the oldest record still in
// the ring, if later), without moving the drain position.
func (l *Lock) AuditFrom(seq uint32) []byte {
	b := l.auditFrom(seq)
	if b == nil {
		return nil
	}
	out, _ := AppendAuditBatch(make([]byte, 0, MaxAuditBatchSize), b)
	return out
}

func (l *Lock) auditFrom(from uint32) *AuditBatch {
	last := l.st.AuditSeq
	oldest := uint32(1)
	if last > AuditRingSize {
		oldest = last - AuditRingSize + 1
	}
	from = max(from, oldest)
	if from > last {
		return nil
	}
	b := &AuditBatch{Lock: l.st.Pairing.Lock}
	for s := from; s <= last && int(b.N) < MaxAuditBatch; s++ {
		e := &l.st.AuditRing[(s-1)%AuditRingSize]
		if b.N == 0 {
			b.PrevTag = e.PrevTag
		}
		b.Records[b.N] = e.Record
		b.N++
	}
	return b
}
