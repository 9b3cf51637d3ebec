package events

import (
	"time"

	"github.com/keyledger/keyledger/lockproto"
)

// IssuerKeyRotated: the lock was sent a rotation from the issuer key From
// (which signed it) to the key To (Ed25519 PublicKey), as the admin message
// of sequence number Seq (the AdminIssued of the same command carries the
// frame). From the rotation on, everything for the lock is signed by To;
// credentials signed by From still open at the lock until GraceUntil
// (zero: not at all), and the lock refuses admin messages signed by From
// once the rotation reached it.
type IssuerKeyRotated struct {
	Lock, By   string
	From, To   lockproto.KeyID
	PublicKey  []byte
	GraceUntil time.Time `msgpack:",omitempty"`
	Seq        uint32
}
