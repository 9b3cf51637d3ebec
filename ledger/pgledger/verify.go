package pgledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// verifyChunk is how many events Verify and CheckDigest read per query.
const verifyChunk = 4096

// maxVerifyStreams bounds Verify's memory of each stream's last event;
// past it, an event's back-pointer is checked by reading the event it names.
const maxVerifyStreams = 1 << 18

// Head returns the digest of the log: the position and chain hash of its
// last committed event, from the head row every append updates.
func (s *Store) Head(ctx context.Context) (ledger.Digest, error) {
	if err := s.enter(); err != nil {
		return ledger.Digest{}, err
	}
	defer s.leave()
	d, err := scanHead(s.pool.QueryRow(ctx, s.q.head))
	if err != nil {
		return ledger.Digest{}, readErr(ctx, "head", err)
	}
	s.advance(d.Position)
	return d, nil
}

// scanHead reads the head row.
func scanHead(r pgx.Row) (ledger.Digest, error) {
	var pos int64
	var hash []byte
	err := r.Scan(&pos, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Digest{}, &ledger.IndexError{Index: "log head", Reason: "head row missing"}
	}
	if err != nil {
		return ledger.Digest{}, err
	}
	d := ledger.Digest{Position: uint64(pos)}
	if pos < 0 || len(hash) != len(d.Hash) {
		return ledger.Digest{}, &ledger.IndexError{Index: "log head", Position: d.Position, Reason: fmt.Sprintf("head row holds position %d and a %d-byte hash", pos, len(hash))}
	}
	copy(d.Hash[:], hash)
	return d, nil
}

// Verify reads the whole log from position 1 in one snapshot (a repeatable
// read, read-only transaction), recomputing the hash chain from every
// event's canonical bytes, and returns the digest of what it verified. The
// first broken position is a *CorruptionError (errors.Is ErrCorrupt): an
// event missing, one whose stored hash differs from the recomputed chain,
// or one whose version or back-pointer does not follow its stream's
// previous event. It then checks the derived rows against the log, as
// *IndexError: the head row (Index "log head": it must name the last event
// and its hash), and the stored stream heads (Index "head": each must name
// its stream's last event, and every stream must have one). State is not
// verified.
func (s *Store) Verify(ctx context.Context) (d ledger.Digest, err error) {
	defer func() { s.logDamage(ctx, "verify", err) }()
	err = s.inSnapshot(ctx, "verify", func(tx pgx.Tx) error {
		head, err := s.snapshotHead(ctx, tx)
		if err != nil {
			return err
		}
		v := &verifyState{streams: map[string]streamHead{}}
		if d, err = s.walk(ctx, tx, head.Position, v); err != nil {
			return err
		}
		return s.checkDerived(ctx, tx, head, d)
	})
	if err != nil {
		return ledger.Digest{}, err
	}
	return d, nil
}

// CheckDigest verifies the chain from position 1 to d.Position and reports
// whether it ends in d.Hash. A mismatch or a log shorter than d is a
// *CorruptionError: the history d covered was rewritten or truncated.
func (s *Store) CheckDigest(ctx context.Context, d ledger.Digest) (err error) {
	defer func() { s.logDamage(ctx, "check_digest", err) }()
	return s.inSnapshot(ctx, "check digest", func(tx pgx.Tx) error {
		head, err := s.snapshotHead(ctx, tx)
		if err != nil {
			return err
		}
		if d.Position > head.Position {
			return &ledger.CorruptionError{Position: head.Position + 1, Reason: fmt.Sprintf("log ends before the digest's position %d", d.Position)}
		}
		got, err := s.walk(ctx, tx, d.Position, nil)
		if err != nil {
			return err
		}
		if got.Hash != d.Hash {
			return &ledger.CorruptionError{Position: d.Position, Reason: "chain hash differs from the digest"}
		}
		return nil
	})
}

