package lockproto

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// The lock's sense of time. Its wall clock is set only by a signed time
// sync bound to one of its nonces and is trusted only during the start it
// was set in, while the RTC runs forward, for ClockValidity. Everything
// else is "clock unknown": time-bound credentials fail closed. The
// high-water mark (State.ClockMark) is the latest time ever trusted; it
// never goes down, so a clock set back (a restart, a rolled-back RTC, a
// sync from a slow server) cannot revive a credential that expired, nor
// the revocations and use counters dropped when it did.

// Now returns the lock's Unix time and whether it trusts it.
func (l *Lock) Now() (uint32, bool) {
	_, unix, ok := l.observe()
	return unix, ok
}

// observe reads the RTC once for a frame: a reading below the previous one
// (the RTC went back) makes the clock unknown until a sync; a trusted time
// raises the high-water mark.
func (l *Lock) observe() (now time.Duration, unix uint32, known bool) {
	now = l.cfg.Clock()
	if now < l.lastRTC {
		l.st.Clock.Synced = false
	}
	l.lastRTC = now
	if unix, known = l.clockAt(now); known && unix > l.st.ClockMark {
		l.st.ClockMark = unix
	}
	return now, unix, known
}

func (l *Lock) clockAt(now time.Duration) (uint32, bool) {
	c := &l.st.Clock
	if !c.Synced || c.Boot != l.st.Boot || now < c.At || now-c.At > l.cfg.ClockValidity {
		return 0, false
	}
	t := uint64(c.Unix) + uint64((now-c.At)/time.Second)
	if t > 1<<32-1 {
		return 0, false
	}
	return uint32(t), true
}

// setClock applies a time sync and returns how far it set the clock back
// below the high-water mark, in seconds, if that is beyond
// Config.MaxClockStepBack (else 0): the flag its audit record carries.
func (l *Lock) setClock(now time.Duration, unix uint32) uint32 {
	var back uint32
	if unix < l.st.ClockMark {
		back = l.st.ClockMark - unix
	}
	l.st.Clock = ClockState{Synced: true, Unix: unix, At: now, Boot: l.st.Boot}
	l.st.ClockMark = max(l.st.ClockMark, unix)
	l.lastRTC = now
	if time.Duration(back)*time.Second > l.cfg.MaxClockStepBack {
		return back
	}
	return 0
}

// timeBound reports whether a credential's decision depends on the time.
func timeBound(p *policy.Compact) bool {
	return p.NotBefore != 0 || p.NotAfter != 0 || p.NumWindows > 0 || p.NumPeriods > 0
}

// when is check 12 of HandleUnlock: it returns the reason to refuse c on
// the lock's clock, or the UTC offset to evaluate its windows at. A
// credential that ended at or before the high-water mark is expired
// whatever the clock says; one bound to time needs a known clock, and one
// with windows a known offset. An unbounded credential needs neither.
func (l *Lock) when(c *Credential, unix uint32, known bool) (int, access.Reason) {
	return l.whenPolicy(&c.Policy, unix, known)
}

// whenPolicy is when for any holder of a compact schedule (a credential, a
// PIN, a card).
func (l *Lock) whenPolicy(p *policy.Compact, unix uint32, known bool) (int, access.Reason) {
	if p.NotAfter != 0 && p.NotAfter <= l.st.ClockMark {
		return 0, access.Expired
	}
	if !timeBound(p) {
		return 0, access.Granted
	}
	if !known {
		return 0, access.ClockUnknown
	}
	offset, ok := l.st.Zone.OffsetAt(unix)
	if !ok && p.NumWindows > 0 {
		return 0, access.ZoneUnknown
	}
	return offset, access.Granted
}

// moot reports whether an entry about a credential can be dropped: a reset
// made it lose anyway, or its validity ended at or before the high-water
// mark (so the credential is refused as expired from then on, whatever the
// clock says).
func (l *Lock) moot(slot uint8, gen, notAfter uint32) bool {
	if int(slot) < MaxSlots && gen < l.st.MinGen[slot] {
		return true
	}
	return notAfter != 0 && notAfter <= l.st.ClockMark
}
