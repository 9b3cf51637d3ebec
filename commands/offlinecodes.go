package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// Offline codes (lockproto.OfflineCode): digits a guest types at a lock no
// phone visits first. The backend holds the pairing's code key sealed
// (EnableOfflineCodes), issues a code and returns its digits once
// (IssueOfflineCode), revokes it with an erase code and a revoke-code admin
// message any phone carries (RevokeOfflineCode), and learns of uses from
// the lock's audit (IngestAudit). The ledger never stores the digits: a
// use is attributed by the code's sequence number and validity. Everything
// lives on the stream "offlinecodes-<lock>", whose fold also hands out
// sequence numbers: one is reused only for a code starting after every
// earlier code with it — and its revocation — ended, so the lock's window
// never refuses a later code.

func offlineCodesStream(lock string) string { return "offlinecodes-" + lock }

// codeKeyAAD binds a lock's sealed code key to the lock.
func codeKeyAAD(lock string) []byte { return []byte("keyledger/lock\x00" + lock + "\x00code key") }

// OfflineCodesState is the fold of a lock's offline-code stream.
type OfflineCodesState struct {
	Lock  string
	Key   secret.Sealed
	Codes map[string]OfflineCodeState
	// BySeq lists the codes issued with each sequence number, in order.
	BySeq [lockproto.CodeSeqs][]string
	// ResetUntil: a reset of every key of the lock (ResetLock) revoked
	// every sequence number until then; a new code must end after it.
	ResetUntil time.Time
}

// OfflineCodeState is one code as the ledger knows it.
type OfflineCodeState struct {
	events.OfflineCodeIssued
	Used         bool
	Revoked      bool
	RevokedUntil time.Time // when its sequence number is free again
	Applied      bool      // the lock showed it applied the revocation
	AdminSeq     uint32    // the admin message carrying the revocation (0: none)
}

// busyUntil is when the code's sequence number is free again.
func (c *OfflineCodeState) busyUntil() time.Time {
	if c.RevokedUntil.After(c.To) {
		return c.RevokedUntil
	}
	return c.To
}

func (o *OfflineCodesState) evolve(ev ledger.Event) {
	set := func(id string, f func(c *OfflineCodeState)) {
		c, ok := o.Codes[id]
		if !ok {
			return
		}
		f(&c)
		o.Codes[id] = c
	}
	switch e := ev.Data.(type) {
	case events.OfflineCodesEnabled:
		o.Lock, o.Key = e.Lock, e.CodeKey
	case events.OfflineCodeIssued:
		if o.Codes == nil {
			o.Codes = map[string]OfflineCodeState{}
		}
		o.Codes[e.Code] = OfflineCodeState{OfflineCodeIssued: e}
		if int(e.Seq) < len(o.BySeq) {
			o.BySeq[e.Seq] = append(slices.Clip(o.BySeq[e.Seq]), e.Code)
		}
	case events.OfflineCodeRevoked:
		if e.Code == "" { // every code of the lock (ResetLock): every sequence number until Until
			o.ResetUntil = e.Until
			return
		}
		set(e.Code, func(c *OfflineCodeState) { c.Revoked, c.RevokedUntil, c.AdminSeq = true, e.Until, e.AdminSeq })
	case events.OfflineCodeUsed:
		set(e.Code, func(c *OfflineCodeState) { c.Used = true })
	case events.OfflineCodeRevocationApplied:
		set(e.Code, func(c *OfflineCodeState) { c.Applied = true })
	}
}

func (o *OfflineCodesState) clone() aggregate {
	c := *o
	c.Codes = maps.Clone(o.Codes) // values; BySeq is appended with Clip
	return &c
}

// Enabled reports whether the lock's code key is held.
func (o *OfflineCodesState) Enabled() bool { return len(o.Key) > 0 }

// freeSeq returns the lowest sequence number free for a code from from.
func (o *OfflineCodesState) freeSeq(from time.Time) (uint8, bool) {
	for s, ids := range o.BySeq {
		free := true
		for _, id := range ids {
			c := o.Codes[id]
			if c.busyUntil().After(from) {
				free = false
				break
			}
		}
		if free {
			return uint8(s), true
		}
	}
	return 0, false
}

