package lockproto

import (
	"fmt"
	"io"
	"time"
)

type nonceEntry struct {
	inUse  bool
	id     uint16
	nonce  [NonceSize]byte
	issued time.Duration // RTC reading
	order  uint64        // issue order this start: eviction takes the lowest
}

// Challenge issues a fresh nonce. At most MaxOutstandingNonces are live; a
// new one takes a free or expired entry, else evicts the oldest issued
// (by issue order, so challenges issued within one RTC tick still leave in
// the order they came).
//
// A nonce is 16 bytes from Config.Rand with the boot counter (bytes 0..3)
// and the number of challenges issued since the start (bytes 4..11) XORed
// in: a firmware whose RNG restarts from the same state after a reboot
// still never issues a nonce of an earlier start, so no request answering
// one is accepted again.
func (l *Lock) Challenge() ([]byte, error) {
	now, unix, known := l.observe()
	slot := 0
	for i := range l.nonces {
		e := &l.nonces[i]
		if !e.inUse || now < e.issued || now-e.issued > l.cfg.NonceLifetime {
			slot = i
			break
		}
		if e.order < l.nonces[slot].order {
			slot = i
		}
	}
	e := &l.nonces[slot]
	if _, err := io.ReadFull(l.cfg.Rand, e.nonce[:]); err != nil {
		e.inUse = false
		return nil, fmt.Errorf("lockproto: nonce: %w", err)
	}
	l.issued++
	le.PutUint32(e.nonce[0:], le.Uint32(e.nonce[0:])^l.st.Boot)
	le.PutUint64(e.nonce[4:], le.Uint64(e.nonce[4:])^l.issued)
	l.nextChal++
	e.inUse, e.id, e.issued, e.order = true, l.nextChal, now, l.issued
	c := Challenge{Lock: l.st.Pairing.Lock, ID: e.id, Nonce: e.nonce, AdminSeq: l.st.AdminSeq}
	if known {
		c.Flags |= FlagClockKnown
		if _, ok := l.st.Zone.OffsetAt(unix); ok {
			c.Flags |= FlagZoneKnown
		}
	}
	if l.unacked() >= AuditRingSize/2 {
		c.Flags |= FlagAuditUpload
	}
	return AppendChallenge(make([]byte, 0, ChallengeSize), &c), nil
}

// takeNonce consumes the live challenge with this ID (or, if nonce is not
// nil, this nonce) and returns its nonce; single use even when the request
// then fails.
func (l *Lock) takeNonce(now time.Duration, id uint16, nonce *[NonceSize]byte) ([NonceSize]byte, bool) {
	for i := range l.nonces {
		e := &l.nonces[i]
		if e.inUse && ((nonce == nil && e.id == id) || (nonce != nil && e.nonce == *nonce)) {
			e.inUse = false
			if now-e.issued > l.cfg.NonceLifetime || now < e.issued {
				return [NonceSize]byte{}, false
			}
			return e.nonce, true
		}
	}
	return [NonceSize]byte{}, false
}
