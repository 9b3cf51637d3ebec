package lockproto

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
)

// Sizes of the session frames.
const (
	NonceSize         = 16
	ProofSize         = 16                                    // truncated HMAC-SHA256
	ChallengeSize     = 2 + 16 + 2 + NonceSize + 4 + 1        // 41
	unlockFixedSize   = 2 + 2 + 1 + ProofSize                 // 21 + credential or ID
	MaxUnlockSize     = unlockFixedSize + MaxCredentialSize   // 205; 181 without dated periods: one BLE write at MTU 185
	UnlockCachedSize  = unlockFixedSize + 8                   // 29
	ResponseSize      = 2 + 2 + 1 + 1 + 4 + 4 + 4 + ProofSize // 34
	sessionInfoPrefix = "keyledger/lockproto v1 session"
)

// ChallengeFlags are hints in a challenge. They are not authenticated: a
// phone uses them only to decide what to deliver first.
type ChallengeFlags uint8

const (
	FlagClockKnown ChallengeFlags = 1 << 0 // the lock trusts its clock
	FlagZoneKnown  ChallengeFlags = 1 << 1 // the lock knows its UTC offset now
	// FlagAuditUpload: at least half the lock's audit is unacknowledged:
	// drain and upload it, and bring back the acknowledgement
	// (AppendAuditAck). A full audit refuses grants (access.AuditFull).
	FlagAuditUpload ChallengeFlags = 1 << 2

	knownFlags = FlagClockKnown | FlagZoneKnown | FlagAuditUpload
)

// Challenge is the lock's fresh nonce for one unlock or one time sync.
type Challenge struct {
	Lock     uuid.UUID
	ID       uint16 // names the nonce in the request
	Nonce    [NonceSize]byte
	AdminSeq uint32 // last admin sequence number applied: the phone delivers those above
	Flags    ChallengeFlags
}

// AppendChallenge appends the encoded challenge.
func AppendChallenge(dst []byte, c *Challenge) []byte {
	dst = appendHeader(dst, TypeChallenge)
	dst = append(dst, c.Lock[:]...)
	dst = le.AppendUint16(dst, c.ID)
	dst = append(dst, c.Nonce[:]...)
	dst = le.AppendUint32(dst, c.AdminSeq)
	return append(dst, byte(c.Flags))
}

// DecodeChallenge decodes a challenge frame.
func DecodeChallenge(b []byte) (Challenge, error) {
	var c Challenge
	r := reader{b: b, name: "challenge"}
	if err := r.header(TypeChallenge); err != nil {
		return c, err
	}
	r.copy(c.Lock[:])
	c.ID = r.u16()
	r.copy(c.Nonce[:])
	c.AdminSeq = r.u32()
	c.Flags = ChallengeFlags(r.u8())
	if err := r.end(); err != nil {
		return c, err
	}
	if c.Flags&^knownFlags != 0 {
		return c, r.failAt(ChallengeSize-1, ErrMalformed, fmt.Sprintf("unknown flags 0x%02x", uint8(c.Flags)))
	}
	return c, nil
}

// UnlockRequest asks the lock to open a door. A full request (TypeUnlock)
// carries the credential; a cached one (TypeUnlockCached) only its ID.
type UnlockRequest struct {
	Type         Type
	Challenge    uint16
	Door         uint8
	Action       Action // with the door in one byte
	CredentialID CredentialID
	Credential   []byte // full requests: the credential frame, a subslice of the input
	Proof        [ProofSize]byte
}

// DecodeUnlock decodes either unlock frame without allocating; Credential
// aliases b. The credential's own layout is checked by DecodeCredential.
func DecodeUnlock(b []byte) (UnlockRequest, error) {
	var u UnlockRequest
	t, err := PeekType(b)
	if err != nil {
		return u, err
	}
	r := reader{b: b, name: t.String()}
	if t != TypeUnlock && t != TypeUnlockCached {
		r.name = "unlock"
		return u, r.failAt(1, ErrType, fmt.Sprintf("got %v, want an unlock", t))
	}
	if len(b) > MaxUnlockSize {
		return u, r.failAt(MaxUnlockSize, ErrMalformed, fmt.Sprintf("%d bytes, at most %d", len(b), MaxUnlockSize))
	}
	u.Type = t
	r.off = headerSize
	u.Challenge = r.u16()
	db := r.u8()
	if t == TypeUnlockCached {
		r.copy(u.CredentialID[:])
	} else {
		n := len(b) - r.off - ProofSize
		if n < credentialFixedSize {
			return u, r.fail(ErrMalformed, fmt.Sprintf("credential of %d bytes, at least %d", n, credentialFixedSize))
		}
		u.Credential = r.take(n)
		copy(u.CredentialID[:], u.Credential[2+16:])
	}
	r.copy(u.Proof[:])
	if err := r.end(); err != nil {
		return u, err
	}
	var ok bool
	if u.Door, u.Action, ok = splitDoor(db); !ok {
		return u, r.failAt(4, ErrMalformed, fmt.Sprintf("unknown action %d", u.Action))
	}
	return u, nil
}