// attribute returns the code a lock record of sequence number seq at lock
// time at names: codes with one number follow each other in time, so it
// is the one whose validity is nearest to at (holding it, or typed before
// its start or after its end); the last issued when the lock did not know
// the time.
func (o *OfflineCodesState) attribute(seq uint32, at time.Time) string {
	if seq >= lockproto.CodeSeqs || len(o.BySeq[seq]) == 0 {
		return ""
	}
	ids := o.BySeq[seq]
	best, dist := ids[len(ids)-1], time.Duration(-1)
	if at.IsZero() {
		return best
	}
	for i := len(ids) - 1; i >= 0; i-- {
		c := o.Codes[ids[i]]
		var d time.Duration
		switch {
		case at.Before(c.From):
			d = c.From.Sub(at)
		case !at.Before(c.To):
			d = at.Sub(c.To) + 1
		}
		if dist < 0 || d < dist {
			best, dist = ids[i], d
		}
	}
	return best
}

func (t *txn) offlineCodes(lock string) (*OfflineCodesState, error) {
	a, err := t.load(offlineCodesStream(lock), func() aggregate { return &OfflineCodesState{} })
	if err != nil {
		return nil, err
	}
	return a.(*OfflineCodesState), nil
}

// managedCodes loads lock and its offline codes for by, who must be one
// who may make digital keys there.
func (t *txn) managedCodes(lock, by string) (*LockState, *OfflineCodesState, error) {
	l, err := t.lock(lock)
	if err != nil {
		return nil, nil, err
	}
	if err := keyManager(l, lock, by, events.KindDigital); err != nil {
		return nil, nil, err
	}
	o, err := t.offlineCodes(lock)
	if err != nil {
		return nil, nil, err
	}
	return l, o, nil
}

// EnableOfflineCodes gives the backend a lock's code key.
type EnableOfflineCodes struct {
	ID       uuid.UUID
	Lock, By string
	// CodeKey is the pairing's code key (lockproto.Pairing.CodeKey, 32
	// bytes; secret.New), sealed under its own data key before it is
	// recorded.
	CodeKey secret.Secret
}

// EnableOfflineCodes records the lock's code key; only its owner may, once
// (ErrExists after).
func (s *Service) EnableOfflineCodes(ctx context.Context, c EnableOfflineCodes) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return err
	}
	if c.CodeKey.Len() != 32 {
		return invalid("code key", "%d bytes, want 32", c.CodeKey.Len())
	}
	if err := s.needVault(); err != nil {
		return err
	}
	sealed, err := s.vault.Seal(ctx, c.CodeKey, codeKeyAAD(c.Lock))
	if err != nil {
		return vaultErr(err, "code key")
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.OfflineCodesEnabled](orig)
		if !ok {
			return otherCommand, nil
		}
		if d := firstDiff(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}); d != "" {
			return d, nil
		}
		ok, err := s.sameSealed(ctx, r.CodeKey, codeKeyAAD(c.Lock), c.CodeKey)
		return firstDiff(field{"code key", ok}), err
	}
	evs, err := s.execute(ctx, c.ID, same, func(t *txn) error {
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if err := ownerOf(l, c.Lock, c.By); err != nil {
			return err
		}
		o, err := t.offlineCodes(c.Lock)
		if err != nil {
			return err
		}
		if o.Enabled() {
			return exists("offline code key of lock", c.Lock)
		}
		t.emit(offlineCodesStream(c.Lock), events.OfflineCodesEnabled{Lock: c.Lock, By: c.By, CodeKey: sealed})
		return nil
	})
	if err != nil || isReplay(evs) {
		_ = s.vault.ShredSealed(ctx, sealed) // in no event: destroy its key now
	}
	return err
}

// IssueOfflineCode asks for a code for Name valid within [From, To).
type IssueOfflineCode struct {
	ID       uuid.UUID
	Lock, By string
	Code     string // the code's ID: its key in history (distinct from the lock's key IDs)
	Name     string // who it is for
	Kind     lockproto.CodeKind
	// Unit is the granularity: CodeHour or CodeDay for one-time and period
	// codes (weekly codes count in weeks). The validity is narrowed, never
	// widened, to whole units and to a length the format has.
	Unit     lockproto.CodeUnit
	From, To time.Time
	Days     lockproto.CodeDays   // weekly
	Window   lockproto.CodeWindow // weekly: index into lockproto.CodeWindows
}

// OfflineCodeResult is an issued code.
type OfflineCodeResult struct {
	Code string
	// Digits are the code to hand the guest, returned the first time only:
	// a retried command returns the same code without them.
	Digits   secret.Secret
	Seq      uint8
	From, To time.Time // the validity issued: within the one asked for
}

