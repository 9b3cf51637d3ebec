package ledger_test

import (
	"context"
	"testing"

	"github.com/keyledger/keyledger/ledger"
)

type opened struct{ Name string }

func TestSmoke(t *testing.T) {
	reg := ledger.NewRegistry()
	if err := reg.Register("opened", 1, opened{}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := l.Append(ctx, "lock-1", ledger.ExpectNoStream, ledger.NewEvent{Data: opened{"a"}}, ledger.NewEvent{Data: opened{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	for e, err := range l.ReadAll(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		t.Log(e.Position, e.Stream, e.Version, e.Data)
	}
	d, err := l.Verify(ctx)
	t.Log(d, err)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
