package lockproto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// PINs and cards at the lock. The issuer puts them in the lock's tables
// with signed admin messages (set PIN, clear PIN, set card, clear card) that
// any phone delivers, like every other admin message. A message never holds
// the code itself: it holds a keyed digest under a per-lock key derived
// from the pairing's audit key (both ends have it, a phone does not), so the
// ledger that stores the message, the phones that carry it and anyone who
// reads it learn nothing a guess could be checked against. The lock digests
// what is typed or presented with the same key and compares it with every
// entry in constant time.

// PIN and card identifier lengths the lock accepts.
const (
	MinPINDigits  = 4
	MaxPINDigits  = 6
	MinCardUIDLen = 4
	MaxCardUIDLen = 10
	// MaxPINSlots and MaxCardSlots bound the code and card tables
	// (Config.PINSlots, Config.CardSlots may make them smaller).
	MaxPINSlots  = 128
	MaxCardSlots = 128
	// CodeDigestSize is the size of a PIN or card digest.
	CodeDigestSize = 16
)

// CodeDigest is the keyed digest of a PIN or of a card's identifier under
// one lock's code key (PINDigest, CardDigest).
type CodeDigest [CodeDigestSize]byte

// CardMode is how a card proves itself to the lock. Append only: never
// renumber or reuse a value.
type CardMode uint8

const (
	// CardUID: the lock matches the identifier the card announces. Anyone
	// in radio range reads it and a blank card repeats it: it identifies a
	// card, it does not authenticate one.
	CardUID CardMode = 0
)

const maxCardMode = CardUID

// CodeSlot is one entry of the lock's PIN or card table. Live entries hold
// a code; a cleared entry keeps its ID and minimum generation (a
// tombstone) until the admin window passes the message that cleared it, so
// a set message of an older generation delivered late cannot bring the code
// back.
type CodeSlot struct {
	Live       bool
	ID         CredentialID
	MinGen     uint32 // generations below it lose
	Generation uint32
	Doors      uint8
	Length     uint8
	Mode       CardMode
	Policy     policy.Compact
	Digest     CodeDigest
	Uses       uint32 // granted uses of this generation (limited entries)
	Seq        uint32 // the admin message that last changed it
}

// KeypadState is the keypad's persisted count of wrong codes in a row and
// whether it is locked out.
type KeypadState struct {
	Failures  uint32
	LockedOut bool
	// Lockouts counts the lockouts since the last right code: each lasts
	// twice the one before, up to Config.MaxCodeLockout.
	Lockouts uint32
}

const (
	pinKeyInfo  = "keyledger/lockproto v1 pin key"
	cardKeyInfo = "keyledger/lockproto v1 card key"
)

// codeKey derives a lock's PIN or card key from its audit key.
func codeKey(auditKey *[32]byte, lock uuid.UUID, info string) ([]byte, error) {
	return hkdf.Key(sha256.New, auditKey[:], lock[:], info, 32)
}

// codeMACs digests typed codes and presented identifiers with no
// allocation.
type codeMACs struct {
	pin, card hash.Hash
	sum       [sha256.Size]byte
	buf       [1 + max(MaxPINDigits, MaxCardUIDLen)]byte
}

func (m *codeMACs) init(p *Pairing) error {
	pk, err := codeKey(&p.AuditKey, p.Lock, pinKeyInfo)
	if err != nil {
		return err
	}
	ck, err := codeKey(&p.AuditKey, p.Lock, cardKeyInfo)
	if err != nil {
		return err
	}
	m.pin, m.card = hmac.New(sha256.New, pk), hmac.New(sha256.New, ck)
	return nil
}

func (m *codeMACs) digest(h hash.Hash, code []byte) (d CodeDigest) {
	h.Reset()
	m.buf[0] = byte(len(code))
	n := copy(m.buf[1:], code)
	h.Write(m.buf[:1+n])
	clear(m.buf[:])
	copy(d[:], h.Sum(m.sum[:0]))
	return d
}

// PINDigest is what a set-PIN message carries for pin (4 to 6 ASCII digits)
// at the lock paired with auditKey: the first 16 bytes of
// HMAC-SHA256(HKDF-SHA256(audit key, salt = lock ID, info = "keyledger/lockproto v1 pin key"), length ‖ pin).
// The error names the length, never the digits.
func PINDigest(auditKey [32]byte, lock uuid.UUID, pin []byte) (CodeDigest, error) {
	if err := checkPIN(pin); err != nil {
		return CodeDigest{}, err
	}
	return digestWith(&auditKey, lock, pinKeyInfo, pin)
}

