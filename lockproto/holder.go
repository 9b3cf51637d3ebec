package lockproto

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
)

// HolderKey is a phone's X25519 key. The phone generates it, keeps the
// private half, and sends PublicKey to the backend, which puts it in the
// credential.
type HolderKey struct{ priv *ecdh.PrivateKey }

// GenerateHolderKey makes a new key from r (nil = crypto/rand).
func GenerateHolderKey(r io.Reader) (*HolderKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, err
	}
	return NewHolderKey(b)
}

// NewHolderKey restores a key from its private bytes.
func NewHolderKey(private [32]byte) (*HolderKey, error) {
	p, err := ecdh.X25519().NewPrivateKey(private[:])
	if err != nil {
		return nil, fmt.Errorf("%w: holder key: %v", ErrInvalid, err)
	}
	return &HolderKey{priv: p}, nil
}

// PublicKey is what the credential binds.
func (k *HolderKey) PublicKey() (pub [32]byte) {
	copy(pub[:], k.priv.PublicKey().Bytes())
	return pub
}

// Private returns the private bytes, for the phone's key store only.
func (k *HolderKey) Private() (b [32]byte) {
	copy(b[:], k.priv.Bytes())
	return b
}

// Holder is the phone side of one credential at one lock: it builds unlock
// requests and checks responses. It needs no network.
type Holder struct {
	cred    Credential
	raw     []byte
	lockKey [32]byte
	s       *session
}

// NewHolder prepares key to use credential at the lock whose X25519 public
// key is lockKey (both come with the download).
func NewHolder(key *HolderKey, credential []byte, lockKey [32]byte) (*Holder, error) {
	c, err := DecodeCredential(credential)
	if err != nil {
		return nil, err
	}
	pub := key.PublicKey()
	if pub != c.HolderKey {
		return nil, invalidf("credential %v is bound to another holder key", c.ID)
	}
	s, err := newSession(key.priv, lockKey[:], c.Lock, c.ID, pub[:], lockKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: lock key: %v", ErrInvalid, err)
	}
	return &Holder{cred: c, raw: append([]byte(nil), credential...), lockKey: lockKey, s: s}, nil
}

// Credential returns the decoded credential.
func (h *Holder) Credential() Credential { return h.cred }

func (h *Holder) check(ch *Challenge, door uint8) error {
	if ch.Lock != h.cred.Lock {
		return fmt.Errorf("%w: challenge from lock %v, credential for %v", ErrWrongLock, ch.Lock, h.cred.Lock)
	}
	if door > 7 {
		return invalidf("door %d, doors are 0..7", door)
	}
	return nil
}

// Unlock builds a full unlock request (credential included) answering ch.
func (h *Holder) Unlock(ch Challenge, door uint8) ([]byte, error) {
	return h.Request(ch, door, ActionOpen, false)
}

// UnlockCached builds the short request for a lock that has cached the
// credential; a lock that has not answers ReasonNotCached.
func (h *Holder) UnlockCached(ch Challenge, door uint8) ([]byte, error) {
	return h.Request(ch, door, ActionOpen, true)
}

// Request builds an unlock request answering ch that asks for action a at
// door: the full form, or (cached) the short one for a lock that has cached
// the credential. The lock refuses an action the credential's role may not
// take (access.OpNotPermitted).
func (h *Holder) Request(ch Challenge, door uint8, a Action, cached bool) ([]byte, error) {
	if err := h.check(&ch, door); err != nil {
		return nil, err
	}
	if a > maxAction {
		return nil, invalidf("unknown action %d", a)
	}
	db := doorByte(door, a)
	t, size := TypeUnlock, unlockFixedSize+len(h.raw)
	if cached {
		t, size = TypeUnlockCached, UnlockCachedSize
	}
	b := make([]byte, 0, size)
	b = appendHeader(b, t)
	b = le.AppendUint16(b, ch.ID)
	b = append(b, db)
	if cached {
		b = append(b, h.cred.ID[:]...)
	} else {
		b = append(b, h.raw...)
	}
	p := h.s.proof(t, h.cred.Lock, &ch.Nonce, ch.ID, db, h.cred.ID)
	return append(b, p[:]...), nil
}

// ReadResponse decodes the lock's answer to ch and checks its MAC. A grant
// must verify; a refusal without a MAC (the lock refused before it could
// check the proof) is returned with Authenticated false.
func (h *Holder) ReadResponse(ch Challenge, b []byte) (Response, error) {
	p, err := DecodeResponse(b)
	if err != nil {
		return p, err
	}
	if p.Challenge != ch.ID {
		return p, fmt.Errorf("%w: response to challenge %d, sent %d", ErrMAC, p.Challenge, ch.ID)
	}
	if p.MAC == ([ProofSize]byte{}) && !p.Granted {
		return p, nil
	}
	want := h.s.responseMAC(h.cred.Lock, &ch.Nonce, h.cred.ID, &p)
	if !hmac.Equal(want[:], p.MAC[:]) {
		return p, fmt.Errorf("%w: unlock response to challenge %d", ErrMAC, ch.ID)
	}
	p.Authenticated = true
	return p, nil
}
