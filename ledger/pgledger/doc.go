// Package pgledger is keyledger's event ledger on PostgreSQL: the storage
// roles of package ledger (Log, Feed, StateStore, Verifier) for a vendor
// running more than one backend process. Any number of processes open the
// same database and share one log, with the guarantees of the ledger on
// Pebble and the same hash chain, so a digest exported from one backend
// checks on the other for the same events.
//
// # Usage
//
//	reg := ledger.NewRegistry()
//	reg.Register("key.granted", 1, KeyGranted{})
//	s, err := pgledger.Open(ctx, "postgres://app@db:5432/locks", &pgledger.Options{Registry: reg})
//	res, err := s.Append(ctx, "key-42", ledger.ExpectNoStream, ledger.NewEvent{ID: id, Data: KeyGranted{...}})
//	for ev, err := range s.Subscribe(ctx, "key-list") { ... } // one process at a time per name
//
// It needs PostgreSQL 11 or later (the SQL function sha256); CI runs it on
// PostgreSQL 15.
//
// # When to choose it
//
// The ledger on Pebble is the default: embedded, nothing to run, and
// several times this backend's append throughput on one machine (see the
// benchmarks in this package, run beside it). Choose PostgreSQL when one
// process is not enough: several backend instances for availability,
// deploys without downtime or load, all serving the same locks; or when
// operations already run PostgreSQL (backups, replicas, monitoring) and
// want the ledger there.
//
// What bounds it: every append of every process takes one lock, held
// through its COMMIT's WAL flush. Appends arriving meanwhile share the next
// transaction, so the log commits about (appends per batch) / (flush time
// + the server's work on a batch) appends a second. More processes do not
// add flushes in parallel: they split the appends into smaller batches,
// and the lock passes between server processes for each, so several
// processes together commit fewer appends than one with as many callers
// (see BENCHMARKS.md for the figures, beside the same turns taken with
// pgx alone).
//
// # Appends: one lock per batch
//
// Positions are global and gap-free, and each event's chain hash depends
// on the one before, so appends are serialised by one transaction-level
// advisory lock per ledger (its schema). A lock per append would serialise
// every caller's round trips and WAL flush; instead each Store has one
// committer goroutine that gathers the appends queued while its previous
// transaction ran and commits them together. The general way takes two
// round trips:
//
//  1. BEGIN; pg_advisory_xact_lock; read the log's head (its last position
//     and chain hash), the heads of the streams in the batch, and the
//     stored events with the batch's event IDs.
//  2. Check each append in queue order against what was read and what the
//     appends before it in the batch did: a retry of a stored append gets
//     the stored result, a failed expected version its *ConflictError,
//     reused IDs ErrDuplicateID or *IDReusedError (none of these affects
//     the others); assign positions and versions; compute each chain hash
//     in Go (ledger.AppendCanonical, ledger.ChainHash); then INSERT the
//     rows (one array of the table's row type, unnested in one function
//     scan; a single event as plain values) and COMMIT, and NOTIFY after
//     it, pipelined.
//
// Every statement of step 1 after the lock takes its snapshot after the
// lock is granted, so it sees every append committed before. Event IDs are
// looked up under the lock, in the round trip that takes it, rather than
// before: that costs no extra round trip, and a lookup before would have to
// be repeated under the lock anyway. UNIQUE(id) and UNIQUE(stream, version)
// are the backstop should a writer ever skip the lock. An append whose IDs
// were accepted earlier in the same batch (the same append sent twice at
// once) waits for the next batch, where it is a retry.
//
// Most batches skip the reads: the committer keeps a view of the log (the
// head and chain hash it last read or wrote, and the heads of the streams
// it read or wrote), checks the batch against it and sequences it there,
// and sends, in one round trip, BEGIN, the lock, one statement that writes
// the rows only if the view still holds where the batch depends on it,
// COMMIT and NOTIFY. Only if every append is accepted on the view: a
// conflict, a retry or a repeated ID goes the two-trip way, which decides
// it on what it reads. That statement is one of two:
//
//   - while no other process appends, an INSERT guarded by the view being
//     exact: the head is still the one it knows, no event ID of the batch
//     is stored, and no stream it does not know has events;
//   - once another process's append has been seen, until 64 batches in a
//     row find the head where this process left it, the server function
//     append_rebased, which lets the head have moved: under the lock it
//     checks the IDs, the streams the view does not know and the versions
//     of those it knows, then writes the rows after the current head,
//     moving positions and back-pointers and computing the chain hashes
//     again (SHA-256 in SQL over the canonical bytes this side encodes).
//     In this mode the committer first waits for the lock (BEGIN and the
//     lock, a round trip of their own) and only then seals the batch,
//     taking in the appends that queued while other processes held it: a
//     turn at the lock commits about twice the appends, for one round trip
//     under it. A wait that found nothing queued (the lock was free) pauses
//     this for the next 8 batches, so a lone append costs one round trip.
//
// If the view does not hold, nothing was written and the batch goes the
// two-trip way; after append_rebased found it wrong (a stream it knew
// moved by another process, a stored event ID, a stream it did not know
// with events), the committer keeps to two trips for 16 batches.
//
// The log has no derived tables: a stream's head is its highest version
// and the log's head its highest position, each one descent of an index
// the constraints need anyway. Tables of stream heads and of the log head,
// written by every append, made the append transaction slower and left
// more to verify.
//
// # Guarantees
//
// Durability: an append or ApplyState returns after its COMMIT, which with
// the server's synchronous_commit on (the default; Open logs a warning if
// it is off) means its WAL is flushed; committed is durable, and every
// reader, in any process, sees it.
//
// Atomicity and ordering: an append is in one transaction. Positions
// follow commit order without gaps, and so does visibility: the advisory
// lock is released only after the commit is visible, so a snapshot that
// sees position p sees every position before it.
//
// Concurrency, idempotency, conditions, invalid arguments and limits: as on
// the ledger on Pebble (see package ledger); the conformance suite
// ledgertest.Run checks them, with a second Store on the same database
// standing for a second process.
//
// # Failures and retries
//
// The caller learns what may have happened (see ledger's Retries):
//
//   - ledger.ErrUnavailable: the server could not be reached, or the
//     connection broke or the server ended the session before the COMMIT
//     was sent (nothing written; call again);
//   - ledger.ErrUnknownOutcome: the connection broke or WriteTimeout passed
//     after the COMMIT was sent; repeat the append with the same event IDs:
//     if it committed, the retry returns its result, else it appends;
//   - the caller's context ended: while the append waited in the queue, it
//     is withdrawn and the error wraps ctx.Err() alone; once a batch took
//     it, the error wraps ctx.Err() and ErrUnknownOutcome (the batch goes on
//     for the others, and may commit it).
//
// After any error the committer closes its connection and opens a new one
// for the next batch, so it recovers from a server restart by itself.
//
// # Reads and the feed
//
// Reads decode through the Registry exactly as the ledger on Pebble does.
// ReadAll reads up to the head at its start, in chunks of 1024 events read
// whole before any is yielded (no connection is held while a loop body
// runs). Follow reads position > n in chunks; once caught up it waits for a
// notification (each store LISTENs on one connection; appends NOTIFY the
// new last position) or PollInterval, whichever comes first, and reads
// again: a lost notification delays an event by at most PollInterval and
// never loses it. A store that finds no other store listening (it looks
// every PollInterval) skips the NOTIFY: it knows its own commits, and a
// store that starts listening is noticed within PollInterval. Follow rides
// out an unreachable server, logging and trying again every PollInterval;
// FollowRaw is Follow without decoding (ledger.RawFeed), for the read
// models, which decode into memory they reuse. DurablePosition is what this store
// knows to be committed: its own appends, events it read, notifications
// and polls; WaitDurable asks the server before it waits.
//
// # Subscribers' leases
//
// Subscribe(name) holds a lease while it runs: a session advisory lock,
// keyed by the schema and name, on a connection of its own, through which
// it also reads. A second Subscribe of the name, in any process, waits
// (trying every PollInterval) until the holder's iteration ends or its
// connection closes, then resumes after the checkpoint the holder stored.
// Two processes never apply the same events at the same time; delivery is
// at least once, as on Pebble (events after the last checkpoint are
// delivered again to the next holder).
//
// Lease(name) (ledger.Leaser) takes the same lock without reading, for a
// subscriber that follows the log itself, as the read models do: it
// returns a context that ends when the lease is lost (its connection is
// pinged every PollInterval) or released. An ApplyState under that context
// whose batch sets the checkpoint name runs in the lease's own session, so
// it commits only while the lock is held: a holder cut off from the server
// can never write after another process took over (fencing, tested by
// terminating the holder's session).
//
// A lease ends by unlocking, before its release (or the iteration) returns,
// so it can be taken again at once: a rebuild gives up and takes its lease
// twice. The session is kept, idle, for the next lease of the Store (at
// most two such sessions per Store, each for at most a second of idling),
// which starts without a connection to set up.
//
// # State
//
// ApplyState runs a StateBatch's operations in order in one transaction;
// a batch with SetNoSyncWait(true) sets synchronous_commit off for its
// transaction only: atomic and visible at once, and a server crash may lose
// the newest such batches, whole. Checkpoints are a table beside the state.
//
// # Erasure (crypto-shredding)
//
// Deleting a state row (a key that decrypts personal data) removes it from
// what the database returns at once. It does not remove it from:
// PostgreSQL's write-ahead log until the segment is recycled, WAL archives
// (point-in-time recovery), base backups, physical and logical replicas and
// their own WAL and backups, and the table's pages until VACUUM reclaims
// the dead row version and the space is overwritten. CompactState runs
// VACUUM on the state table, which removes dead row versions no
// transaction can still see; it cannot reach the rest. On this backend,
// erasure within a deadline therefore means: the retention of WAL
// archives, backups and replicas bounds how long a deleted key survives,
// and an operator must set it accordingly (or encrypt those copies with
// keys rotated on that schedule). The ledger on Pebble, embedded, keeps
// fewer copies (see package ledger).
//
// # Verification
//
// Head reads the last event. Verify reads the whole log in one repeatable
// read snapshot, recomputing the chain and checking each stream's versions
// and back-pointers; the table's constraints keep IDs and stream versions
// unique. Events cut from the end of the log leave a shorter, consistent
// log, as on Pebble: CheckDigest against a digest exported earlier (from
// either backend) finds them.
//
// # Tables
//
// In Options.Schema (default "keyledger"), created and migrated by Open
// under a session advisory lock, with the applied migrations in
// schema_version. A database migrated by a newer version is
// ledger.ErrUnknownFormat to an older one: processes already running keep
// working while a newer one migrates at its Open, but an older process
// started afterwards refuses the database, so a deploy rolls forward.
//
//	events          position PK, stream, version, id UNIQUE, type, schema, time (Unix ns),
//	                payload (msgpack), prev_pos, hash, append_first, append_last;
//	                UNIQUE (stream, version)
//	checkpoints     name PK, position
//	state           key PK, value                   bytea, ordered bytewise
//	append_rebased  the function that writes a batch past other processes' appends
//
// Each event row holds what its canonical record bytes are made of, so the
// chain is recomputed from the rows alone; append_first and append_last
// let a retry be told from a partial overlap. Advisory locks use the
// two-key form: class 0x6b6c6101 (appends), 0x6b6c7301 (leases),
// 0x6b6c6d01 (migrations), then a key derived from the schema (and the
// subscriber's name). Applications sharing the database must not use those
// classes.
//
// # Connections
//
// A pgxpool of Options.MaxConns for reads and state, plus one connection
// each for the committer (which loads the events row type when it
// connects), the listener, every running Subscribe and every Lease held,
// and up to two idle sessions per Store for a second after leases end
// (see "Subscribers' leases"). The DSN is pgx's (a
// postgres:// URL or key=value pairs); the query exec mode must describe
// statements (the default does), since reads parse binary results.
//
// # Observability
//
// Through Options.Logger (log/slog; nil logs nothing), never with a
// payload or state value:
//
//	Error  an append transaction failed (err, appends, first, last); rate-limited
//	Warn   the server was unreachable for the listener or a Follow (op, err); rate-limited
//	Warn   Verify or CheckDigest found damage or could not finish (as the ledger on Pebble)
//	Warn   at Open: synchronous_commit is off
//	Info   a subscriber waits for its lease, or took it over (subscriber)
package pgledger
