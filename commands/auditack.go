package commands

import (
	"github.com/google/uuid"
	"github.com/keyledger/keyledger/lockproto"
)

// A lock keeps every audit record until the backend acknowledges it
// (lockproto.AuditAck) and refuses grants once it holds as many as it can
// keep, so every upload returns an acknowledgement (AuditResult.Ack) for
// the phone to deliver. It covers the records stored without a gap: a
// record missing before it may still be in the lock, which hands it out
// again after the acknowledgement.

// ackFor acknowledges a lock's records stored without a gap (up to the
// first gap, or the cursor), for the lock to free them; nil if none.
func ackFor(st *auditState, lock uuid.UUID, key *[32]byte) []byte {
	cur := st.cursor
	if len(st.gaps) > 0 {
		cur = lockproto.AuditCursor{Seq: st.gaps[0].After, Tag: st.gaps[0].AfterTag}
	}
	if cur.Seq == 0 {
		return nil
	}
	a := lockproto.NewAuditAck(*key, lock, cur)
	return lockproto.AppendAuditAck(nil, &a)
}
