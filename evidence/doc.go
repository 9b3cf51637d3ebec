// Package evidence reads and checks keyledger evidence bundles offline. It
// is the verifier a third party vendors: it imports the standard library
// and github.com/transparency-dev/merkle (RFC 9162 hashing and proof
// checks) only, never the ledger, Pebble or a database driver.
//
// # What a bundle proves
//
// A keyledger log is a sequence of events at positions 1, 2, 3, … Beside
// its hash chain the ledger keeps a Merkle tree over it (package proofs):
// leaf p-1 is SHA-256(0x00 || the canonical record bytes of the event at
// position p), the bytes the chain hashes (see Record), so a leaf binds the
// event's position, stream, version, ID, time, type and payload. The
// operator signs tree heads (size, root, time) with the log key, an
// Ed25519 key of its own. A bundle holds some events, each with its
// inclusion proof under one signed head, and optionally consistency proofs
// from earlier heads. Verify checks, without the ledger:
//
//   - the head's signature under the log key the verifier was given (the
//     key the bundle names proves nothing by itself);
//   - each event: its record bytes parse, its summary and position say
//     what they do, and its inclusion proof leads to the head's root;
//   - with a head the verifier already trusts: the bundle's head is it, or
//     a consistency proof in the bundle shows the log grew from it without
//     rewriting anything (a log shown differently to two parties cannot
//     pass both).
//
// It does not check the rendering of a payload (Event.Data) nor any note:
// only the payload's SHA-256 in the summary is bound to the record. A
// decoder of the msgpack payload shows what the record holds ('keyledger
// evidence verify' decodes it and refuses data that renders anything else).
//
// # Lock audit records
//
// A lock keeps its own audit trail, each record tagged with an HMAC under
// an audit key that only the lock and the ledger hold, chained through the
// previous record's tag. The ledger checks the tags when a phone uploads
// them and records each as an event ("lock.audit_recorded", stream
// "lockaudit-<lock>") holding the record's fields and its tag. An exported
// event the lock confirmed (an admin message it applied, offline unlocks
// it counted) lists those audit events in ConfirmedBy, and they are in the
// bundle with their own proofs; Verify refuses a ConfirmedBy that names
// any other kind of event. Without the audit key a third party can
// check that the ledger recorded those audit records in the signed log, in
// that order, with those tags; it cannot check that the lock made them (a
// tag is a MAC, not a signature) — the lock's owner, holding the key and
// the lock's own trail, can recompute the tags and compare. The event keeps
// the record's decoded fields, not its 26 bytes (an unverified record's
// slot, for one, is not kept), so tags are recomputed from the lock's copy.
//
// # A question and its answer
//
// A bundle may say which question it answers (Bundle.Question, from
// version 2): "who could open the main door of lock front at T", say, the
// answer's lines, and the log positions the answer cites, every one an
// event of the bundle. The log key signs the question with the bundle's
// head, so Verify refuses a question, answer or citation altered after
// export. What is proved is that the operator gave this answer from that
// log and that every cited event is in it; whether the answer follows
// from the events is the exporter's rule (package asof), which a reader
// can check against the events' data.
//
// # Format, versions 1 and 2
//
// A bundle is one JSON object (at most MaxBundleSize bytes):
//
//	{
//	  "format":  "keyledger/evidence",
//	  "version": 1,
//	  "head": {"size": N, "root": HEX32, "time": RFC3339,
//	           "key": HEX32 (Ed25519 public), "signature": BASE64},
//	  "consistency": [{"from_size": M, "from_root": HEX32, "proof": [HEX32, …]}, …],
//	  "events": [{
//	    "position": P,
//	    "record":   BASE64 canonical record bytes,
//	    "summary":  {"position", "stream", "version", "id", "type", "schema",
//	                 "time", "prev", "payload_sha256"},
//	    "data":     any JSON (not verified),
//	    "proof":    [HEX32, …] (RFC 9162 inclusion proof of leaf P-1),
//	    "confirmed_by": [positions of events in this bundle],
//	    "note":     text (not verified)
//	  }, …],
//	  "question": {"ask": text, "answer": [text, …],        (version 2 only)
//	               "positions": [P, …], "signature": BASE64}
//	}
//
// The head's signature covers Head.Message: "keyledger/tree-head v1\n",
// size and time in Unix nanoseconds (8 bytes big-endian each), root.
// A question's signature covers Question.Message: "keyledger/question
// v1\n", the head's size, time and root as above, then the question, its
// answer lines and its positions, each length-prefixed. Unknown fields
// are refused; a later version adds fields and bumps the version, and
// this decoder refuses versions it does not know. Version 2 added the
// question; a bundle without one is written as version 1.
//
// # Errors
//
// Every failure is an *Error matching one sentinel: ErrFormat (malformed
// bundle), ErrKey (no key, or the head names another), ErrSignature,
// ErrRecord (record bytes or summary), ErrInclusion, ErrConsistency.
package evidence
