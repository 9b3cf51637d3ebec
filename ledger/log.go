package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// What the ledger logs (Options.Logger). No line carries an event payload
// or state value: errors name positions, streams, event IDs, files and
// Pebble's messages, which hold no values.

// logEvery bounds how often a repeating condition is logged: Pebble retries
// a failed flush without backing off, so a full disk reports the same
// background error many times a second.
const logEvery = 10 * time.Second

// logTimes holds when rate-limited lines were last logged (Unix nanoseconds).
type logTimes struct {
	background, corruption atomic.Int64
}

// due reports whether a line last logged at *last may be logged now, and
// claims it.
func due(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	if prev != 0 && now-prev < int64(logEvery) {
		return false
	}
	return last.CompareAndSwap(prev, now)
}

func (l *Ledger) logFailed(cause error) {
	l.log.LogAttrs(context.Background(), slog.LevelError, "ledger: failed after a storage error; writes are refused until it is reopened",
		slog.Any("err", cause), slog.Uint64("durable_position", l.durable.Load()))
}

func (l *Ledger) logBackground(err error, n uint64) {
	if !due(&l.logAt.background) {
		return
	}
	l.log.LogAttrs(context.Background(), slog.LevelError, "ledger: pebble background error",
		slog.Any("err", err), slog.Uint64("background_errors", n))
}

func (l *Ledger) logCorruption(info pebble.DataCorruptionInfo, n uint64) {
	if !due(&l.logAt.corruption) {
		return
	}
	l.log.LogAttrs(context.Background(), slog.LevelError, "ledger: pebble found damaged data",
		slog.String("file", info.Path), slog.Any("err", info.Details), slog.Uint64("background_errors", n))
}

func (l *Ledger) logHeadsDamaged() {
	l.log.LogAttrs(context.Background(), slog.LevelError, "ledger: stored stream heads are damaged; appends and stream reads fail until the store is repaired",
		append(damageAttrs(l.headsErr), slog.Any("err", l.headsErr))...)
}

// logPebble passes a line of Pebble's logger on at level.
func (l *Ledger) logPebble(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.LogAttrs(ctx, level, "ledger: pebble: "+fmt.Sprintf(format, args...))
}

// logDamage logs what Verify (op "verify") or CheckDigest ("check_digest")
// found: damage at Warn, a failed read at Warn too (the check is
// incomplete); nothing for a closed ledger or an ended context.
func (l *Ledger) logDamage(ctx context.Context, op string, err error) {
	switch {
	case err == nil, errors.Is(err, ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return
	case errors.Is(err, ErrCorrupt):
		attrs := append(damageAttrs(err), slog.String("op", op), slog.Any("err", err))
		l.log.LogAttrs(ctx, slog.LevelWarn, "ledger: damage found", attrs...)
	default:
		l.log.LogAttrs(ctx, slog.LevelWarn, "ledger: check could not finish", slog.String("op", op), slog.Any("err", err))
	}
}

// damageAttrs names where err says the damage is.
func damageAttrs(err error) []slog.Attr {
	var ce *CorruptionError
	var ie *IndexError
	switch {
	case errors.As(err, &ie):
		return []slog.Attr{slog.String("index", ie.Index), slog.Uint64("position", ie.Position),
			slog.String("stream", ie.Stream), slog.Uint64("version", ie.Version), slog.String("reason", ie.Reason)}
	case errors.As(err, &ce):
		return []slog.Attr{slog.Uint64("position", ce.Position), slog.String("reason", ce.Reason)}
	}
	return nil
}