// narrow turns c's validity into a code's fields, within [From, To).
func (c *IssueOfflineCode) narrow() (lockproto.OfflineCode, error) {
	code := lockproto.OfflineCode{Kind: c.Kind, Unit: c.Unit, Days: c.Days, Window: c.Window}
	if c.Kind == lockproto.CodeWeekly {
		code.Unit = lockproto.CodeWeek
	}
	var unit int64
	switch code.Unit {
	case lockproto.CodeHour:
		unit = 3600
	case lockproto.CodeDay:
		unit = 86400
	case lockproto.CodeWeek:
		unit = 7 * 86400
	default:
		return code, invalid("unit", "%d: want hours or days", c.Unit)
	}
	from, to := c.From.Unix()-lockproto.CodeEpoch, c.To.Unix()-lockproto.CodeEpoch
	if from < 0 || !c.To.After(c.From) {
		return code, invalid("validity", "[%v, %v): want a start after %v and an end after it", c.From, c.To, time.Unix(lockproto.CodeEpoch, 0).UTC())
	}
	start, end := (from+unit-1)/unit, to/unit
	if start > 1<<31 {
		return code, invalid("validity", "starts %v, beyond what a code can say", c.From)
	}
	code.Start = uint32(start)
	for n := min(end-start, 31); n >= 1; n-- { // the longest length the format has
		code.Length = uint16(n)
		if code.Check() == nil {
			return code, nil
		}
	}
	return code, invalid("validity", "[%v, %v) holds no %s code of a length the format has", c.From, c.To, code.Kind)
}

// IssueOfflineCode issues a code; the lock's owner or an account manager
// may. Errors: ErrInvalid for a validity that holds no code or a lock
// whose code key is not held, ErrExists for a code ID in use, and
// ErrInvalid when all lockproto.CodeSeqs sequence numbers are taken by
// codes (or revocations) that have not ended by From.
func (s *Service) IssueOfflineCode(ctx context.Context, c IssueOfflineCode) (OfflineCodeResult, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By), checkID("code", c.Code), checkText("name", c.Name, MaxNameLen)); err != nil {
		return OfflineCodeResult{}, err
	}
	fields, err := c.narrow()
	if err != nil {
		return OfflineCodeResult{}, err
	}
	if err := s.needVault(); err != nil {
		return OfflineCodeResult{}, err
	}
	var digits secret.Secret
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.OfflineCodeIssued](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"code", r.Code == c.Code},
			field{"name", r.Name == c.Name}, field{"kind", r.Kind == fields.Kind}, field{"unit", r.Unit == fields.Unit},
			field{"validity", r.Start == fields.Start && r.Length == fields.Length}, field{"days", r.Days == c.Days}, field{"window", r.Window == c.Window})
	}
	evs, err := s.executeOn(ctx, c.ID, offlineCodesStream(c.Lock), same, func(t *txn) error {
		_, o, err := t.managedCodes(c.Lock, c.By)
		if err != nil {
			return err
		}
		if !o.Enabled() {
			return invalid("lock", "%q: no code key (EnableOfflineCodes)", c.Lock)
		}
		if _, ok := o.Codes[c.Code]; ok {
			return exists("offline code", c.Code)
		}
		k, err := t.key(c.Code)
		if err != nil {
			return err
		}
		if k.State != events.StateNone { // history by key would mix the two
			return exists("key with the offline code's ID", c.Code)
		}
		from, to := fields.Validity()
		if !o.ResetUntil.IsZero() && int64(to) <= o.ResetUntil.Unix() {
			return invalid("to", "lock %q was reset: it refuses every code ending by %v", c.Lock, o.ResetUntil.UTC())
		}
		code := fields
		var ok bool
		if code.Seq, ok = o.freeSeq(time.Unix(int64(from), 0)); !ok {
			return invalid("sequence", "lock %q has %d codes live at %v: revoke one or wait for one to end", c.Lock, lockproto.CodeSeqs, time.Unix(int64(from), 0).UTC())
		}
		if digits, err = s.codeDigits(t.ctx, o, c.Lock, code); err != nil {
			return err
		}
		t.emit(offlineCodesStream(c.Lock), events.OfflineCodeIssued{Lock: c.Lock, Code: c.Code, By: c.By, Name: c.Name, Kind: code.Kind,
			Seq: code.Seq, Unit: code.Unit, Start: code.Start, Length: code.Length, Days: code.Days, Window: code.Window,
			From: time.Unix(int64(from), 0).UTC(), To: time.Unix(int64(to), 0).UTC()})
		return nil
	})
	if err != nil {
		return OfflineCodeResult{}, err
	}
	r, _ := firstOf[events.OfflineCodeIssued](evs)
	res := OfflineCodeResult{Code: r.Code, Seq: r.Seq, From: r.From, To: r.To}
	if !isReplay(evs) {
		res.Digits = digits
	}
	return res, nil
}

