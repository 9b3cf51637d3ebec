package commands

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// PINs and cards at the lock itself. A PIN or keycard key created for a
// lock registered with its audit key, on a service with an issuer, also
// queues a set-PIN or set-card admin message (lockproto) for the lock, in
// the same atomic append, and its sync status at the lock starts pending;
// revoking or deleting it queues the clear message (removing). Any phone
// delivers them with the other pending messages; the lock's audit upload
// moves the key to applied, removed or failed (the lock refused it: the
// PIN or card is already another key's there, or its table is full).
//
// The messages carry the keyed digest of the PIN or card identifier under
// the lock's code key (lockproto.PINDigest: derived from the pairing's
// audit key), never the code: the ledger, the phones and the lock's log
// hold nothing a guess could be checked against without that key.

// codeID is a PIN or card key's entry ID at its lock.
func codeID(lock, key string) lockproto.CredentialID {
	h := sha256.Sum256(fmt.Appendf(nil, "keyledger code\x00%s\x00%s", lock, key))
	return lockproto.CredentialID(h[:8])
}

// codeDigest is what the lock's set message carries for a PIN or card of a
// key of lock: ok false when no message can be sent (no issuer, no vault,
// or the lock was registered without its audit key).
func (s *Service) codeDigest(ctx context.Context, lock string, cred events.Credential, code secret.Secret) (d lockproto.CodeDigest, ok bool, err error) {
	if s.issuer == nil || s.vault == nil || (cred != events.CredentialPIN && cred != events.CredentialKeycard) {
		return d, false, nil
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return d, false, err
	}
	if !l.Exists() || len(l.AuditKey) == 0 {
		return d, false, nil
	}
	key, err := s.vault.Open(ctx, l.AuditKey, auditAAD(lock))
	if err != nil {
		return d, false, vaultErr(err, "")
	}
	kb := key.Reveal()
	defer clear(kb)
	if len(kb) != 32 {
		return d, false, nil
	}
	c := code.Reveal()
	defer clear(c)
	if cred == events.CredentialPIN {
		d, err = lockproto.PINDigest([32]byte(kb), LockUUID(lock), c)
	} else {
		d, err = lockproto.CardDigest([32]byte(kb), LockUUID(lock), c)
	}
	if err != nil { // names lengths, never the code
		return d, false, invalid(credField(cred), "%v", err)
	}
	return d, true, nil
}

func credField(c events.Credential) string {
	if c == events.CredentialKeycard {
		return "card"
	}
	return "pin"
}

// codeSet stages the set message of a new PIN or card key: the admin
// message on the lock stream and the key's sync status (pending).
func (s *Service) codeSet(t *txn, c CreateKey, d lockproto.CodeDigest, length int) error {
	l, err := t.lock(c.Lock)
	if err != nil {
		return err
	}
	compact, _, err := compactOf(c.Settings.Policy, l.Blackouts, t.now)
	if err != nil {
		return err // the lock could never open with it: a *ValidationError wrapping policy.ErrNotCompact
	}
	a := events.AdminIssued{Lock: c.Lock, Key: c.Key, Seq: l.nextAdminSeq(), Type: lockproto.TypeSetPIN}
	if c.Credential == events.CredentialKeycard {
		a.Type = lockproto.TypeSetCard
	}
	if a.Seq == 0 {
		return invalid("admin sequence", "lock %q has used every sequence number", c.Lock)
	}
	e := lockproto.CodeEntry{ID: codeID(c.Lock, c.Key), Doors: uint8(c.Settings.Doors), Length: uint8(length), Policy: compact, Digest: d}
	if a.Type == lockproto.TypeSetPIN {
		a.Message, err = s.issuer.SetPIN(LockUUID(c.Lock), a.Seq, e)
	} else {
		a.Message, err = s.issuer.SetCard(LockUUID(c.Lock), a.Seq, e)
	}
	if err != nil {
		return err
	}
	t.emit(lockStream(c.Lock), a)
	t.emit(keyStream(c.Key), events.LockSynced{Key: c.Key, Lock: c.Lock, Sync: events.SyncPending, Until: compactEnd(compact)})
	return nil
}

// codePolicy is what a PIN or card key's set messages carry when an edit
// re-sends them at now: with an expiry after first use, the end counts
// from the earliest instant any version of the key could be used at the
// lock (KeyState.UseFrom, and this version's policy.EarliestUse), as the
// first set message counted from its own — never from a first use the
// server learnt of: a use at the lock not yet uploaded may be earlier.
func codePolicy(k *KeyState, p policy.Policy, now time.Time) policy.Policy {
	if p.AfterFirstUse == 0 {
		return p
	}
	from := earlier(k.UseFrom, p.EarliestUse(now))
	if from.IsZero() {
		from = k.CreatedAt
	}
	return p.FirstUsed(from)
}

