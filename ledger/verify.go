package ledger

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Digest identifies the log up to Position: Hash is the chain hash of the
// record there. Export it; CheckDigest later proves the log still starts with
// exactly the history it covers.
type Digest struct {
	Position uint64
	Hash     [32]byte
}

// String formats the digest as "position:hex-hash"; ParseDigest reads it back.
func (d Digest) String() string { return fmt.Sprintf("%d:%x", d.Position, d.Hash[:]) }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// ParseDigest parses the form written by Digest.String.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	ps, hs, ok := strings.Cut(s, ":")
	if !ok {
		return d, invalidf("digest %q: want position:hash", s)
	}
	p, err := strconv.ParseUint(ps, 10, 64)
	if err != nil {
		return d, invalidf("digest %q: bad position", s)
	}
	h, err := hex.DecodeString(hs)
	if err != nil || len(h) != len(d.Hash) {
		return d, invalidf("digest %q: hash must be %d hex bytes", s, len(d.Hash))
	}
	d.Position = p
	copy(d.Hash[:], h)
	return d, nil
}

// Head returns the digest of the durable log.
func (l *Ledger) Head() (Digest, error) {
	if err := l.enter(); err != nil {
		return Digest{}, err
	}
	defer l.gate.RUnlock()
	l.wm.Lock()
	defer l.wm.Unlock()
	return Digest{Position: l.durable.Load(), Hash: l.durableHash}, nil
}

// Verify streams the durable log from position 1, decoding every record and
// recomputing the hash chain, and returns the digest of what it verified. The
// first broken position is reported as a *CorruptionError (errors.Is ErrCorrupt):
// a record missing, undecodable, at the wrong position, or whose stored hash
// differs from the recomputed chain.
//
// Verify proves the log is internally consistent. Someone able to rewrite the
// store could rewrite every later hash too; CheckDigest against a digest
// exported earlier detects that.
func (l *Ledger) Verify(ctx context.Context) (Digest, error) {
	if err := l.enter(); err != nil {
		return Digest{}, err
	}
	l.gate.RUnlock()
	end := l.DurablePosition()
	return l.walkChain(ctx, end)
}

// CheckDigest verifies the chain from position 1 to d.Position and reports
// whether it ends in d.Hash. A mismatch or a log shorter than d is a
// *CorruptionError: the history d covered was rewritten or truncated.
func (l *Ledger) CheckDigest(ctx context.Context, d Digest) error {
	if err := l.enter(); err != nil {
		return err
	}
	l.gate.RUnlock()
	if d.Position > l.DurablePosition() {
		return &CorruptionError{Position: l.DurablePosition() + 1, Reason: fmt.Sprintf("log ends before the digest's position %d", d.Position)}
	}
	got, err := l.walkChain(ctx, d.Position)
	if err != nil {
		return err
	}
	if got.Hash != d.Hash {
		return &CorruptionError{Position: d.Position, Reason: "chain hash differs from the digest"}
	}
	return nil
}

// walkChain verifies positions 1..end.
func (l *Ledger) walkChain(ctx context.Context, end uint64) (Digest, error) {
	var prev [32]byte
	next := uint64(1)
	for next <= end {
		if err := ctx.Err(); err != nil {
			return Digest{}, err
		}
		var err error
		next, prev, err = l.verifyChunk(next, min(end, next+4095), prev)
		if err != nil {
			return Digest{}, err
		}
	}
	return Digest{Position: end, Hash: prev}, nil
}

func (l *Ledger) verifyChunk(from, hi uint64, prev [32]byte) (next uint64, hash [32]byte, err error) {
	if err := l.enter(); err != nil {
		return 0, prev, err
	}
	defer l.gate.RUnlock()
	defer l.guard(&err, false)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: logKey(from), UpperBound: logKey(hi + 1)})
	if err != nil {
		return 0, prev, err
	}
	defer it.Close()
	want := from
	for ok := it.First(); ok; ok = it.Next() {
		pos := u64(it.Key()[1:])
		if pos != want {
			return 0, prev, &CorruptionError{Position: want, Reason: "record missing"}
		}
		v := it.Value()
		r, err := decodeRecord(v)
		if err != nil {
			return 0, prev, &CorruptionError{Position: pos, Reason: "undecodable record: " + err.Error()}
		}
		if r.pos != pos {
			return 0, prev, &CorruptionError{Position: pos, Reason: fmt.Sprintf("record claims position %d", r.pos)}
		}
		h := chainHash(prev, recordBody(v))
		if h != r.hash {
			return 0, prev, &CorruptionError{Position: pos, Reason: "hash chain broken"}
		}
		prev = h
		want++
	}
	if err := it.Error(); err != nil {
		return 0, prev, &CorruptionError{Position: want, Reason: "storage read failed", Err: err}
	}
	if want != hi+1 {
		return 0, prev, &CorruptionError{Position: want, Reason: "record missing"}
	}
	return want, prev, nil
}
