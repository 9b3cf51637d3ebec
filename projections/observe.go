package projections

import (
	"context"
	"log/slog"
	"time"
)

// defaultLagAlert is Options.LagAlert's default.
const defaultLagAlert = 10 * time.Second

// Stats is a snapshot of the projections' progress. Counters only grow.
type Stats struct {
	// Applied is Applied(): every event up to it is in the read models.
	Applied uint64
	// Durable is the store's DurablePosition, read just after Applied.
	Durable uint64
	// Lag is Durable - Applied: events durable in the log and not yet in
	// the read models (queries do not show them yet; commands waiting on
	// WaitApplied wait for them).
	Lag uint64
	// Batches counts the batches applied (one ApplyState each) and Events
	// the events in them (events of types the read models skip included),
	// since Open; a Rebuild's replay counts too.
	Batches, Events uint64
	// Stopped reports whether an error stopped the projections (Err).
	Stopped bool
}

// Stats returns a snapshot of the projections' progress.
func (p *Projections) Stats() Stats {
	a := p.applied.Load()
	d := max(p.store.DurablePosition(), a)
	return Stats{Applied: a, Durable: d, Lag: d - a, Batches: p.batches.Load(), Events: p.events.Load(), Stopped: p.failed.Load() != nil}
}

// Lag is the number of events durable in the log and not yet applied.
func (p *Projections) Lag() uint64 {
	a := p.applied.Load()
	return max(p.store.DurablePosition(), a) - a
}

func (p *Projections) logFailed(err error) {
	p.log.LogAttrs(context.Background(), slog.LevelError, "projections: stopped; queries show the read models as of the applied position",
		slog.Any("err", err), slog.Uint64("applied", p.applied.Load()), slog.Uint64("durable", p.store.DurablePosition()))
}

// lagWatch tells, after each batch, whether the projections keep up with
// the log. It belongs to the applying goroutine.
//
// Catching up (after Open from an older checkpoint, or a Rebuild) is
// expected to take a while: it is logged at Info when it starts and ends.
// Afterwards, an event that waits, between becoming durable and being
// applied, longer than LagAlert means the projections fall behind the log
// (Error, once, until they reach the head of the log again: Info). The wait
// is known from below: an event not applied at a check has been durable
// since that check at least, so at a later check it has waited at least
// the time between the two, whether it was applied meanwhile or not.
type lagWatch struct {
	p           *Projections
	live        bool // caught up with what was durable at the start
	start       time.Time
	from, to    uint64    // catching up: from the checkpoint to the durable position at the start
	oldest      uint64    // the oldest event waiting at the check at since (0: none was waiting)
	since       time.Time // when oldest was seen durable and waiting
	behind      bool
	behindSince time.Time
}

func (p *Projections) newLagWatch(cp uint64) *lagWatch {
	w := &lagWatch{p: p, start: time.Now(), from: cp, to: p.store.DurablePosition()}
	w.live = w.to <= cp
	if !w.live {
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "projections: catching up with the log",
			slog.Uint64("from", cp), slog.Uint64("to", w.to))
	}
	return w
}

func (w *lagWatch) check(ctx context.Context) {
	p := w.p
	applied := p.applied.Load()
	durable := p.store.DurablePosition()
	now := time.Now()
	if !w.live {
		if applied < w.to {
			return
		}
		w.live = true
		p.log.LogAttrs(ctx, slog.LevelInfo, "projections: caught up with the log",
			slog.Uint64("applied", applied), slog.Uint64("events", applied-w.from), slog.Duration("took", now.Sub(w.start)))
	}
	if w.oldest != 0 && !w.behind && p.lagAlert > 0 {
		if waited := now.Sub(w.since); waited > p.lagAlert {
			w.behind, w.behindSince = true, w.since
			p.log.LogAttrs(ctx, slog.LevelError, "projections: falling behind the log",
				slog.Uint64("applied", applied), slog.Uint64("durable", durable), slog.Uint64("lag", max(durable, applied)-applied),
				slog.Duration("waited", waited))
		}
	}
	switch {
	case applied >= durable:
		if w.behind {
			p.log.LogAttrs(ctx, slog.LevelInfo, "projections: back at the head of the log",
				slog.Uint64("applied", applied), slog.Duration("behind_for", now.Sub(w.behindSince)))
		}
		w.behind, w.oldest = false, 0
	case w.oldest == 0 || applied >= w.oldest:
		w.oldest, w.since = applied+1, now
	}
}
