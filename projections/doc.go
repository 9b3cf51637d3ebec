// Package projections is keyledger's read side: the read models apps show,
// derived from the log alone and kept in the ledger's state space under the
// prefix "p/".
//
// # Usage
//
//	st, err := keyledger.Open(dir, opts)             // the ledger, these read models and the commands
//	proj := st.Projections                           // follows the log from its checkpoint
//	st, err := proj.KeyStatus(ctx, "k1", time.Now())  // a key's status now
//	keys, err := proj.KeyList(ctx, "front", time.Now()) // the keys of a lock
//	page, err := proj.History(ctx, projections.HistoryQuery{Lock: "front", Limit: 50})
//	for _, n := range must(proj.Pending(ctx, 100)) { send(n); svc.AckNotification(ctx, n.ID) }
//
// # Read models
//
//   - KeyStatus: UPCOMING / ACTIVE / EXPIRED / EXHAUSTED / REVOKED /
//     DELETED at an instant, the sharing state, whether a window is open and
//     when the next one opens — by point reads only. An online key whose
//     lock's network management is off at the instant keeps the status
//     its schedule gives but shows KeyStatus.NetworkOff, InWindow false
//     and no NextOpen: UnlockOnline refuses it (network_off) until the
//     owner turns network management on. Dated periods (policy.Period)
//     count as validity: UPCOMING before the first, EXPIRED after the last,
//     NextOpen the next period's opening in between.
//   - Expiry after first use: KeyRow.FirstUsed is the key's earliest
//     granted use, dated as the commands date it (online unlock, or the
//     lock's time of the first offline use an audit counted; an audit
//     uploaded late may move it earlier); the status is computed with
//     KeyRow.Policy, the policy narrowed by it. Before the first use
//     KeyStatus.AfterFirstUse is set ("ACTIVE, expires 2 h after first
//     use", KeyStatus.Summary); after it KeyStatus.End is concrete.
//     Recording it rewrites the key's row, once per earlier use.
//   - A suspended key
//     (commands.Service.SuspendKey) is SUSPENDED, with KeyStatus.Suspended
//     and KeyRow.Suspended set, InWindow false and no NextOpen, until it is
//     resumed; the key lists show it the same way and the history shows the
//     suspension, the resume and a lock's reset of every key (lock_reset).
//     Online it opens nothing at once, but at its lock a key that holds
//     something there opens until the lock applies the suspend message:
//     until the lock's audit shows it applied (events.SuspensionSynced),
//     KeyStatus.AtLock is the suspension's sync (pending, or failed when
//     the lock refused it, its suspension table full) with OpenAtLock and
//     OpenUntil the credential's own end: "SUSPENDED, still open at the
//     lock until <when>". A resume ends it: the key then opens as it may
//     anyway.
//   - Where a key's credential stands at its lock (KeyStatus.AtLock,
//     KeyRow.AtLock, folded with events.AtLock as the commands fold it):
//     pending → applied at the lock → removing → removed, or failed. A key
//     taken away — reset, revoked, deactivated or deleted — whose removal
//     has not reached the lock (or that the lock refused) and whose
//     credential has not ended shows REVOKED (or DELETED) with OpenAtLock
//     and OpenUntil: "revoked, still open at the lock until <when>"
//     (KeyStatus.Summary), in the status and in every list.
//   - KeyList per lock, ShareKeyList per owner across locks, HolderKeys per
//     holder ("my keys": keys shared with or downloaded by the account, and
//     online keys it accepted an invitation to, KeyRow.Members),
//     DigitalKeys per account: the digital keys of every lock it owns or
//     manages, one table for the owner and the account managers (ACTIVE /
//     UPCOMING / EXPIRED at query time; KeyRow.CreatedBy names a manager
//     who made one), Slots of a lock with "Not Shared" / "Sharing" /
//     "Shared" / "Deactivation pending" and "Removing" (free again, but a
//     key once in it may still open the lock: SlotView.Removing),
//     PendingRemovals (every key of a lock, or of all locks, whose removal
//     has not reached its lock and that may still open it;
//     PendingDeactivations is the deactivations among them), Contacts
//     (address book).
//   - What an account manager picks from: ManagedLocks (the locks an
//     account owns or manages), Accounts (the registered users, by ID,
//     paginated), AccountsByEmail (a user found by e-mail, compared
//     without regard to case) and Account.
//   - History per lock, key or account by time range, paginated: every
//     action and every unlock attempt, granted or denied, with reason,
//     source and door. A code typed at a keypad that talks to the backend
//     is the key's unlock attempt (Source "keypad", HistoryEntry.Panel); a
//     wrong code is a lock history entry with reason wrong_pin, and a
//     keypad's lockout an alarm entry with reason locked_out.
//   - Pending: the outbox of notifications (the library sends none itself),
//     drained by the backend and acknowledged with
//     commands.Service.AckNotification (an event, so a rebuild keeps the
//     acknowledgement; the ack also shreds the sealed code or PIN, and the
//     row holding it is deleted).
//   - Records the lock made offline (commands.AuditRecorded, uploaded with
//     commands.Service.IngestAudit) are in the lock's history and, when the
//     lock verified the credential, the key's: HistoryEntry.Offline, Time =
//     the lock's own time, AuditSeq, Uploaded, Door, Granted and Reason,
//     Admin for admin records, Presented for the key an unverified
//     credential named. A verified credential's records are in its holder's
//     history too (Account = the holder). An AuditGap is a lock history
//     entry with ReasonAuditGap. Offline uses
//     (commands.OfflineUnlocksCounted) set the key's use count, so KeyStatus
//     shows EXHAUSTED once the lock's grants used the key up.
//   - The lock's clock readings (lockproto.AuditClock) are not history;
//     the clock and zone table its audit last showed
//     (commands.ClockObserved) are LockRow.Clock (Lock). Whether the zone
//     rules are stale needs tzdata: commands.Service.ClockHealth.
//   - History order: by time — the lock's time for offline records, the
//     event time otherwise — ties by log position, so offline records merge
//     in at the lock's time, across pages too. A cursor is the last
//     entry's (time, position): paging resumes there however many entries
//     uploads add meanwhile (those before it show when the history is read
//     again). HistoryQuery.ByPosition gives log order within each UTC day
//     instead (an upload's records after what was recorded online before
//     it); a cursor belongs to its order.
//
// # Guarantees
//
// Order and atomicity: events are applied in log position order, in
// batches; each batch's rows and the checkpoint are committed in one
// ApplyState, so after a crash the read models are exactly those of some
// position and resume from it. That ApplyState does not wait for its WAL
// sync (ledger.StateBatch.SetNoSyncWait: the read models are rebuildable):
// a crash can lose the newest batches, whole and with their checkpoint,
// and Open applies those events again (tested with a crash before the
// sync); acknowledged events are never lost, only their read models
// redone. While catching up (a rebuild, a restart) only the batch that
// reaches the head of the log asks for a sync, which covers the batches
// before it (ledger.StateBatch.SetNoSync).
//
// Memory: one goroutine reads the log and hands runs of 256 events to the
// one that applies them, so reading overlaps applying. On a store that
// hands payloads over undecoded (ledger.RawFeed: both backends do), each
// run decodes its events with a ledger.Decoder of its own, reused with the
// run once its batch is written: a read model keeps copies of an event's
// fields, never the event's value, so catching up allocates almost nothing
// per event and leaves the collector little to do.
//
// Read-your-writes: WaitApplied(pos) returns once every event up to
// pos is applied; commands.Service calls it before a command returns.
//
// Several processes: on a store they share (one that implements
// ledger.Leaser, such as the PostgreSQL backend) exactly one instance
// applies the log at a time, the one holding the lease named after the
// checkpoint; the others read its rows, and their WaitApplied polls the
// shared checkpoint (every 1 ms, backing off to 20 ms) so a process still
// reads its own writes. When the applying process stops or loses its lease
// (the backend fences its writes), another takes over from the checkpoint
// with fresh caches. A store that is unavailable ends a term, not the read
// models: they apply again when it answers. Rebuild takes the lease, so it
// waits for an applying process elsewhere to stop.
//
// Rebuild: Rebuild deletes every row under "p/" (StatePrefix) and
// replays the whole log. The result equals what incremental application
// produced row for row, byte for byte, except that history index rows group
// the entries of one batch (keyed by the batch's first position), and
// batches differ between a rebuild and a live service: the two hold the
// same history entries, grouped differently. Dump gives the canonical form
// (one row per history entry) in which they are equal, and Compare
// compares two stores in it (tested; the CLI's "keyledger rebuild" uses
// it). Rebuild never touches commands.KeystorePrefix (the data keys).
//
// Upgrading: a version that adds rows (0.1.0 to this one: the registered
// accounts and their e-mail index, the locks each account owns or manages,
// the keys whose removal awaits their lock) fills them from the events it
// applies from then on; rebuild the read models once (Rebuild, or
// "keyledger rebuild -write") so they cover the log before it too. Status
// rows and history index rows of the older layouts still read until then
// (history rows are now written with each entry as differences from the
// previous one, about 6 bytes instead of 16). Going back to a version
// before that needs a rebuild: it reports the new history rows as corrupt
// (ledger.ErrCorrupt) until then.
//
// Events of types this package does not know (other packages' events) are
// skipped; the checkpoint still advances past them.
//
// # Observability
//
// Options.Logger (log/slog; nil logs nothing) receives: Error when an
// error stops the projections (err, applied, durable) and when a durable
// event has waited longer than Options.LagAlert to be applied (applied,
// durable, lag, waited; once until they are back at the head of the log,
// Info); Info when they start and finish catching up after Open from an
// older checkpoint or a Rebuild (from, to; applied, events, took), which
// is never reported as falling behind. The check runs after each batch.
// Lag and Stats report how far the read models trail the log, and the
// batches and events applied.
package projections
