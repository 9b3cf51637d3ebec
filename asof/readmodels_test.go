package asof_test

import (
	"context"
	"testing"

	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"pgregory.net/rapid"
)

// The read models as of a position equal a fresh rebuild of the log
// truncated there, and leave the live ones alone.
func TestReadModelsAtEqualARebuildOfTheTruncatedLog(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		st := keyledgertest.New(rt)
		keyledgertest.Check(rt, st, nil)
		ctx := context.Background()
		head := st.Ledger.DurablePosition()
		pos := rapid.Uint64Range(0, head).Draw(rt, "position")
		applied := st.Projections.Applied()
		before, err := projections.Compare(ctx, st.Ledger, st.Ledger)
		if err != nil {
			rt.Fatal(err)
		}

		rm, err := asof.ReadModelsAt(ctx, st.Ledger, pos)
		if err != nil {
			rt.Fatal(err)
		}
		defer rm.Close()
		if rm.Position != pos || rm.Applied() != pos {
			rt.Fatalf("read models as of %d: Position %d, applied %d", pos, rm.Position, rm.Applied())
		}

		fresh := truncatedCopy(rt, st.Ledger, pos)
		p, err := projections.Open(fresh, nil)
		if err != nil {
			rt.Fatal(err)
		}
		defer p.Close()
		if err := p.WaitApplied(ctx, pos); err != nil {
			rt.Fatal(err)
		}
		c, err := projections.Compare(ctx, rm.State, fresh)
		if err != nil {
			rt.Fatal(err)
		}
		if c.Differ != 0 {
			rt.Fatalf("as of %d of %d: %d of %d rows differ from a rebuild of the truncated log; first: %v", pos, head, c.Differ, c.Rows, c.First)
		}
		after, err := projections.Compare(ctx, st.Ledger, st.Ledger)
		if err != nil {
			rt.Fatal(err)
		}
		if st.Projections.Applied() != applied || after.Rows != before.Rows || st.Ledger.DurablePosition() != head {
			rt.Fatalf("the live read models or the log changed: applied %d -> %d, rows %d -> %d",
				applied, st.Projections.Applied(), before.Rows, after.Rows)
		}
	})
}

// truncatedCopy appends events 1..pos of log, as they are, to a new
// in-memory ledger.
func truncatedCopy(t *rapid.T, log ledger.Log, pos uint64) *ledger.Ledger {
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	for ev, err := range log.ReadAll(ctx, 1) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Position > pos {
			break
		}
		r, err := l.Append(ctx, ev.Stream, ledger.ExpectAny, ledger.NewEvent{ID: ev.ID, Data: ev.Data, Time: ev.Time})
		if err != nil {
			t.Fatal(err)
		}
		if r.First != ev.Position {
			t.Fatalf("copied event %d to position %d", ev.Position, r.First)
		}
	}
	return l
}