// CardDigest is what a set-card message carries for a card identifier of
// MinCardUIDLen to MaxCardUIDLen bytes (info "keyledger/lockproto v1 card key").
func CardDigest(auditKey [32]byte, lock uuid.UUID, uid []byte) (CodeDigest, error) {
	if len(uid) < MinCardUIDLen || len(uid) > MaxCardUIDLen {
		return CodeDigest{}, invalidf("card identifier of %d bytes, want %d to %d", len(uid), MinCardUIDLen, MaxCardUIDLen)
	}
	return digestWith(&auditKey, lock, cardKeyInfo, uid)
}

func digestWith(auditKey *[32]byte, lock uuid.UUID, info string, code []byte) (CodeDigest, error) {
	k, err := codeKey(auditKey, lock, info)
	if err != nil {
		return CodeDigest{}, err
	}
	var m codeMACs
	return m.digest(hmac.New(sha256.New, k), code), nil
}

// checkPIN: 4 to 6 ASCII digits; the error names the length or position.
func checkPIN(pin []byte) error {
	if len(pin) < MinPINDigits || len(pin) > MaxPINDigits {
		return invalidf("PIN of %d characters, want %d to %d digits", len(pin), MinPINDigits, MaxPINDigits)
	}
	for i, c := range pin {
		if c < '0' || c > '9' {
			return invalidf("PIN has a non-digit at position %d", i)
		}
	}
	return nil
}

// codeTable is the PIN or card table a set or clear message is about.
func (l *Lock) codeTable(t Type) []CodeSlot {
	if t == TypeSetPIN || t == TypeClearPIN {
		return l.st.PINs[:l.cfg.PINSlots]
	}
	return l.st.Cards[:l.cfg.CardSlots]
}

// applyCode applies a verified set or clear message; it returns the reason
// and the table index it used (for the audit record).
//
// Messages about one entry commute: a set applies only at or above the
// entry's minimum and current generation, a clear only raises the minimum.
// A digest already live under another ID is refused (CodeInUse): a typed
// code must name one key.
func (l *Lock) applyCode(a *Admin) (access.Reason, uint8) {
	tab := l.codeTable(a.Type)
	l.dropTombstones(tab)
	i := -1
	for j := range tab {
		if (tab[j].Live || tab[j].MinGen > 0) && tab[j].ID == a.Credential {
			i = j
			break
		}
	}
	if a.Type == TypeClearPIN || a.Type == TypeClearCard {
		l.unsuspend(a.Credential, a.Seq) // the entry is cleared: nothing left to suspend
		if i < 0 {
			if i = freeCode(tab); i < 0 {
				return access.Granted, 0 // nothing to clear, no room to remember it: an older set finds no room either
			}
			tab[i] = CodeSlot{ID: a.Credential}
		}
		e := &tab[i]
		e.MinGen, e.Seq = max(e.MinGen, a.Generation), max(e.Seq, a.Seq) // an older clear arriving late leaves a newer set's mark
		if e.Live && e.Generation < e.MinGen {
			*e = CodeSlot{ID: e.ID, MinGen: e.MinGen, Seq: e.Seq}
		}
		return access.Granted, uint8(i)
	}
	if i >= 0 && (a.Generation < tab[i].MinGen || (tab[i].Live && a.Generation < tab[i].Generation)) {
		return access.Superseded, uint8(i)
	}
	for j := range tab {
		if j != i && tab[j].Live && tab[j].Digest == a.Digest {
			return access.CodeInUse, 0
		}
	}
	if i < 0 {
		if i = freeCode(tab); i < 0 {
			return access.CodeSlotsFull, 0
		}
	}
	e := &tab[i]
	uses := e.Uses // a new generation of the same key (an edit) keeps its count
	if !e.Live {
		uses = 0
	}
	*e = CodeSlot{Live: true, ID: a.Credential, MinGen: max(e.MinGen, a.Generation), Generation: a.Generation, Doors: a.Doors,
		Length: a.Length, Mode: a.Mode, Policy: a.Policy, Digest: a.Digest, Uses: uses, Seq: a.Seq}
	return access.Granted, uint8(i)
}

func freeCode(tab []CodeSlot) int {
	for j := range tab {
		if !tab[j].Live && tab[j].MinGen == 0 {
			return j
		}
	}
	return -1
}

// dropTombstones frees cleared entries whose clearing message is below the
// admin window: every set message for them is older still, so stale.
func (l *Lock) dropTombstones(tab []CodeSlot) {
	for j := range tab {
		if e := &tab[j]; !e.Live && e.MinGen > 0 && l.adminApplied(e.Seq) && l.st.AdminSeq-e.Seq > adminWindow {
			*e = CodeSlot{}
		}
	}
}

