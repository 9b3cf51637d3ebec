package lockproto

import (
	"time"

	"github.com/keyledger/keyledger/access"
)

// The keypad. EnterCode is the one entry point for everything typed at the
// lock's keypad: the firmware calls it with the door the keypad serves and
// the digits, once the user confirms. The code is digested under the lock's
// PIN key and compared with every entry of the code table in constant time
// (one HMAC-SHA256 per entry, whatever matches); nothing typed is kept or
// written anywhere.
//
// Wrong codes are counted (State.Keypad.Failures, shared by every code
// source that goes through the keypad): Config.MaxCodeFailures in a row lock
// the keypad out for Config.CodeLockout (each further lockout before a
// right code twice as long, up to Config.MaxCodeLockout), and the lockout is an alarm record
// of its own in the audit (AuditKeypadLockout), persisted at once. A
// restart during a lockout starts a full one. The lockout is the keypad's
// alone: cards, phones and remote opens decide as before, so a stranger
// typing codes cannot lock out anyone else. A right code clears the count
// even when its key is refused (door, schedule, uses).
//
// Offline codes (ten digits, offlinecode.go) take the same entry point,
// lockout and wrong-code counter, and report through the same
// CodeDecision.

// EnterCode decides digits typed at the keypad for door (0..7), on the
// lock's own clock. In order:
//
//  1. input: door 0..7 and 1 or more ASCII digits, else Malformed (a
//     keypad cannot send anything else: a firmware fault, not counted)
//  2. lockout: while the keypad is locked out every code is refused
//     (LockedOut) without being looked at
//  3. more than MaxPINDigits digits: an offline code (offlinecode.go;
//     offlineCode's checks, every refusal a wrong code)
//  4. the code table, in constant time; no match is a wrong code
//     (WrongPIN, tallied in the audit, counted towards the lockout; the
//     count reaching Config.MaxCodeFailures starts the lockout and records
//     the alarm)
//  5. a match clears the wrong-code count, then: door, time (high-water
//     mark, clock, zone), schedule and use limit on the lock's clock,
//     room in the audit; grants count the use, write the record and are
//     persisted before they are returned
func (l *Lock) EnterCode(door uint8, digits []byte) CodeDecision {
	now, unix, known := l.observe()
	d := CodeDecision{Door: door, Slot: -1, Failures: l.st.Keypad.Failures}
	if door > 7 || len(digits) == 0 {
		d.Reason = access.Malformed
		return d
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			d.Reason = access.Malformed
			return d
		}
	}
	if l.st.Keypad.LockedOut {
		if now < l.keypadUntil {
			d.Reason, d.LockedOut = access.LockedOut, true
			l.tally(&AuditRecord{Kind: AuditKeypad, Reason: access.LockedOut, Door: door}, unix, known)
			return d
		}
		l.st.Keypad = KeypadState{Lockouts: l.st.Keypad.Lockouts} // persisted with the next write
		d.Failures = 0
	}
	if len(digits) > MaxPINDigits {
		l.offlineCode(&d, digits, now, unix, known)
		return d
	}
	tab := l.st.PINs[:l.cfg.PINSlots]
	i := -1
	if len(digits) >= MinPINDigits {
		dg := l.codes.digest(l.codes.pin, digits)
		i = match(tab, &dg)
	}
	if i < 0 { // other code sources go here, before the wrong code is counted
		l.wrongCode(&d, now, unix, known)
		return d
	}
	if l.st.Keypad.Failures > 0 || l.st.Keypad.Lockouts > 0 {
		l.st.Keypad.Failures, l.st.Keypad.Lockouts = 0, 0 // persisted with the record below
	}
	d.Failures = 0
	l.decideCode(&d, tab, i, AuditKeypad, unix, known)
	return d
}

// lockoutFor is how long the n-th lockout in a row lasts: CodeLockout,
// doubled for each one before it, at most MaxCodeLockout. Growing lockouts
// bound what a guesser who comes back day after day can try (about five
// codes a day once the cap is reached).
func (l *Lock) lockoutFor(n uint32) time.Duration {
	d := l.cfg.CodeLockout
	for i := uint32(1); i < n && d < l.cfg.MaxCodeLockout; i++ {
		d *= 2
	}
	return min(d, l.cfg.MaxCodeLockout)
}

// wrongCode counts a wrong code; the limit starts the lockout and records
// the alarm. The alarm is a refusal-class record (anyone can cause one per
// lockout period), so it cannot take the room grants need.
func (l *Lock) wrongCode(d *CodeDecision, now time.Duration, unix uint32, known bool) {
	d.Reason = access.WrongPIN
	l.tally(&AuditRecord{Kind: AuditKeypad, Reason: access.WrongPIN, Door: d.Door}, unix, known)
	l.countWrong(d, now, unix, known)
}

// countWrong counts a wrong code of any source (d.Reason says why); the
// limit starts the lockout and records the alarm.
func (l *Lock) countWrong(d *CodeDecision, now time.Duration, unix uint32, known bool) {
	k := &l.st.Keypad
	if k.Failures < 1<<32-1 {
		k.Failures++
	}
	d.Failures = k.Failures
	if int(k.Failures) < l.cfg.MaxCodeFailures {
		// Persisted at every wrong code, or a power cycle would give a
		// guesser fresh tries. Wrong codes are bounded by the lockout, so
		// the writes are too. A failed write leaves the count in memory.
		_ = l.persist()
		return
	}
	k.LockedOut = true
	if k.Lockouts < 1<<32-1 {
		k.Lockouts++
	}
	l.keypadUntil = now + l.lockoutFor(k.Lockouts)
	d.LockedOut = true
	d.AuditSeq = l.record(classRefusal, unix, known, AuditRecord{Kind: AuditKeypadLockout, Reason: access.LockedOut, Door: d.Door, Value: k.Failures})
	_ = l.persist() // the lockout holds in memory even if storage fails; a restart then forgets it
}