// codeEdit stages, for an edit of a PIN or card key whose code the lock
// holds or will, the set message of the next generation with the new
// doors and schedule and the same digest (the lock keeps the key's use
// count), and moves the key's sync status back to pending. An edit the
// lock's entry cannot carry (an end already past, as an End edit into the
// past, or the earliest use allowed + AfterFirstUse past) is refused while the entry
// there still opens; once that entry has ended too there is nothing to
// send.
func (s *Service) codeEdit(t *txn, k *KeyState, l *LockState, st events.Settings) error {
	prev, ok := l.CodeSets[k.ID]
	if s.issuer == nil || !ok {
		return nil
	}
	old, err := lockproto.DecodeAdmin(prev.Message)
	if err != nil {
		return fmt.Errorf("commands: the set message of key %q: %w", k.ID, err)
	}
	p := codePolicy(k, st.Policy, t.now)
	if st.Policy.AfterFirstUse != 0 && !p.End.After(t.now) {
		if e := compactEnd(old.Policy); !e.IsZero() && !e.After(t.now) {
			return nil // the lock's entry has ended, and the new one would have: nothing to send
		}
		return invalid("policy", "key %q: expires %v after first use, which the lock counts from the earliest use it allowed, %v: over at %v, but its PIN or card there opens until %v; revoke the key to stop it",
			k.ID, st.Policy.AfterFirstUse, p.End.Add(-st.Policy.AfterFirstUse).UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339), endText(compactEnd(old.Policy)))
	}
	compact, _, err := compactOf(p, l.Blackouts, t.now)
	if err != nil {
		return invalid("policy", "key %q: its PIN or card at the lock cannot carry it: %v", k.ID, err)
	}
	a := events.AdminIssued{Lock: k.Lock, Key: k.ID, Seq: l.nextAdminSeq(), Type: prev.Type, Generation: old.Generation + 1}
	if a.Seq == 0 || a.Generation == 0 {
		return invalid("admin sequence", "lock %q has used every sequence number", k.Lock)
	}
	e := lockproto.CodeEntry{ID: old.Credential, Generation: a.Generation, Doors: uint8(st.Doors), Length: old.Length, Mode: old.Mode,
		Policy: compact, Digest: old.Digest}
	if a.Type == lockproto.TypeSetPIN {
		a.Message, err = s.issuer.SetPIN(LockUUID(k.Lock), a.Seq, e)
	} else {
		a.Message, err = s.issuer.SetCard(LockUUID(k.Lock), a.Seq, e)
	}
	if err != nil {
		return err
	}
	t.emit(lockStream(k.Lock), a)
	t.emit(keyStream(k.ID), events.LockSynced{Key: k.ID, Lock: k.Lock, Sync: events.SyncPending, Until: compactEnd(compact)})
	return nil
}

// codeClear returns the clear message of a PIN or card key whose entry is
// at its lock or on its way (pending or applied), if any.
func (s *Service) codeClear(k *KeyState, l *LockState) (events.AdminIssued, bool, error) {
	if s.issuer == nil || !k.AtLock.Held() || (len(k.PINHash) == 0 && len(k.CardHash) == 0) || s.credentialed(k) {
		return events.AdminIssued{}, false, nil
	}
	gen := uint32(1)
	if prev, ok := l.CodeSets[k.ID]; ok {
		if old, err := lockproto.DecodeAdmin(prev.Message); err == nil && old.Generation < 1<<32-1 {
			gen = old.Generation + 1
		}
	}
	a := events.AdminIssued{Lock: k.Lock, Key: k.ID, Seq: l.nextAdminSeq(), Type: lockproto.TypeClearPIN, Generation: gen}
	if len(k.CardHash) != 0 {
		a.Type = lockproto.TypeClearCard
	}
	if a.Seq == 0 {
		return events.AdminIssued{}, false, invalid("admin sequence", "lock %q has used every sequence number", k.Lock)
	}
	var err error
	if a.Type == lockproto.TypeClearPIN {
		a.Message, err = s.issuer.ClearPIN(LockUUID(k.Lock), a.Seq, codeID(k.Lock, k.ID), gen)
	} else {
		a.Message, err = s.issuer.ClearCard(LockUUID(k.Lock), a.Seq, codeID(k.Lock, k.ID), gen)
	}
	if err != nil {
		return events.AdminIssued{}, false, err
	}
	return a, true, nil
}

// withCodeClear adds the clear message of a PIN or card key to a key
// action's lock events.
func (s *Service) withCodeClear(k *KeyState, l *LockState, keyEvs, lockEvs []any, err error) ([]any, []any, error) {
	if err != nil {
		return nil, nil, err
	}
	a, ok, err := s.codeClear(k, l)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		lockEvs = append(lockEvs, a)
	}
	return keyEvs, lockEvs, nil
}

func endText(t time.Time) string {
	if t.IsZero() {
		return "no end"
	}
	return t.Format(time.RFC3339)
}
