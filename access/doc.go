// Package access is the vocabulary the server and the lock share about one
// decision: which door, and why access was granted or refused.
//
// A refusal has one Reason wherever it is decided — by the schedule
// (package policy), by the reference lock (package lockproto) or by the
// server's rules (package commands) — and the same value travels in wire
// frames, in the lock's audit records, in the ledger's events and in what
// apps show. The package imports nothing, so firmware and phone code that
// speak the protocol can use it without the storage side.
//
// # Persistence
//
// Reason codes are sent on the wire and kept in lock audit records; reason
// names are stored in the ledger's events. Both tables are append-only: a
// code or name is never renumbered, renamed or reused. Door numbers are on
// the wire and door sets are stored, with the same bit for the same door.
package access
