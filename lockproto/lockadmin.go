package lockproto

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/access"
)

// HandleAdmin applies an issuer-signed admin message. Checks, in order:
// frame; lock ID; for a time sync a live nonce of this lock (consumed),
// otherwise a sequence number not applied yet; room in the audit for its
// record; the source's backoff; the signature of the lock's current issuer
// key (a retired key signs no admin message); then the message's own
// rules. A message whose signature verified is recorded in the audit log,
// applied or not, and its sequence number is spent; the state is then
// persisted.
//
// Messages commute: each states a monotone fact (a slot's minimum
// generation only rises, a revocation is only added, zone rules are
// replaced only by rules with a higher sequence number, a rotation only
// moves to the key its current key names), so whatever order phones
// deliver pending messages in, the lock ends in the same state. A message
// is applied at most once: the lock remembers the 64 sequence numbers
// below the highest it applied, and refuses those and anything older as
// stale. Refusals are *RefusalError; a failed Persist wraps ErrPersist.
func (l *Lock) HandleAdmin(msg []byte) error {
	now, _, _ := l.observe()
	refuse := func(r access.Reason, detail string) error { return &RefusalError{Reason: r, Detail: detail} }
	a, err := DecodeAdmin(msg)
	if err != nil {
		return refuse(reasonOf(err), err.Error())
	}
	if a.Lock != l.st.Pairing.Lock {
		return refuse(access.WrongLock, fmt.Sprintf("for lock %v", a.Lock))
	}
	if a.Type == TypeTimeSync {
		if _, ok := l.takeNonce(now, 0, &a.Nonce); !ok {
			return refuse(access.BadNonce, "time sync for no live challenge")
		}
	} else if l.adminApplied(a.Seq) {
		// Normal when several phones carry the same pending messages.
		return refuse(access.StaleSequence, fmt.Sprintf("sequence %d already applied (highest %d)", a.Seq, l.st.AdminSeq))
	}
	if !l.room(classGrant) {
		return refuse(access.AuditFull, fmt.Sprintf("%v seq %d: %d records unacknowledged", a.Type, a.Seq, l.unacked()))
	}
	src := sourceOf(msg)
	if l.limited(now, src) {
		return refuse(access.RateLimited, fmt.Sprintf("%v seq %d", a.Type, a.Seq))
	}
	if !ed25519.Verify(l.st.Issuer.Key[:], adminSigned(msg), a.Signature[:]) {
		l.failedFrom(now, src)
		return refuse(access.BadSignature, fmt.Sprintf("%v seq %d", a.Type, a.Seq))
	}
	l.forgive(src)
	if a.Type != TypeTimeSync {
		l.markApplied(a.Seq)
	}
	r, value := l.apply(now, &a)
	if a.Type != TypeTimeSync {
		value = a.Seq
	}
	unix, known := l.clockAt(now) // after a time sync: its own time
	l.record(classGrant, unix, known, AuditRecord{Kind: AuditAdmin, Reason: r, Slot: a.Slot, Credential: a.Credential, AdminType: a.Type, Value: value})
	if err := l.persist(); err != nil {
		return err
	}
	if r != access.Granted {
		return refuse(r, fmt.Sprintf("%v seq %d", a.Type, a.Seq))
	}
	return nil
}

// apply applies a verified message; for a time sync it also returns the
// step-back flag of its audit record.
func (l *Lock) apply(now time.Duration, a *Admin) (access.Reason, uint32) {
	switch a.Type {
	case TypeResetSlot, TypeDeactivateSlot:
		if int(a.Slot) >= MaxSlots {
			return access.BadSlot, 0
		}
		l.raiseMinGen(a.Slot, a.Generation)
	case TypeRevoke:
		return l.revoke(a), 0
	case TypeRevokeCode:
		l.blockCode(a.CodeSeq, a.NotAfter, true)
	case TypeTimeSync:
		return access.Granted, l.setClock(now, a.Time)
	case TypeTimeZone:
		if a.Seq > l.st.ZoneSeq { // an older table arriving late changes nothing
			l.st.Zone, l.st.ZoneSeq = a.Zone, a.Seq
		}
	case TypePassage:
		if a.Seq > l.st.PassageSeq { // an older schedule arriving late changes nothing
			l.st.Passage, l.st.PassageSeq = a.Passage, a.Seq
		}
	case TypeSuspend:
		return l.applySuspend(a), 0
	case TypeResetAll:
		l.applyResetAll(a)
	case TypeSetPIN, TypeClearPIN, TypeSetCard, TypeClearCard:
		if r, old := l.beforeReset(a); old {
			return r, 0
		}
		r, i := l.applyCode(a)
		a.Slot = i // the audit record names the table entry
		return r, 0
	case TypeRotateKey:
		if a.NewKeyID == l.st.Issuer.ID {
			return access.Malformed, 0 // a lock never holds two keys of one ID
		}
		l.st.Retired, l.st.RetiredUntil = l.st.Issuer, a.Until
		l.st.Issuer = IssuerKey{ID: a.NewKeyID, Key: a.NewKey}
	}
	return access.Granted, 0
}

