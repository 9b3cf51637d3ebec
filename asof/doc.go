// Package asof answers questions about the past (and the future) from the
// log: who could open a door of a lock at any instant, every door an
// account could open during a range, and the read models exactly as they
// stood at any log position. Lock platforms keep a key list for now and
// an activity log; only an event-sourced ledger can answer these.
//
// # Usage
//
//	x, err := asof.Open(st.Ledger)   // follows the log, like the read models
//	defer x.Close()
//	ans, err := x.WhoCouldOpen(ctx, "front", access.MainDoor, when)
//	for _, o := range ans.Openings { fmt.Println(o.Account, o.Key, o.Since, o.StillAtLock, o.Positions) }
//	acc, err := x.CouldOpen(ctx, "ann", from, to) // intervals per lock, door and key
//
//	rm, err := asof.ReadModelsAt(ctx, st.Ledger, pos) // projections as of pos, in memory
//	defer rm.Close()
//	keys, err := rm.KeyList(ctx, "front", when)
//
// # As of an instant
//
// An answer at instant T reads the events recorded up to T: the log from
// its first event up to (not including) the first event recorded after T
// (PositionAt). With clocks that never go back, that is every event with
// a time at or before T; the prefix form keeps every answer a state that
// some reader of the log saw. For T in the future, the whole log as it
// stands answers, with the schedules evaluated at T.
//
// # What "could open" means
//
// Account A could open door D of lock L at T through key K when, in the
// log as of T:
//
//   - K is a key of L whose doors include D (a door L has);
//   - A is K's opener: its holder once downloaded, before that the
//     account it was delivered or shared to by ID (a code bearer opens
//     only once it downloaded the key);
//   - the commands' rules allow an unlock in K's lifecycle state
//     (commands.Allows: a share or intercom key once downloaded, a digital
//     key from its delivery), or StillAtLock below;
//   - K's policy, with the lock-wide blackouts of then, grants T with the
//     use count recorded by then (package policy decides, as the commands
//     do) — its dated periods included, and an expiry after first use
//     counted from the first use recorded by then (the earliest granted
//     unlock, or lock's time of an offline use an audit counted, that the
//     log holds by then: an audit uploaded late may move it earlier;
//     policy.Policy.FirstUsed).
//
// StillAtLock: a key reset, revoked, deactivated or deleted before T
// still opens at the lock until the lock hears of it. When its removal
// had not reached the lock by T (events.AtLock: removing, or refused by
// the lock) and its credential had not ended on its own
// (Opening.OpenUntil), it is an answer, marked StillAtLock; its schedule
// still applies (the credential carries it). This is the exposure window
// the read models show as "revoked, still open at the lock until …".
//
// Suspended keys: a key suspended at T (commands.Service.SuspendKey) is no
// answer, except that one holding a credential, PIN or card at its lock
// (events.AtLock pending or applied) is an answer marked StillAtLock until
// the lock's audit shows the suspend message applied (the lock stream's
// AdminApplied; a refused message leaves it open there) or its credential
// ends. A reset of every key of a lock revokes each key (KeyRevoked), so
// the rule for keys taken away applies to it.
//
// The lock-wide blackouts are those of T, applied to every key as the
// commands apply them to online decisions; an offline credential issued
// before they were set carries the blackouts of its issuance instead, so
// at the lock it may open during a newer blackout.
//
// Online keys are used through the lock group's online unlock, which the
// server decides at each attempt with the member's password. Account A
// could open door D of lock L at T through online key K (an answer marked
// Online) when, in the log as of T: L's network management was on and its
// operating duration not over at T; A was an accepted member of L's group
// for K, permitted to unlock, and not locked out at T (a lockout from
// wrong passwords ends at its instant); D (the main or the inner door) is
// among K's doors, A's permitted doors and L's doors; K was neither
// deleted nor revoked; and K's policy, with the lock's blackouts of then,
// grants T with the online uses counted by then. Knowing the password is
// assumed: the answer is who the server would let in with it. The group's
// events are cited with the key's (network management's start, the
// invitation, its acceptance, the last permissions, a lockout that ended).
//
// Passage mode: a door is free to anyone at T, no key needed, when a
// passage schedule that could be in force at the lock then frees D at T (a
// period's policy grants T). A schedule reaches the lock as an admin
// message (events.AdminIssued, type passage) and is in force there once
// applied; the lock's audit shows that (the lock stream's AdminApplied),
// and the lock replaces its schedule only by a higher sequence number. So,
// in the log as of T: the schedule of the highest message the audit showed
// applied is the lock's, and answers first; while a newer schedule was set
// and not yet shown applied, it is marked StillAtLock and also cites the
// newer one. Otherwise the latest schedule set (the last lock.passage_set
// recorded by T), when the audit had not shown it applied, answers marked
// NotYetAtLock: a phone may have delivered it already, and "could open"
// must leave out no door that may have been free, as a key counts from its
// delivery and until its removal reaches the lock. A schedule set with no
// issuer never reaches the lock: it stays NotYetAtLock. DoorAnswer.Passage
// says so, with the periods, since when, and the events it rests on (set
// event, messages, AdminApplied; also in DoorAnswer.Positions). It is no
// key and names no account, so it is not an Opening, and CouldOpen (an
// account's doors) never includes it. Like keys, it follows the schedule
// as recorded; the lock's compact form may free the door for less time
// (events.PassageSet.Narrowed).
//
// # Guarantees
//
//   - WhoCouldOpen(L, D, T) equals replaying the log to T and asking the
//     policy at T (property-tested against a brute-force replay).
//   - CouldOpen(A, T1, T2) gives maximal intervals, and an instant of
//     [T1, T2) is in one exactly when WhoCouldOpen at that instant names
//     A through that key (tested minute by minute against the replay).
//     The intervals read the log as of T2, so a key's whole history up to
//     then is used; instants between events use the state the last event
//     before them left.
//   - Every answer cites the events it rests on as plain log positions
//     (Opening.Positions, DoorSpan.Positions, and the union in the
//     answer), each at most the answer's Position: what an inclusion proof
//     of the log can prove.
//   - ReadModelsAt(pos) equals a fresh rebuild of the log truncated at pos
//     (tested with projections.Compare), in a state space of its own in
//     memory: the live read models and the log are never written.
//   - Queries first wait for the index to apply the log's durable head, so
//     they see every acknowledged append (read-your-writes).
//
// # Costs
//
// The Index holds, in memory, every version of every key (one per
// lifecycle change, edit or sync at the lock), every use count, each
// lock's blackouts, every version of each lock group (a copy of its
// members per group event), and 8 bytes per log position (the running latest
// event time). A query at an instant picks each key's version by binary
// search: for a lock with 1,000 keys it takes a few milliseconds (see
// BENCHMARKS.md, "As-of queries"). ReadModelsAt costs a rebuild of the
// prefix.
//
// # Errors
//
// Bad input is typed: *NotFoundError (ErrNotFound) for an unknown lock,
// door or account, *RangeError (ErrRange) for a range that ends before it
// starts or is longer than MaxRange (a year and a day), *PositionError (ErrBeyondHead) for a position past the log
// head. ErrClosed after Close. Errors of the log pass through.
package asof
