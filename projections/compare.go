package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/keyledger/keyledger/ledger"
)

// What "a rebuild equals the incrementally maintained state" means
// exactly: every row is byte-for-byte the same except the history index
// rows, which group the entries one batch wrote for one lock, key or
// account and UTC day under that batch's first position. Their grouping
// depends on where batches began (a rebuild applies up to
// Options.BatchSize events per batch, a live service a few), so two read
// models of the same log agree on the set of history entries — (entity,
// day, position, time) — not on the rows that hold them. Compare and Dump
// expand history rows into one canonical row per entry so that two read
// models can be compared without knowing the layout.

// StatePrefix is the state-space prefix of every read-model row: Rebuild
// deletes exactly this prefix. Copying a store's rows under it copies the
// read models (with the checkpoint, ledger.StateStore.Checkpoint(Options.Name)).
const StatePrefix = prefix

// Dump yields every read-model row of a store in canonical form, in key
// order: rows as stored, except history index rows, expanded into one row
// per entry (the row's key without its batch position, then the entry's
// position and time, 8 bytes each, big-endian; an empty value). Two stores
// hold equal read models exactly when their Dumps are equal.
func Dump(ctx context.Context, s ledger.StateStore) iter.Seq2[ledger.StateEntry, error] {
	return func(yield func(ledger.StateEntry, error) bool) {
		// History rows of one entity and day are contiguous; their entries
		// are gathered and sorted, so the order never depends on batches.
		var group []byte
		var entries [][16]byte
		var refs []histRef
		flush := func() bool {
			slices.SortFunc(entries, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
			for _, e := range entries {
				if !yield(ledger.StateEntry{Key: append(slices.Clip(group), e[:]...), Value: []byte{}}, nil) {
					return false
				}
			}
			group, entries = nil, entries[:0]
			return true
		}
		for e, err := range s.ScanState(ctx, []byte(prefix)) {
			if err != nil {
				yield(ledger.StateEntry{}, err)
				return
			}
			g, ok := historyGroup(e)
			if ok {
				refs, ok = histEntries(refs[:0], e.Value)
			}
			if !ok || !bytes.Equal(g, group) {
				if !flush() {
					return
				}
			}
			if !ok {
				if !yield(e, nil) {
					return
				}
				continue
			}
			group = g
			for _, r := range refs {
				entries = append(entries, r.canonical())
			}
		}
		flush()
	}
}

var historyPrefix = []byte(prefix + "h/")

// historyGroup returns the entity-and-day part of a history index row's key
// (everything but the batch position). Rows whose value is not one of the
// layouts (histEntries) are compared as they are.
func historyGroup(e ledger.StateEntry) ([]byte, bool) {
	if !bytes.HasPrefix(e.Key, historyPrefix) || len(e.Key) < len(historyPrefix)+8 {
		return nil, false
	}
	return e.Key[:len(e.Key)-8], true
}

// canonical is the entry's part of its canonical key (Dump).
func (r histRef) canonical() (c [16]byte) {
	binary.BigEndian.PutUint64(c[:], r.pos)
	binary.BigEndian.PutUint64(c[8:], uint64(r.ns))
	return c
}

// CanonicalRows appends a read-model row in the canonical form of Dump to
// dst: a history index row as one row per entry (in the row's order), any
// other row as it is. Dump also orders each entity and day's entries; a
// caller that needs no order (a set of rows) can use this row by row.
func CanonicalRows(dst []ledger.StateEntry, e ledger.StateEntry) []ledger.StateEntry {
	g, ok := historyGroup(e)
	var refs []histRef
	if ok {
		refs, ok = histEntries(nil, e.Value)
	}
	if !ok {
		return append(dst, e)
	}
	for _, r := range refs {
		c := r.canonical()
		dst = append(dst, ledger.StateEntry{Key: append(slices.Clip(g), c[:]...), Value: []byte{}})
	}
	return dst
}

// Comparison is what Compare found.
type Comparison struct {
	Rows   int      // canonical rows in b
	Differ int      // canonical rows missing on one side or with another value
	First  *RowDiff // the first difference in key order; nil when they agree
}

// RowDiff is one canonical row that differs.
type RowDiff struct {
	Key      []byte // canonical key (see Dump)
	Row      string // what the row is, for people
	A, B     []byte // the values; nil where absent
	InA, InB bool
}

func (d *RowDiff) String() string {
	switch {
	case !d.InA:
		return d.Row + " only in the second"
	case !d.InB:
		return d.Row + " only in the first"
	}
	return d.Row + " differs"
}

// Compare compares the read models of two stores row by row in canonical
// form (Dump): agreeing stores have Differ == 0. It streams both and holds
// one history group in memory at a time.
func Compare(ctx context.Context, a, b ledger.StateStore) (Comparison, error) {
	var c Comparison
	na, stopA := iter.Pull2(Dump(ctx, a))
	defer stopA()
	nb, stopB := iter.Pull2(Dump(ctx, b))
	defer stopB()
	next := func(n func() (ledger.StateEntry, error, bool)) (*ledger.StateEntry, error) {
		e, err, ok := n()
		if !ok {
			return nil, nil
		}
		return &e, err
	}
	ea, err := next(na)
	if err != nil {
		return c, err
	}
	eb, err := next(nb)
	if err != nil {
		return c, err
	}
	for ea != nil || eb != nil {
		d := 0
		switch {
		case ea == nil:
			d = 1
		case eb == nil:
			d = -1
		default:
			d = bytes.Compare(ea.Key, eb.Key)
		}
		var diff *RowDiff
		switch {
		case d < 0:
			diff = &RowDiff{Key: ea.Key, A: ea.Value, InA: true}
		case d > 0:
			diff = &RowDiff{Key: eb.Key, B: eb.Value, InB: true}
		case !bytes.Equal(ea.Value, eb.Value):
			diff = &RowDiff{Key: ea.Key, A: ea.Value, B: eb.Value, InA: true, InB: true}
		}
		if d >= 0 {
			c.Rows++
		}
		if diff != nil {
			c.Differ++
			if c.First == nil {
				diff.Row = RowName(diff.Key)
				c.First = diff
			}
		}
		if d <= 0 {
			if ea, err = next(na); err != nil {
				return c, err
			}
		}
		if d >= 0 {
			if eb, err = next(nb); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// RowName says what a canonical row key (Dump) is, for people.
func RowName(key []byte) string {
	if !bytes.HasPrefix(key, historyPrefix) || len(key) < len(historyPrefix)+4+1+4+1+16 {
		return fmt.Sprintf("row %q", key)
	}
	rest := key[len(historyPrefix):]
	kind := map[byte]string{'l': "lock", 'k': "key", 'a': "account"}[rest[0]]
	entry := rest[len(rest)-16:]
	id := rest[2 : len(rest)-16-1-4-1]
	if kind == "" || rest[1] != '/' {
		return fmt.Sprintf("row %q", key)
	}
	pos := binary.BigEndian.Uint64(entry)
	at := time.Unix(0, int64(binary.BigEndian.Uint64(entry[8:]))).UTC()
	return fmt.Sprintf("history of %s %q, entry for the event at position %d (%s)", kind, id, pos, at.Format(time.RFC3339Nano))
}
