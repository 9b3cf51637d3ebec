package lockproto

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
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
	// AuditReserve is how many of the ring's unacknowledged records only
	// grants and admin messages may take: once fewer are left, refusals
	// are counted in one record instead (AuditRefusals), so a holder
	// refused again and again cannot fill the audit and lock everyone out.
	AuditReserve = 32
	// LimiterSize bounds the sources (credential bytes, admin signatures)
	// the backoff tracks; the least recently failed one makes room.
	LimiterSize = 16
)

// StateFormat is the layout of State this version writes. RestoreLock reads
// it and format 0, the state of versions before the field existed.
const StateFormat = 1

// Pairing is what a lock is provisioned with at installation. The backend
// keeps Lock, the lock's public key and AuditKey; LockKey never leaves the lock.
type Pairing struct {
	Lock        uuid.UUID
	Issuer      [32]byte // Ed25519 public key of the issuer at pairing
	IssuerKeyID KeyID    // the ID it signs under (Issuer.KeyID)
	LockKey     [32]byte // X25519 private key, random (never derived from an identifier)
	AuditKey    [32]byte // HMAC key for audit records, shared with the backend
	// CodeKey authenticates offline codes (CodeCipher), shared with the
	// backend; zero in pairings made before offline codes, whose locks
	// refuse every code.
	CodeKey [32]byte
}

// NewPairing makes the secrets for a new lock from r (nil = crypto/rand),
// for an issuer key with ID 0.
func NewPairing(lock uuid.UUID, issuer ed25519.PublicKey, r io.Reader) (Pairing, error) {
	return NewPairingKey(lock, 0, issuer, r)
}

