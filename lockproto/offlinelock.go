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

// offlineCode decides digits typed at the keypad (EnterCode, past the
// lockout) as an offline code, on the lock's own clock and state, without
// any prior message. Checks, in order:
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
// Refusals from 2 on are audit records of their own. Every refusal is a
// wrong code for the keypad's count and lockout; a grant or an applied
// erase code clears the count. The code opens the door the keypad serves.
// It allocates nothing.
func (l *Lock) offlineCode(d *CodeDecision, digits []byte, now time.Duration, unix uint32, known bool) {
	var code OfflineCode
	err := ErrCodeInvalid
	if l.offline != nil {
		code, err = l.offline.Decode(digits)
	} else if !codeShaped(digits) {
		err = ErrCodeFormat
	}
	if err != nil {
		d.Reason = access.CodeInvalid
		if errors.Is(err, ErrCodeFormat) {
			d.Reason = access.CodeMalformed
		}
		l.tally(&AuditRecord{Kind: AuditCode, Reason: d.Reason, Door: d.Door}, unix, known)
		l.countWrong(d, now, unix, known)
		return
	}
	d.Kind, d.Seq = code.Kind, code.Seq
	if r := l.codeRefusal(&code, unix, known); r != access.Granted {
		l.refuseCode(d, r, now, unix, known)
		return
	}
	if !l.room(classGrant) {
		l.refuseCode(d, access.AuditFull, now, unix, known)
		return
	}
	undo := l.begin(-1)
	entry, keypad := l.st.Codes[code.Seq], l.st.Keypad
	_, to := code.Validity()
	switch code.Kind {
	case CodeOneTime:
		l.blockCode(code.Seq, to, false)
	case CodeErase:
		l.blockCode(code.Seq, to, true)
	}
	l.st.Keypad.Failures, l.st.Keypad.Lockouts = 0, 0
	d.Granted, d.Reason, d.Failures = code.Kind != CodeErase, access.Granted, 0
	d.AuditSeq = l.record(classGrant, unix, known, AuditRecord{Kind: AuditCode, Slot: byte(code.Kind), Door: d.Door, Value: uint32(code.Seq)})
	if err := l.persist(); err != nil {
		l.rollback(&undo)
		l.st.Codes[code.Seq], l.st.Keypad = entry, keypad
		d.Granted, d.AuditSeq, d.Failures = false, 0, keypad.Failures
		l.refuseCode(d, access.StorageFailed, now, unix, known)
	}
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

// codeRefusal is checks 2 to 5 of offlineCode.
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

// refuseCode records a refusal of an authentic code and counts it.
func (l *Lock) refuseCode(d *CodeDecision, r access.Reason, now time.Duration, unix uint32, known bool) {
	d.Reason = r
	d.AuditSeq = l.record(classRefusal, unix, known, AuditRecord{Kind: AuditCode, Reason: r, Slot: byte(d.Kind), Door: d.Door, Value: uint32(d.Seq)})
	l.countWrong(d, now, unix, known)
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
