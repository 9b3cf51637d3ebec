package pgledger

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// scanChunk is how many state entries ScanState fetches per query.
const scanChunk = 512

// ApplyState commits the batch in one transaction, its operations in
// order, all or none. The commit is durable when it returns, except for a
// batch with SetNoSyncWait(true): it commits with synchronous_commit off
// for its transaction, so it is atomic and visible at once, and a server
// crash may lose the newest such batches, whole (never an append, never
// rows without their checkpoint). A connection lost after the commit was
// sent is ErrUnknownOutcome: apply the same batch again.
func (s *Store) ApplyState(ctx context.Context, sb *ledger.StateBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if sb == nil || sb.Len() == 0 {
		return nil
	}
	if err := sb.Validate(); err != nil {
		return err
	}
	pb := &pgx.Batch{}
	pb.Queue("BEGIN")
	if sb.NoSyncWait() {
		pb.Queue("SET LOCAL synchronous_commit = off")
	}
	// A run of Sets becomes one upsert; a key set twice in it keeps the
	// later value, as the later operation wins.
	var keys, vals [][]byte
	at := map[string]int{}
	checkpoint := ""

	flush := func() {
		if len(keys) > 0 {
			pb.Queue(s.q.setState, keys, vals)
			keys, vals = nil, nil
			clear(at)
		}
	}
	for op := range sb.Ops() {
		if op.Kind != ledger.OpSet {
			flush()
		}
		switch op.Kind {
		case ledger.OpSet:
			v := op.Value
			if v == nil {
				v = []byte{}
			}
			if i, ok := at[string(op.Key)]; ok {
				vals[i] = v
				continue
			}
			at[string(op.Key)] = len(keys)
			keys, vals = append(keys, op.Key), append(vals, v)
		case ledger.OpDelete:
			pb.Queue(s.q.deleteState, op.Key)
		case ledger.OpDeletePrefix:
			switch end := prefixEnd(op.Key); {
			case len(op.Key) == 0:
				pb.Queue(s.q.deleteAll)
			case end == nil:
				pb.Queue(s.q.deleteFrom, op.Key)
			default:
				pb.Queue(s.q.deleteRange, op.Key, end)
			}
		case ledger.OpSetCheckpoint:
			checkpoint = op.Name
			if op.Position == 0 {
				pb.Queue(s.q.deleteCheckpoint, op.Name)
			} else {
				pb.Queue(s.q.setCheckpoint, op.Name, int64(op.Position))
			}
		default:
			return invalidf("state operation %v", op.Kind)
		}
	}
	flush()
	pb.Queue("COMMIT")
	if h := s.leaseOf(ctx, checkpoint); checkpoint != "" && h != nil {
		return s.applyLeased(ctx, checkpoint, h, pb)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return readErr(ctx, "apply state", err)
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, pb)
	if h := s.hooks.stateSent; h != nil {
		h(conn.Conn())
	}
	n := pb.Len()
	for i := range n {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			// The transaction may be left open or aborted: close the session.
			_ = conn.Conn().Close(context.Background())
			return commitErr(ctx, "apply state", err, i == n-1)
		}
	}
	if err := br.Close(); err != nil {
		_ = conn.Conn().Close(context.Background())
		return commitErr(ctx, "apply state", err, true)
	}
	return nil
}

// prefixEnd returns the smallest key above every key starting with p, or
// nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// GetState returns the value stored under key, or ErrNotFound.
func (s *Store) GetState(ctx context.Context, key []byte) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var v []byte
	err := s.pool.QueryRow(ctx, s.q.getState, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: state key %q", ledger.ErrNotFound, key)
	}
	if err != nil {
		return nil, readErr(ctx, "get state", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// ScanState yields the state entries whose keys start with prefix, in key
// order (bytewise), one consistent view per chunk of entries.
func (s *Store) ScanState(ctx context.Context, prefix []byte) iter.Seq2[ledger.StateEntry, error] {
	return func(yield func(ledger.StateEntry, error) bool) {
		lo, hi := append([]byte{}, prefix...), prefixEnd(prefix) // not nil: nil is NULL
		for {
			if err := ctx.Err(); err != nil {
				yield(ledger.StateEntry{}, err)
				return
			}
			batch, err := s.scanChunk(ctx, lo, hi)
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
			if err != nil {
				yield(ledger.StateEntry{}, err)
				return
			}
			if len(batch) < scanChunk {
				return
			}
			lo = append(batch[len(batch)-1].Key[:len(batch[len(batch)-1].Key):len(batch[len(batch)-1].Key)], 0)
		}
	}
}

func (s *Store) scanChunk(ctx context.Context, lo, hi []byte) ([]ledger.StateEntry, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var rows pgx.Rows
	var err error
	if hi == nil {
		rows, err = s.pool.Query(ctx, s.q.scanFrom, lo, scanChunk)
	} else {
		rows, err = s.pool.Query(ctx, s.q.scanRange, lo, hi, scanChunk)
	}
	if err != nil {
		return nil, readErr(ctx, "scan state", err)
	}
	defer rows.Close()
	var out []ledger.StateEntry
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 2 {
			return nil, fmt.Errorf("pgledger: malformed state row")
		}
		out = append(out, ledger.StateEntry{Key: append([]byte{}, v[0]...), Value: append([]byte{}, v[1]...)})
	}
	if err := rows.Err(); err != nil {
		return nil, readErr(ctx, "scan state", err)
	}
	return out, nil
}

// CompactState runs VACUUM on the state table: the row versions that
// deletes left behind are removed from its pages once no transaction can
// still see them (a long-running one, on any connection, keeps them). It
// does not reach the write-ahead log, its archives, base backups or
// replicas: see the package documentation, Erasure.
func (s *Store) CompactState(ctx context.Context, prefix []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if _, err := s.pool.Exec(ctx, "VACUUM "+pgx.Identifier{s.schema, "state"}.Sanitize()); err != nil {
		return readErr(ctx, "compact state", err)
	}
	return nil
}

// Checkpoint returns the position saved for a named subscriber, 0 if none.
func (s *Store) Checkpoint(ctx context.Context, name string) (uint64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var p int64
	err := s.pool.QueryRow(ctx, s.q.getCheckpoint, name).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, readErr(ctx, "checkpoint", err)
	}
	return uint64(p), nil
}

func checkName(name string) error {
	if name == "" || !validName(name) {
		return invalidf("checkpoint name %q must be non-empty UTF-8 without NUL", name)
	}
	return nil
}
