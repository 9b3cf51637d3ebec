package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// newAsOfAPI is newAPI with an as-of index, and the stack's clock.
func newAsOfAPI(t *testing.T) (*api, *keyledgertest.Clock) {
	t.Helper()
	a, st := newAsOfStack(t)
	return a, st.Clock
}

// newAsOfStack is newAsOfAPI with the whole stack.
func newAsOfStack(t *testing.T) (*api, *keyledgertest.Stack) {
	t.Helper()
	st := keyledgertest.New(t, func(o *keyledger.Options) { o.Root = secret.New([]byte("server test root secret, 32 bytes or more")) })
	st.Clock.Set(start)
	x, err := asof.Open(st.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	logs := &syncBuffer{}
	srv := httptest.NewServer(newServer(st.Commands, st.Projections, withClock(st.Clock.Now),
		withLogger(slog.New(slog.NewTextHandler(logs, nil))), withAsOf(x)))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, logs: logs, now: start}, st
}

// The door access answer says when a passage schedule freed the door to
// anyone: doors, since, periods, whether the lock has it, and positions.
func TestAccessAsOfPassage(t *testing.T) {
	a, st := newAsOfStack(t)
	a.setup()
	office := policy.Policy{Windows: []policy.Window{{Days: 0b0111110, From: 8 * 60, To: 18 * 60}}}
	if _, err := st.Commands.SetPassageMode(context.Background(), commands.SetPassageMode{ID: uuid.New(), Lock: "front", By: "bill",
		Doors: access.Main, Periods: []policy.Policy{office}}); err != nil {
		t.Fatal(err)
	}
	got := a.must(200, "GET", "/v1/locks/front/access?door=main&at=2026-03-02T10:00:00Z", "bill", "")
	p, ok := got["passage"].(map[string]any)
	if !ok {
		t.Fatalf("no passage answer inside office hours: %v", got)
	}
	doors, _ := p["doors"].([]any)
	periods, _ := p["periods"].([]any)
	pos, _ := p["position"].(float64)
	if len(doors) != 1 || doors[0] != "main" || p["since"] != "2026-03-02T08:00:00Z" || len(periods) != 1 || pos == 0 ||
		p["still_at_lock"] != false || p["not_yet_at_lock"] != true || len(p["positions"].([]any)) == 0 || p["positions"].([]any)[0] != pos {
		t.Fatalf("passage answer: %v", p)
	}
	w := periods[0].(map[string]any)["windows"].([]any)[0].(map[string]any)
	if w["from"] != "08:00" || w["to"] != "18:00" {
		t.Fatalf("passage period: %v", periods[0])
	}
	if got := a.must(200, "GET", "/v1/locks/front/access?door=inner&at=2026-03-02T10:00:00Z", "bill", ""); got["passage"] != nil {
		t.Fatalf("the inner door is not freed: %v", got["passage"])
	}
	if got := a.must(200, "GET", "/v1/locks/front/access?door=main&at=2026-03-02T20:00:00Z", "bill", ""); got["passage"] != nil {
		t.Fatalf("outside office hours: %v", got["passage"])
	}
}

func TestAccessAsOf(t *testing.T) {
	a, clock := newAsOfAPI(t)
	a.setup()
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share","doors":["main"]}`)
	a.must(200, "POST", "/v1/keys/k1/share", "bill", `{"method":"id","account":"ann"}`)
	clock.Set(start.Add(time.Hour))
	a.must(200, "POST", "/v1/keys/k1/download", "ann", `{}`)

	before := a.must(200, "GET", "/v1/locks/front/access?at=2026-03-02T08:30:00Z", "bill", "")
	if ops := before["openings"].([]any); len(ops) != 0 {
		t.Fatalf("before the download: %v", before)
	}
	now := a.must(200, "GET", "/v1/locks/front/access?door=main", "bill", "")
	ops := now["openings"].([]any)
	if len(ops) != 1 {
		t.Fatalf("after the download: %v", now)
	}
	o := ops[0].(map[string]any)
	if o["account"] != "ann" || o["key"] != "k1" || o["since"] != "2026-03-02T09:00:00Z" || o["still_at_lock"] != false ||
		len(o["positions"].([]any)) < 3 {
		t.Fatalf("ann's opening: %v", o)
	}
	if inner := a.must(200, "GET", "/v1/locks/front/access?door=inner", "bill", ""); len(inner["openings"].([]any)) != 0 {
		t.Fatalf("inner door: %v", inner)
	}

	span := a.must(200, "GET", "/v1/accounts/ann/access?from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z", "ann", "")
	doors := span["doors"].([]any)
	if len(doors) != 1 {
		t.Fatalf("ann's doors: %v", span)
	}
	d := doors[0].(map[string]any)
	iv := d["intervals"].([]any)[0].(map[string]any)
	if d["lock"] != "front" || d["door"] != "main" || iv["from"] != "2026-03-02T09:00:00Z" || iv["to"] != "2026-03-03T00:00:00Z" {
		t.Fatalf("ann's door: %v", d)
	}

	for _, c := range []struct {
		path, account string
		status        int
		code          string
	}{
		{"/v1/locks/front/access?door=attic", "bill", 400, "invalid"},
		{"/v1/locks/front/access?at=noon", "bill", 400, "invalid"},
		{"/v1/locks/front/access", "ann", 403, "not_permitted"},
		{"/v1/locks/back/access", "bill", 404, "not_found"},
		{"/v1/accounts/ann/access", "ann", 400, "invalid"},
		{"/v1/accounts/ann/access?from=2026-03-02T00:00:00Z", "bob", 403, "not_permitted"},
		{"/v1/accounts/ann/access?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "ann", 400, "invalid_query"},
		{"/v1/accounts/zed/access?from=2026-03-02T00:00:00Z", "zed", 404, "not_found"},
	} {
		r := a.do("GET", c.path, c.account, "")
		if r.status != c.status || r.json(t)["code"] != c.code {
			t.Errorf("GET %s as %s: %d %s, want %d %s", c.path, c.account, r.status, r.body, c.status, c.code)
		}
	}
}

// Without an index the routes say so.
func TestAccessWithoutIndex(t *testing.T) {
	a := newAPI(t)
	a.setup()
	if r := a.do("GET", "/v1/locks/front/access", "bill", ""); r.status != 501 || r.json(t)["code"] != "not_configured" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
