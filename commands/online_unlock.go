package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// UnlockOnline is a member operating the lock with an online key, authorised
// against the current state and recorded whether granted or denied.
type UnlockOnline struct {
	ID       uuid.UUID
	Key, By  string        // By: the member's account
	Password secret.Secret // the member's personal password
	Door     access.Door   // default access.MainDoor
	Source   string        // default "online"
}

// passwordCheck is the result of verifying a password against one sealed
// hash (identified by its bytes), done before the decision because argon2id
// is slow and a decision may run several times.
type passwordCheck struct {
	sealed secret.Sealed
	ok     bool
	rehash secret.Sealed // the password under the current parameters, if they changed
	// err: the hash could not be opened because its data key is shredded
	// (ErrShredded). That is no verdict on the password: the member was
	// removed or the password changed meanwhile, so the decision verifies
	// again against the new state; if the hash is still current, the
	// decision returns err and records nothing.
	err error
}

// UnlockOnline authorises an online unlock against the current state —
// network management on, membership, password (with lockout), the member's
// permissions, the key's state, doors and schedule — and records it granted
// or denied with the reason (UnlockAttempted, on the lock's group stream;
// key, lock and account histories show it). Granted uses of an online key
// are counted there too. Only an unknown key or invalid input is an error.
func (s *Service) UnlockOnline(ctx context.Context, c UnlockOnline) (UnlockResult, error) {
	if c.Source == "" {
		c.Source = "online"
	}
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By), checkText("source", c.Source, MaxNameLen)); err != nil {
		return UnlockResult{}, err
	}
	if c.Door != access.MainDoor && c.Door != access.InnerDoor {
		return UnlockResult{}, invalid("door", "%v: want the main or the inner door", c.Door)
	}
	if c.Password.Len() > secret.MaxPasswordLen {
		return UnlockResult{}, invalid("password", "%d bytes, at most %d", c.Password.Len(), secret.MaxPasswordLen)
	}
	lock, err := s.lockOfKey(ctx, c.Key)
	if err != nil {
		return UnlockResult{}, err
	}
	var pw passwordCheck
	dropRehash := func(evs []ledger.Event) { // a new hash no event carries
		if set, ok := firstOf[events.MemberPasswordSet](evs); len(pw.rehash) > 0 && (!ok || string(set.Password) != string(pw.rehash)) {
			_ = s.vault.ShredSealed(ctx, pw.rehash)
		}
	}
	for attempt := 0; attempt < 4; attempt++ {
		same := func(orig []ledger.Event) (string, error) { return s.sameUnlockOnline(ctx, c, orig) }
		evs, err := s.executeOn(ctx, c.ID, groupStream(lock), same, func(t *txn) error { return decideUnlockOnline(t, c, pw) })
		if errors.Is(err, errReverify) {
			dropRehash(nil)
			if pw, err = s.verifyMember(ctx, c); err != nil {
				return UnlockResult{}, err
			}
			continue
		}
		dropRehash(evs)
		if err != nil {
			return UnlockResult{}, err
		}
		if err := s.shredAfter(ctx, evs); err != nil {
			return UnlockResult{}, err
		}
		u, _ := firstOf[events.UnlockAttempted](evs)
		return UnlockResult{Key: u.Key, Granted: u.Granted, Reason: u.Reason, Uses: u.Uses}, nil
	}
	return UnlockResult{}, s.busy(ctx, c.ID, 4)
}

// sameUnlockOnline compares with a recorded online unlock. When the first
// decision weighed the password (granted, or denied at or after the
// password check), the password must get the same verdict now from the
// member's current hash: a retry with another password is not the same
// command and never receives a grant. If that hash cannot say (member
// removed, password changed since), a first grant is not handed out again.
func (s *Service) sameUnlockOnline(ctx context.Context, c UnlockOnline, orig []ledger.Event) (string, error) {
	r, ok := firstOf[events.UnlockAttempted](orig)
	if !ok {
		return otherCommand, nil
	}
	if d := firstDiff(field{"key", r.Key == c.Key}, field{"by", r.By == c.By}, field{"door", r.Door == c.Door.Set()},
		field{"source", r.Source == c.Source}); d != "" {
		return d, nil
	}
	_, rejected := firstOf[events.PasswordRejected](orig)
	switch r.Reason {
	case access.NotOnlineKey, access.NetworkOff, access.NotMember, access.LockedOut:
		return "", nil // decided before the password was looked at
	}
	g, err := s.groupState(ctx, r.Lock)
	if err != nil {
		return "", err
	}
	v, err := s.samePassword(ctx, g.Members[c.By].Password, memberAAD(r.Lock, c.By), c.Password)
	if err != nil {
		return "", err
	}
	if rejected {
		return firstDiff(field{"password", v != passwordSame}), nil
	}
	return firstDiff(field{"password", v == passwordSame}), nil
}

// verifyMember verifies c.Password against the member's current hash.
func (s *Service) verifyMember(ctx context.Context, c UnlockOnline) (passwordCheck, error) {
	ke, err := s.cache.get(ctx, s.store, keyStream(c.Key), func() aggregate { return &KeyState{} })
	if err != nil {
		return passwordCheck{}, err
	}
	k := ke.state.(*KeyState)
	g, err := s.groupState(ctx, k.Lock)
	if err != nil {
		return passwordCheck{}, err
	}
	return s.verifySealed(ctx, k.Lock, c.By, g.Members[c.By].Password, c.Password)
}

