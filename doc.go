// Package keyledger is the front door of keyledger, an embeddable library for
// smart-lock backends: Open gives a working stack in one call.
//
// # Usage
//
//	st, err := keyledger.Open(dir, &keyledger.Options{
//		Root: secret.New(rootFromSecretManager), // ≥ 32 random bytes, never stored
//	})
//	defer st.Close()
//	err = st.Commands.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), …})
//	res, err := st.Commands.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), …})
//	status, err := st.Projections.KeyStatus(ctx, "k1", time.Now()) // sees the share
//
// Tests use keyledgertest.New, an in-memory stack with a settable clock.
//
// # Why a front door
//
// A stack used to take five steps: make an event registry, register the
// event catalogue on it, open the ledger with it, open the read models on
// the ledger, and build the command service with the read models and a
// vault. Forgetting a step failed late or not at all. A service built
// without its read models (commands.Options.Projections) works and returns
// as soon as its events are durable, before the read models have applied
// them: a query right after a command may miss it, and nothing says so.
// Open makes the wiring one call, the same for every backend, example and
// test.
//
// # What Open wires
//
//   - the ledger (package ledger) in dir on Pebble, or in memory, with the
//     event catalogue of package events registered;
//   - the read models (package projections), caught up from their checkpoint
//     and following the log;
//   - the command service (package commands), which waits for the read
//     models before a command returns;
//   - with Options.Root, a vault (package secret) whose wrapped data keys
//     live in the ledger's state space (commands.LedgerKeystore) unless
//     Options.Keystore says otherwise.
//
// Options has only what a backend chooses: the clock, the root secret and
// where its keys live, the randomness, the password cost, the issuer of
// offline credentials, the read models' batch size, and whether to keep
// the as-of index (Stack.AsOf) and the Merkle tree for evidence
// (Stack.Proofs) following the log. Anything else (a
// crash-testing filesystem, a read-only ledger for inspection tools) means
// opening the layers one by one, as Open does.
//
// # Guarantees
//
// Those of the layers, now holding together:
//
//   - Durability: a command returns only after its events are synced to the
//     write-ahead log; one command's events are one atomic append.
//   - Read-your-writes: when a command returns, every query of
//     Stack.Projections sees its effects.
//   - Idempotency: a command ID executed again returns the first outcome and
//     appends nothing (commands.NewID makes IDs; reuse one on retry).
//   - Recovery: after a crash Open replays what reached the disk; nothing
//     acknowledged is lost, and the read models resume from a checkpoint
//     that matches their rows and apply the rest.
//   - Secrets: share codes and PINs are stored as keyed hashes, passwords as
//     argon2id hashes, sealed secrets under their own data keys, which a
//     shred destroys; no secret is in the log in plaintext.
//   - Close stops the read models before it closes the ledger.
//
// # Errors
//
// Open returns ErrInvalidOptions (every problem joined with errors.Join,
// each naming its field) before it opens anything, and otherwise the
// ledger's, the vault's or the read models' errors, wrapped; on error
// nothing stays open. The stack's own methods return their packages' typed
// errors (errors.Is, errors.As).
package keyledger
