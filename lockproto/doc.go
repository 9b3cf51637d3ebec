// Package lockproto is the wire protocol between phones, locks and the
// backend, and a reference lock that enforces it. It depends on no storage:
// the backend (package commands) records what it issues and what comes back.
//
// Every frame starts with a version byte and a type byte, and has a fixed
// little-endian layout documented byte by byte in PROTOCOL.md.
//
// # Guarantees
//
//   - An offline credential (Credential, at most 160 bytes) is signed by the
//     issuer with Ed25519; no byte of it can change without the lock noticing.
//     It binds the lock, the slot and its generation, the doors, the role,
//     the compact schedule (policy.Compact) and the holder's X25519 key.
//   - An unlock answers a fresh 16-byte random challenge, single use, alive
//     30 s, at most 4 outstanding. The proof is an HMAC under a key only the
//     holder and this lock can derive (X25519 of the holder key and the
//     lock's random key, through HKDF); it covers the version, type, lock,
//     nonce, door and credential ID, so it cannot be replayed, moved to
//     another lock or door, or relabelled as another version. A full request
//     fits one BLE write at MTU 185 (at most 181 bytes).
//   - The lock decides on its own clock, set only by issuer-signed time syncs
//     bound to its nonce, and on its own use counters. It fails closed when
//     it does not know the time, or, for credentials with weekly windows, its
//     UTC offset. The phone's clock is never used.
//   - Reset, deactivation, revocation, time sync and time-zone rules are
//     issuer-signed admin messages any phone can deliver; all but the time
//     sync carry a sequence number the lock only lets increase.
//   - The lock writes every decision as an audit record with a sequence
//     number, its time and an HMAC chained to the previous record under a
//     per-lock audit key; VerifyAudit lets the backend check and ingest them
//     idempotently and detect missing ones.
//   - Decoders never panic, never read past their input and never allocate
//     (except DecodeDownload's list); MACs are compared in constant time.
//   - Failed attempts back off exponentially after 5 in a row.
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
// record, and answers with a Response MACed under the session key, which
// Holder.ReadResponse verifies. The lock caches the verified credential and
// the session key, so the next unlock needs no public-key operation. Later a
// phone carries Lock.DrainAudit's batch to the backend, which checks it with
// VerifyAudit.
//
// Frames larger than a link's writes travel as Fragment pieces and are put
// back together by a Reassembler with a fixed buffer.
package lockproto
