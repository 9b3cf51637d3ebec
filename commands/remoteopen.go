package commands

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
)

// Remote open: after the service granted an unlock itself (Unlock from the
// app or an intercom, UnlockOnline with the member's password, UnlockByPIN
// at a panel), RemoteOpen signs the lock frame that carries that decision
// to the lock: single use, bound to the nonce of the challenge the lock
// just gave the relaying phone, gateway or panel, naming the key, the door
// and a validity of RemoteOpenValidity. The lock checks it on its own
// (signature, nonce, door, its revocation list and slot generation) and
// records it. The frame is derived from the recorded decision and the
// challenge, and stored nowhere.

// RemoteOpenValidity is how long a remote-open frame may take to reach the
// lock, and how old the decision it carries may be.
const RemoteOpenValidity = time.Minute

// ErrNotGranted: a remote open was asked for a decision that was a refusal.
var ErrNotGranted = errors.New("commands: the decision was not a grant")

// RemoteOpen asks for the frame that opens the door a granted decision was
// about.
type RemoteOpen struct {
	// Decision is the command ID of the granted Unlock, UnlockOnline or
	// UnlockByPIN.
	Decision uuid.UUID
	// Challenge is the lock's challenge frame as the relay read it.
	Challenge []byte
	Relay     lockproto.Relay
}

// RemoteOpen returns the signed remote-open frame for a granted decision
// and a lock challenge. Errors: no issuer; a challenge that does not
// decode or is another lock's than the decision's (*ValidationError); an
// unknown decision (*NotFoundError); a refused one (ErrNotGranted); one
// older than RemoteOpenValidity (*ValidationError "decision"). The door
// is the decision's, so a door the key lacks was refused there.
func (s *Service) RemoteOpen(ctx context.Context, c RemoteOpen) ([]byte, error) {
	if s.issuer == nil {
		return nil, invalid("issuer", "remote opens are signed: set Options.Issuer")
	}
	ch, err := lockproto.DecodeChallenge(c.Challenge)
	if err != nil {
		return nil, &ValidationError{Field: "challenge", Reason: err.Error(), Err: err}
	}
	evs, err := s.replay(ctx, c.Decision)
	if err != nil {
		return nil, err
	}
	var at events.UnlockAttempted
	var when time.Time
	found := false
	for _, ev := range evs {
		if e, ok := ev.Data.(events.UnlockAttempted); ok {
			at, when, found = e, ev.Time, true
			break
		}
	}
	if !found {
		return nil, &NotFoundError{What: "unlock decision", ID: c.Decision.String()}
	}
	if !at.Granted {
		return nil, fmt.Errorf("%w: key %q at lock %q: %v", ErrNotGranted, at.Key, at.Lock, at.Reason)
	}
	if ch.Lock != LockUUID(at.Lock) {
		return nil, invalid("challenge", "from lock %v; the decision was for lock %q", ch.Lock, at.Lock)
	}
	now := s.clock()
	if now.Sub(when) > RemoteOpenValidity {
		return nil, invalid("decision", "made at %v, more than %v before %v", when.UTC(), RemoteOpenValidity, now.UTC())
	}
	e, err := s.cache.get(ctx, s.store, keyStream(at.Key), func() aggregate { return &KeyState{} })
	if err != nil {
		return nil, err
	}
	k := e.state.(*KeyState)
	if at.Door&^k.Settings.Doors != 0 {
		return nil, invalid("door", "key %q no longer opens %v", at.Key, at.Door)
	}
	o := lockproto.RemoteOpen{Lock: ch.Lock, Nonce: ch.Nonce, Key: codeID(at.Lock, at.Key), Slot: lockproto.NoSlot,
		Door: uint8(bits.TrailingZeros8(uint8(at.Door))), Doors: uint8(k.Settings.Doors),
		NotAfter: uint32(now.Add(RemoteOpenValidity).Unix()), Relay: c.Relay}
	if s.credentialed(k) && k.Slot >= 1 && k.Slot <= lockproto.MaxSlots {
		// The lock's own view of the key's slot applies: a reset or
		// deactivation that reached it refuses the open.
		o.Key, o.Slot, o.Generation = credentialID(k), uint8(k.Slot-1), k.Generation
	}
	return s.issuer.RemoteOpen(o, now)
}
