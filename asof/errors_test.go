package asof_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/events"
)

func errorIsNotFound(err error) bool { return errors.Is(err, asof.ErrNotFound) }

func TestBadInput(t *testing.T) {
	l := store(t, []logged{
		{"lock-garage", t0, events.LockRegistered{Lock: "garage", Owner: "bill", Zone: "UTC", Slots: 1, Doors: access.Main}},
		{"account-ann", t0, events.AccountRegistered{Account: "ann"}},
	})
	x := index(t, l)
	ctx := context.Background()
	var nf *asof.NotFoundError
	var re *asof.RangeError
	var pe *asof.PositionError
	for _, c := range []struct {
		name string
		err  error
		as   any
		msg  string
	}{
		{"unknown lock", second(x.WhoCouldOpen(ctx, "front", access.MainDoor, t0)), &nf, `asof: unknown lock "front"`},
		{"no such door", second(x.WhoCouldOpen(ctx, "garage", access.InnerDoor, t0)), &nf, `asof: lock "garage" has no door inner`},
		{"unknown account", second(x.CouldOpen(ctx, "zed", t0, t0.Add(time.Hour))), &nf, `asof: unknown account "zed"`},
		{"range backwards", second(x.CouldOpen(ctx, "ann", t0, t0.Add(-time.Second))), &re,
			"asof: range ends at 2026-03-02T08:59:59Z, before it starts at 2026-03-02T09:00:00Z"},
		{"range too long", second(x.CouldOpen(ctx, "ann", t0, t0.Add(asof.MaxRange+time.Minute))), &re,
			"asof: range from 2026-03-02T09:00:00Z to 2027-03-03T09:01:00Z is longer than 8784h0m0s"},
		{"beyond the head", second(asof.ReadModelsAt(ctx, l, 3)), &pe, "asof: position 3 is beyond the log head 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !errors.As(c.err, c.as) || c.err.Error() != c.msg {
				t.Fatalf("got %T %q, want %T %q", c.err, c.err, c.as, c.msg)
			}
		})
	}
	if !errors.Is(second(x.CouldOpen(ctx, "zed", t0, t0)), asof.ErrNotFound) ||
		!errors.Is(second(x.CouldOpen(ctx, "ann", t0, t0.Add(-1))), asof.ErrRange) ||
		!errors.Is(second(asof.ReadModelsAt(ctx, l, 9)), asof.ErrBeyondHead) {
		t.Fatal("sentinels do not match")
	}
}

func second[T any](_ T, err error) error { return err }
