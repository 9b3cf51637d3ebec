// Command keyledger inspects a keyledger directory — the Pebble directory
// an embedding backend passes to ledger.Open — without writing code: check
// the hash chain, read raw events, look at a lock's, key's or account's
// history, list keys with their status at an instant, and check (or redo)
// the read models.
//
// # Usage
//
//	keyledger verify  [-digest POS:HASH] DIR
//	keyledger events  [-from POS] [-n COUNT] [-tail COUNT] DIR
//	keyledger history (-lock ID | -key ID | -account ID) [-since T] [-until T] [-n COUNT] [-tz ZONE] [-by-position] [-json] [-replay] DIR
//	keyledger keys    (-lock ID | -owner ID | -holder ID) [-at T] [-tz ZONE] [-json] [-replay] DIR
//	keyledger rebuild [-write] DIR
//	keyledger access  (-lock ID [-door D] [-at T] | -account ID -since T1 [-until T2]) [-tz ZONE] [-json] DIR
//	keyledger evidence keygen FILE
//	keyledger evidence export -key FILE (-positions P,Q,… | -stream NAME | -since T [-until T] |
//	                          -lock ID [-door D] [-at T] | -account ID -since T1 [-until T2])
//	                          [-trusted BUNDLE] [-o OUT] [-write] DIR
//	keyledger evidence verify -key PUBHEX [-trusted BUNDLE] BUNDLE
//	keyledger help [COMMAND]
//
// DIR may also be a PostgreSQL DSN (postgres://user@host:port/database):
// the commands then inspect the ledger a pgledger store keeps in that
// database, in the schema KEYLEDGER_PG_SCHEMA names (default "keyledger").
// A database without one is refused, and nothing is created. The read
// models there are shared by running servers, so history and keys always
// answer from a copy in memory, and 'rebuild -write' waits for the
// servers' lease on them (stop the servers first).
//
// Times (T) are RFC 3339, such as 2026-03-02T09:00:00Z. Flags go before
// the directory. Every command takes -h (or -help, --help); 'keyledger help
// COMMAND' prints the same.
//
// # Commands
//
// verify recomputes every record's hash and the chain and prints the head
// digest (POS:HASH); with -digest it proves that the log still begins with
// the history a saved digest covers.
//
// events prints events as JSON lines with their payloads as stored, so it
// reads logs whose event types this build does not know.
//
// history prints every action and unlock attempt (granted, or denied with
// the reason) of one lock, key or account in a time range [since, until),
// oldest first by time (a record the lock made offline at the lock's time;
// -by-position: each UTC day in log order), as an aligned table or, with
// -json, JSON lines.
//
// keys lists the keys of a lock, of an owner or of a holder with the status
// package policy computes at -at (default now): ACTIVE, UPCOMING, EXPIRED,
// EXHAUSTED or REVOKED, plus the lifecycle and sharing state, uses and the
// use limit, validity and the next open window. -at moves the schedule's
// clock only: lifecycle state and uses are those at the log head. An online
// key whose lock's network management is off at -at is not open: its next
// open window reads "network off" (network_off in JSON).
//
// rebuild replays the whole log into read models in memory and compares the
// stored read models with them row by row, printing the first difference;
// with -write it rebuilds the stored read models in place.
//
// access answers from the log (package asof) who could open a door of a
// lock at an instant, or every door an account could open during a range,
// each answer citing the log positions it rests on.
//
// evidence export writes an evidence bundle (package evidence) of events
// chosen by position, stream or time, or of the events an access answer
// cites (-lock or -account: the bundle then holds the question and the
// answer, signed with the head), with the lock audit records that
// confirm them, under a tree head signed with a log key that evidence
// keygen makes; evidence verify checks a bundle offline with the log's
// public key, and with -trusted that the log only grew since an earlier
// bundle. export builds the part of the Merkle tree index (package proofs)
// the ledger lacks in memory, or stores it with -write.
//
// # Read-only guarantee
//
// Every command except 'rebuild -write' and 'evidence export -write' opens the directory read-only
// (ledger.Options.ReadOnly): Pebble writes nothing and the ledger refuses
// every write, so the directory is left byte for byte as it was (the tests
// check every file). history and keys need read models at the log head; if
// the stored ones are behind it — a process stopped before its projections
// applied the last events — they are copied into an in-memory state space
// and caught up there; if there are none (or with -replay), the whole log is
// replayed in memory. A note on stderr says so. The answer is always that
// of the log head.
//
// A directory another process has open (a running backend) is locked: the
// commands then fail with "locked by another process" rather than read a
// moving target.
//
// # Exit status
//
// 0 on success; 1 when the ledger cannot be read, an ID is unknown or the
// stored read models differ from a rebuild; 2 for bad usage (flags, times,
// arguments); 3 when verify finds a broken record or chain link. Errors are
// one line on stderr, naming the offending value.
package main