// codeDigits encodes code under the lock's sealed code key.
func (s *Service) codeDigits(ctx context.Context, o *OfflineCodesState, lock string, code lockproto.OfflineCode) (secret.Secret, error) {
	key, err := s.vault.Open(ctx, o.Key, codeKeyAAD(lock))
	if err != nil {
		return secret.Secret{}, vaultErr(err, "")
	}
	kb := key.Reveal()
	defer clear(kb)
	if len(kb) != 32 {
		return secret.Secret{}, invalid("lock", "%q: code key of %d bytes", lock, len(kb))
	}
	k := [32]byte(kb)
	defer clear(k[:])
	cc, err := lockproto.NewCodeCipher(&k)
	if err != nil {
		return secret.Secret{}, err
	}
	d, err := cc.Encode(code)
	if err != nil {
		return secret.Secret{}, err
	}
	return secret.New(d[:]), nil
}

// RevokeOfflineCode revokes an issued code.
type RevokeOfflineCode struct {
	ID             uuid.UUID
	Lock, By, Code string
}

// RevokeResult says how the revocation reaches the lock.
type RevokeResult struct {
	// EraseCode is typed at the lock's keypad to revoke the code there at
	// once (the first time only; zero when the code ends more than 31 days
	// from today, beyond what an erase code can say).
	EraseCode secret.Secret
	// AdminSeq is the revoke-code admin message queued for the lock (every
	// download carries it); 0 without an issuer.
	AdminSeq uint32
	// PendingUntil is the code's end: until the lock's audit shows the
	// revocation applied, the code may open until then.
	PendingUntil time.Time
}

// RevokeOfflineCode revokes a code: it records the revocation, queues the
// issuer-signed revoke-code message on the lock's stream (in the same
// atomic append) and returns an erase code. The owner or an account
// manager may. ErrExists if it is revoked already; ErrInvalid if it ended.
func (s *Service) RevokeOfflineCode(ctx context.Context, c RevokeOfflineCode) (RevokeResult, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By), checkID("code", c.Code)); err != nil {
		return RevokeResult{}, err
	}
	if err := s.needVault(); err != nil {
		return RevokeResult{}, err
	}
	var erase secret.Secret
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.OfflineCodeRevoked](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"code", r.Code == c.Code})
	}
	evs, err := s.executeOn(ctx, c.ID, offlineCodesStream(c.Lock), same, func(t *txn) error {
		l, o, err := t.managedCodes(c.Lock, c.By)
		if err != nil {
			return err
		}
		code, ok := o.Codes[c.Code]
		switch {
		case !ok:
			return &NotFoundError{What: "offline code", ID: c.Code}
		case code.Revoked:
			return exists("revocation of offline code", c.Code)
		case !code.To.After(t.now):
			return invalid("code", "%q ended at %v: the lock refuses it already", c.Code, code.To)
		}
		ev := events.OfflineCodeRevoked{Lock: c.Lock, Code: c.Code, By: c.By, Seq: code.Seq, Until: code.To}
		// The erase code: from today, to the first midnight at or after the code's end.
		today := (t.now.Unix() - lockproto.CodeEpoch) / 86400
		days := (code.To.Unix()-lockproto.CodeEpoch+86399)/86400 - today
		erase = secret.Secret{}
		if days >= 1 && days <= 31 && today >= 0 {
			e := lockproto.OfflineCode{Kind: lockproto.CodeErase, Unit: lockproto.CodeDay, Seq: code.Seq, Start: uint32(today), Length: uint16(days)}
			if erase, err = s.codeDigits(t.ctx, o, c.Lock, e); err != nil {
				return err
			}
			_, end := e.Validity()
			ev.Until = time.Unix(int64(end), 0).UTC()
		}
		if s.issuer != nil {
			a := events.AdminIssued{Lock: c.Lock, Seq: l.nextAdminSeq(), Type: lockproto.TypeRevokeCode}
			if a.Seq == 0 {
				return invalid("admin sequence", "lock %q has used every sequence number", c.Lock)
			}
			if a.Message, err = s.issuer.RevokeCode(LockUUID(c.Lock), a.Seq, code.Seq, uint32(code.To.Unix())); err != nil {
				return err
			}
			ev.AdminSeq = a.Seq
			t.emit(lockStream(c.Lock), a)
		}
		t.emit(offlineCodesStream(c.Lock), ev)
		return nil
	})
	if err != nil {
		return RevokeResult{}, err
	}
	r, _ := firstOf[events.OfflineCodeRevoked](evs)
	res := RevokeResult{AdminSeq: r.AdminSeq}
	if o, err := s.offlineCodesNow(ctx, c.Lock); err == nil {
		res.PendingUntil = o.Codes[c.Code].To
	}
	if !isReplay(evs) {
		res.EraseCode = erase
	}
	return res, nil
}

