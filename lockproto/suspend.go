package lockproto

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
)

// Suspending a key at the lock: the issuer's suspend message (TypeSuspend)
// names one key by its ID at the lock — a credential ID, or the ID of a PIN
// or card entry — with the number of suspend and resume changes made to
// that key so far and whether it is now suspended. The lock keeps a small
// table of the keys it was told about; a suspended key's credential, PIN,
// card and remote opens are refused (access.KeySuspended) and nothing else
// about the key changes, so resuming it restores it as it was.
//
// Messages about one key commute: the entry keeps the highest change
// counter it saw (and the highest sequence number, for its tombstone).
// A revocation of the key's credential, or a clear of its PIN or card
// entry, turns its entry into a tombstone no change can raise, and a
// suspend arriving after either changes nothing: the issuer ends a key
// after its last suspend, so either order ends with the key refused by
// its revocation or clear and its entry freed with the tombstones. A
// resumed entry stays as a tombstone until the highest message that
// touched it is more than the admin window below the highest applied —
// the rule the code tables' cleared entries follow (codes.go) — so a
// suspend delivered late cannot undo a resume.

// MaxSuspensions bounds the lock's suspension table (suspended keys and
// resumed tombstones). A suspend message that finds it full is refused
// with access.RevocationsFull, like a revocation the list cannot take:
// the table is the revocation list's temporary part.
const MaxSuspensions = 32

// SuspendSize is a suspend frame.
const SuspendSize = adminFixedSize + 8 + 4 + 1 // 99

// Suspension is one entry of the lock's suspension table.
type Suspension struct {
	InUse     bool
	ID        CredentialID
	Change    uint32 // the highest change counter applied
	Suspended bool   // as of that change
	Seq       uint32 // the highest admin message about this key applied
}

func (a *Admin) validateSuspend() error {
	switch {
	case a.Credential == CredentialID{}:
		return invalidf("suspend: no key ID")
	case a.Change == 0:
		return invalidf("suspend %v: change counter 0, the first change is 1", a.Credential)
	}
	return nil
}

func (a *Admin) appendSuspend(dst []byte) []byte {
	dst = append(dst, a.Credential[:]...)
	dst = le.AppendUint32(dst, a.Change)
	var b byte
	if a.Suspended {
		b = 1
	}
	return append(dst, b)
}

func (a *Admin) decodeSuspend(r *reader) error {
	r.copy(a.Credential[:])
	a.Change = r.u32()
	at := r.off
	switch b := r.u8(); b {
	case 0:
	case 1:
		a.Suspended = true
	default: // one encoding per message: only 0 and 1
		return r.failAt(at, ErrMalformed, fmt.Sprintf("suspended byte %d, want 0 or 1", b))
	}
	return nil
}

// Suspend suspends (suspended true) or resumes the key the lock knows as
// id; change is the key's count of suspend and resume changes, this one
// included.
func (i *Issuer) Suspend(lock uuid.UUID, seq uint32, id CredentialID, change uint32, suspended bool) ([]byte, error) {
	return i.Admin(Admin{Type: TypeSuspend, Lock: lock, Seq: seq, Credential: id, Change: change, Suspended: suspended})
}

// applySuspend applies a verified suspend message. A message older than
// the last reset of every key changes nothing: the reset emptied the table.
// Nor does one naming a key that ended at the lock — a revoked credential,
// a cleared PIN or card entry —: its revocation or clear, which the issuer
// sends after every suspend of the key, freed the entry or will on arrival.
func (l *Lock) applySuspend(a *Admin) access.Reason {
	if a.Seq < l.st.ResetSeq || l.isRevoked(a.Credential) || l.codeCleared(a.Credential) {
		return access.Granted
	}
	l.dropResumed()
	free := -1
	for i := range l.st.Suspended {
		e := &l.st.Suspended[i]
		if !e.InUse {
			if free < 0 {
				free = i
			}
			continue
		}
		if e.ID == a.Credential {
			if a.Change > e.Change {
				e.Change, e.Suspended = a.Change, a.Suspended
			}
			e.Seq = max(e.Seq, a.Seq)
			return access.Granted
		}
	}
	if free < 0 && a.Suspended {
		free = l.evictTombstone()
	}
	if free < 0 {
		if !a.Suspended {
			return access.Granted // nothing to resume, no room to remember it: an older suspend finds no room either
		}
		return access.RevocationsFull
	}
	l.st.Suspended[free] = Suspension{InUse: true, ID: a.Credential, Change: a.Change, Suspended: a.Suspended, Seq: a.Seq}
	return access.Granted
}

// unsuspend ends the suspension of a key that ended at the lock (a revoke
// or clear applied under seq): its entry becomes a tombstone that no
// later change of the key can raise, freed with the resumed ones once seq
// is below the admin window, so a suspend delivered after the revoke or
// clear — even one that is moot at the lock, or compacted away — adds no
// entry that would never leave. A key with no entry gets a tombstone if
// there is room (a suspend then finding the table full evicts the oldest
// tombstone first: a leftover entry costs a place, a refused suspension
// leaves a key open).
func (l *Lock) unsuspend(id CredentialID, seq uint32) {
	if seq < l.st.ResetSeq {
		return // the reset of every key emptied the table after it
	}
	free := -1
	for i := range l.st.Suspended {
		e := &l.st.Suspended[i]
		if e.InUse && e.ID == id {
			*e = Suspension{InUse: true, ID: id, Change: ^uint32(0), Seq: max(e.Seq, seq)}
			return
		}
		if !e.InUse && free < 0 {
			free = i
		}
	}
	if free >= 0 {
		l.st.Suspended[free] = Suspension{InUse: true, ID: id, Change: ^uint32(0), Seq: seq}
	}
}

// evictTombstone frees the resumed or ended entry with the oldest message,
// if any, and reports its index (-1: every entry is suspended).
func (l *Lock) evictTombstone() int {
	at := -1
	for i := range l.st.Suspended {
		if e := &l.st.Suspended[i]; e.InUse && !e.Suspended && (at < 0 || e.Seq < l.st.Suspended[at].Seq) {
			at = i
		}
	}
	if at >= 0 {
		l.st.Suspended[at] = Suspension{}
	}
	return at
}

// codeCleared reports whether id names a PIN or card entry cleared (its
// tombstone: every set or suspend of it older than the clear is stale).
func (l *Lock) codeCleared(id CredentialID) bool {
	for _, tab := range [][]CodeSlot{l.st.PINs[:], l.st.Cards[:]} {
		for j := range tab {
			if e := &tab[j]; !e.Live && e.MinGen > 0 && e.ID == id {
				return true
			}
		}
	}
	return false
}

// dropResumed frees resumed entries whose last message is below the admin
// window: every suspend message about them is older still, so stale.
func (l *Lock) dropResumed() {
	for i := range l.st.Suspended {
		if e := &l.st.Suspended[i]; e.InUse && !e.Suspended && l.adminApplied(e.Seq) && l.st.AdminSeq-e.Seq > adminWindow {
			*e = Suspension{}
		}
	}
}

// suspended reports whether the key id is suspended at the lock. It reads
// every entry whatever matches, so a full table costs what an empty one does.
func (l *Lock) suspended(id CredentialID) bool {
	found := false
	for i := range l.st.Suspended {
		e := &l.st.Suspended[i]
		found = found || (e.InUse && e.Suspended && e.ID == id)
	}
	return found
}
