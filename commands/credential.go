package commands

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// lockNamespace derives lockproto's 16-byte lock IDs from lock IDs.
var lockNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://keyledger/lock"))

// LockUUID is the lockproto identity of a lock (what its pairing uses).
func LockUUID(lock string) uuid.UUID { return uuid.NewSHA1(lockNamespace, []byte(lock)) }

func lockKeyBytes(k [32]byte) []byte {
	if k == ([32]byte{}) {
		return nil
	}
	return k[:]
}

// credentialID names the one credential a key's download issues: a share
// key is downloaded once and cannot change afterwards (only reset, which
// makes a new key), so the ID never names two different contents.
func credentialID(k *KeyState) lockproto.CredentialID {
	return credentialIDFor(k.Lock, k.ID, k.Slot, k.Generation)
}

func credentialIDFor(lock, key string, slot int, gen uint32) lockproto.CredentialID {
	h := sha256.Sum256(fmt.Appendf(nil, "keyledger credential\x00%s\x00%s\x00%d\x00%d", lock, key, slot, gen))
	return lockproto.CredentialID(h[:8])
}

// issue signs the offline credential of a downloaded share key and wraps it
// with the lock's public key and its pending admin messages in the download
// frame the phone receives.
// Slots are numbered from 1 here and from 0 on the wire.
// The credential's validity starts no earlier than the download, so a
// retried download gets the same bytes.
func (s *Service) issue(ctx context.Context, k *KeyState, l *LockState) (cred, download []byte, admin [][]byte, narrowed, err error) {
	if !s.credentialed(k) {
		return nil, nil, nil, nil, nil
	}
	if len(l.LockKey) != 32 {
		return nil, nil, nil, nil, invalid("lock key", "lock %q was registered without its public key; no credential can be issued", k.Lock)
	}
	compact, narrowed, err := compactOf(k.Settings.Policy, l.Blackouts, k.DownloadedAt) // as at the download: the same bytes, AfterFirstUse counted from it
	if err != nil {
		return nil, nil, nil, nil, err
	}
	role := lockproto.RoleUser
	if k.Settings.Role == events.RoleAdmin {
		role = lockproto.RoleAdmin
	}
	c := lockproto.Credential{Lock: LockUUID(k.Lock), ID: credentialID(k), Slot: uint8(k.Slot - 1), Generation: k.Generation,
		Doors: uint8(k.Settings.Doors), Role: role, Policy: compact, HolderKey: [32]byte(k.HolderKey)}
	if cred, err = s.issuer.IssueCredential(c); err != nil {
		return nil, nil, nil, nil, err
	}
	admin = pendingFrames(l)
	download, err = lockproto.AppendDownload(nil, &lockproto.Download{LockKey: [32]byte(l.LockKey), Credential: cred, Admin: admin})
	return cred, download, admin, narrowed, err
}

// compactEnd is when a credential carrying c stops opening on its own
// (zero: never).
func compactEnd(c policy.Compact) time.Time {
	if c.NotAfter == 0 {
		return time.Time{}
	}
	return time.Unix(int64(c.NotAfter), 0).UTC()
}

// credentialed reports whether a downloaded key holds an offline credential.
func (s *Service) credentialed(k *KeyState) bool {
	return s.issuer != nil && len(k.HolderKey) == 32 && kindRules[k.Kind].slot
}