// inSnapshot runs f in a repeatable read, read-only transaction.
func (s *Store) inSnapshot(ctx context.Context, op string, f func(pgx.Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return readErr(ctx, op, err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := f(tx); err != nil {
		return readErr(ctx, op, err)
	}
	return nil
}

func (s *Store) snapshotHead(ctx context.Context, tx pgx.Tx) (ledger.Digest, error) {
	return scanHead(tx.QueryRow(ctx, s.q.head))
}

type verifyState struct {
	streams  map[string]streamHead
	overflow bool // streams was cleared: it no longer holds every stream
}

// walk verifies positions 1..end: the chain, and with v each stream's order.
func (s *Store) walk(ctx context.Context, tx pgx.Tx, end uint64, v *verifyState) (ledger.Digest, error) {
	var prev [32]byte
	var canon []byte
	next := uint64(1)
	for next <= end {
		if err := ctx.Err(); err != nil {
			return ledger.Digest{}, err
		}
		hi := min(end, next+verifyChunk-1)
		rows, err := tx.Query(ctx, s.q.verifyChunk, int64(next), int64(hi))
		if err != nil {
			return ledger.Digest{}, err
		}
		var rd rowReader
		for rows.Next() {
			w, err := rd.read(rows, true)
			if err == nil && w.pos != next {
				err = &ledger.CorruptionError{Position: next, Reason: "record missing"}
			}
			if err == nil {
				canon, prev, err = s.checkRow(&w, canon, prev)
			}
			if err == nil && v != nil {
				err = s.checkStreamOrder(ctx, tx, &w, v)
			}
			if err != nil {
				rows.Close()
				return ledger.Digest{}, err
			}
			next++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return ledger.Digest{}, err
		}
		if next != hi+1 {
			return ledger.Digest{}, &ledger.CorruptionError{Position: next, Reason: "record missing"}
		}
	}
	return ledger.Digest{Position: end, Hash: prev}, nil
}

// checkRow recomputes the chain hash of w after prev and compares it with
// the stored one.
func (s *Store) checkRow(w *row, canon []byte, prev [32]byte) ([]byte, [32]byte, error) {
	ev := ledger.Event{Position: w.pos, Stream: w.stream, Version: w.ver, ID: w.id, Type: w.typ,
		Schema: w.schema, Time: time.Unix(0, w.time), Raw: w.payload}
	canon, err := ledger.AppendCanonical(canon[:0], &ev, w.prev)
	if err != nil {
		return canon, prev, &ledger.CorruptionError{Position: w.pos, Reason: "undecodable record: " + err.Error()}
	}
	if w.first > w.pos || w.pos > w.last {
		return canon, prev, &ledger.CorruptionError{Position: w.pos, Reason: fmt.Sprintf("outside its append's positions %d..%d", w.first, w.last)}
	}
	h := ledger.ChainHash(prev, canon)
	if !bytes.Equal(h[:], w.hash) {
		return canon, prev, &ledger.CorruptionError{Position: w.pos, Reason: "hash chain broken"}
	}
	return canon, h, nil
}

// checkStreamOrder checks that w follows its stream's previous event: the
// next version and a back-pointer to that event.
func (s *Store) checkStreamOrder(ctx context.Context, tx pgx.Tx, w *row, v *verifyState) error {
	bad := func(reason string, args ...any) error {
		return &ledger.CorruptionError{Position: w.pos, Reason: fmt.Sprintf("%q version %d: ", w.stream, w.ver) + fmt.Sprintf(reason, args...)}
	}
	last, seen := v.streams[w.stream]
	switch {
	case seen && w.ver != last.ver+1:
		return bad("the stream's previous event (position %d) is version %d", last.pos, last.ver)
	case seen && w.prev != last.pos:
		return bad("points back at position %d, the stream's previous event is at %d", w.prev, last.pos)
	case !seen && !v.overflow && w.ver != 1:
		return bad("the stream has no earlier event")
	case !seen && v.overflow && w.ver > 1:
		var stream string
		var ver int64
		err := tx.QueryRow(ctx, s.q.eventStreamAt, int64(w.prev)).Scan(&stream, &ver)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && (stream != w.stream || uint64(ver) != w.ver-1) {
			return bad("points back at position %d, which holds %q version %d", w.prev, stream, ver)
		}
		if err != nil {
			return err
		}
	}
	if !seen && len(v.streams) >= maxVerifyStreams {
		clear(v.streams)
		v.overflow = true
	}
	v.streams[w.stream] = streamHead{ver: w.ver, pos: w.pos}
	return nil
}

// checkDerived checks the head row and the stored stream heads against the
// log verified through d.
func (s *Store) checkDerived(ctx context.Context, tx pgx.Tx, head, d ledger.Digest) error {
	var after int64
	err := tx.QueryRow(ctx, s.q.afterHead, int64(head.Position)).Scan(&after)
	switch {
	case err == nil:
		return &ledger.IndexError{Index: "log head", Position: head.Position, Reason: fmt.Sprintf("head row names position %d, but the log goes on at %d", head.Position, after)}
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	case head.Hash != d.Hash:
		return &ledger.IndexError{Index: "log head", Position: head.Position, Reason: "head row's hash differs from the chain"}
	}
	var stream, estream string
	var ver, pos, ever, lver int64
	err = tx.QueryRow(ctx, s.q.checkHeads).Scan(&stream, &ver, &pos, &estream, &ever, &lver)
	switch {
	case err == nil:
		return &ledger.IndexError{Index: "head", Position: uint64(pos), Stream: stream, Version: uint64(ver),
			Reason: fmt.Sprintf("names position %d, which holds %q version %d; the stream's last version is %d", pos, estream, ever, lver)}
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	err = tx.QueryRow(ctx, s.q.missingHeads).Scan(&stream, &pos)
	switch {
	case err == nil:
		return &ledger.IndexError{Index: "head", Position: uint64(pos), Stream: stream, Version: 1, Reason: "entry missing"}
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	return nil
}

// logDamage logs what Verify or CheckDigest found, as the ledger on Pebble
// does: damage at Warn, a check that could not finish at Warn too.
func (s *Store) logDamage(ctx context.Context, op string, err error) {
	var ce *ledger.CorruptionError
	var ie *ledger.IndexError
	switch {
	case err == nil, errors.Is(err, ledger.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return
	case errors.As(err, &ie):
		s.log.LogAttrs(ctx, slog.LevelWarn, "pgledger: damage found", slog.String("op", op), slog.String("index", ie.Index),
			slog.Uint64("position", ie.Position), slog.String("stream", ie.Stream), slog.Uint64("version", ie.Version),
			slog.String("reason", ie.Reason), slog.Any("err", err))
	case errors.As(err, &ce):
		s.log.LogAttrs(ctx, slog.LevelWarn, "pgledger: damage found", slog.String("op", op),
			slog.Uint64("position", ce.Position), slog.String("reason", ce.Reason), slog.Any("err", err))
	default:
		s.log.LogAttrs(ctx, slog.LevelWarn, "pgledger: check could not finish", slog.String("op", op), slog.Any("err", err))
	}
}
