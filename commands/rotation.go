package commands

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
)

// Issuer key rotation. Every credential names the issuer key that signed
// it (lockproto.KeyID); admin messages are signed by the lock's current
// key. To rotate, start the service with the new key as Options.Issuer and
// the old one in Options.RetiredIssuers, and call RotateIssuerKey for
// every lock: it signs, with the key the lock trusts, a rotation to the new
// key, pending like any admin message, so it rides with the lock's next
// downloads ahead of everything signed by the new key. Credentials issued
// from then on are signed by the new key; phones holding old ones keep
// opening until the grace ends, and fetch one under the new key with
// RefreshCredential. After a compromise rotate with no grace.
// (lockproto/PROTOCOL.md: issuer keys.)

// issuerKeys indexes the service's issuer keys by key ID.
func issuerKeys(o *Options) map[lockproto.KeyID]*lockproto.Issuer {
	keys := map[lockproto.KeyID]*lockproto.Issuer{}
	for _, i := range o.RetiredIssuers {
		if i != nil {
			keys[i.KeyID()] = i
		}
	}
	if o.Issuer != nil {
		keys[o.Issuer.KeyID()] = o.Issuer
	}
	return keys
}

// issuerKeyID is the ID of the key the service signs with (0 without one).
func (s *Service) issuerKeyID() lockproto.KeyID {
	if s.issuer == nil {
		return 0
	}
	return s.issuer.KeyID()
}

// signerFor returns the key to sign a reissue of message (decoded as a)
// with: a rotation by the key that signed it (the key it rotates from),
// everything else by the current key.
func (s *Service) signerFor(a *lockproto.Admin, message []byte) *lockproto.Issuer {
	if a.Type == lockproto.TypeRotateKey {
		for _, k := range s.keys {
			if _, err := lockproto.VerifyAdmin(message, k.PublicKey()); err == nil {
				return k
			}
		}
	}
	return s.issuer
}

// RotateIssuerKey moves a lock to the service's issuer key
// (Options.Issuer). Grace is how long credentials signed by the lock's
// previous key still open there (0: not at all). By is recorded.
type RotateIssuerKey struct {
	ID       uuid.UUID
	Lock, By string
	Grace    time.Duration
}

// RotateIssuerKey issues the lock's rotation message, signed by the key
// the lock trusts (Options.Issuer or one of Options.RetiredIssuers), and
// returns it; it is pending until the lock's audit shows it applied. A lock
// that already trusts the service's key gets none (nil, nil). The lock
// stream records AdminIssued and IssuerKeyRotated in one append.
func (s *Service) RotateIssuerKey(ctx context.Context, c RotateIssuerKey) ([]byte, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return nil, err
	}
	if s.issuer == nil {
		return nil, invalid("issuer", "a rotation moves locks to Options.Issuer: set it")
	}
	if c.Grace < 0 {
		return nil, invalid("grace", "%v is negative", c.Grace)
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := firstOf[events.IssuerKeyRotated](orig)
		if !ok {
			return otherCommand, nil
		}
		grace := time.Duration(0)
		if !r.GraceUntil.IsZero() {
			grace = r.GraceUntil.Sub(orig[0].Time)
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By}, field{"grace", grace == c.Grace})
	}
	evs, err := s.execute(ctx, c.ID, same, func(t *txn) error {
		l, err := t.lock(c.Lock)
		if err != nil {
			return err
		}
		if !l.Exists() {
			return &NotFoundError{What: "lock", ID: c.Lock}
		}
		to := s.issuer.KeyID()
		if l.IssuerKey == to {
			return nil // rotated already (or paired with this key)
		}
		from, ok := s.keys[l.IssuerKey]
		if !ok {
			return invalid("issuer", "lock %q trusts issuer key %d, which is neither Options.Issuer nor among Options.RetiredIssuers", c.Lock, l.IssuerKey)
		}
		a := events.AdminIssued{Lock: c.Lock, Seq: l.nextAdminSeq(), Type: lockproto.TypeRotateKey}
		if a.Seq == 0 {
			return invalid("admin sequence", "lock %q has used every sequence number", c.Lock)
		}
		var until time.Time
		if c.Grace > 0 {
			until = t.now.Add(c.Grace)
		}
		if a.Message, err = from.RotateKey(LockUUID(c.Lock), a.Seq, s.issuer, until); err != nil {
			return err
		}
		t.emit(lockStream(c.Lock), a, events.IssuerKeyRotated{Lock: c.Lock, By: c.By, From: l.IssuerKey, To: to,
			PublicKey: s.issuer.PublicKey(), GraceUntil: until, Seq: a.Seq})
		return nil
	})
	if err != nil {
		return nil, err
	}
	a, _ := firstOf[events.AdminIssued](evs)
	return a.Message, nil
}

// RefreshCredential is the holder of a downloaded share key asking for its
// offline credential again.
type RefreshCredential struct {
	Key, By string
}

// RefreshCredential returns the key's offline credential signed by the
// service's current issuer key, with the lock's public key and pending
// admin messages (a rotation among them) — what a phone needs after a
// rotation, once the grace of its old credential ends. It changes nothing:
// the credential says what the download's did. A caller who is not the
// holder is ErrNotPermitted; a key without an offline credential ErrInvalid.
func (s *Service) RefreshCredential(ctx context.Context, c RefreshCredential) (DownloadResult, error) {
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By)); err != nil {
		return DownloadResult{}, err
	}
	e, err := s.cache.get(ctx, s.store, keyStream(c.Key), func() aggregate { return &KeyState{} })
	if err != nil {
		return DownloadResult{}, err
	}
	k := e.state.(*KeyState)
	if err := checkAllowed(c.Key, k.Kind, k.State, events.ActUnlock); err != nil {
		return DownloadResult{}, err
	}
	if !k.Downloaded || k.Holder != c.By {
		return DownloadResult{}, notPermitted("%q does not hold key %q", c.By, c.Key)
	}
	if !s.credentialed(k) {
		return DownloadResult{}, invalid("key", "%q holds no offline credential", c.Key)
	}
	le, err := s.lockNow(ctx, k.Lock)
	if err != nil {
		return DownloadResult{}, err
	}
	res := DownloadResult{Key: k.ID, Lock: k.Lock, Slot: k.Slot, Generation: k.Generation, Settings: k.Settings}
	res.Credential, res.Download, res.Admin, res.Narrowed, err = s.issue(ctx, k, le)
	return res, err
}