func (s *Service) offlineCodesNow(ctx context.Context, lock string) (*OfflineCodesState, error) {
	e, err := s.cache.get(ctx, s.store, offlineCodesStream(lock), func() aggregate { return &OfflineCodesState{} })
	if err != nil {
		return nil, err
	}
	return e.state.(*OfflineCodesState), nil
}

// codeUpload is what one audit upload does with offline-code records:
// attribute each to its code, record a code's first use and the
// revocations the lock applied.
type codeUpload struct {
	t       *txn
	lock    string
	o       *OfflineCodesState
	used    map[string]bool
	applied map[string]bool
}

func (u *codeUpload) load() error {
	if u.o != nil {
		return nil
	}
	o, err := u.t.offlineCodes(u.lock)
	if err != nil {
		return err
	}
	u.o, u.used, u.applied = o, map[string]bool{}, map[string]bool{}
	return nil
}

// attribute names, in ev (the history event of the lock's offline-code
// record r), the code the record is about.
func (u *codeUpload) attribute(r *lockproto.AuditRecord, ev *events.AuditRecorded) error {
	if err := u.load(); err != nil {
		return err
	}
	ev.Door, ev.Slot = access.Main, int(r.Slot) // the code's kind
	ev.Key = u.o.attribute(r.Value, ev.LockTime)
	return nil
}

// granted emits what a granted offline-code record shows of its code: the
// first use, or for an erase code the revocation applied.
func (u *codeUpload) granted(r *lockproto.AuditRecord, ev *events.AuditRecorded, emit func(string, uint32, any)) error {
	id := ev.Key
	if id == "" || !r.Granted {
		return nil
	}
	c := u.o.Codes[id]
	if lockproto.CodeKind(r.Slot) == lockproto.CodeErase {
		u.revocationApplied(id, r.Seq, true, emit)
		return nil
	}
	if !c.Used && !u.used[id] {
		u.used[id] = true
		emit(offlineCodesStream(u.lock), r.Seq, events.OfflineCodeUsed{Lock: u.lock, Code: id, Seq: c.Seq, LockTime: ev.LockTime, AuditSeq: r.Seq})
	}
	return nil
}

func (u *codeUpload) revocationApplied(id string, seq uint32, erased bool, emit func(string, uint32, any)) {
	c := u.o.Codes[id]
	if !c.Revoked || c.Applied || u.applied[id] {
		return
	}
	u.applied[id] = true
	emit(offlineCodesStream(u.lock), seq, events.OfflineCodeRevocationApplied{Lock: u.lock, Code: id, Seq: c.Seq, Erased: erased, AuditSeq: seq})
}

// resetApplied records the revocation of every code a reset of every key
// (message p, or p issuing it again: its mark is the first) carried, now
// that the lock's record r shows it applied.
func (u *codeUpload) resetApplied(p events.AdminIssued, r *lockproto.AuditRecord, emit func(string, uint32, any)) error {
	if !r.Granted {
		return nil
	}
	a, err := lockproto.DecodeAdmin(p.Message)
	if err != nil {
		return fmt.Errorf("commands: the reset message %d of lock %q: %w", p.Seq, u.lock, err)
	}
	if err := u.load(); err != nil {
		return err
	}
	for _, ids := range u.o.BySeq {
		for _, id := range ids {
			if u.o.Codes[id].AdminSeq == a.Mark {
				u.revocationApplied(id, r.Seq, false, emit)
			}
		}
	}
	return nil
}

// adminApplied records the revocation a revoke-code message the lock
// applied (record r) carried: pending names the lock's pending messages.
func (u *codeUpload) adminApplied(pending []events.AdminIssued, r *lockproto.AuditRecord, emit func(string, uint32, any)) error {
	i := slices.IndexFunc(pending, func(p events.AdminIssued) bool { return p.Seq == r.Value })
	if i < 0 {
		return nil
	}
	a, err := lockproto.DecodeAdmin(pending[i].Message)
	if err != nil {
		return fmt.Errorf("commands: pending admin message %d of lock %q: %w", r.Value, u.lock, err)
	}
	if err := u.load(); err != nil {
		return err
	}
	if a.CodeSeq >= lockproto.CodeSeqs {
		return nil
	}
	for _, id := range u.o.BySeq[a.CodeSeq] {
		if c := u.o.Codes[id]; uint32(c.To.Unix()) == a.NotAfter {
			u.revocationApplied(id, r.Seq, false, emit)
		}
	}
	return nil
}
