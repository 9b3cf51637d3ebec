package lockproto

import (
	"errors"
	"time"

	"github.com/keyledger/keyledger/access"
)

// CodeSeqState is the lock's memory of one offline-code sequence number:
// codes with it that end at or before Until are refused, as revoked if
// Revoked, else as used (a one-time code spent). The issuer reuses a
// number only for codes that start at or after Until, so an entry never
// refuses a later code.
type CodeSeqState struct {
	Until   uint32
	Revoked bool
}

// CodeDecision is the lock's answer to digits typed at its keypad.
type CodeDecision struct {
	Granted bool          // the door opens (never for an erase code)
	Reason  access.Reason // Granted when an erase code was applied
	Kind    CodeKind      // 0 when the digits are no code of this lock
	Seq     uint8
	// AuditSeq is the audit record written (0: tallied with other
	// refusals anyone can cause).
	AuditSeq uint32
}

// Wrong reports whether the entry counts toward the keypad's wrong-code
// limit: every refusal does, whatever its reason.
func (d *CodeDecision) Wrong() bool { return d.Reason != access.Granted }

// HandleCode decides digits typed as an offline code, on the lock's own
// clock and state, without any prior message. Checks, in order:
//
//  1. ten digits (else CodeMalformed), a code of this lock: its MAC under
//     the pairing's code key verifies (else CodeInvalid) — both tallied,
//     not recorded one by one (anyone can type them)
//  2. an end at or before the high-water mark of time: Expired
//  3. a known clock (ClockUnknown); within [start, end) (NotYetValid, Expired)
//  4. not an erase code: its sequence number not spent or revoked up to
//     its end (CodeUsed, CodeRevoked)
//  5. weekly codes: a known UTC offset (ZoneUnknown), on its days and in
//     its window of lock-local time (OutsideWindow)
//  6. room in the audit for the record (AuditFull)
//  7. one-time: spend the sequence number up to the code's end; erase:
//     revoke it up to the erase code's end; write the audit record;
//     persist (Config.Persist) — only then grant (StorageFailed, undone,
//     if that fails)
//
// Refusals from 2 on are audit records of their own. The caller counts
// every refusal toward the keypad's wrong-code limit (Wrong) and keeps
// the digits nowhere. It allocates nothing.
func (l *Lock) HandleCode(digits []byte) CodeDecision {
	_, unix, known := l.observe()
	var d CodeDecision
	var code OfflineCode
	err := ErrCodeInvalid
	if l.codes != nil {
		code, err = l.codes.Decode(digits)
	} else if !codeShaped(digits) {
		err = ErrCodeFormat
	}
	if err != nil {
		d.Reason = access.CodeInvalid
		if errors.Is(err, ErrCodeFormat) {
			d.Reason = access.CodeMalformed
		}
		l.tally(&AuditRecord{Kind: AuditCode, Reason: d.Reason}, unix, known)
		return d
	}
	d.Kind, d.Seq = code.Kind, code.Seq
	if r := l.codeRefusal(&code, unix, known); r != access.Granted {
		return l.refuseCode(&d, r, unix, known)
	}
	if !l.room(classGrant) {
		return l.refuseCode(&d, access.AuditFull, unix, known)
	}
	undo := l.begin(-1)
	entry := l.st.Codes[code.Seq]
	_, to := code.Validity()
	switch code.Kind {
	case CodeOneTime:
		l.blockCode(code.Seq, to, false)
	case CodeErase:
		l.blockCode(code.Seq, to, true)
	}
	d.Granted, d.Reason = code.Kind != CodeErase, access.Granted
	d.AuditSeq = l.record(classGrant, unix, known, AuditRecord{Kind: AuditCode, Slot: byte(code.Kind), Value: uint32(code.Seq)})
	if err := l.persist(); err != nil {
		l.rollback(&undo)
		l.st.Codes[code.Seq] = entry
		d.Granted, d.AuditSeq = false, 0
		return l.refuseCode(&d, access.StorageFailed, unix, known)
	}
	return d
}

func codeShaped(digits []byte) bool {
	if len(digits) != CodeDigits {
		return false
	}
	for _, b := range digits {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// codeRefusal is checks 2 to 5 of HandleCode.
func (l *Lock) codeRefusal(c *OfflineCode, unix uint32, known bool) access.Reason {
	from, to := c.Validity()
	switch {
	case to <= l.st.ClockMark:
		return access.Expired
	case !known:
		return access.ClockUnknown
	case unix < from:
		return access.NotYetValid
	case unix >= to:
		return access.Expired
	}
	if e := l.st.Codes[c.Seq]; c.Kind != CodeErase && e.Until >= to {
		if e.Revoked {
			return access.CodeRevoked
		}
		return access.CodeUsed
	}
	if c.Kind != CodeWeekly {
		return access.Granted
	}
	offset, ok := l.st.Zone.OffsetAt(unix)
	if !ok {
		return access.ZoneUnknown
	}
	if !c.InWindow(unix, offset) {
		return access.OutsideWindow
	}
	return access.Granted
}

// InWindow reports whether a weekly code's days and window hold the Unix
// time unix at UTC offset offset (seconds); other kinds have no window.
func (c *OfflineCode) InWindow(unix uint32, offset int) bool {
	if c.Kind != CodeWeekly {
		return true
	}
	local := int64(unix) + int64(offset)
	day := local / 86400 // unix >= CodeEpoch, so local > 0
	hour := uint8(local % 86400 / 3600)
	w := CodeWindows[c.Window%numCodeWindows]
	return c.Days.Has(weekdayOf(day)) && hour >= w.From && hour < w.To
}

// refuseCode records a refusal of an authentic code.
func (l *Lock) refuseCode(d *CodeDecision, r access.Reason, unix uint32, known bool) CodeDecision {
	d.Reason = r
	d.AuditSeq = l.record(classRefusal, unix, known, AuditRecord{Kind: AuditCode, Reason: r, Slot: byte(d.Kind), Value: uint32(d.Seq)})
	return *d
}

// blockCode spends (revoked false) or revokes sequence number seq up to
// until. The entry only rises, ordered by Until and then Revoked, so
// revocations and uses commute; the later end is the later code's.
func (l *Lock) blockCode(seq uint8, until uint32, revoked bool) {
	if seq >= CodeSeqs {
		return
	}
	switch e := &l.st.Codes[seq]; {
	case until > e.Until:
		e.Until, e.Revoked = until, revoked
	case until == e.Until:
		e.Revoked = e.Revoked || revoked
	}
}

// weekdayOf is the weekday of a day counted from 1970-01-01, a Thursday.
func weekdayOf(day int64) time.Weekday { return time.Weekday((day + 4) % 7) }