// revoke adds a credential to the revocation list, unless a reset or its
// end already made it moot, and frees its suspension entry. When the list is full, revocations of
// credentials with no end are compacted by generation: the revoked
// credential's slot minimum rises past it (the issuer never gives two
// holders the same slot and generation, and older generations of a slot
// are superseded), which frees their entries; the new revocation, if it
// has no end, is applied the same way.
func (l *Lock) revoke(a *Admin) access.Reason {
	if int(a.Slot) >= MaxSlots {
		return access.BadSlot
	}
	l.unsuspend(a.Credential, a.Seq) // refused by the revocation from now on (or its slot's generation)
	if l.moot(a.Slot, a.Generation, a.NotAfter) || l.isRevoked(a.Credential) {
		return access.Granted
	}
	l.forget(a.Credential)
	e := Revocation{InUse: true, Credential: a.Credential, Slot: a.Slot, Generation: a.Generation, NotAfter: a.NotAfter}
	if l.insertRevocation(e) {
		return access.Granted
	}
	for i := range l.st.Revoked {
		if r := l.st.Revoked[i]; r.InUse && r.NotAfter == 0 && r.Generation < 1<<32-1 {
			l.raiseMinGen(r.Slot, r.Generation+1)
		}
	}
	if a.NotAfter == 0 && a.Generation < 1<<32-1 {
		l.raiseMinGen(a.Slot, a.Generation+1)
		return access.Granted
	}
	if l.insertRevocation(e) {
		return access.Granted
	}
	return access.RevocationsFull
}

func (l *Lock) insertRevocation(e Revocation) bool {
	for i := range l.st.Revoked {
		if r := &l.st.Revoked[i]; !r.InUse || l.moot(r.Slot, r.Generation, r.NotAfter) {
			*r = e
			return true
		}
	}
	return false
}

// AdminWindow is how many sequence numbers below the highest applied the
// lock remembers individually: a message at most AdminWindow below it is
// still applied if it was not yet; one further below is refused as stale
// (access.StaleSequence) and never applied. An issuer that wants such a
// message applied must sign it again under a new sequence number.
const AdminWindow = 64

const adminWindow = AdminWindow

// AdminTooOld reports whether a lock whose highest applied admin sequence
// number is highest can no longer apply message seq (unless it already
// did): seq is more than AdminWindow below highest.
func AdminTooOld(seq, highest uint32) bool { return seq < highest && highest-seq > AdminWindow }

// adminApplied reports whether message seq was applied, or is too old to tell.
func (l *Lock) adminApplied(seq uint32) bool {
	top := l.st.AdminSeq
	switch {
	case seq > top:
		return false
	case seq == top:
		return true
	case top-seq > adminWindow:
		return true
	}
	return l.st.AdminWindow>>(top-seq-1)&1 == 1
}

func (l *Lock) markApplied(seq uint32) {
	top := l.st.AdminSeq
	switch {
	case seq > top:
		shift := seq - top
		if shift >= adminWindow {
			l.st.AdminWindow = 0
		} else {
			l.st.AdminWindow <<= shift
		}
		if top > 0 && shift <= adminWindow {
			l.st.AdminWindow |= 1 << (shift - 1)
		}
		l.st.AdminSeq = seq
	case seq < top && top-seq <= adminWindow:
		l.st.AdminWindow |= 1 << (top - seq - 1)
	}
}
