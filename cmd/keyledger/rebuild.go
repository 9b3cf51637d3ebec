package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/vmihailenco/msgpack/v5"
)

const rebuildHelp = `Rebuilds the read models from the log alone. Without -write (the default)
nothing is written: the whole log is replayed into read models in memory,
and the stored read models are compared with them row by row
(projections.Compare: history index rows entry by entry, since their
grouping depends on batch boundaries). If the stored read models are behind the log head, they are
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
	c, err := projections.Compare(ctx, stored.store, rebuilt.store)
	if err != nil {
		return fmt.Errorf("comparing the stored read models with a rebuild: %w", err)
	}
	if c.Differ == 0 {
		fmt.Fprintf(stdout, "agree: %d rows compared\n", c.Rows)
		return nil
	}
	fmt.Fprintf(stdout, "differ: %d of %d rows; first: %s\n", c.Differ, c.Rows, describeDiff(c.First))
	n := c.Differ
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

// describeDiff says how a row differs, with its values.
func describeDiff(d *projections.RowDiff) string {
	switch {
	case !d.InA:
		return fmt.Sprintf("%s missing from the stored read models (rebuilt: %s)", d.Row, showValue(string(d.B)))
	case !d.InB:
		return fmt.Sprintf("%s stored but not in a rebuild (stored: %s)", d.Row, showValue(string(d.A)))
	}
	return fmt.Sprintf("%s: stored %s, rebuilt %s", d.Row, showValue(string(d.A)), showValue(string(d.B)))
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
