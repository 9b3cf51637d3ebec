package proofs

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/ledger"
)

// Request says what to export.
type Request struct {
	// Positions are the events to export, in any order, repeats allowed:
	// an answer that cites log positions exports them as they are.
	Positions []uint64
	// Key signs the head (the log key; see the package documentation).
	Key ed25519.PrivateKey
	// Size is the tree size to prove against; 0 means the tree's size now.
	Size uint64
	// Since are heads the recipient may already hold: the bundle carries a
	// consistency proof from each to its own head.
	Since []evidence.Head
	// Render, if set, renders an event's decoded payload for a reader
	// (Event.Data in the bundle). Not covered by any proof.
	Render func(ledger.Event) (json.RawMessage, error)
	// Confirm, if set, returns the positions of the events that confirm
	// ev (a lock's audit records of it); they are exported too, each with
	// its own proof.
	Confirm func(ctx context.Context, ev ledger.Event) ([]uint64, error)
	// Question, if set, is the question the bundle answers (its Ask,
	// Answer and the Positions the answer cites; no Signature). Its
	// positions are exported with the others, and Key signs it with the
	// head.
	Question *evidence.Question
}

// Export builds an evidence bundle: every requested event (and those that
// confirm it) with its canonical record bytes, its summary and its
// inclusion proof, under a head of the tree signed with req.Key, and
// consistency proofs from req.Since, and req.Question signed. The tree must cover every position
// (Update it first); each proof costs O(log size) reads.
func Export(ctx context.Context, t *Tree, req Request) (*evidence.Bundle, error) {
	size := req.Size
	if size == 0 {
		var err error
		if size, err = t.Size(ctx); err != nil {
			return nil, err
		}
	}
	head, err := t.Sign(ctx, size, req.Key)
	if err != nil {
		return nil, err
	}
	b := &evidence.Bundle{Format: evidence.FormatName, Version: evidence.Version, Head: head, Events: []evidence.Event{}}
	for _, h := range req.Since {
		c, err := consistencyFrom(ctx, t, h, size)
		if err != nil {
			return nil, err
		}
		b.Consistency = append(b.Consistency, c)
	}
	positions := slices.Clone(req.Positions)
	if q := req.Question; q != nil {
		b.Question = evidence.SignQuestion(*q, head.Head, req.Key)
		positions = append(positions, q.Positions...)
	}
	slices.Sort(positions)
	positions = slices.Compact(positions)
	index := map[uint64]int{}
	var add func(pos uint64, note string) (int, error)
	add = func(pos uint64, note string) (int, error) {
		if i, ok := index[pos]; ok {
			return i, nil
		}
		e, ev, err := eventEvidence(ctx, t, pos, size)
		if err != nil {
			return 0, err
		}
		if req.Render != nil {
			if e.Data, err = req.Render(ev); err != nil {
				return 0, fmt.Errorf("proofs: render the event at position %d: %w", pos, err)
			}
		}
		e.Note = note
		b.Events = append(b.Events, e)
		i := len(b.Events) - 1
		index[pos] = i
		if req.Confirm == nil || note != "" {
			return i, nil // confirmations are not followed further
		}
		by, err := req.Confirm(ctx, ev)
		if err != nil {
			return 0, fmt.Errorf("proofs: confirmations of the event at position %d: %w", pos, err)
		}
		for _, p := range by {
			if p == pos || p > size {
				continue
			}
			if _, err := add(p, fmt.Sprintf("confirms position %d", pos)); err != nil {
				return 0, err
			}
			b.Events[i].ConfirmedBy = append(b.Events[i].ConfirmedBy, p)
		}
		return i, nil
	}
	for _, pos := range positions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := add(pos, ""); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(b.Events, func(x, y evidence.Event) int { return compare(x.Position, y.Position) })
	return b, nil
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func consistencyFrom(ctx context.Context, t *Tree, h evidence.Head, size uint64) (evidence.Consistency, error) {
	if h.Size > size {
		return evidence.Consistency{}, &Error{Err: ErrRange, Reason: fmt.Sprintf("a head of size %d is newer than the exported head of size %d", h.Size, size)}
	}
	root, err := t.Root(ctx, h.Size)
	if err != nil {
		return evidence.Consistency{}, err
	}
	if root != h.Root {
		return evidence.Consistency{}, &Error{Err: ErrForeignHead, Reason: fmt.Sprintf("the head of size %d has root %s, this log's tree of that size has %s", h.Size, h.Root, root)}
	}
	p, err := t.Consistency(ctx, h.Size, size)
	if err != nil {
		return evidence.Consistency{}, err
	}
	return evidence.Consistency{FromSize: h.Size, FromRoot: h.Root, Proof: p}, nil
}

// eventEvidence reads the event at pos, its canonical bytes and its proof
// in the tree of size, and checks its leaf against the stored one.
func eventEvidence(ctx context.Context, t *Tree, pos, size uint64) (evidence.Event, ledger.Event, error) {
	if pos == 0 || pos > size {
		return evidence.Event{}, ledger.Event{}, &Error{Err: ErrRange, Position: pos, Reason: fmt.Sprintf("not in the exported tree of size %d", size)}
	}
	ev, err := t.store.EventAt(ctx, pos)
	if err != nil {
		return evidence.Event{}, ev, err
	}
	stored, prev, err := t.nodeValue(ctx, leafID(pos))
	if err != nil {
		return evidence.Event{}, ev, err
	}
	rec, err := ledger.AppendCanonical(nil, &ev, prev)
	if err != nil {
		return evidence.Event{}, ev, &Error{Err: ErrIndex, Position: pos, Reason: "canonical bytes: " + err.Error()}
	}
	if evidence.LeafHash(rec) != stored {
		return evidence.Event{}, ev, &Error{Err: ErrIndex, Position: pos, Reason: "the stored leaf is not the event's: the log or the index changed"}
	}
	p, err := t.Inclusion(ctx, pos, size)
	if err != nil {
		return evidence.Event{}, ev, err
	}
	r, err := evidence.ParseRecord(rec)
	if err != nil {
		return evidence.Event{}, ev, &Error{Err: ErrIndex, Position: pos, Reason: err.Error()}
	}
	return evidence.Event{Position: pos, Record: rec, Summary: r.Summary(), Proof: p}, ev, nil
}

// StreamPositions returns the positions of a stream's events.
func StreamPositions(ctx context.Context, log ledger.Log, stream string) ([]uint64, error) {
	var out []uint64
	for ev, err := range log.ReadStream(ctx, stream, 1) {
		if err != nil {
			return nil, err
		}
		out = append(out, ev.Position)
	}
	return out, nil
}

// TimePositions returns the positions of the events stamped in
// [since, until) (a zero until: no end). It reads the whole log.
func TimePositions(ctx context.Context, log ledger.Log, since, until time.Time) ([]uint64, error) {
	var out []uint64
	for ev, err := range log.ReadAll(ctx, 1) {
		if err != nil {
			return nil, err
		}
		if !ev.Time.Before(since) && (until.IsZero() || ev.Time.Before(until)) {
			out = append(out, ev.Position)
		}
	}
	return out, nil
}