// verifySealed verifies pw against a member's sealed hash. If it matches and
// the hash's argon2id parameters are below the vault's, it also returns a
// new sealed hash under the current ones (rehash).
func (s *Service) verifySealed(ctx context.Context, lock, account string, sealed secret.Sealed, pw secret.Secret) (passwordCheck, error) {
	if len(sealed) == 0 {
		return passwordCheck{}, nil
	}
	if err := s.needVault(); err != nil {
		return passwordCheck{}, err
	}
	// Only ErrWrongPassword from VerifyPassword is a mismatch, the one
	// outcome a decision may record as PasswordRejected and count toward the
	// lockout. A failure to read the hash (the keystore's or the ledger's
	// I/O error, a damaged value) says nothing about the password: it is the
	// command's error and nothing is recorded.
	h, err := s.vault.Open(ctx, sealed, memberAAD(lock, account))
	if errors.Is(err, secret.ErrShredded) {
		return passwordCheck{sealed: sealed, err: fmt.Errorf("commands: the password hash of %q on lock %q: %w", account, lock, err)}, nil
	}
	if err != nil {
		return passwordCheck{}, vaultErr(err, "")
	}
	hash := secret.PasswordHash(h.Reveal())
	err = s.vault.VerifyPassword(pw, hash)
	if err != nil && !errors.Is(err, secret.ErrWrongPassword) {
		return passwordCheck{}, vaultErr(err, "")
	}
	out := passwordCheck{sealed: sealed, ok: err == nil}
	if out.ok && s.vault.NeedsRehash(hash) {
		nh, err := s.vault.HashPassword(pw)
		if err != nil {
			return passwordCheck{}, vaultErr(err, "password")
		}
		if out.rehash, err = s.vault.Seal(ctx, secret.FromString(string(nh)), memberAAD(lock, account)); err != nil {
			return passwordCheck{}, vaultErr(err, "")
		}
	}
	return out, nil
}

func decideUnlockOnline(t *txn, c UnlockOnline, pw passwordCheck) error {
	k, err := t.key(c.Key)
	if err != nil {
		return err
	}
	if k.State == events.StateNone {
		return &NotFoundError{What: "key", ID: c.Key}
	}
	ev := events.UnlockAttempted{Key: c.Key, Lock: k.Lock, By: c.By, Door: c.Door.Set(), Source: c.Source, Uses: k.Uses}
	if k.Kind != events.KindOnline {
		ev.Reason = access.NotOnlineKey
		t.emit(keyStream(c.Key), ev)
		return nil
	}
	// The attempt is recorded on the group stream: the decision read it, so
	// its expected version makes the decision current (a removal or turning
	// network management off that commits first forces a new decision).
	g, err := t.group(k.Lock)
	if err != nil {
		return err
	}
	ev.Uses = g.Uses[c.Key]
	deny := func(reason access.Reason) error {
		ev.Reason = reason
		t.emit(groupStream(k.Lock), ev)
		return nil
	}
	if t.expireNetwork(k.Lock, g) || !g.Network.On {
		return deny(access.NetworkOff)
	}
	m, ok := g.Members[c.By]
	if !ok || m.Key != c.Key || m.State != events.InviteAccepted {
		return deny(access.NotMember)
	}
	if t.now.Before(m.LockedUntil) {
		return deny(access.LockedOut)
	}
	if string(pw.sealed) != string(m.Password) || len(pw.sealed) == 0 {
		return errReverify
	}
	if pw.err != nil { // the current hash does not open: no verdict, nothing recorded
		return pw.err
	}
	if !pw.ok {
		rej := events.PasswordRejected{Lock: k.Lock, Account: c.By, Failures: m.Failures + 1}
		if rej.Failures >= MaxPasswordFailures {
			rej.LockedUntil = t.now.Add(LockoutDuration)
		}
		t.emit(groupStream(k.Lock), rej)
		return deny(access.WrongPassword)
	}
	if m.Failures > 0 {
		t.emit(groupStream(k.Lock), events.PasswordFailuresCleared{Lock: k.Lock, Account: c.By})
	}
	if len(pw.rehash) > 0 {
		t.emit(groupStream(k.Lock), events.MemberPasswordSet{Lock: k.Lock, Account: c.By, Password: pw.rehash, Shredded: sealedID(m.Password), Rehash: true})
	}
	switch {
	case m.Permissions.Ops&events.OpUnlock == 0:
		return deny(access.OpNotPermitted)
	case !m.Permissions.Doors.Has(c.Door), !k.Settings.Doors.Has(c.Door):
		return deny(access.WrongDoor)
	case k.State == events.StateDeleted || k.State == events.StateRevoked:
		return deny(keyStateReason(k))
	}
	l, err := t.lock(k.Lock)
	if err != nil {
		return err
	}
	if r := refusedFor(k, l); r != access.Granted {
		return deny(r)
	}
	if r := decideSchedule(onlineUses(k, g), l, t.now, ev.Uses); r != access.Granted {
		return deny(r)
	}
	ev.Granted = true
	ev.Uses++
	t.emit(groupStream(k.Lock), ev)
	return nil
}

// onlineUses is k with its first use on the group stream folded in: an
// online key's unlocks are recorded there, not on the key's stream, and
// an expiry after first use counts from the earliest. k is shared with
// the cache: a changed state is a copy.
func onlineUses(k *KeyState, g *GroupState) *KeyState {
	at, ok := g.FirstUsed[k.ID]
	if !ok || k.Settings.Policy.AfterFirstUse == 0 || !k.FirstUsedAt.IsZero() && !at.Before(k.FirstUsedAt) {
		return k
	}
	c := *k
	c.used(at)
	return &c
}
