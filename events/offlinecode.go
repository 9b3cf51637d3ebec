package events

import (
	"time"

	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// Offline codes: digits a guest types at a lock no phone visits first
// (lockproto.OfflineCode). Their events live on the stream
// "offlinecodes-<lock>". No event holds a code's digits: what attributes a
// use is the code's sequence number and validity.

// OfflineCodesEnabled: the lock's owner gave the backend the pairing's
// code key (lockproto.Pairing.CodeKey), sealed under its own data key.
type OfflineCodesEnabled struct {
	Lock, By string
	CodeKey  secret.Sealed
}

// OfflineCodeIssued: a code (its ID is the code's key in history) was
// issued for Name. Its fields are lockproto.OfflineCode's; From and To
// are its validity [From, To).
type OfflineCodeIssued struct {
	Lock, Code, By string
	Name           string `msgpack:",omitempty"` // who it is for, as the issuer named them
	Kind           lockproto.CodeKind
	Seq            uint8
	Unit           lockproto.CodeUnit
	Start          uint32
	Length         uint16
	Days           lockproto.CodeDays   `msgpack:",omitempty"`
	Window         lockproto.CodeWindow `msgpack:",omitempty"`
	From, To       time.Time
}

// OfflineCodeRevoked: the code is revoked. Until is when its sequence
// number is free again (the code's end, or the erase code's if later);
// AdminSeq is the revoke-code admin message queued for the lock (0 when
// the service has no issuer: only the erase code revokes it then).
//
// Code is empty for the revocation of every code of the lock by a reset of
// every key (commands.ResetLock): every sequence number until Until.
type OfflineCodeRevoked struct {
	Lock, Code, By string
	Seq            uint8
	Until          time.Time
	AdminSeq       uint32 `msgpack:",omitempty"`
}

// OfflineCodeUsed: the lock's audit record AuditSeq shows the code's
// first use, at the lock's time LockTime (zero if it did not know it).
type OfflineCodeUsed struct {
	Lock, Code string
	Seq        uint8
	LockTime   time.Time
	AuditSeq   uint32
}

// OfflineCodeRevocationApplied: the lock's audit record AuditSeq shows it
// applied the code's revocation, by an erase code typed at its keypad
// (Erased) or by the admin message.
type OfflineCodeRevocationApplied struct {
	Lock, Code string
	Seq        uint8
	Erased     bool `msgpack:",omitempty"`
	AuditSeq   uint32
}
