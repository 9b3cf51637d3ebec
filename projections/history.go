package projections

import (
	"encoding/binary"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// describe fills a history entry from an event: which lock, key and accounts
// it concerns and, for unlock attempts, door, source, decision and reason.
// It reports false for events that are not history (slot and PIN
// bookkeeping, outbox).
func describe(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case events.AccountRegistered:
		h.Account = e.Account
	case events.ContactAdded:
		h.Account, h.Subject = e.Account, e.Contact
	case events.ContactDeleted:
		h.Account, h.Subject = e.Account, e.Contact
	case events.LockRegistered:
		h.Lock, h.Account = e.Lock, e.Owner
	case events.LockBlackoutsSet:
		h.Lock, h.Account = e.Lock, e.By
	case events.PassageSet:
		h.Lock, h.Account, h.Door = e.Lock, e.By, e.Doors
	case events.KeyCreated:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.Owner, e.Holder
		if e.By != "" { // an account manager made it
			h.Account = e.By
		}
	case events.LockManagerAdded:
		h.Lock, h.Account, h.Subject = e.Lock, e.By, e.Account
	case events.LockManagerRemoved:
		h.Lock, h.Account, h.Subject = e.Lock, e.By, e.Account
	case events.KeyShared:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Key, e.Owner, e.Account
	case events.KeyDownloaded:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.Holder
	case events.KeyEdited:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.KeyRevoked:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		if e.Reason != 0 {
			h.Reason = e.Reason // the reset of every key of the lock
		}
	case events.KeySuspended:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		h.Reason = access.KeySuspended
	case events.KeyResumed:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.LockReset:
		h.Lock, h.Account, h.Reason = e.Lock, e.By, access.LockReset
	case events.KeyReset:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.DeactivationRequested:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.DeactivationConfirmed:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.KeyDeleted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
	case events.UnlockAttempted:
		h.Lock, h.Key, h.Account = e.Lock, e.Key, e.By
		h.Door, h.Source, h.Panel, h.Granted, h.Reason = e.Door, e.Source, e.Panel, e.Granted, e.Reason
	default:
		return describeGroup(ev, h) || describeAudit(ev, h) || describeKeypad(ev, h) || describeOfflineCode(ev, h)
	}
	return true
}

// History index rows hold their entries (position, unix ns) in one of two
// layouts, told apart by the first byte:
//
//	0x00...: 16 bytes per entry, position and time 8 bytes big-endian each
//	         (what older versions wrote; a position's first byte is 0)
//	0x01:    then per entry the position's increase over the previous entry's
//	         (uvarint; the first entry's counts from 0) and the time's
//	         difference from the previous entry's (varint; the first from 0)
//
// This version writes the second: entries of a row are a run of a batch's
// events, so a position costs a byte and a time 5 to 6, against 16. Rows of
// the older layout keep reading until a rebuild rewrites them. A compact
// row that would be a multiple of 16 bytes long ends in one byte 0x00 (no
// entry starts with it: a position always increases), so versions that
// know only the older layout find every compact row corrupt rather than
// reading it as entries of theirs.
const (
	histCompact = 0x01
	histPad     = 0x00
	// maxHistEntry bounds the bytes of one compact entry.
	maxHistEntry = 2 * binary.MaxVarintLen64
)

// appendHistEntry appends an entry to a compact row whose previous entry is
// (pos, ns) (zero for the first).
func appendHistEntry(dst []byte, prevPos uint64, prevNs int64, pos uint64, ns int64) []byte {
	return binary.AppendVarint(binary.AppendUvarint(dst, pos-prevPos), ns-prevNs)
}

// histEntries decodes a history row's value into its entries, appended to
// dst in the row's order. ok is false for a value of neither layout, or
// whose positions do not increase.
func histEntries(dst []histRef, v []byte) (_ []histRef, ok bool) {
	if len(v) == 0 || v[0] != histCompact {
		if len(v)%16 != 0 || (len(v) > 0 && v[0] != 0) {
			return dst, false
		}
		for ; len(v) >= 16; v = v[16:] {
			dst = append(dst, histRef{pos: binary.BigEndian.Uint64(v), ns: int64(binary.BigEndian.Uint64(v[8:]))})
		}
		return dst, true
	}
	var pos uint64
	var ns int64
	for v = v[1:]; len(v) > 0; {
		if len(v) == 1 && v[0] == histPad {
			break // a position step is never 0: the row's padding
		}
		dp, n := binary.Uvarint(v)
		if n <= 0 || dp == 0 || pos+dp < pos {
			return dst, false
		}
		v = v[n:]
		dn, m := binary.Varint(v)
		if m <= 0 {
			return dst, false
		}
		v = v[m:]
		pos, ns = pos+dp, ns+dn
		dst = append(dst, histRef{pos: pos, ns: ns})
	}
	return dst, true
}