// Response is the lock's answer to an unlock request.
type Response struct {
	Challenge uint16
	Granted   bool
	Reason    access.Reason
	LockTime  uint32 // the lock's Unix time, 0 if unknown
	Uses      uint32 // granted uses counted for a limited credential, after this one
	AuditSeq  uint32 // sequence number of the audit record of this attempt
	MAC       [ProofSize]byte
	// Authenticated is set by Holder.ReadResponse when the MAC verified.
	// A refusal before the holder proof was checked carries no MAC.
	Authenticated bool
}

func (p *Response) appendUnsigned(dst []byte) []byte {
	dst = appendHeader(dst, TypeUnlockResponse)
	dst = le.AppendUint16(dst, p.Challenge)
	g := byte(0)
	if p.Granted {
		g = 1
	}
	dst = append(dst, g, byte(p.Reason))
	dst = le.AppendUint32(dst, p.LockTime)
	dst = le.AppendUint32(dst, p.Uses)
	return le.AppendUint32(dst, p.AuditSeq)
}

// AppendResponse appends the encoded response with its MAC field as is.
func AppendResponse(dst []byte, p *Response) []byte {
	return append(p.appendUnsigned(dst), p.MAC[:]...)
}

// DecodeResponse decodes a response frame without checking its MAC.
func DecodeResponse(b []byte) (Response, error) {
	var p Response
	r := reader{b: b, name: "unlock-response"}
	if err := r.header(TypeUnlockResponse); err != nil {
		return p, err
	}
	p.Challenge = r.u16()
	g := r.u8()
	p.Reason = access.Reason(r.u8())
	p.LockTime = r.u32()
	p.Uses = r.u32()
	p.AuditSeq = r.u32()
	r.copy(p.MAC[:])
	if err := r.end(); err != nil {
		return p, err
	}
	if g > 1 || (g == 1) != (p.Reason == access.Granted) {
		return p, r.failAt(4, ErrMalformed, fmt.Sprintf("granted byte %d with reason %d", g, p.Reason))
	}
	p.Granted = g == 1
	return p, nil
}

// session is the per-credential MAC state both ends derive:
// key = HKDF-SHA256(X25519(holder, lock), salt = lock ID,
// info = prefix || credential ID || holder public || lock public).
type session struct {
	h   hash.Hash
	sum [sha256.Size]byte
	buf [64]byte
}

func newSession(priv *ecdh.PrivateKey, peer []byte, lock uuid.UUID, id CredentialID, holderPub, lockPub []byte) (*session, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, err
	}
	shared, err := priv.ECDH(pub) // refuses low-order points (all-zero result)
	if err != nil {
		return nil, err
	}
	info := make([]byte, 0, len(sessionInfoPrefix)+8+64)
	info = append(info, sessionInfoPrefix...)
	info = append(info, id[:]...)
	info = append(info, holderPub...)
	info = append(info, lockPub...)
	key, err := hkdf.Key(sha256.New, shared, lock[:], string(info), 32)
	if err != nil {
		return nil, err
	}
	return &session{h: hmac.New(sha256.New, key)}, nil
}

func (s *session) tag(msg []byte) (t [ProofSize]byte) {
	s.h.Reset()
	s.h.Write(msg)
	copy(t[:], s.h.Sum(s.sum[:0]))
	return t
}

// proof = HMAC(key, version || type || lock ID || nonce || challenge ID || door byte || credential ID)[:16];
// the door byte carries the action too.
func (s *session) proof(t Type, lock uuid.UUID, nonce *[NonceSize]byte, chal uint16, door byte, id CredentialID) [ProofSize]byte {
	b := appendHeader(s.buf[:0], t)
	b = append(b, lock[:]...)
	b = append(b, nonce[:]...)
	b = le.AppendUint16(b, chal)
	b = append(b, door)
	b = append(b, id[:]...)
	return s.tag(b)
}

// responseMAC = HMAC(key, lock ID || nonce || credential ID || response bytes before the MAC)[:16].
func (s *session) responseMAC(lock uuid.UUID, nonce *[NonceSize]byte, id CredentialID, p *Response) [ProofSize]byte {
	b := append(s.buf[:0], lock[:]...)
	b = append(b, nonce[:]...)
	b = append(b, id[:]...)
	b = p.appendUnsigned(b)
	return s.tag(b)
}