// match scans every entry of tab for d in constant time (no early exit, no
// branch on a secret byte) and returns the live entry's index, or -1.
func match(tab []CodeSlot, d *CodeDigest) int {
	found := -1
	for j := range tab {
		eq := subtle.ConstantTimeCompare(tab[j].Digest[:], d[:])
		live := 0
		if tab[j].Live {
			live = 1
		}
		found = subtle.ConstantTimeSelect(eq&live, j, found)
	}
	return found
}

// CodeDecision is the lock's decision on a PIN typed at its keypad or a
// card presented to its reader.
type CodeDecision struct {
	Granted bool
	Reason  access.Reason
	Door    uint8
	// ID, Slot and Uses name the entry that matched (ID zero for none) and
	// its granted uses after this one (limited entries).
	ID       CredentialID
	Slot     int
	Uses     uint32
	AuditSeq uint32 // 0 if no record of its own (tallied)
	// Failures is the keypad's wrong codes in a row after this one;
	// LockedOut that the keypad takes no code now (cards and phones are
	// not affected).
	Failures  uint32
	LockedOut bool
	// Kind and Seq are an offline code's (offlinecode.go) once its MAC
	// verified; Kind is 0 for a PIN and for digits that are no code. An
	// erase code applied is Reason Granted with Granted false.
	Kind CodeKind
	Seq  uint8
}

// decideCode runs the checks after a code or card matched entry i of tab:
// door, time (high-water mark, clock, zone), schedule and uses, room in
// the audit; then it counts the use, records and persists before it
// grants. kind is the record's kind.
func (l *Lock) decideCode(d *CodeDecision, tab []CodeSlot, i int, kind AuditKind, unix uint32, known bool) {
	e := &tab[i]
	d.ID, d.Slot, d.Uses = e.ID, i, e.Uses
	rec := AuditRecord{Kind: kind, Slot: uint8(i), Door: d.Door, Credential: e.ID, Value: e.Uses}
	refuse := func(r access.Reason) {
		d.Reason, rec.Reason = r, r
		d.AuditSeq = l.record(classRefusal, unix, known, rec)
	}
	if l.suspended(e.ID) {
		refuse(access.KeySuspended)
		return
	}
	if e.Doors&(1<<d.Door) == 0 {
		refuse(access.WrongDoor)
		return
	}
	offset, r := l.whenPolicy(&e.Policy, unix, known)
	if r != access.Granted {
		refuse(r)
		return
	}
	if r := fromPolicy(e.Policy.Allowed(time.Unix(int64(unix), 0), offset, e.Uses)); r != access.Granted {
		refuse(r)
		return
	}
	if !l.room(classGrant) {
		refuse(access.AuditFull)
		return
	}
	undo := l.begin(-1)
	uses := e.Uses
	if e.Policy.UseLimit > 0 {
		e.Uses++
	}
	rec.Value = e.Uses
	d.AuditSeq = l.record(classGrant, unix, known, rec)
	if err := l.persist(); err != nil {
		l.rollback(&undo)
		e.Uses = uses
		d.AuditSeq = 0
		refuse(access.StorageFailed)
		return
	}
	d.Granted, d.Reason, d.Uses = true, access.Granted, e.Uses
}

// PresentCard decides a card presented at door (0..7) with identifier uid.
// The identifier is digested under the lock's card key and compared with
// every card entry in constant time; a match is decided like a PIN (door,
// clock, schedule and uses, recorded, persisted before a grant). A card that
// is no key's (UnknownCard) is tallied like other refusals anyone can cause.
// A uid shorter than MinCardUIDLen or longer than MaxCardUIDLen, or a door
// past 7, is Malformed; nothing changes. Cards never count towards the
// keypad's lockout, and a locked-out keypad refuses no card.
func (l *Lock) PresentCard(door uint8, uid []byte) CodeDecision {
	_, unix, known := l.observe()
	d := CodeDecision{Door: door, Slot: -1}
	if door > 7 || len(uid) < MinCardUIDLen || len(uid) > MaxCardUIDLen {
		d.Reason = access.Malformed
		return d
	}
	dg := l.codes.digest(l.codes.card, uid)
	tab := l.st.Cards[:l.cfg.CardSlots]
	i := match(tab, &dg)
	if i < 0 {
		d.Reason = access.UnknownCard
		l.tally(&AuditRecord{Kind: AuditCard, Reason: access.UnknownCard, Door: door}, unix, known)
		return d
	}
	l.decideCode(&d, tab, i, AuditCard, unix, known)
	return d
}

func (e *CodeSlot) String() string {
	return fmt.Sprintf("code slot %v generation %d", e.ID, e.Generation) // never the digest
}
