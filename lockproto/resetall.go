package lockproto

import (
	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
)

// Resetting every key of the lock (TypeResetAll), Matter's "clear all
// credentials": one message raises every slot's minimum generation to the
// issuer's highest issued generation + 1, empties the PIN and card tables
// and the suspension table, and revokes every offline-code sequence number
// until a time. The lock stays paired; keys issued afterwards (new
// generations, new entries set by later messages) work.
//
// The message commutes with every other: the minimums only rise, the
// offline-code ends only grow, and the tables are emptied by a mark
// (State.ResetSeq, the highest applied): entries last changed by an older
// message are dropped, and an older set, clear or suspend message
// delivered afterwards changes nothing. Entries written by newer messages
// (keys made after the reset) stay. The mark is in the body, not the
// frame's sequence number: it is the sequence number the reset was first
// issued under, so a reset the issuer signs again under a new sequence
// number (the lock could no longer apply the first) still spares what
// messages issued after the first one set. Epoch numbers the resets of a
// lock (strictly increasing); the lock keeps the highest.

// ResetAllSize is a reset-every-key frame; it is the largest admin frame
// and fits the download frame's one-byte message length.
const ResetAllSize = adminFixedSize + 4 + 4 + MaxSlots*4 + 4 // 226

func (a *Admin) validateResetAll() error {
	switch {
	case a.Epoch == 0:
		return invalidf("reset-all: epoch 0, the first reset is 1")
	case a.Mark == 0 || a.Mark > a.Seq:
		return invalidf("reset-all: mark %d, want 1..%d (the sequence number it was first issued under)", a.Mark, a.Seq)
	}
	return nil
}

func (a *Admin) appendResetAll(dst []byte) []byte {
	dst = le.AppendUint32(dst, a.Epoch)
	dst = le.AppendUint32(dst, a.Mark)
	for _, g := range a.MinGens {
		dst = le.AppendUint32(dst, g)
	}
	return le.AppendUint32(dst, a.NotAfter)
}

func (a *Admin) decodeResetAll(r *reader) {
	a.Epoch = r.u32()
	a.Mark = r.u32()
	for i := range a.MinGens {
		a.MinGens[i] = r.u32()
	}
	a.NotAfter = r.u32()
}

// ResetAll resets every key of the lock: epoch (from 1, strictly
// increasing per lock), every slot's new minimum generation, and the end
// until which every offline code is revoked (Unix seconds; 0 when no code
// was issued). Its mark is seq; to issue it again under a new sequence
// number, decode it, change Seq only and sign it with Admin.
func (i *Issuer) ResetAll(lock uuid.UUID, seq, epoch uint32, minGens [MaxSlots]uint32, codesUntil uint32) ([]byte, error) {
	return i.Admin(Admin{Type: TypeResetAll, Lock: lock, Seq: seq, Epoch: epoch, Mark: seq, MinGens: minGens, NotAfter: codesUntil})
}

// applyResetAll applies a verified reset of every key.
func (l *Lock) applyResetAll(a *Admin) {
	for s, g := range a.MinGens {
		l.raiseMinGen(uint8(s), g)
	}
	if a.NotAfter != 0 {
		for s := range CodeSeqs {
			l.blockCode(uint8(s), a.NotAfter, true)
		}
	}
	l.st.ResetEpoch = max(l.st.ResetEpoch, a.Epoch)
	if a.Mark <= l.st.ResetSeq {
		return
	}
	l.st.ResetSeq = a.Mark
	for _, tab := range [][]CodeSlot{l.st.PINs[:], l.st.Cards[:]} {
		for j := range tab {
			if e := &tab[j]; (e.Live || e.MinGen > 0) && e.Seq < a.Mark {
				*e = CodeSlot{}
			}
		}
	}
	for i := range l.st.Suspended {
		if e := &l.st.Suspended[i]; e.InUse && e.Seq < a.Mark {
			*e = Suspension{}
		}
	}
}

// beforeReset reports whether a set or clear message of a PIN or card is
// older than the last reset of every key: it changes nothing (a set is
// Superseded, a clear has nothing left to clear).
func (l *Lock) beforeReset(a *Admin) (access.Reason, bool) {
	if a.Seq >= l.st.ResetSeq {
		return access.Granted, false
	}
	if a.Type == TypeSetPIN || a.Type == TypeSetCard {
		return access.Superseded, true
	}
	return access.Granted, true
}
