package commands

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// Remote open: after the service granted an unlock itself (Unlock from the
// app or an intercom, UnlockOnline with the member's password, UnlockByPIN
// at a panel), RemoteOpen signs the lock frame that carries that decision
// to the lock, bound to the nonce of the challenge the lock just gave the
// relaying phone, gateway or panel, naming the key, the door and a validity
// of RemoteOpenValidity.
//
// The lock checks the signature, the nonce (single use), the door against
// the key's doors and the validity; for a key with a credential slot also
// its slot generation (a reset or deactivation that reached it refuses the
// open). A key without a slot (digital, online, intercom) is named by an ID
// no revocation at the lock names, so the lock cannot refuse it: the
// service does. It signs one frame per granted decision, recorded as
// RemoteOpenIssued in the lock's stream (its event ID derives from the
// decision), and only while the key may still unlock (the state rule of the
// unlock decisions) and still opens the door; the key's stream is a
// condition of that append, so a revocation is either before it (no frame)
// or after it. What a revocation cannot stop is the one frame already
// signed, within its validity. The record also names the key in the lock's
// audit of the open.

// RemoteOpenValidity is how long a remote-open frame may take to reach the
// lock, and how old the decision it carries may be.
const RemoteOpenValidity = time.Minute

// ErrNotGranted: a remote open was asked for a decision that was a refusal.
var ErrNotGranted = errors.New("commands: the decision was not a grant")

// ErrRemoteOpenUsed: a remote open was asked for a decision that already
// yielded one for another challenge. See RemoteOpenUsedError.
var ErrRemoteOpenUsed = errors.New("commands: the decision already yielded its remote open")

// RemoteOpenUsedError names the decision whose one remote open was signed
// before (at Position in the log) and what the new request changed
// ("challenge" or "relay").
type RemoteOpenUsedError struct {
	Decision  uuid.UUID
	Key, Lock string
	Position  uint64
	Field     string
}

func (e *RemoteOpenUsedError) Error() string {
	return fmt.Sprintf("commands: decision %s (key %q at lock %q) already yielded its remote open (position %d); this request has another %s",
		e.Decision, e.Key, e.Lock, e.Position, e.Field)
}

// Unwrap makes errors.Is(err, ErrRemoteOpenUsed) true.
func (e *RemoteOpenUsedError) Unwrap() error { return ErrRemoteOpenUsed }

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

// remoteOpenCommand is the command ID of a decision's remote open: one per
// decision.
func remoteOpenCommand(decision uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(decision, []byte("keyledger remote open"))
}

// RemoteOpen returns the signed remote-open frame for a granted decision
// and a lock challenge, once per decision. A relay that lost the answer
// asks again with the same challenge and relay: it gets a frame for the
// same nonce, which the lock accepts once. Errors: no issuer; a challenge
// that does not decode or is another lock's than the decision's
// (*ValidationError); an unknown decision (*NotFoundError); a refused one
// (ErrNotGranted); one older than RemoteOpenValidity (*ValidationError
// "decision"); a key that may not unlock now (*StateError, ErrForbidden)
// or no longer opens the door (*ValidationError "door"); a decision that
// already yielded its frame for another challenge (*RemoteOpenUsedError).
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
	if now := s.clock(); now.Sub(when) > RemoteOpenValidity {
		return nil, invalid("decision", "made at %v, more than %v before %v", when.UTC(), RemoteOpenValidity, now.UTC())
	}
	cmd := remoteOpenCommand(c.Decision)
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.RemoteOpenIssued](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"challenge", r.Nonce == ch.Nonce}, field{"relay", r.Relay == c.Relay})
	}
	issued, err := s.executeOn(ctx, cmd, keyStream(at.Key), same, func(t *txn) error {
		k, err := t.key(at.Key)
		if err != nil {
			return err
		}
		if err := checkAllowed(at.Key, k.Kind, k.State, events.ActUnlock); err != nil {
			return err
		}
		if at.Door&^k.Settings.Doors != 0 {
			return invalid("door", "key %q no longer opens %v", at.Key, at.Door)
		}
		l, err := t.lock(at.Lock)
		if err != nil {
			return err
		}
		if r := refusedFor(k, l); r != access.Granted { // suspended (or reset) since the decision
			return &StateError{Key: at.Key, Kind: k.Kind, State: k.State, Action: events.ActUnlock, Reason: r}
		}
		ev := events.RemoteOpenIssued{Lock: at.Lock, Key: at.Key, Decision: c.Decision.String(), Nonce: ch.Nonce,
			Credential: codeID(at.Lock, at.Key), Door: at.Door, Doors: k.Settings.Doors,
			NotAfter: t.now.Add(RemoteOpenValidity).Truncate(time.Second), Relay: c.Relay}
		if s.credentialed(k) && k.Slot >= 1 && k.Slot <= lockproto.MaxSlots {
			// The lock's own view of the key's slot applies: a reset or
			// deactivation that reached it refuses the open.
			ev.Credential, ev.Slot, ev.Generation = credentialID(k), k.Slot, k.Generation
		}
		t.emit(lockStream(at.Lock), ev)
		return nil
	})
	if ire := (*IDReusedError)(nil); errors.As(err, &ire) && ire.ID == cmd {
		return nil, &RemoteOpenUsedError{Decision: c.Decision, Key: at.Key, Lock: at.Lock, Position: ire.Position, Field: ire.Field}
	}
	if err != nil {
		return nil, err
	}
	r, ok := firstOf[events.RemoteOpenIssued](issued)
	if !ok {
		return nil, fmt.Errorf("commands: internal: the remote open of decision %s recorded no RemoteOpenIssued", c.Decision)
	}
	o := lockproto.RemoteOpen{Lock: ch.Lock, Nonce: r.Nonce, Key: r.Credential, Slot: lockproto.NoSlot,
		Door: uint8(bits.TrailingZeros8(uint8(r.Door))), Doors: uint8(r.Doors), NotAfter: uint32(r.NotAfter.Unix()), Relay: r.Relay}
	if r.Slot >= 1 {
		o.Slot, o.Generation = uint8(r.Slot-1), r.Generation
	}
	return s.issuer.RemoteOpen(o, s.clock())
}
