// Package lockproto is the wire protocol between phones, locks and the
// backend, and a reference lock that enforces it. It depends on no storage:
// the backend (package commands) records what it issues and what comes back.
//
// Every frame starts with a version byte and a type byte, and has a fixed
// little-endian layout documented byte by byte in PROTOCOL.md.
//
// # Guarantees
//
//   - An offline credential (Credential, at most 184 bytes; 160 without
//     dated periods) is signed by the issuer with Ed25519 and names the
//     signing key's ID; no byte of it can change without the lock noticing. It binds the lock, the slot and its
//     generation, the doors, the role, the compact schedule
//     (policy.Compact) and the holder's X25519 key.
//   - An unlock answers a fresh 16-byte challenge, single use, alive 30 s,
//     at most 4 outstanding (a fifth evicts the oldest). The proof is an
//     HMAC under a key only the holder and this lock can derive (X25519 of
//     the holder key and the lock's random key, through HKDF); it covers the
//     version, type, lock, nonce, door, action and credential ID, so it
//     cannot be replayed, moved to another lock, door or action, or
//     relabelled as another version. A full request fits one BLE write at
//     MTU 185 (at most 181 bytes) unless its credential carries dated
//     periods (up to 205 bytes: Fragment it). The lock mixes a persisted boot counter
//     into every nonce: no nonce of an earlier start is ever live again,
//     even if the RNG restarts from the same state.
//   - The lock decides on its own clock, set only by issuer-signed time
//     syncs bound to its nonce and trusted only within the start it was
//     set in, and on its own use counters. It fails closed for time-bound
//     credentials when it does not know the time (after every restart,
//     until a sync), or, for credentials with weekly windows, its UTC
//     offset. A persisted high-water mark of time never goes down: a
//     credential that ended before it stays expired whatever the clock
//     says later. The phone's clock is never used.
//   - The role is enforced per action: a user credential cannot take an
//     admin's action.
//   - Reset, deactivation, revocation, time zone and key rotation are
//     issuer-signed admin messages any phone can deliver; each is applied
//     at most once, and in any order they end in the same state (they state
//     monotone facts). A time sync is bound to a nonce. A rotation signed by
//     the current issuer key hands over to the next; the old key's
//     credentials open until a stated grace, its admin messages never.
//   - The lock writes every decision as an audit record with a sequence
//     number, its time and an HMAC chained to the previous record under a
//     per-lock audit key (refusals anyone can cause are tallied into one
//     record); VerifyAudit lets the backend check and ingest them
//     idempotently and detect missing ones. No record is overwritten before
//     the backend acknowledges it (AuditAck): a full audit refuses grants.
//   - A drain may first append a clock reading (AuditClock: the lock's
//     time, zone table end and boot counter), at most one per other record
//     plus one per Config.ClockReadingInterval, start and acknowledgement
//     (a stale reading handed out again is followed by a fresh one), never
//     in the places the ring keeps for grants: the backend measures the
//     lock's clock drift from it (AuditRecord.Clock).
//   - With Config.Persist, use counts, the mark and audit records are on
//     storage before the lock grants; a failed write refuses.
//   - Decoders never panic, never read past their input and never allocate
//     (except DecodeDownload's list); MACs are compared in constant time.
//   - Failed verifications back off exponentially per source after 5 in a
//     row; nothing locks out a holder whose credential and proof are good.
//   - PINs and cards reach the lock as issuer-signed admin messages (set,
//     clear) holding a keyed digest under a per-lock key derived from the
//     audit key, never the code, with the key's ID, generation, doors,
//     schedule and use limit. The keypad (Lock.EnterCode) and card reader
//     (Lock.PresentCard) compare with every entry in constant time and
//     decide on the lock's clock like a credential. Wrong codes lock the
//     keypad, and only the keypad, out after 5 in a row, with an alarm in
//     the audit. A card's bare identifier is clonable (PROTOCOL.md).
//   - An offline code (OfflineCode, CodeCipher) is ten digits the lock
//     decides at its keypad with no prior message: its kind, validity and
//     sequence number under a truncated MAC with the pairing's code key,
//     enciphered over all ten-digit numbers, so at most 41,792 numbers open
//     at any instant (PROTOCOL.md has the brute-force arithmetic). One-time
//     codes are spent in the state's sequence window before the door
//     opens; an erase code or a revoke-code admin message revokes by
//     sequence number; every refusal counts toward the keypad's lockout.
//   - A remote open (Issuer.RemoteOpen, Lock.HandleRemoteOpen) is signed by
//     the issuer after its own decision, bound to a lock nonce, names the
//     key, the door and a validity of at most two minutes; any relay
//     carries it, and the lock checks the signature, the nonce, the door
//     and, for a key with a slot, its revocations and slot generation
//     before it opens. That a decision yields one frame, and only while
//     the key may unlock, is the backend's guarantee (commands.RemoteOpen):
//     a key without a slot is on no revocation list of the lock.
//   - A passage schedule (Passage, admin message TypePassage) frees doors
//     to anyone during up to four compact periods: Lock.Passage says
//     whether a door is free now on the lock's clock and zone, failing
//     closed when either is unknown, and Lock.OpenFree (the handle) opens
//     only then, persisting an audit record (AuditPassage) before it
//     grants. Anyone can turn a handle, so opens take records only while
//     refusals may (more than AuditReserve places left), then are tallied
//     and written as one record of their count: they never keep a key or
//     an admin message out of the audit, and the door keeps opening;
//     refusals are tallied. A newer schedule replaces an
//     older one, never the reverse. It widens no credential.
//   - A key is suspended and resumed without losing anything (Issuer.Suspend,
//     suspend.go): the lock keeps a 32-entry table of key IDs with their
//     highest change counter and refuses a suspended credential, PIN, card
//     or remote open (KeySuspended); a resume restores it as it was, use
//     count included. Every key of the lock is reset by one message
//     (Issuer.ResetAll, resetall.go): every slot's minimum generation, the
//     PIN, card and suspension tables and the offline codes, behind a
//     sequence-number mark, so no older message brings anything back and
//     keys made afterwards work. Both commute with every other message.
//
// # The life of an unlock
//
// The backend pairs the lock (NewPairing: random lock key and audit key),
// then for each holder issues a credential with Issuer.IssueCredential over
// the holder's public key, and hands the phone a Download: the credential,
// the lock's public key and pending admin messages. Offline at the door, the
// phone asks Lock.Challenge for a nonce, delivers pending admin messages
// (Lock.HandleAdmin), and sends Holder.Unlock's request. Lock.HandleUnlock
// checks it (the order is on that method), counts the use, writes an audit
// record, persists, and answers with a Response MACed under the session key,
// which Holder.ReadResponse verifies. The lock caches the verified credential
// and the session key, so the next unlock needs no public-key operation.
// Later a phone carries Lock.DrainAudit's batch to the backend, which checks
// it with VerifyAudit and returns an AuditAck for the phone to deliver
// (Lock.HandleAuditAck), freeing the lock's records up to it.
//
// PROTOCOL.md documents every byte and holds the threat model: each attack
// real locks fell to, the defence here, and the test that shows it.
//
// Frames larger than a link's writes travel as Fragment pieces and are put
// back together by a Reassembler with a fixed buffer.
package lockproto
