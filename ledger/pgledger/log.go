package pgledger

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// What the store logs (Options.Logger). No line carries an event payload
// or a state value: errors name positions, streams, subscribers and the
// server's messages.

// logEvery bounds how often a repeating condition is logged: a server that
// is down fails every poll.
const logEvery = 10 * time.Second

// logTimes holds when rate-limited lines were last logged (Unix nanoseconds).
type logTimes struct {
	append, unavailable atomic.Int64
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

// logUnavailable logs a failure to reach the server by a background reader
// (op "listen" or "follow"), which keeps trying.
func (s *Store) logUnavailable(op string, err error) {
	if !due(&s.logAt.unavailable) {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "pgledger: server unreachable; trying again",
		slog.String("op", op), slog.Any("err", err), slog.Duration("every", s.poll))
}
