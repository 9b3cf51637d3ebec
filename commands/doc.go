// Package commands is keyledger's write side: every key action — create,
// share To ID or To Code, download, edit, revoke, reset, deactivate, delete,
// unlock — as a command that decides against the current state and appends
// events to the ledger. One key model serves share (offline) keys, digital
// keys, intercom keys and online keys; the kinds differ only in a table of
// rules (Allows) and in delivery, not in code paths.
//
// # One key model
//
// CreateKey, EditKey and DeleteKey (and the other key commands) serve every
// kind. What sets a kind apart is a row of kindRules in model.go: which
// actions each state allows, whether the key takes a slot, how it may be
// shared, and for online keys (group) that it is made only while the lock's
// network management is on and that its creation, edits and deletion are
// recorded on the lock's group stream in the same atomic append
// (OnlineKeyAdded, OnlineKeyEdited; a deletion also removes the key's
// members and withdraws its open invitations). The commands that keep their
// own path do something no key command does: UnlockOnline takes a member's
// personal password and decides on group membership, lockout and
// permissions (Unlock decides on the key's holder); UnlockByPIN starts from
// the digits a keypad sends, not from a key; TurnOnNetwork and
// TurnOffNetwork hold a lock's master code, not a key; the invitation and
// permission commands act on an account's place in a lock's group, where
// managers act as well as the owner. Every key command is the lock owner's,
// and for digital keys also its account managers' (below).
//
// # Usage
//
//	st, err := keyledger.Open(dir, &keyledger.Options{Root: root}) // ledger, read models, service
//	svc := st.Commands
//	res, err := svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "k1",
//		By: "bill", Method: events.ShareToCode})
//	// res.Code is shown to the owner once; only its keyed hash is stored.
//
// keyledger.Open is the wiring done by hand: the event catalogue
// (events.Register) on the ledger's registry, the ledger, the read models,
// and New with Options.Projections set (without it a command returns before
// the read models have applied it) and a Vault or Root.
//
// # Streams
//
// "account-<id>" (registration, address book), "lock-<id>" (owner, zone,
// slots and their generations, PIN and card hashes in use, account
// managers, lock-wide blackouts), "key-<id>" (a key's lifecycle, where its
// credential stands at the lock, unlock attempts and the notifications
// they cause), "outbox" (acknowledgements), "sharecode-<hash>" (redeeming a
// code without knowing its key), "group-<lock>" (online keys, below),
// "lockaudit-<lock>" (the lock's uploaded audit records; the lock stream
// holds its admin messages), "keypad-<lock>" (wrong codes and lockouts
// of the lock's keypads) and "offlinecodes-<lock>" (the sealed code key,
// the offline codes issued, revoked and used, and the sequence numbers
// they hold). Rules across keys (a slot holds one key, a PIN or
// a card is unique on its lock) live in the lock stream, and a command that
// touches them appends to the key and the lock stream in one atomic
// AppendMulti with an exact expected version for each.
//
// # Guarantees
//
// Consistency: a command loads the streams it reads (folded state, cached
// with its version), decides, and appends with the exact expected versions:
// of the streams it writes, and, as conditions that append nothing, of the
// streams it only read (a lock's blackouts for an unlock, an account for a
// share), all checked inside the one atomic append. If another command got
// there first the ledger reports a conflict; the command refreshes its state
// (reading only the new events) and decides again, up to Options.MaxRetries
// times (then ErrBusy). So two concurrent unlocks of a single-use key grant
// exactly one, concurrent edits and unlocks of one key lose no update, and
// an unlock decided as blackouts change sees the new ones. A refusal, or a
// decision to append nothing, is checked against the streams' current
// versions before it is returned. A stream whose moves would refuse appends
// for nothing (the outbox, appended by every acknowledgement) is never read
// by a decision.
//
// Idempotency: every command carries a caller-chosen ID; its events' IDs
// derive from it (UUIDv5). Executing the same command with its ID again
// returns the outcome recorded the first time and appends nothing, also when
// the command draws a code or PIN or seals a secret anew on each run. A
// generated share code or PIN is returned only by the first execution: it is
// not stored. A different command sent with a used ID (another kind of
// command, or a field changed) is refused with ErrIDReused (*IDReusedError
// naming the ID and the field) and appends nothing: the command's fields are
// compared with what the ID's events recorded (idreuse.go says how).
//
// Read-your-writes: with Options.Projections set, a command returns only
// after the read models have applied its events.
//
// Secrets: a share code is generated by package secret from crypto/rand and
// stored only as a keyed hash (HMAC under a key derived from the root
// secret); PINs and card identifiers likewise, per lock. A code or PIN the
// outbox must deliver is sealed under its own data key (crypto-shredding).
// No error message names a code, PIN or card identifier, and a code typed
// at a keypad is kept nowhere, right or wrong.
//
// Errors: ErrForbidden (*StateError naming the key, its state and the
// action), ErrNotFound (*NotFoundError; projections.ErrNotFound wraps it),
// ErrInvalid (*ValidationError naming the field; for a policy or blackouts
// that do not validate its Err is policy's error, so errors.As(err,
// new(*policy.ValidationError)) and errors.Is(err, policy.ErrInvalid) work
// too), ErrExists, ErrNotPermitted, ErrNoSlot, ErrPINTaken, ErrCardTaken,
// ErrNeedsValidity (a *ValidationError for "start" or "expiry"),
// ErrSuspended and ErrNotSuspended (*SuspensionError, also ErrForbidden;
// a StateError's Reason names a suspension or reset that refused a key
// its state allows),
// ErrStillAtLock (*AtLockError, also ErrForbidden: a key whose removal has
// not reached its lock is not deleted), ErrBusy,
// ErrIDReused (*IDReusedError naming the command ID and the field),
// ErrAudit (*AuditError naming the lock), ErrShredded — use errors.Is and
// errors.As. An unlock that is refused is not an error: it is recorded and
// returned as UnlockResult{Granted: false, Reason: …}.
// A zone policy refuses ("Local", unknown names) is refused by
// RegisterLock: *ValidationError for "zone", ErrInvalid and
// policy.ErrUnknownZone.
//
// Errors of the vault (package secret) never leave a public method
// unmapped: the vault cannot tell a caller's bad input from damaged stored
// data, the command can, so a caller needs only this package's errors:
//
//	data key shredded                       ErrShredded (the vault's sentinel, re-exported)
//	caller's sealed bytes malformed, altered,
//	  sealed for something else             ErrInvalid (*ValidationError, Field "sealed")
//	caller's sealed bytes, unknown data key ErrNotFound (*NotFoundError)
//	a secret given as input refused         ErrInvalid (*ValidationError naming the field)
//	Options.Root too short (New)            ErrInvalid (*ValidationError, Field "root")
//	a Secret asked to serialize             ErrNotSerializable (re-exported)
//	a sealed value from the log that does
//	  not open (malformed, altered, no key) ledger.ErrCorrupt
//	the keystore's storage error            the ledger's error, unchanged (ErrFailed, ErrCorrupt, …)
//
// Only a password that does not match its hash is a wrong password: an
// online unlock or a password change whose stored hash cannot be read
// (a read error, a damaged hash) returns that error and records nothing —
// no PasswordRejected, no step toward the lockout.
//
// Time: every decision and event uses Options.Clock.
//
// Schedules: Settings.Policy is policy.Policy (aliased as Policy). A key's
// policy takes its lock's IANA zone when created or edited and is validated
// then. Unlock asks policy's Allowed with the uses granted so far and then
// the lock-wide blackouts (SetLockBlackouts); a denial is recorded with the
// reason (ReasonNotYetValid, ReasonExpired, ReasonExhausted,
// ReasonOutsideWindow, ReasonBlackout, ReasonLockBlackout,
// access.OutsidePeriods, or a lifecycle, holder or door reason).
//
// Expiry after first use (Policy.AfterFirstUse): the key's first use is
// its earliest granted use the log holds — a granted UnlockAttempted (an
// online key's are on its lock's group stream, GroupState.FirstUsed; the
// others' on the key's stream, KeyState.FirstUsedAt), or an offline use
// counted from the lock's audit (OfflineUnlocksCounted.First, the lock's
// time of it). An audit uploaded late may bring a use earlier than one
// already recorded: the first use then moves earlier, and every later
// decision uses KeyState.Policy, the settings' policy narrowed by
// policy.Policy.FirstUsed at the earliest. A lock record without the
// lock's time (its clock unset) is dated at its upload, later than the
// real use: such a use cannot move the first use earlier than an online
// use already recorded. The lock cannot know the first use: a credential
// counts N from its download and a PIN or card's first set message from
// the key's creation, or from a later Start or first dated period
// (policy.CompactFrom); a set message an edit re-sends counts from the
// creation, never from a first use the server learnt of (an unreported
// use at the lock may precede it). So the lock's end is never later than
// the first use + N. An edit after which that end is already past is
// refused while the PIN or card still opens at the lock (as an End edit
// into the past is: revoke the key to stop it); once the lock's end has
// passed too, it sends nothing. An edit of a key whose Start is later
// than its creation + N is refused for the same reason. A PIN
// or card key whose policy its lock could never carry (no open minute,
// never valid) is refused at CreateKey (*ValidationError wrapping
// policy.ErrNotCompact).
//
// Offline credentials: with Options.Issuer set and the lock registered with
// its public key (RegisterLock.LockKey), downloading a share key with the
// phone's public key (DownloadKey.HolderKey) returns a signed lockproto
// credential for the key's slot and generation, wrapped in the download
// frame the phone takes to the lock. A reset gives the slot's next key the
// next generation, so the lock lets it overwrite the old one. The
// credential carries policy.CompactFrom(download time): validity starts at
// the download (a retry gets the same bytes), blackouts already over cost
// nothing, and a form narrower than the policy is issued with
// DownloadResult.Narrowed saying what was lost. A use-limited key that holds
// a credential is counted by the lock alone: Unlock refuses it online
// (ReasonUsesAtLock), so offline and online uses never add up past the limit.
//
// Admin messages: with Options.Issuer set, a reset, a
// deactivation request or a revocation of a key that holds an offline
// credential also appends to the lock's stream, in the same atomic append,
// an AdminIssued event carrying the issuer-signed message (reset slot,
// deactivate slot, revoke credential) under the lock's next admin sequence
// number. The counter is the lock stream's (exact expected version), so it
// is strictly increasing per lock, survives restarts, and a retried command
// ID returns the same message. SendZoneRules issues the lock's UTC offset
// table the same way. Every message is pending until the lock's audit shows
// the lock consumed its sequence number; DownloadResult.Admin (and the
// download frame) carry all pending messages of the lock, oldest first, to
// any phone downloading a key of that lock, and PendingAdmin lists them for
// a phone that already has its credential (PendingAdminList says what each
// is). A revocation the lock's full revocation list could not take is
// issued as a reset of the key's slot instead (AdminIssued.Replaces).
//
// Issuer keys (rotation.go): every credential names the issuer key that
// signed it. RotateIssuerKey sends a lock, signed by the key it trusts
// (Options.RetiredIssuers), a rotation to Options.Issuer, pending like any
// admin message, with a grace for credentials of the old key
// (IssuerKeyRotated); RefreshCredential gives a holder the key's credential
// under the current key.
//
// Account managers: the lock's owner names them (AddAccountManager,
// RemoveAccountManager: lock.manager_added and lock.manager_removed on the
// lock stream). A manager creates digital keys on the locks it manages, for
// any registered user (CreateKey: KeyCreated.Owner stays the lock's owner,
// KeyCreated.By names the manager), and edits, revokes and deletes the
// digital keys of those locks, whoever made them; share, intercom and
// online keys stay the owner's (ErrNotPermitted). The read models list the
// locks an account manages and find users by e-mail.
//
// Digital keys' e-mails: CreateKey.Email (the notice that a key was made
// for the user) and EmailPIN (the PIN, sealed) are separate choices; with
// EmailPIN alone the notification's topic is events.TopicPIN.
//
// Keycard keys name their card: CreateKey.Card is the card's identifier
// (UID, secret.MinCardUIDLen to MaxCardUIDLen bytes), unique per lock
// (ErrCardTaken), recorded only as its keyed hash (lock.card_claimed). A
// UID identifies a card and proves nothing — it is read and copied by
// anyone in radio range — so where cloning matters a deployment uses
// cards that answer a challenge with a key they never reveal, and the UID
// here only says which card a key is.
//
// Keypads that talk to the backend (an intercom panel) send digits, not a
// key: UnlockByPIN hashes them with the lock's PIN key, finds the key among
// the lock's PINs, and decides with that key's state, doors, schedule and
// uses (source "keypad", UnlockAttempted.Panel). Unlock refuses source
// "keypad": a key ID proves no PIN. A code that is no key's PIN is a wrong
// code (keypad.code_rejected, reason wrong_pin), counted per panel and
// lock; MaxPINFailures in a row raise the alarm keypad.locked_out and the
// panel takes no code for that lock for PINLockoutDuration (refused unread,
// unrecorded); a right code clears the count. Card and phone users of the
// lock are not affected.
//
// PINs and cards at the lock itself (lockcodes.go): with Options.Issuer
// set and the lock registered with its audit key, creating a PIN or keycard
// key queues the lock's set-PIN or set-card admin message (the code's keyed
// digest under the lock's code key, lockproto.PINDigest, never the code)
// and the key's sync status at the lock starts pending; an edit queues the
// next generation (new doors and schedule); a revocation or deletion
// queues the clear message. The reference lock's keypad
// (lockproto.Lock.EnterCode) and card reader (PresentCard) then decide on
// their own, and their audit records reach the history with the key.
//
// Remote open (remoteopen.go): RemoteOpen{Decision, Challenge, Relay}
// returns the signed single-use frame that opens the door a granted Unlock,
// UnlockOnline or UnlockByPIN (named by its command ID) was about, bound to
// the nonce of a lock challenge a phone, gateway or intercom panel relays,
// valid for RemoteOpenValidity. A refused decision is ErrNotGranted, an
// unknown one *NotFoundError, a decision older than RemoteOpenValidity or a
// challenge of another lock a *ValidationError.
//
// Suspending a key (suspend.go): SuspendKey and ResumeKey (KeyCommands,
// authorised like the others) stop a key and let it open again without
// touching its settings, holder, slot, use count, credential, PIN or card
// (key.suspended, key.resumed, with the key's change counter). Which
// states allow them is the rules table's (ActSuspend, ActResume: where an
// unlock is allowed); a suspend of a suspended key or a resume of one
// that is not is a *SuspensionError (ErrSuspended, ErrNotSuspended, and
// ErrForbidden). Every online decision refuses a suspended key with
// access.KeySuspended, so no remote open is signed for it. A key that
// holds something at its lock also queues the lock's suspend message
// (lockproto.TypeSuspend: its ID there, the change counter, suspended or
// not), pending like every admin message; the lock refuses the key's
// credential, PIN, card and remote opens once it applied it. Until then
// the key still opens there: its events.AtLock.Suspension is pending, and
// the read models show it as they show a key taken away ("SUSPENDED,
// still open at the lock until <its credential's own end>") until the
// lock's audit shows the message applied (key.suspension_synced,
// applied). Only the message of the key's current suspension counts: a
// resume ends the question, since the key then opens as it may anyway.
//
// A suspension the lock refuses: a lock whose 32-entry suspension table
// is full refuses the message (AdminApplied: Applied false,
// lock_revocations_full). The key keeps opening there, so the audit
// upload records it (key.suspension_synced, failed, with the lock's
// reason: the status shows SUSPENDED, still open at the lock, sync
// failed) and names it in AuditResult.SuspensionsRefused. The backend
// does not take the key away on its own: a revocation cannot be undone,
// and a suspension is the owner's promise that a resume restores the key.
// Apps prompt the owner, who picks the fallback: RevokeKey or ResetKey
// (the lock's revocation list, or the slot's generation, not its
// suspension table), RequestDeactivation for a slot key, ResetLock for every
// key of the lock; or resume keys no longer worth suspending and, once
// their entries have left the table, suspend this one again (resume, then
// suspend: a new message).
//
// Resetting every key of a lock (lockreset.go): ResetLock, the owner's,
// ends every key of the lock — every kind — with a KeyRevoked whose
// Reason is access.LockReset (Unlock and the others refuse it with that
// reason), frees their slots at a new generation, their PINs and cards,
// revokes every offline code still in force, and appends one lock.reset
// naming the epoch (the lock's resets counted from 1), all in one atomic
// append. The lock's reset message (lockproto.TypeResetAll: every slot's
// new minimum generation, every offline code revoked until the latest
// end of any issued) is queued as pending; once the lock's audit shows it
// applied, the keys it took from the lock are removed there (deletable).
// The lock stays registered; keys made afterwards take the new
// generations and work. The keys of the lock are found by reading the
// log for their creation; a key created while the reset was decided is
// refused (access.LockReset) by every decision as if it had been named,
// though its own stream records no revocation. After a reset, a new
// offline code must end after the end the reset revoked codes until.
//
// Credentials at the lock: where each key's credential stands at its lock
// is folded from its events (events.AtLock, the same fold the read models
// use), as lock platforms show it: pending once DownloadKey issues an
// offline credential (key.lock_synced, with the credential's own end),
// applied when an audit upload shows the lock verified it, removing once
// the key is reset, revoked or deleted while held (or a deactivation is
// asked of the lock), removed when an upload shows the lock applied the
// removal (or the deactivation is confirmed), failed when the lock refused
// the message. While removing (or failed) and before its own end, the
// credential may still open the lock: DeleteKey refuses such a key
// (*AtLockError) and the read models show it as "revoked, still open at
// the lock until <when>".
//
// Audit upload: RegisterLock.AuditKey, the pairing's audit MAC key,
// is sealed under its own data key before it is recorded (never in
// plaintext). IngestAudit(UploadAudit{Lock, By, Batch}) verifies a batch
// with it (lockproto.VerifyAudit against the cursor kept in the stream
// "lockaudit-<lock>") and appends each new record once as AuditRecorded —
// the lock's time and sequence number, the upload time, the decision and
// reason (LockReason), the key when the lock verified its credential — with
// event IDs derived from the lock and the record's sequence number. In the
// same append: granted offline unlocks count toward their key's uses
// (OfflineUnlocksCounted), so status and online unlocks respect them;
// consumed admin messages stop being pending (AdminApplied); an applied
// deactivation confirms the key's (DeactivationConfirmed, slot freed);
// messages the lock can no longer apply (more than its window of 64
// sequence numbers below the highest it applied) are issued again if they
// still state what is wanted, nearer ones stay pending; records
// missing before a batch are an AuditGap event and AuditResult.Gap
// (*lockproto.AuditGapError), filled when a phone that drained them uploads
// them later (they must chain to the records on both sides); a verified
// unlock of a pending credential, and an applied or refused removal, move
// the key's credential at the lock (key.lock_synced). The same batch
// twice, an old batch, or overlapping batches from two phones (concurrently
// too, in any order) add nothing twice and lose nothing. AuditResult.Ack
// acknowledges the records stored without a gap: the phone delivers it to
// the lock, which keeps every record until then (and, with none left to
// keep more, refuses grants). A record of kind lockproto.AuditRefusals
// stands for Value refused attempts the lock tallied (those refused before
// any proof verified): shown with the last one's reason and presented key.
// A batch that does not verify is *AuditError (ErrAudit, and lockproto's
// ErrMAC, ErrMalformed or ErrWrongLock), an unknown lock *NotFoundError.
//
// Lock clocks: a drain writes a clock reading at the end of its batch
// (lockproto.AuditClock) and the phone says when it read the batch
// (UploadAudit.ReadAt, its network time). The reading minus ReadAt is the
// lock's offset, give or take the BLE exchange; without ReadAt only the
// upload's receipt bounds it, which proves a lock ahead by at least the
// difference and can never show one behind. A time sync the lock applied
// puts it in time as of its record; records with lock time 0 say it lost
// (or never had) its clock; refusals for an unknown zone say its table
// gives no offset. The fold is a lock.clock_observed on the lock's stream,
// appended only when the state changed or the offset moved by 30 s or
// more. ClockHealth(lock) reads it: the offset, when and how it was
// measured, SyncNeeded (clock unknown, or off by more than
// Options.ClockTolerance, 2 min by default, until a later reading is off
// by less than half of it, so a lock around the tolerance does not flip
// the flag on every upload), and ZoneStale when the lock's table is missing, gives no offset,
// ends within Options.ZoneRenewBefore (30 days), or differs from what the
// lock's zone gives now while the lock holds the table last sent (new
// tzdata). The upload that finds the table stale queues fresh zone rules
// itself (the same message as SendZoneRules, from a day before the upload,
// so a lock a little behind finds an offset for its own time, to
// Options.ZoneRulesAhead after it, which New requires to be longer than
// ZoneRenewBefore), once: not while a time-zone message is pending, nor
// while a lock that holds a table needs a time sync (its clock may be why
// it finds no offset) (AuditResult.ZoneQueued).
// A time sync cannot be queued (it answers one challenge): the app calls
// SyncClock(lock, challenge, force) on its visit, which signs one for that
// challenge's nonce when the lock is flagged or its challenge says its
// clock is unknown (else nil, unless forced).
//
// Online keys: every operation is authorised online
// against the lock's group stream "group-<lock>". TurnOnNetwork seals the
// lock's master code for an operating duration; TurnOffNetwork (or the
// duration ending, seen by the next command) shreds it, and online keys of
// the lock are refused (ErrNetworkOff, reason network_off): CreateKey with
// KindOnline makes one only while it is on. InviteMember,
// AcceptInvitation (personal password kept as a sealed argon2id hash, own
// lock name), DeclineInvitation (the owner is notified), WithdrawInvitation,
// SetMemberPermissions and RemoveMember manage the group; an online key is
// assigned to at most MaxOnlineAccounts accounts, members and open
// invitations together (ErrGroupFull, *GroupFullError). UnlockOnline checks
// membership, password (MaxPasswordFailures wrong ones lock the member out
// for LockoutDuration), permissions, schedule and network management, and
// records the attempt granted or denied with its reason. GroupStatus lists
// members, invitations and permissions. One stream per lock makes the
// 5-account bound, the lockout counter and every decision exact under
// concurrency.
//
// Who reads a lock's history: projections answer queries and know
// no callers, so a backend asks CanViewHistory(lock, account) first — the
// owner always, a member only while accepted and granted OpViewHistory.
//
// Passage mode: SetPassageMode (the lock's owner) sets the doors a lock
// frees to anyone during up to MaxPassagePeriods periods (policies with
// validity, weekly windows and blackouts in the lock's zone, no use limit;
// none clears), recorded on the lock stream (lock.passage_set, no secret)
// with, given an issuer, the signed message lockproto.TypePassage queued
// as a pending admin message in the same append (confirmed by the lock's
// audit like the others; one the lock can no longer apply is issued again only while
// no newer schedule was issued, or it would undo the newer). The lock's compact form may be narrower
// (PassageResult.Narrowed, as for credentials); a period no compact form
// can express is refused. PassageAt answers "is door D free at T" and
// until or from when, for apps. Passage mode widens no key: UnlockOnline,
// Unlock and UnlockByPIN still decide a key by its own rules (a refused
// key at a free door is still refused online; at the door the handle
// opens anyway). Opens in passage mode reach history through the audit
// upload (record kind lockproto.AuditPassage: no key, no account). The
// lock tallies opens once its audit is nearly full (anyone can turn a
// handle), so one record may stand for many opens: its
// AuditRecorded.Value says how many (at least 1), AuditResult.PassageOpens
// sums them, and history shows one entry per record with that count
// (projections.HistoryEntry.Opens), not one entry per open.
//
// Outbox secrets: AckNotification shreds the acknowledged notification's
// sealed code or PIN (crypto-shredding): it can never be revealed again
// (ErrShredded).
//
// # Lifecycle rules
//
//	share keys:    created → sharing → downloaded → reset | deactivation pending → deactivated
//	               edit and revoke only before download; delete when not held at a lock
//	               and not still open there (its reset or deactivation confirmed,
//	               or its credential ended)
//	digital keys:  delivered to their user on creation; edit, revoke, delete at any time;
//	               made and managed by the lock's owner and account managers
//	every kind:    suspend and resume where it may unlock (its state stays); ResetLock
//	               revokes every key of the lock, whatever the table says
//	intercom keys: created → sharing → downloaded; edit at any time (also once
//	               revoked), revoke and delete at any time; a single-use or
//	               recurring one has a start and an expiry (ErrNeedsValidity)
//	online keys:   created (network management on); edit and delete at any time;
//	               used by the members of the lock's group (UnlockOnline)
//
// The full table is kindRules in model.go; Allows answers it.
//
// # Observability
//
// The service logs through Options.Logger (log/slog; nil logs nothing),
// from the events a command appended (never for a replayed command ID):
//
//	Warn  a member locked out after wrong passwords (lock, account,
//	      failures, locked_until)
//	Warn  a keypad locked out after wrong codes (lock, panel, failures,
//	      locked_until)
//	Warn  an audit upload recorded a gap: lock records that have not
//	      reached the ledger (lock, by, after, first, missing)
//	Warn  a command gave up with ErrBusy (command ID, attempts)
//	Warn  an audit upload shows a lock's clock unknown or off by more than
//	      the tolerance (lock, known, offset_seconds, lower_bound)
//	Info  an admin message reissued because the lock can no longer apply it (lock, key,
//	      type, seq, reissues: the sequence number it repeats)
//
// No line holds a code, PIN, password, master code or sealed value: the
// fields logged are IDs, names and counts.
//
// Stats counts, with an atomic add per event and no allocation, the
// unlock decisions by access.Reason (the service's own, wrong codes at
// keypads among them, and those locks made offline as uploaded with
// IngestAudit), audit gaps, wrong passwords and lockouts, wrong codes and
// keypad lockouts, admin messages issued, reissued and shown applied, and
// commands that gave up with ErrBusy. The admin messages still waiting for
// a lock are per lock (PendingAdmin); a total would read every lock's
// stream, so Stats does not keep one. examples/metrics exports these
// snapshots, the ledger's and the projections' as Prometheus metrics.
package commands
