package lockproto

import (
	"crypto/sha256"
	"time"
)

// The backoff is per source, not lock-wide: one garbage sender must not
// lock out an honest holder. A source is the bytes that cost the lock a
// public-key operation when they fail to verify — a credential frame, an
// admin message — named by the first 16 bytes of their SHA-256. After
// MaxFailures consecutive failed verifications from one source, the lock
// refuses to verify it again for Backoff, doubling up to MaxBackoff. Only
// failed verifications count: garbage, wrong locks, unknown or evicted
// challenges cost the lock nothing and count nowhere.
//
// A blocked source is refused only where it would cost a verification: a
// request whose exact credential bytes the lock has cached needs none, so
// its proof decides (and a valid proof clears the source). A forgery
// naming someone's credential ID differs in some byte, so it is another
// source. The table is bounded (LimiterSize); when it is full the least
// recently failed source makes room. It is volatile: an RTC reading from
// before a restart means nothing after it.

type source [16]byte

type limitEntry struct {
	inUse    bool
	src      source
	failures uint32
	until    time.Duration // RTC reading until which the source is refused
	last     time.Duration // RTC reading of its last failure
}

// sourceOf names the frame b as a source; it is computed only where a
// public-key operation is due, so its cost is noise beside the verification.
func sourceOf(b []byte) (s source) {
	sum := sha256.Sum256(b)
	copy(s[:], sum[:])
	return s
}

// limited reports whether s is backing off at RTC reading now.
func (l *Lock) limited(now time.Duration, s source) bool {
	for i := range l.limiter {
		if e := &l.limiter[i]; e.inUse && e.src == s {
			return now < e.until
		}
	}
	return false
}

// failedFrom counts a failed verification from s.
func (l *Lock) failedFrom(now time.Duration, s source) {
	v, found := 0, false
	for i := range l.limiter {
		if e := &l.limiter[i]; e.inUse && e.src == s {
			v, found = i, true
			break
		}
	}
	if !found {
		for i := range l.limiter {
			e := &l.limiter[i]
			if !e.inUse {
				v = i
				break
			}
			if e.last < l.limiter[v].last {
				v = i
			}
		}
		l.limiter[v] = limitEntry{inUse: true, src: s}
	}
	e := &l.limiter[v]
	e.failures++
	e.last = now
	if over := int(e.failures) - l.cfg.MaxFailures; over >= 0 {
		d := l.cfg.MaxBackoff
		if over < 30 {
			d = min(l.cfg.Backoff<<over, l.cfg.MaxBackoff)
		}
		e.until = now + d
	}
}

// forgive clears s after it verified.
func (l *Lock) forgive(s source) {
	for i := range l.limiter {
		if e := &l.limiter[i]; e.inUse && e.src == s {
			*e = limitEntry{}
			return
		}
	}
}
