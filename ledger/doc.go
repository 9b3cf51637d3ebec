// Package ledger is keyledger's append-only, durable, verifiable event log on
// Pebble, with a mutable key/value state space beside it. It knows no domain.
//
// # Usage
//
//	reg := ledger.NewRegistry()
//	reg.Register("key.granted", 1, KeyGranted{})       // names are persisted: never reuse one
//	l, err := ledger.Open(dir, &ledger.Options{Registry: reg})
//	res, err := l.Append(ctx, "key-42", ledger.ExpectNoStream,
//		ledger.NewEvent{ID: id, Data: KeyGranted{...}})
//	for ev, err := range l.ReadStream(ctx, "key-42", 0) { ... }
//	for ev, err := range l.Subscribe(ctx, "key-list") { ... } // then ApplyState with SetCheckpoint
//
// # Guarantees
//
// Durability: Append, AppendMulti and ApplyState return only after their
// Pebble batch is synced to the write-ahead log. Concurrent appenders share
// syncs (group commit): records are encoded and caller IDs looked up first;
// then a sequencer lock is held while an append's expected versions are
// checked, positions and versions written into its records, the hash chain
// extended and the batch applied with Pebble's ApplyNoSyncWait; it is
// released before the fsync, which the appender then waits for with the
// others. The exception is ApplyState of a batch marked
// StateBatch.SetNoSyncWait, meant for rebuildable read models: atomic and
// visible at once, durable shortly after; a crash can lose the newest such
// batches, whole, but never a ledger event (see SetNoSyncWait). A batch
// marked StateBatch.SetNoSync asks for no sync at all: durable with the
// next write that syncs (read models catching up mark every batch but
// the last).
//
// Atomicity: one append — any number of events on any number of streams — is
// one Pebble batch: after a crash it is entirely there or entirely absent.
//
// Ordering: positions are global, start at 1, have no gaps and follow commit
// order. A stream's version is its event count; its first event is version 1.
//
// Optimistic concurrency: each stream in an append carries an Expect
// (ExpectAny, ExpectNoStream, ExpectExists, ExpectVersion(v)). The check sees
// every append already sequenced, synced or not. A failed check is a
// *ConflictError (errors.Is ErrConflict) naming stream, expected and actual.
// A stream without events in an AppendMulti is a condition only: checked in
// the same atomic append, nothing appended to it (a decision that read a
// stream it does not write stays valid only if that stream did not move). An
// append of conditions only is ErrInvalid: it would write nothing.
//
// Idempotency: an event ID is written once. Retrying an append with the same
// IDs (same streams, same order, same event types and payloads) returns the
// original AppendResult, whatever the expected versions say now; IDs that
// match only part of an earlier append give ErrDuplicateID. A retry whose
// events differ from the stored ones in stream, type, schema or payload is an
// *IDReusedError (errors.Is ErrIDReused and ErrDuplicateID): payloads are
// compared as bytes, and if those differ (msgpack does not order map keys) as
// decoded values. Event times are not compared (a retry is stamped anew). A
// zero ID is replaced by a generated UUIDv7 (RFC 9562: the append's Unix
// milliseconds from the ledger clock, 32 random bits, two bits marking the
// append's first and last events, and the event's position in 40 bits; see
// ids.go): no idempotency for that event and no index lookup; generated IDs
// sort by append time and name their position (and so reveal both). Such an
// ID needs no ID-index entry: EventByID and the check for stored IDs read
// the record at the position it names, which must hold exactly that ID; an
// append that repeats read-back generated IDs is a retry if they are one
// whole earlier append (its first and last are marked). Past position 2^40
// generated IDs are random and indexed. The lookup of caller IDs happens
// before the sequencer lock; appends sequenced meanwhile are caught by an
// in-memory window of recent caller IDs. An ID above the largest one in the
// index (kept in memory, read from the index at Open) cannot be stored there
// and is not looked up: that saves the read when every ID a caller uses is
// time-ordered (UUIDv7), and rarely otherwise, since one random (v4, v5) ID
// raises the bound near the top.
//
// Visibility: Pebble makes a batch readable before its sync completes. Readers
// here never see such an event: ReadAll, Follow and Subscribe stop at
// DurablePosition, a watermark that only covers synced batches (batches enter
// the WAL in position order and a WAL sync covers everything written before
// it, so a successful sync of position p makes 1..p durable; see publish);
// ReadStream, StreamVersion, EventAt and EventByID wait for the sync of a
// pending event they would return (at most one group commit). After Append
// returns, every read sees it.
//
// Failure: a storage error Pebble treats as fatal never ends the process. A
// failed write, sync, create, rename or removal of Pebble's write-ahead log,
// MANIFEST, marker, OPTIONS file or directory is caught below Pebble, by the
// ledger's filesystem layer (failfs.go), before Pebble sees it: Pebble would
// end the process (a MANIFEST failure reaches Logger.Fatalf on its background
// flush goroutine, versionSet.UpdateVersionLocked; a WAL failure while a
// memtable is rotated makes DB.rotateWAL panic with DB.mu released, a fatal
// "unlock of unlocked mutex"). The layer fail-stops the ledger and freezes the
// directory: from then on writes of those files and every file removal are
// no-ops that report success, so Pebble carries on in memory while the disk
// keeps the state of the moment of failure. After a failure no write is
// acknowledged and every write returns ErrFailed, wrapping the cause
// (errors.Is(err, syscall.ENOSPC) for a full disk); Err and Close report it;
// reads keep working and Close returns. Close it and Open it again: Pebble
// replays exactly what reached the disk, and nothing acknowledged is lost (no
// WAL record lands after a lost one, and no table or log that the MANIFEST on
// disk may still need is removed; tables Pebble writes after the freeze are
// unreferenced on disk and removed by the next Open). Write and sync errors
// of sstables are not fatal in Pebble, which retries the flush or compaction:
// they are background errors (Err, Close), and CompactState returns them.
// Pebble retries a failed flush without backing off, so a ledger on a full
// disk uses CPU until the disk has room or the ledger is closed.
// A read the storage fails is ErrIO with the cause and does not fail the
// ledger; data Pebble or the ledger finds damaged is ErrCorrupt; never both.
//
// What remains fatal: Logger.Fatalf also guards Pebble's internal invariants
// and a table-size mismatch its table-stats collector may find after an
// open; the ledger's Fatalf fails and freezes the ledger, then panics, which
// on a caller's goroutine becomes ErrFailed but on one of Pebble's background
// goroutines still ends the process. No I/O error reaches those paths through
// the ledger. A read-only ledger (Options.ReadOnly) writes nothing and has no
// such layer.
//
// Tamper evidence: record n stores hash_n = SHA-256(hash_{n-1} || canonical
// bytes of record n), hash_0 = 32 zero bytes. Verify recomputes the chain and
// names the first broken position in a *CorruptionError (errors.Is ErrCorrupt).
// Head returns a Digest (position and hash) to export; CheckDigest proves that
// the log still begins with the history a saved digest covers. Each record
// also names the position of its stream's previous event (inside the chain),
// and Verify checks that every event follows its stream's previous one.
// Indexes, stored heads and state are derived data outside the chain; Verify
// also checks the indexes and heads against the log (every event but one
// whose generated ID names its position has its ID-index entry, and its
// stream-index entry where it has one, pointing at it; no entry points at
// anything else; the stored heads, entries and latest snapshot, are exactly
// the streams' last events as of the positions they were stored at — with at most
// 262,144 streams and heads stored through a durable position, otherwise
// each head is only checked to name its stream's event) and names a broken
// entry in an *IndexError (errors.Is ErrCorrupt). State is not verified.
//
// Streams: an event with a caller's ID is two keys, its record and its
// ID-index entry; with a generated ID, only its record (plus, either way, a
// stream-index entry at every 256th version of its stream). There is no
// per-event stream-index key (it was one of three keys per event, and the
// 64-writer append throughput was bound by per-key CPU, as it is with two):
// a stream is the chain of its records' back-pointers. The head of each stream (version,
// position of the last event) is kept in memory and stored in the batch of
// the first append that ends 2048 or more positions after the last store:
// as a snapshot (one key named by that position, holding every head that
// changed since the last merge) while it stays small, else merged into the
// streams' 'h' entries, and merged at Close. After a crash Open reads the
// latest snapshot and replays the records after it (fewer than 2048) to find
// the newer heads. ReadStream starts at the head and
// walks back; every 256th version of a stream has a stream-index entry, so
// each chunk of a read starts at one (the last at the head) and the walk
// never goes back further than a chunk.
//
// If the stored heads position or snapshot is damaged or a record Open must replay
// cannot be read, Open still succeeds (so Verify can name it), and
// ReadStream, StreamVersion, Append and AppendMulti return that error on
// every stream. Appends, retries, StreamVersion and ReadStream check that a
// stored head they load (an 'h' entry, or a head Open read from a snapshot)
// names its stream's event at that version before they rely on it. A stored head that is well
// formed but stale (an earlier event of the stream, which only damage to the
// store produces) is not caught there: ReadStream and StreamVersion end at
// that version without an error, and an append on it writes a second event
// with an existing version. Verify reports the stale entry (or, once newer
// heads are stored, the repeated version). Format 1 had the same exposure to
// a lost stream-index entry.
//
// Event types: a Registry (one per ledger, never global) maps Go types to
// stable names and schema versions; payloads are msgpack. Reading an older
// schema runs the registered upcasters n -> n+1 up to the current one. An
// event whose type is not registered is returned with Data nil and its Raw
// payload, so a program can read logs written by a newer one; a known type with
// an unknown (newer) schema or a failing upcaster is an error. Decoding
// allocates the value and what msgpack allocates inside it, nothing more: a
// value of the registered type is decoded in memory of its own and handed
// out in Data as it is, without the copy boxing it would make.
//
// A registered struct is decoded by a plan made when it is registered: its
// strings, numbers, booleans, byte slices and arrays, nested structs and
// fields decoded by UnmarshalText are read straight from the payload, with
// msgpack's rules (nil is the zero value, integers are cut to the field's
// width, unknown keys are skipped, a struct may be a map or an array). The
// other fields (times, slices, maps, types with their own decoders) go to
// msgpack's decoder. msgpack looks a type's decoder up in process-wide maps on
// every value, which for a small event cost as much as the decoding itself. A
// struct with embedded structs, tag options other than omitempty or a decoder
// of its own is decoded by msgpack alone. A decoder set for the type or a
// field's type with msgpack.Register or msgpack.RegisterExtDecoder is not seen
// by a plan: give the type a DecodeMsgpack method instead. Either way a value
// is checked to be whole msgpack before msgpack reads it, so a length that
// claims more than the payload holds is an error, not an allocation of that
// size (a type's own DecodeMsgpack that reads on past its first value reads
// unchecked, as it always did), and a panic inside msgpack (it panics on nil
// for a time), or in an UnmarshalText method, is an error. The strings and
// byte slices a plan reads are copied into the value's own allocation, after
// the value, when they fit the room the type's previous event needed (up to
// 1 KiB of text): an event of text fields is one allocation, and a string
// kept from it keeps that whole allocation alive.
//
// A reader that holds only a bounded number of events at a time can decode
// them with a Decoder instead, into memory it reuses: while the mix of
// types between two Resets repeats, a value costs no allocation, and its
// strings come from a small table of text already seen (names repeat from
// event to event), so the collector has little garbage to chase. The read models'
// catch-up does (a rebuild of granted unlocks allocates nothing per event):
// it follows the log with FollowRaw, which leaves Data to the reader (the
// RawFeed role), and decodes each run of events into the run's own Decoder.
//
// Bulk reads: ReadAll, Follow and Subscribe read the log in chunks of 1024
// records (fewer once their payloads reach 1 MiB), one Pebble iterator
// each, and yield each chunk's events from memory they reuse. So Raw is valid only until the loop body returns (copy
// it to keep it); Data, Stream and Type are the caller's. Between chunks no
// iterator is open and no lock is held: a loop body may call any method,
// Close included.
//
// Closed ledgers: every method returns ErrClosed after Close; none panics.
// Close waits for operations in flight and stores the stream heads (a
// failure there is ErrFailed; the next Open then replays the tail).
// Options.ReadOnly opens an existing ledger for inspection; writes then
// return ErrInvalid.
//
// Crypto-shredding: state is mutable. After deleting a key, CompactState
// flushes and compacts its range and waits until the replaced tables are
// deleted, so the value is gone from the tables; write-ahead log files (and
// recycled ones) may still hold it until Pebble deletes or overwrites them.
// If the ledger fails meanwhile, CompactState returns ErrFailed: the disk was
// frozen, so the value may still be in its tables until the next Open and a
// new CompactState.
//
// # Keyspace
//
// One Pebble database. Prefix bytes are persisted: never renumber or reuse.
//
//	0x00 "format"                 -> "keyledger/ledger v4" (v1 to v3 are upgraded, anything else refused)
//	0x00 "heads"                  -> position(8) the 'h' entries are complete through
//	0x00 "v1end"                  -> position(8) of the last format-1 record (upgraded stores)
//	'l' position(8 BE)            -> record (layout in record.go), ends with its chain hash
//	'h' stream                    -> version, position (2×8 BE)  stored stream head
//	'H' position(8 BE)            -> heads snapshot: the 'h' position(8), then per head that
//	                                                      changed after it: stream length (uvarint),
//	                                                      stream, version, position (2×8 BE)
//	's' stream 0x00 version(8 BE) -> position(8)          stream index: versions that are a
//	                                                      multiple of 256, and every format-1 event
//	'i' event ID(16)              -> position, first, last of its append (3×8 BE), for every
//	                                                      caller's ID and every generated ID of
//	                                                      format 2 (and past position 2^40)
//	'c' name                      -> position(8)          subscriber checkpoints
//	'v' key                       -> value                state space
//
// Every table Pebble flushes or compacts holds keys of one kind (one prefix
// byte; Options.Experimental.SpanPolicyFunc ends a table where the prefix
// changes). The log, and the ID index of time-ordered IDs, then grow at their
// ends in tables that overlap no other, so a lookup of a new ID probes none of
// them and compactions below L0 move those tables instead of rewriting them.
// Keys that fall in a range an earlier flush covered (heads entries and the
// heads position, rewritten under the same keys; the stream-index entries
// of streams appended together; state) overlap from one flush to the next;
// two such flushes make L0 two sublevels deep, which starts a
// compaction (L0CompactionThreshold 4), and Pebble widens it over the L0
// tables between its neighbours in the level below, log tables included
// where no log table there stands between: the log's newest tables are then
// rewritten once. That is why the heads are stored as snapshots under keys
// that only grow, like the log's: a log appended to one stream at a time
// (one busy stream, or streams that take turns between flushes) then
// flushes tables that overlap nothing, its L0 stays one sublevel deep and
// is not compacted, as with raw Pebble. Streams appended to in the same
// flush still overlap through their stream-index entries (every 256th
// version), and state rows overlap. A snapshot is at most 64 KiB; the
// snapshots written since the last merge at most 4 MiB (the merge deletes
// them); past either, the heads are merged into their entries, which is
// what many streams changing at once (whose stream-index entries overlap
// anyway) cost before.
//
// Format 1 (before the back-pointers) wrote a stream-index entry for every
// event and no heads. Open upgrades such a store in place without rewriting
// a record, so digests exported before stay valid: it declares the stored
// heads complete through the last format-1 record, and a stream without an
// 'h' entry takes its head from its last stream-index entry. A read-only
// Open upgrades in memory only. Older versions of this package refuse an
// upgraded store (its marker is v4).
//
// Format 2 gave every event an ID-index entry; format 3 writes none for a
// generated ID that names its position; format 4 stores heads snapshots. A
// format-2 or format-3 store is a valid format-4 store (its generated IDs
// have entries, it has no snapshot), so Open only rewrites its marker
// (read-write; one synced write), which keeps versions that expect every
// entry, or no snapshot, from opening it.
//
// Open reads the format marker, the heads position, the latest heads
// snapshot and the format-1 end marker, the last log record (for the tail
// position and chain hash), the last ID-index key (if that read fails, the
// lookup skip is off until the next Open; Verify names the damage) and the
// records after the stored heads (none after a Close, fewer than 2048 after
// a crash); opening a store of an older format read-write also writes the
// upgrade (one synced batch). It never scans the log, so its time and memory
// do not grow with the log. Stream names are 1..1024 bytes of UTF-8 without
// NUL.
//
// # Storage roles
//
// The code above the ledger sees it through small interfaces, and each
// consumer declares the ones it uses (commands: Log and StateStore;
// projections: Feed, StateStore and EventAt, and RawFeed where a backend
// has it):
//
//	Log         Append, AppendMulti, ReadStream, StreamVersion, ReadAll, EventAt, EventByID, Registry
//	Feed        Follow, Subscribe, DurablePosition, WaitDurable
//	RawFeed     FollowRaw, Registry (optional: Follow without decoding)
//	StateStore  GetState, ScanState, ApplyState, CompactState, Checkpoint
//	Verifier    Head, Verify, CheckDigest
//
// Checkpoints belong to the StateStore: ApplyState writes them with the rows
// they cover. *Ledger implements every role and io.Closer; another backend
// (PostgreSQL, say) implements them and passes ledgertest.Run, whose parts
// RunLog, RunFeed, RunState and RunVerifier check one role each.
//
// # Other backends
//
// A backend gives the same digests as this one for the same events if it
// stores each event's payload as Registry.Encode gives it (Decode reads it
// back through the upcasters), its time in Unix nanoseconds, and the
// position of its stream's previous event; the event's chain hash is
// ChainHash(previous chain hash, AppendCanonical(event, previous position)),
// from the zero hash before position 1, and Head is the last one. It applies
// a StateBatch by iterating Ops in order, all or none (Validate reports what
// ApplyState refuses; NoSyncWait says whether the caller waits for
// durability, NoSync whether it asks for a sync at all: a backend may sync
// either kind of batch anyway).
//
// # Retries
//
// A networked backend can fail where Pebble cannot, and says how: with
// ErrUnavailable nothing was written, and the call may be repeated as it is;
// with ErrUnknownOutcome a write may or may not have committed. The answer to
// both is the same retry: repeat the append with the same event IDs, streams,
// types and payloads. If it had committed, the retry returns the original
// AppendResult (with the versions its conditions were checked at) and writes
// nothing, whatever the expected versions say now; if not, it is appended
// with its expected versions checked. The same IDs with a different payload
// are an *IDReusedError. Events with generated IDs cannot be retried this
// way. A StateBatch applied again gives the same state unless another write
// came between. The ledger on Pebble returns neither error: its writes are
// local, and a storage failure is ErrFailed.
//
// # Observability
//
// The ledger logs through Options.Logger (log/slog; nil logs nothing) what
// an operator must act on, and nothing on the path of a healthy append:
//
//	Error  the ledger failed after a storage error (once; err: the cause,
//	       durable_position); writes are refused until it is reopened
//	Error  a background error from Pebble: a failed flush or compaction
//	       (err, background_errors: the count so far)
//	Error  damaged data Pebble found in a file (file, err)
//	Error  at Open: the stored stream heads are damaged (position, reason)
//	Warn   Verify or CheckDigest found damage (op, position, reason; for an
//	       index also index, stream, version) or could not read (op, err)
//	Warn   a line Pebble logs as an error; Debug: its informational lines
//
// Background errors and damage repeat (Pebble retries a failed flush
// without backing off): each is logged at most once per 10 seconds, with
// the count. No line holds an event payload or a state value: errors name
// positions, streams, event IDs and files.
//
// Stats returns counters kept with one atomic add each where they happen,
// without a lock or an allocation on the append path (two clock reads per
// append time it): appends that succeeded (retries too, and how many were
// retries), events written, failed appends by kind (conflict, invalid,
// failed, other), the append latency from call to durable return and the
// number of appends each WAL sync made durable (group commit size), as
// fixed-bucket histograms, WAL syncs and all syncs through the ledger's
// filesystem layer, background errors, the durable position and whether
// the ledger failed. How far a subscriber trails the log is
// DurablePosition minus its checkpoint (projections.Projections.Lag).
package ledger
