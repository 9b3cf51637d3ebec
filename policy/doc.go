// Package policy is the one schedule model of keyledger: may this key open
// now, what is its status, and when does it next open. It depends on no
// storage; commands, projections and lockproto all use it.
//
// # Model
//
// A Policy is AND-combined: validity [Start, End) (a zero side is open), a
// use limit (Unlimited, SingleUse, UsesN(n); the caller passes the number of
// granted uses so far), weekly Windows (OR-combined; none = no weekly
// restriction) and Blackouts that override windows: weekly ones (Days set,
// e.g. 22:00–06:00 every day, "invalid at night") and absolute instant
// ranges (Days zero, [Start, End)). Lock-wide blackouts join a key's with
// WithBlackouts. Dated Periods (Matter's year-day schedules: [Start, End),
// both required, at most MaxPeriods) are OR-combined with each other and
// AND-combined with the rest; none = no date restriction. Allowed checks in
// this order and returns the first failure: NotYetValid, Expired, Exhausted,
// OutsidePeriods, OutsideWindow, InBlackout. Periods come after the use
// limit and before the weekly rules: like validity they are dates, and a key
// between two periods is told so ("outside the key's dated periods") rather
// than that it is outside its weekly window. Status counts the periods as
// validity: a key is UPCOMING before its first period and EXPIRED after its
// last.
//
// AfterFirstUse ("expires N after first use", whole minutes, 1 minute to
// 366 days) needs the first use, which the policy model does not know: the
// key opens as if it were unset until the caller, who records the first
// granted use, decides with FirstUsed(at) — the policy with End = min(End,
// at + N) and AfterFirstUse cleared (package commands does; so do the read
// models and asof). The first use is the earliest granted use the caller
// knows of, not the first it learnt of: a use at the lock reported later
// may be earlier than one already recorded.
//
// Zone is the lock's IANA zone name ("" = UTC), stored as a string so a
// Policy serialises (msgpack, exported fields). Validate reports every
// problem at once (errors.Join of *ValidationError wrapping ErrInvalid; an
// unknown zone also wraps ErrUnknownZone).
//
// # Compile and Schedule
//
// A Policy is plain data: what a user wrote, nothing derived, no hidden
// caches. Compile(p) validates it (returning Validate's errors) and returns a
// *Schedule, the form that decides: the zone resolved once, and windows and
// weekly blackouts turned into one bit per minute of the week (2.5 KB), so
// Allowed tests a bit instead of walking rules. A Schedule is immutable —
// Compile copies the slices it keeps, so later edits to the Policy do not
// reach it — and may be shared by any number of goroutines without locks.
// Its Allowed, NextOpen and Status allocate nothing. A nil or zero Schedule
// refuses everything (InvalidPolicy), so a failed Compile fails closed.
//
// The same methods on Policy are conveniences that compile on each call (on
// the stack, without allocating, but rebuilding the bits: Policy.Allowed
// costs some 20 times Schedule.Allowed); an invalid policy fails closed with
// InvalidPolicy. Hot paths compile once per policy version and keep the
// *Schedule.
//
// Minutes follow one rule: From in 0..1439, To in 0..1440, From != To.
// Validate refuses any other range, so no compiled schedule holds one; the
// compact form's evaluator and the week bits both read such a range as
// covering no minute.
//
// Each zone keeps the UTC-offset period (between two offset changes) of its
// last lookup, shared by every Schedule in that zone: Allowed on an instant
// in that period costs an atomic load and two compares instead of
// t.In(loc).Zone(); an instant in another period (across a DST change, or
// far away) looks the offset up, stores its period and allocates that one
// 24-byte record. Results are exactly those of t.In(loc).Zone().
//
// # The DST rule
//
// Windows and weekly blackouts are evaluated on the wall-clock reading of
// the instant in the lock's zone: the weekday and minute of day of
// t.In(loc), computed as Unix seconds plus the zone's UTC offset at t. So:
//
//   - a window wholly inside the hour skipped on the spring-forward day
//     never opens that day (those wall minutes do not exist);
//   - a window inside the repeated hour on the fall-back day is open during
//     both passes (it lasts twice as long in real time);
//   - a window with To < From crosses midnight and belongs to the day it
//     starts: Fri 22:00–02:00 covers Sat 00:00–02:00, and on a change night
//     it is an hour shorter or longer in real time;
//   - To may be 24:00 (1440); windows are whole minutes, [From, To).
//
// The lock evaluates the compact form by the same arithmetic from a UTC
// offset (Compact.Allowed), so lock and server agree exactly whenever the
// lock knows the right offset. That is why the rule is wall-clock based.
// OffsetTransitions gives the issuer a bounded table of offsets for a zone
// over a period, which lockproto sends to the lock in a signed admin message.
//
// # NextOpen and Status
//
// NextOpen(after, uses) is the first instant >= after at which Allowed is
// Granted. It jumps from candidate to candidate (the next open minute of
// the week's bits in wall time, zone offset changes, absolute blackout ends,
// Start), not minute by minute, and allocates nothing. It reports none when
// the key is exhausted, expired, or has no open minute within 15 days after
// the later of after/Start, the last absolute blackout and the last period
// start (the weekly pattern repeats, so it then never opens), and after the
// last dated period. Status adds the key's state (UPCOMING,
// ACTIVE, EXPIRED, EXHAUSTED), whether the key may open now, and NextOpen.
//
// # The compact form and what it loses
//
// Schedule.Compact converts to Compact (issuers use CompactFrom(now), which
// first starts validity at now so past absolute blackouts cost nothing), the
// fixed-size form in an offline credential. Exact: validity in whole Unix seconds (Start rounded up, End
// down), use limits up to 65535, weekly windows with weekly blackouts
// subtracted (computed on a minute map of the week, then re-split into at
// most MaxCompactWindows windows, merging equal daily ranges across days),
// absolute blackouts that cover the start of validity (NotBefore moves
// to their end), and dated periods: in whole seconds like validity, clipped
// to validity (so those already over cost nothing), merged where they touch,
// validity narrowed to [first start, last end), and up to MaxCompactPeriods
// carried (a single one is validity itself and carries none). With a nil error Compact.Allowed grants exactly when
// Schedule.Allowed does, given the zone's offset at that instant. Reasons may
// differ: a weekly blackout reads as OutsideWindow on the lock, and an
// instant before the first or after the last dated period as NotYetValid or
// Expired.
//
// Lost, reported as a *CompactError wrapping ErrLossy together with a result
// that is narrower, never wider:
//   - an absolute blackout after the start: NotAfter becomes its start (the
//     issuer reissues after the blackout, or keeps the key online-only);
//   - more distinct windows than fit: the smallest (in minutes per week) are
//     dropped;
//   - more dated periods than fit: the first MaxCompactPeriods from the
//     issuance on are kept, the later ones dropped (the issuer reissues
//     once they are over);
//   - expires after first use: the lock does not record a key's first use,
//     so CompactFrom(now) counts from the earliest instant a use can be
//     granted — the latest of now, Start and the first dated period's start
//     still open (whole seconds, rounded down): NotAfter = min(End, that +
//     AfterFirstUse). No use comes earlier, so the lock's end is never later
//     than first use + N; it is earlier by the time between that instant
//     and the first use. Issuers pass the key's first issuance to that lock
//     as now (commands: the download, or the key's creation for PIN/card
//     set messages), also when they re-send, and never a first use they
//     learnt of: an earlier use at the lock may not have been reported yet.
//     Compact counts from Start or the first period, and refuses
//     (ErrNotCompact) without either;
//   - a use limit above 65535: 65535; an End after 2106: 2106-02-07.
//
// Refused with ErrNotCompact (zero result, must not be issued): an End
// before 1970, a Start after 2106, no open minute in the week, or validity
// made empty by blackouts. The issuer handles ErrLossy by issuing the
// narrower credential and telling the user (or refusing), and ErrNotCompact
// by not issuing an offline credential. Lock-wide blackouts are merged with
// WithBlackouts before converting. Per-lock time: the lock must also hold the
// right UTC offset (OffsetTransitions); with a wrong offset it is wrong by
// exactly that offset difference.
//
// # Interop
//
// Weekdays uses Matter's DaysMask bit order (bit 0 = Sunday). FromMatter,
// FromNuki (64 = Monday … 1 = Sunday) and FromTTLock (1 = Monday … 7 =
// Sunday, as TTLock's SDK numbers days for cyclic credentials and passage
// mode) and the matching methods convert; invalid input is a
// *FormatError wrapping ErrInvalid. ParseClock and FormatClock handle
// "HH:MM" (00:00–24:00).
//
// # Time zone data
//
// The package imports time/tzdata, so zones resolve on machines without
// /usr/share/zoneinfo (about 450 KB in binaries that import policy). The
// system database is still preferred when present; its version decides
// future offsets.
package policy
