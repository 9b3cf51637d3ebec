// Package secret is keyledger's one place for secrets: sealing with
// crypto-shredding, share codes, PINs and passwords.
//
// # Usage
//
//	v, err := secret.NewVault(&secret.Options{
//		Root:     secret.New(rootFromSecretManager), // ≥ 32 random bytes, never in the ledger
//		Keystore: commands.NewLedgerKeystore(l),     // l is the *ledger.Ledger
//	})
//	sealed, err := v.Seal(ctx, masterCode, []byte("lock-7/network"))  // goes in the event
//	code, err := v.Open(ctx, sealed, []byte("lock-7/network"))
//	err = v.Shred(ctx, id)                                              // Open now fails: ErrShredded
//
// # Keys
//
// The embedding backend supplies one root secret (Options.Root). HKDF-SHA256
// derives from it, per purpose: the key-encryption key that wraps data keys,
// the HMAC key for share codes and the HMAC key for PINs. No production key is
// in the code; tests and examples use fixed test roots. Rotating the root is
// not supported yet (the wrapped-key and sealed layouts carry a version byte
// for it).
//
// # Sealing and crypto-shredding
//
// The log is append-only, so a secret that must be erasable (the master code
// of a lock under network management, a member's password hash, a PIN waiting
// to be e-mailed) is never written to it in plaintext. Seal draws a fresh
// random 256-bit data key for that one secret, stores it in the Keystore
// wrapped under the root-derived key (so the keystore alone opens nothing),
// and returns the secret encrypted with ChaCha20-Poly1305:
//
//	version(1) = 1 | key ID(16) | nonce(12) | ciphertext | tag(16)
//
// with the header and the caller's associated data authenticated. Open fetches
// and unwraps the data key. Shred deletes it: every later Open of anything
// sealed under it returns ErrShredded (the keystore keeps a small shred record
// so this is distinguishable from ErrUnknownKey), and the ciphertext left in
// the log can never be opened again, by anyone, including the holder of the
// root secret.
//
// A data key is stored before the event that carries its sealed value is
// appended. If that append never happens (a failed or retried command) the
// key is an orphan: it opens nothing that was ever stored, and costs 61 bytes.
//
// # Where data keys live
//
// A Keystore holds the wrapped data keys; this package imports no storage.
// A keyledger stack (keyledger.Open) keeps them in the ledger's state space
// with commands.LedgerKeystore, whose documentation says what "destroyed"
// means on Pebble and what bytes remain on disk after a shred; tests use
// MemKeystore. Every keystore passes secrettest.RunKeystore.
//
// What protects the leftovers of a shred: a leftover is a wrapped key,
// useless without the root secret, which is never stored with the keys. So
// recovering a shredded secret needs both a copy of the keystore from before
// the shred and the root. Backups taken before a shred keep it recoverable
// with the root: that is inherent to backups, and why the root belongs in a
// secret manager.
//
// # Share codes
//
// NewCode draws 12 Crockford base32 characters (60 bits) from crypto/rand;
// callers never choose a code. The ledger stores HashCode(code), an
// HMAC-SHA256 under a root-derived key: deterministic, so redemption is an
// index lookup by hash, and a fast hash is right because a 60-bit random code
// cannot be guessed offline (2^60 HMACs) even without the key, while the key
// makes even that impossible without the root. A slow salted hash buys nothing
// here and would forbid the index. CheckCode compares in constant time.
//
// # PINs
//
// A PIN of 4–6 digits has at most a million values: any unkeyed hash, salted
// or slow, is brute-forced by trying them all (a salted SHA-256 in well under
// a second; even argon2id at 50 ms in about 14 core-hours), and a per-PIN salt
// would also make "is this PIN unique on the lock" a scan over every hash.
// HashPIN is HMAC-SHA256 under a root-derived key with the lock ID mixed in:
// deterministic within a lock (uniqueness is one index lookup), unrelated
// across locks, and useless to an attacker who has the database but not the
// root. What protects PINs is therefore the root secret held outside the
// database, plus the lock's own attempt limits. The PIN itself must reach its
// user (an outbox e-mail): seal it, open it when delivering, shred it after.
//
// # Passwords
//
// HashPassword is argon2id with a random per-password salt; the parameters
// are recorded in the PHC string so NeedsRehash can tell when to upgrade.
// DefaultPasswordParams follows OWASP's minimum m=19 MiB, t=2, p=1.
// VerifyPassword always pays the full cost and compares in constant time.
// A Vault bounds concurrent argon2id runs (MaxConcurrentHashes) so a burst of
// logins cannot allocate 19 MiB per caller without limit.
//
// # Redaction
//
// Secret's String, GoString, Format (every verb), LogValue print
// "[REDACTED]"; its MarshalJSON, MarshalText, MarshalBinary and MarshalMsgpack
// fail with ErrNotSerializable, so a Secret put in an event by mistake stops
// the append instead of leaking. Error messages name lengths, positions and
// key IDs, never secret bytes.
package secret
