// Package proofs keeps a Merkle tree over the ledger's log (RFC 9162,
// SHA-256) and exports evidence bundles from it: signed tree heads,
// inclusion proofs of single events, consistency proofs between heads.
// Package evidence checks what it exports, offline.
//
// # The tree as an index
//
// Leaf p-1 is the hash of the canonical record bytes of the event at
// position p (ledger.AppendCanonical with the position of the stream's
// previous event), the bytes the ledger's hash chain covers. The tree is a
// derived index in the store's state space, like the read models: Update
// (or Run, which follows the feed) reads the durable log after the tree's
// checkpoint and writes each leaf hash and the hash of every subtree the
// leaf completes (on average two hashes per event), with the stream's last
// position and the checkpoint, in one StateBatch per 4096 events. Stored
// hashes never change once written, so a proof or root for any size up to
// the checkpoint reads O(log n) of them (the library's compact ranges and
// proof node lists, github.com/transparency-dev/merkle), never the log.
// It runs the same on every ledger.Backend (Pebble, PostgreSQL): on a
// store several processes share (a ledger.Leaser), Run writes only while
// it holds the lease "tree". Rebuild deletes the index and replays the log.
//
// # Usage
//
//	tree := proofs.New(stack.Ledger, nil) // any ledger.Backend
//	go tree.Run(ctx)                      // follows the log; Update catches up once
//	// or keyledger.Options{Proofs: true}: stack.Proofs, kept by the stack
//	b, err := proofs.Export(ctx, tree, proofs.Request{Positions: cited, Key: logKey})
//	err = b.Encode(w)                     // evidence.Decode and evidence.Verify read it
//
// Export takes positions, so any answer that cites log positions (who
// could open a door at an instant, say) exports as it stands;
// StreamPositions and TimePositions select by stream or time.
//
// # Keys
//
// Tree heads are signed with an Ed25519 private key the caller supplies.
// It should be a dedicated log key, not the issuer's key: the issuer key
// signs credentials that locks act on, and a signature a verifier checks
// offline must not be one a lock could be made to accept (the signed
// message starts with its own context line anyway); a log key can be
// published, rotated and kept online for signing heads without exposing
// the key that opens doors.
//
// # What is not covered
//
// Records of format 1 (stores upgraded from before the back-pointers) are
// chained without the back-pointer; the tree hashes every event in the
// current canonical form, so for those positions the leaf and the chain
// cover the same fields in different bytes. The tree proves what the log
// holds; it cannot prove an event was not withheld before it was appended.
//
// # Errors
//
// ErrBehind (the index covers fewer events than asked: Update), ErrRange
// (a position or size outside the tree, a bad key), ErrIndex (the stored
// tree is damaged or disagrees with the log: Rebuild), ErrForeignHead (a
// head that is not this log's), each in an *Error; store errors pass
// through unchanged.
package proofs
