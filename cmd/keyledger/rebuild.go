package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/vmihailenco/msgpack/v5"
)

const rebuildHelp = `Rebuilds the read models from the log (P7). Without -write (the default)
nothing is written: the whole log is replayed into read models in memory,
and the stored read models are compared with them row by row (history
index rows entry by entry, since their grouping depends on batch
boundaries). If the stored read models are behind the log head, they are
first caught up in memory, as history and keys would serve them. Prints
the events replayed, the time taken and whether the stored read models
agree; on a difference, the first differing row, and exits 1. Holds the
whole state in memory while it runs.

-write rebuilds in place (projections.Rebuild): opens the directory for
writing (it takes the lock, so no other process may have it open), deletes
every read-model row under "p/" and replays the log into it.`

func runRebuild(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	write := fs.Bool("write", false, "rebuild the stored read models in place (writes to DIR)")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	if *write {
		return rebuildInPlace(ctx, dir, reg, stdout)
	}
	l, err := openLedger(dir, reg)
	if err != nil {
		return err
	}
	defer l.Close()

	start := time.Now()
	rebuilt, err := serve(ctx, l, true)
	if err != nil {
		return err
	}
	defer rebuilt.Close()
	took := time.Since(start)
	fmt.Fprintf(stdout, "replayed %d events in %v (in memory; nothing written)\n", rebuilt.head, took.Round(time.Millisecond))

	if rebuilt.stored == 0 {
		fmt.Fprintln(stdout, "stored read models: none (no checkpoint): nothing to compare")
		return nil
	}
	stored, err := serve(ctx, l, false)
	if err != nil {
		return err
	}
	defer stored.Close()
	if stored.mem == nil {
		fmt.Fprintf(stdout, "stored read models: at position %d of %d\n", stored.stored, stored.head)
	} else {
		fmt.Fprintf(stdout, "stored read models: at position %d of %d (caught up in memory for the comparison)\n", stored.stored, stored.head)
	}
	want, err := dumpRows(ctx, rebuilt.store)
	if err != nil {
		return fmt.Errorf("reading the rebuilt read models: %w", err)
	}
	got, err := dumpRows(ctx, stored.store)
	if err != nil {
		return fmt.Errorf("reading the stored read models: %w", err)
	}
	n, first := compareRows(got, want)
	if n == 0 {
		fmt.Fprintf(stdout, "agree: %d rows compared\n", len(want))
		return nil
	}
	fmt.Fprintf(stdout, "differ: %d of %d rows; first: %s\n", n, len(want), first)
	return fmt.Errorf("stored read models differ from a rebuild (%d rows); repair with 'keyledger rebuild -write %s'", n, dir)
}

func rebuildInPlace(ctx context.Context, dir string, reg *ledger.Registry, stdout io.Writer) error {
	l, err := openWritable(dir, reg)
	if err != nil {
		return err
	}
	defer l.Close()
	p, err := projections.Open(l, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	start := time.Now()
	if err := p.Rebuild(ctx); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	took := time.Since(start)
	if err := p.Close(); err != nil {
		return err
	}
	if err := l.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt the read models in %s: replayed %d events in %v\n", dir, p.Applied(), took.Round(time.Millisecond))
	return nil
}

// dumpRows reads every read-model row. History index rows group the
// entries of one batch (their key ends with the batch's first position), so
// they are expanded into one row per entry: the key without that position
// plus the entry's position and time, with an empty value.
func dumpRows(ctx context.Context, s ledger.Store) (map[string]string, error) {
	out := map[string]string{}
	for e, err := range s.ScanState(ctx, projectionsPrefix) {
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(e.Key, historyPrefix) {
			out[string(e.Key)] = string(e.Value)
			continue
		}
		if len(e.Key) < len(historyPrefix)+8 || len(e.Value)%16 != 0 {
			out[string(e.Key)] = string(e.Value) // malformed: compared as it is
			continue
		}
		row := e.Key[:len(e.Key)-8]
		for v := e.Value; len(v) >= 16; v = v[16:] {
			out[string(row)+string(v[:16])] = ""
		}
	}
	return out, nil
}

var historyPrefix = []byte("p/h/")

// compareRows counts the rows that differ and describes the first one in
// key order.
func compareRows(stored, rebuilt map[string]string) (n int, first string) {
	keys := make([]string, 0, len(rebuilt))
	for k := range rebuilt {
		keys = append(keys, k)
	}
	for k := range stored {
		if _, ok := rebuilt[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, inStored := stored[k]
		w, inRebuilt := rebuilt[k]
		if inStored == inRebuilt && g == w {
			continue
		}
		n++
		if n > 1 {
			continue
		}
		switch {
		case !inStored:
			first = fmt.Sprintf("%s missing from the stored read models (rebuilt: %s)", rowName(k), showValue(w))
		case !inRebuilt:
			first = fmt.Sprintf("%s stored but not in a rebuild (stored: %s)", rowName(k), showValue(g))
		default:
			first = fmt.Sprintf("%s: stored %s, rebuilt %s", rowName(k), showValue(g), showValue(w))
		}
	}
	return n, first
}

// rowName shows a row key; for an expanded history entry, what it indexes.
func rowName(k string) string {
	if bytes.HasPrefix([]byte(k), historyPrefix) && len(k) >= len(historyPrefix)+16 {
		entry := []byte(k[len(k)-16:])
		pos := binary.BigEndian.Uint64(entry)
		at := time.Unix(0, int64(binary.BigEndian.Uint64(entry[8:]))).UTC()
		return fmt.Sprintf("history row %q, entry for the event at position %d (%s)", k[:len(k)-16], pos, at.Format(time.RFC3339))
	}
	return fmt.Sprintf("row %q", k)
}

// showValue shows a row value: msgpack decoded to JSON if it is exactly
// one msgpack value, else hex.
func showValue(v string) string {
	if v == "" {
		return `""`
	}
	r := bytes.NewReader([]byte(v))
	var x any
	if err := msgpack.NewDecoder(r).Decode(&x); err == nil && r.Len() == 0 {
		if j, err := json.Marshal(jsonSafe(x)); err == nil {
			const max = 400
			if len(j) > max {
				return string(j[:max]) + "…"
			}
			return string(j)
		}
	}
	return "hex " + hex.EncodeToString([]byte(v))
}