// NewPairingKey is NewPairing for the issuer key with ID id (Issuer.KeyID):
// a lock installed after a rotation trusts the key that took over.
func NewPairingKey(lock uuid.UUID, id KeyID, issuer ed25519.PublicKey, r io.Reader) (Pairing, error) {
	var p Pairing
	if len(issuer) != ed25519.PublicKeySize {
		return p, invalidf("issuer key of %d bytes", len(issuer))
	}
	if id > MaxKeyID {
		return p, invalidf("issuer key ID %d, at most %d", id, MaxKeyID)
	}
	if r == nil {
		r = rand.Reader
	}
	p.Lock, p.IssuerKeyID = lock, id
	copy(p.Issuer[:], issuer)
	if _, err := io.ReadFull(r, p.LockKey[:]); err != nil {
		return p, err
	}
	if _, err := io.ReadFull(r, p.AuditKey[:]); err != nil {
		return p, err
	}
	if _, err := io.ReadFull(r, p.CodeKey[:]); err != nil {
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

// IssuerKey is an issuer public key the lock holds, with its ID. A zero Key
// means none.
type IssuerKey struct {
	ID  KeyID
	Key [32]byte
}

// Revocation is one entry of the lock's revocation list. It is dropped once
// the slot's minimum generation passes Generation or the lock's high-water
// mark of time reaches NotAfter (if not 0).
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

// ClockState is the lock's wall clock: Unix seconds at the RTC reading At,
// set by a time sync during start number Boot. The lock trusts it only
// during that same start: after a restart the RTC's readings mean nothing.
type ClockState struct {
	Synced bool
	Unix   uint32
	At     time.Duration
	Boot   uint32
}

// AuditEntry is a record in the ring with the tag it chains from.
type AuditEntry struct {
	Record  AuditRecord
	PrevTag [AuditTagSize]byte
}

// Unrecorded tallies refused unlock attempts not yet written as a record
// (see AuditRefusals): how many, and the last one's reason, door, action,
// credential ID as presented, and lock time (0 if unknown).
type Unrecorded struct {
	Count      uint32
	Reason     access.Reason
	Door       uint8
	Action     Action
	Credential CredentialID
	LockTime   uint32
}

// PassageTally counts opens in passage mode not yet written as a record
// (the audit was within AuditReserve places of full): how many, and the
// last one's door and lock time (0 if unknown).
type PassageTally struct {
	Count    uint32
	Door     uint8
	LockTime uint32
}

// State is everything a lock must keep across power cycles. A firmware port
// mirrors it field by field; Config.Persist (or Lock.State) gets it out and
// RestoreLock puts it back.
type State struct {
	Format  uint8 // StateFormat; 0 = written before formats were numbered
	Pairing Pairing
	// Boot counts the lock's starts. It is persisted before the first
	// challenge of a start and mixed into every nonce, so a lock whose RNG
	// restarts from the same state still never repeats a nonce.
	Boot uint32
	// Issuer signs everything the lock accepts now; Retired is the key it
	// replaced, whose credentials (not admin messages) open until the lock
	// time RetiredUntil.
	Issuer       IssuerKey
	Retired      IssuerKey
	RetiredUntil uint32
	// AdminSeq is the highest admin sequence number applied; bit i of
	// AdminWindow says whether AdminSeq-1-i was applied. Messages below the
	// window count as applied.
	AdminSeq    uint32
	AdminWindow uint64
	MinGen      [MaxSlots]uint32 // per slot: credentials below it lose
	Revoked     [MaxRevocations]Revocation
	Uses        [MaxUseCounters]UseCounter
	Clock       ClockState
	// ClockMark is the highest lock time the lock ever trusted; it never
	// goes down. A credential whose end is at or before it is expired
	// whatever the clock says later, and nothing is dropped by a date after it.
	ClockMark    uint32
	Zone         ZoneRules
	ZoneSeq      uint32 // sequence number of the time-zone message in Zone
	AuditSeq     uint32 // last record written
	AuditTag     [AuditTagSize]byte
	AuditDrained uint32 // last record handed out by DrainAudit
	// AuditAcked is the last record the backend acknowledged (AuditAck):
	// the ring never overwrites a record after it.
	AuditAcked uint32
	AuditRing  [AuditRingSize]AuditEntry
	Unrecorded Unrecorded
	// PINs and Cards are the lock's code and card tables (set and clear
	// admin messages); Keypad is the keypad's wrong-code count and lockout.
	// All zero in a state written before they existed: no codes, no cards.
	PINs   [MaxPINSlots]CodeSlot
	Cards  [MaxCardSlots]CodeSlot
	Keypad KeypadState
	// Codes is the offline codes' sequence window: per sequence number,
	// the end up to which its codes are spent or revoked.
	Codes [CodeSeqs]CodeSeqState
	// Passage is the passage schedule (passage.go) and PassageSeq the
	// sequence number of the message that set it; zero: none.
	Passage    Passage
	PassageSeq uint32
	// Passed tallies opens in passage mode that got no record of their own
	// (auditlog.go). All zero in a state written before it existed.
	Passed PassageTally
	// Suspended is the suspension table (suspend.go). ResetSeq is the
	// mark of the latest reset of every key applied (resetall.go: the
	// sequence number it was first issued under):
	// code, card and suspension entries from older messages are gone and
	// such messages change nothing; ResetEpoch is the highest epoch applied.
	// All zero in a state written before they existed.
	Suspended  [MaxSuspensions]Suspension
	ResetSeq   uint32
	ResetEpoch uint32
}

// Config tunes a Lock; the zero value (or nil) gives the defaults.
type Config struct {
	// Clock reads a counter that keeps running while the lock runs (an
	// RTC). A reading below the previous one makes the clock unknown until
	// the next time sync. Default: time elapsed since NewLock/RestoreLock.
	Clock func() time.Duration
	// Rand supplies nonces. Default crypto/rand.
	Rand io.Reader
	// Persist writes the state to storage that survives a power cut; it
	// must return only once it has. The lock calls it before it grants
	// (use counts, audit records), after an admin message or an audit
	// acknowledgement, before handing out audit records not yet written,
	// and at start (the boot counter). When it fails the lock does not act:
	// a grant becomes a refusal (access.StorageFailed). It must not keep
	// or change st. Default: none (the state lives in memory; tests).
	Persist func(st *State) error
	// NonceLifetime: a challenge older than this is refused. Default 30 s.
	NonceLifetime time.Duration
	// ClockValidity: how long after a time sync the lock trusts its clock.
	// A 50 ppm crystal drifts at most 2.2 minutes in the default 30 days;
	// that is the stated tolerance at window and validity edges. After it,
	// the time is unknown and time-bound credentials fail closed until the
	// next sync.
	ClockValidity time.Duration
	// MaxClockStepBack: a time sync that sets the clock further back than
	// this below the high-water mark is applied and flagged in its audit
	// record (AuditRecord.Value). Default 5 min.
	MaxClockStepBack time.Duration
	// MaxFailures consecutive failed verifications from one source
	// (credential bytes, admin signature) start its backoff. Default 5.
	MaxFailures int
	// Backoff doubles with every failure past MaxFailures, up to MaxBackoff.
	// Defaults 1 s and 5 min.
	Backoff, MaxBackoff time.Duration
	// PINSlots and CardSlots are how many PINs and cards this lock holds
	// (its capability), at most MaxPINSlots and MaxCardSlots, the defaults.
	// A set message beyond them is refused (access.CodeSlotsFull).
	PINSlots, CardSlots int
	// MaxCodeFailures wrong codes in a row at the keypad lock the keypad
	// (only the keypad) out for CodeLockout; each further lockout before a
	// right code lasts twice the one before, up to MaxCodeLockout. Defaults
	// 5, 15 min and 24 h.
	MaxCodeFailures int
	CodeLockout     time.Duration
	MaxCodeLockout  time.Duration
	// ClockReadingInterval: a drain with nothing new to hand out writes a
	// clock reading (AuditClock) only when the last one of this start is
	// at least this old on the RTC. Default 6 h.
	ClockReadingInterval time.Duration
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
	if out.MaxClockStepBack <= 0 {
		out.MaxClockStepBack = 5 * time.Minute
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
	if out.PINSlots <= 0 || out.PINSlots > MaxPINSlots {
		out.PINSlots = MaxPINSlots
	}
	if out.CardSlots <= 0 || out.CardSlots > MaxCardSlots {
		out.CardSlots = MaxCardSlots
	}
	if out.MaxCodeFailures <= 0 {
		out.MaxCodeFailures = 5
	}
	if out.CodeLockout <= 0 {
		out.CodeLockout = 15 * time.Minute
	}
	if out.MaxCodeLockout < out.CodeLockout {
		out.MaxCodeLockout = max(24*time.Hour, out.CodeLockout)
	}
	if out.ClockReadingInterval <= 0 {
		out.ClockReadingInterval = 6 * time.Hour
	}
	return out
}

// Lock is the reference lock. It is not safe for concurrent use: a
// lock handles one frame at a time.
type Lock struct {
	st  State
	cfg Config

	// Volatile: lost on restart, which is safe (phones ask again; the boot
	// counter keeps old nonces dead).
	priv      *ecdh.PrivateKey
	pub       [32]byte
	audit     *auditMAC
	nonces    [MaxOutstandingNonces]nonceEntry
	nextChal  uint16
	issued    uint64 // challenges issued this start
	lastRTC   time.Duration
	persisted uint32 // AuditSeq at the last successful Persist
	tick      uint64
	scratch   Credential      // the credential being checked
	nonce     [NonceSize]byte // the nonce it answers
	cache     [MaxCachedCredentials]cacheEntry
	limiter   [LimiterSize]limitEntry
	out       [ResponseSize]byte
	codes     codeMACs
	// keypadUntil is the RTC reading the keypad's lockout ends at (this
	// start; a restart during a lockout starts a full one).
	keypadUntil time.Duration
	offline     *CodeCipher // nil: the pairing has no code key
	// reading is the RTC of the last clock reading written this start
	// (clockread.go); readOnce says there was one.
	reading  time.Duration
	readOnce bool
}

// NewLock starts a factory-fresh lock: no clock, no zone, no admin messages.
func NewLock(p Pairing, cfg *Config) (*Lock, error) {
	return RestoreLock(State{Pairing: p}, cfg)
}

// RestoreLock starts a lock from persisted state (of this StateFormat or
// the unnumbered format before it). It counts the start (State.Boot) and
// persists that before it returns, so it fails if Config.Persist does.
// After it the clock is unknown until a time sync.
func RestoreLock(st State, cfg *Config) (*Lock, error) {
	if st.Format > StateFormat {
		return nil, invalidf("state format %d, this version reads up to %d", st.Format, StateFormat)
	}
	if st.Format == 0 {
		upgradeState(&st)
	}
	if st.Boot == 1<<32-1 {
		return nil, invalidf("boot counter exhausted")
	}
	st.Boot++
	l := &Lock{st: st, cfg: cfg.withDefaults()}
	k, err := ecdh.X25519().NewPrivateKey(st.Pairing.LockKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: lock key: %v", ErrInvalid, err)
	}
	l.priv = k
	copy(l.pub[:], k.PublicKey().Bytes())
	l.audit = newAuditMAC(st.Pairing.AuditKey)
	if err := l.codes.init(&st.Pairing); err != nil {
		return nil, fmt.Errorf("%w: code keys: %v", ErrInvalid, err)
	}
	if l.st.Keypad.LockedOut {
		l.keypadUntil = l.cfg.Clock() + l.lockoutFor(l.st.Keypad.Lockouts)
	}
	if st.Pairing.CodeKey != ([32]byte{}) {
		if l.offline, err = NewCodeCipher(&st.Pairing.CodeKey); err != nil {
			return nil, err
		}
	}
	var b [2]byte
	if _, err := io.ReadFull(l.cfg.Rand, b[:]); err != nil {
		return nil, err
	}
	l.nextChal = le.Uint16(b[:])
	if err := l.persist(); err != nil {
		return nil, err
	}
	return l, nil
}

// upgradeState reads the state of a version before StateFormat 1 as that
// version meant it: every admin message up to AdminSeq counts as applied
// (zone rules too), the last time sync is the high-water mark, drained
// records count as acknowledged (that version overwrote them), and the
// pairing's issuer key is the current one.
func upgradeState(st *State) {
	st.Format = StateFormat
	if st.Issuer.Key == ([32]byte{}) {
		st.Issuer = IssuerKey{ID: st.Pairing.IssuerKeyID, Key: st.Pairing.Issuer}
	}
	if st.AdminSeq > 0 {
		st.AdminWindow = ^uint64(0)
		st.ZoneSeq = max(st.ZoneSeq, st.AdminSeq)
	}
	st.ClockMark = max(st.ClockMark, st.Clock.Unix)
	acked := st.AuditDrained
	if st.AuditSeq > AuditRingSize {
		acked = max(acked, st.AuditSeq-AuditRingSize)
	}
	st.AuditAcked = max(st.AuditAcked, min(acked, st.AuditSeq))
}

// State returns a copy of the state to persist.
func (l *Lock) State() State { return l.st }

// PublicKey is the lock's X25519 public key.
func (l *Lock) PublicKey() [32]byte { return l.pub }

// persist hands the state to Config.Persist.
func (l *Lock) persist() error {
	if l.cfg.Persist != nil {
		if err := l.cfg.Persist(&l.st); err != nil {
			return fmt.Errorf("%w: %w", ErrPersist, err)
		}
	}
	l.persisted = l.st.AuditSeq
	return nil
}
