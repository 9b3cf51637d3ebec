package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/keyledgertest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// api is a server on a fresh ledger with a fixed clock, and a client.
type api struct {
	t    *testing.T
	srv  *httptest.Server
	logs *syncBuffer
	now  time.Time
}

// start is Monday 2 March 2026, 09:00 in Berlin.
var start = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func newAPI(t *testing.T) *api {
	t.Helper()
	st := keyledgertest.New(t, func(o *keyledger.Options) { o.Root = secret.New([]byte("server test root secret, 32 bytes or more")) })
	st.Clock.Set(start)
	logs := &syncBuffer{}
	srv := httptest.NewServer(newServer(st.Commands, st.Projections, withClock(st.Clock.Now), withLogger(slog.New(slog.NewTextHandler(logs, nil)))))
	t.Cleanup(srv.Close) // before the stack's Close (cleanups run last first)
	return &api{t: t, srv: srv, logs: logs, now: start}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends a request as account (no X-Account if "") with a raw body.
func (a *api) do(method, path, account, body string, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if account != "" {
		req.Header.Set(headerAccount, account)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless it gets status.
func (a *api) must(status int, method, path, account, body string, headers ...string) map[string]any {
	a.t.Helper()
	r := a.do(method, path, account, body, headers...)
	if r.status != status {
		a.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, status, r.body)
	}
	if status == http.StatusNoContent {
		return nil
	}
	return r.json(a.t)
}

// setup registers bill (owner of lock front, 2 slots) and ann.
func (a *api) setup() {
	a.t.Helper()
	a.must(201, "POST", "/v1/accounts", "", `{"account":"bill","name":"Bill","email":"bill@example.com"}`)
	a.must(201, "POST", "/v1/accounts", "", `{"account":"ann","name":"Ann","email":"ann@example.com"}`)
	a.must(201, "POST", "/v1/locks", "bill", `{"lock":"front","name":"Front door","zone":"Europe/Berlin","slots":2,"doors":["main","inner"]}`)
}

func TestHappyPath(t *testing.T) {
	a := newAPI(t)
	a.setup()
	created := a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share","name":"Ann's week",
		"policy":{"start":"2026-03-02T08:00:00Z","end":"2026-03-09T08:00:00Z","uses":3,
		"windows":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00"}]}}`)
	if created["slot"] != 1.0 {
		t.Errorf("created %v, want slot 1", created)
	}
	shared := a.must(200, "POST", "/v1/keys/k1/share", "bill", `{"method":"id","account":"ann"}`)
	if _, ok := shared["code"]; ok {
		t.Errorf("a To ID share returned a code: %v", shared)
	}
	k := a.must(200, "GET", "/v1/keys/k1", "bill", "")
	if k["sharing"] != "sharing" || k["status"] != "ACTIVE" || k["state"] != "sharing" {
		t.Errorf("before download: %v", k)
	}
	dl := a.must(200, "POST", "/v1/keys/k1/download", "ann", `{}`)
	if dl["lock"] != "front" {
		t.Errorf("download: %v", dl)
	}
	u := a.must(200, "POST", "/v1/keys/k1/unlock", "ann", `{"door":"main","source":"app"}`)
	if u["granted"] != true || u["uses"] != 1.0 {
		t.Errorf("unlock: %v", u)
	}
	u = a.must(200, "POST", "/v1/keys/k1/unlock", "ann", `{"door":"inner"}`)
	if u["granted"] != false || u["reason"] != access.WrongDoor.Name() {
		t.Errorf("inner door: %v, want denied %s", u, access.WrongDoor)
	}

	list := a.must(200, "GET", "/v1/locks/front/keys?at=2026-03-03T10:00:00Z", "bill", "")
	keys := list["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("key list: %v", list)
	}
	k = keys[0].(map[string]any)
	if k["key"] != "k1" || k["sharing"] != "shared" || k["status"] != "ACTIVE" || k["holder"] != "ann" || k["uses"] != 1.0 || k["in_window"] != true {
		t.Errorf("key list row: %v", k)
	}
	mine := a.must(200, "GET", "/v1/accounts/ann/keys", "ann", "")
	if n := len(mine["keys"].([]any)); n != 1 {
		t.Errorf("ann's keys: %v", mine)
	}
	made := a.must(200, "GET", "/v1/accounts/bill/keys?role=owner", "bill", "")
	if n := len(made["keys"].([]any)); n != 1 {
		t.Errorf("bill's share key list: %v", made)
	}

	h := a.must(200, "GET", "/v1/keys/k1/history", "ann", "")
	var types []string
	for _, e := range h["entries"].([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	want := "key.created key.shared key.downloaded key.unlock_attempted key.unlock_attempted"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("key history: %s, want %s", got, want)
	}
	lh := a.must(200, "GET", "/v1/locks/front/history?limit=2", "bill", "")
	if len(lh["entries"].([]any)) != 2 || lh["next"] == nil {
		t.Errorf("lock history page: %v", lh)
	}
	next := a.must(200, "GET", "/v1/locks/front/history?limit=100&cursor="+lh["next"].(string), "bill", "")
	if len(next["entries"].([]any)) == 0 {
		t.Errorf("second page empty: %v", next)
	}
	if bp := a.must(200, "GET", "/v1/locks/front/history?limit=100&order=position", "bill", ""); len(bp["entries"].([]any)) != 2+len(next["entries"].([]any)) {
		t.Errorf("log order has another number of entries: %v", bp)
	}
	a.must(400, "GET", "/v1/locks/front/history?order=position&cursor="+lh["next"].(string), "bill", "") // a time-order cursor
	ah := a.must(200, "GET", "/v1/accounts/ann/history", "ann", "")
	if len(ah["entries"].([]any)) == 0 {
		t.Errorf("account history empty")
	}

	// After download: reset, then the next key takes the slot at a new generation.
	a.must(200, "POST", "/v1/keys/k1/reset", "bill", "")
	next2 := a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k2","kind":"share","slot":1}`)
	if next2["generation"] != 1.0 {
		t.Errorf("after reset: %v, want generation 1", next2)
	}
	u = a.must(200, "POST", "/v1/keys/k1/unlock", "ann", `{}`)
	if u["granted"] != false || u["reason"] != access.Reset.Name() {
		t.Errorf("unlock after reset: %v", u)
	}
	slots := a.must(200, "GET", "/v1/locks/front/slots", "bill", "")["slots"].([]any)
	if s := slots[0].(map[string]any); len(slots) != 2 || s["key"] != "k2" || s["generation"] != 1.0 {
		t.Errorf("slots: %v, want k2 in slot 1 at generation 1", slots)
	}
	a.must(204, "DELETE", "/v1/keys/k2", "bill", "")
}

func TestShareToCode(t *testing.T) {
	a := newAPI(t)
	a.setup()
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share"}`)
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k2","kind":"share"}`)
	idem := uuid.NewString()
	shared := a.must(200, "POST", "/v1/keys/k1/share", "bill", `{"method":"code","email":"guest@example.net"}`, headerIdempotency, idem)
	code, _ := shared["code"].(string)
	if len(code) < 10 {
		t.Fatalf("share To Code: %v", shared)
	}
	// A retry answers from the log: the code is not stored, so not repeated.
	again := a.must(200, "POST", "/v1/keys/k1/share", "bill", `{"method":"code","email":"guest@example.net"}`, headerIdempotency, idem)
	if _, ok := again["code"]; ok {
		t.Errorf("a retried share repeated the code")
	}

	r := a.do("POST", "/v1/downloads", "phone", `{"code":"`+strings.Repeat("A", len(code))+`"}`)
	if r.status != http.StatusForbidden {
		t.Errorf("wrong code: status %d, want 403\n%s", r.status, r.body)
	}
	r = a.do("POST", "/v1/keys/k2/download", "phone", `{"code":"`+code+`"}`)
	if r.status != http.StatusConflict && r.status != http.StatusForbidden {
		t.Errorf("code of k1 on k2 (not shared): status %d\n%s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte(code)) {
		t.Errorf("an error body contains the code")
	}
	dl := a.must(200, "POST", "/v1/downloads", "phone", `{"code":"`+code+`"}`)
	if dl["key"] != "k1" {
		t.Errorf("download by code: %v", dl)
	}
	a.must(409, "POST", "/v1/keys/k1/revoke", "bill", "")
	a.must(200, "POST", "/v1/keys/k1/deactivation", "bill", "")
	k := a.must(200, "POST", "/v1/keys/k1/deactivation/confirm", "bill", "")
	if k["state"] != "deactivated" {
		t.Errorf("after confirmation: %v", k)
	}

	// PINs: shown to the creator once, never in an error or a log line.
	a.must(201, "POST", "/v1/accounts", "", `{"account":"tech","name":"Tech","email":"tech@example.com"}`)
	pin := a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"d1","kind":"digital","for":"tech","credential":"pin","pin":"482913","email":true,"email_pin":true}`)
	if pin["pin"] != "482913" {
		t.Errorf("digital key: %v", pin)
	}
	r = a.do("POST", "/v1/locks/front/keys", "bill", `{"key":"d2","kind":"digital","for":"tech","credential":"pin","pin":"482913"}`)
	if r.status != http.StatusConflict || r.json(t)["code"] != "pin_taken" || bytes.Contains(r.body, []byte("482913")) {
		t.Errorf("PIN taken: %d %s", r.status, r.body)
	}
	for _, s := range []string{code, "482913"} {
		if strings.Contains(a.logs.String(), s) {
			t.Errorf("the log contains a secret:\n%s", a.logs.String())
		}
	}
}

func TestErrors(t *testing.T) {
	a := newAPI(t)
	a.setup()
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share"}`)
	a.must(200, "POST", "/v1/keys/k1/share", "bill", `{"method":"id","account":"ann"}`)
	a.must(200, "POST", "/v1/keys/k1/download", "ann", `{}`)
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k2","kind":"share"}`)

	big := `{"account":"x","name":"` + strings.Repeat("x", maxBody) + `"}`
	for _, c := range []struct {
		name               string
		method, path, as   string
		body               string
		headers            []string
		status             int
		code, field, state string
	}{
		{name: "bad JSON", method: "POST", path: "/v1/accounts", body: `{"account":`, status: 400, code: "bad_json"},
		{name: "not JSON", method: "POST", path: "/v1/accounts", body: `account=bill`, status: 400, code: "bad_json"},
		{name: "unknown field", method: "POST", path: "/v1/accounts", body: `{"acount":"x"}`, status: 400, code: "bad_json"},
		{name: "wrong type", method: "POST", path: "/v1/locks", as: "bill", body: `{"lock":"l","slots":"three"}`, status: 400, code: "bad_json"},
		{name: "two objects", method: "POST", path: "/v1/accounts", body: `{"account":"x"}{"account":"y"}`, status: 400, code: "bad_json"},
		{name: "empty body", method: "POST", path: "/v1/keys/k2/share", as: "bill", status: 400, code: "bad_json"},
		{name: "oversized body", method: "POST", path: "/v1/accounts", body: big, status: 413, code: "too_large"},
		{name: "wrong media type", method: "POST", path: "/v1/accounts", body: `{}`, headers: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "no route", method: "GET", path: "/v1/nothing", status: 404, code: "no_route"},
		{name: "wrong method", method: "DELETE", path: "/v1/accounts", status: 405, code: "method_not_allowed"},
		{name: "wrong method on a key", method: "PATCH", path: "/v1/keys/k1", as: "bill", body: `{}`, status: 405, code: "method_not_allowed"},
		{name: "no account", method: "POST", path: "/v1/keys/k2/share", body: `{"method":"id","account":"ann"}`, status: 401, code: "unauthenticated"},
		{name: "invalid input", method: "POST", path: "/v1/accounts", body: `{"account":"","name":"X","email":"x@example.com"}`, status: 400, code: "invalid", field: "account"},
		{name: "unknown enum", method: "POST", path: "/v1/locks/front/keys", as: "bill", body: `{"key":"k3","kind":"magic"}`, status: 400, code: "invalid", field: "kind"},
		{name: "bad weekday", method: "POST", path: "/v1/locks/front/keys", as: "bill", body: `{"key":"k3","kind":"intercom","policy":{"windows":[{"days":["funday"],"from":"08:00","to":"12:00"}]}}`, status: 400, code: "invalid", field: "policy.windows[0].days"},
		{name: "invalid policy", method: "POST", path: "/v1/locks/front/keys", as: "bill", body: `{"key":"k3","kind":"intercom","policy":{"start":"2026-03-09T00:00:00Z","end":"2026-03-02T00:00:00Z"}}`, status: 422, code: "invalid_policy", field: "policy"},
		{name: "bad idempotency key", method: "POST", path: "/v1/keys/k2/revoke", as: "bill", headers: []string{headerIdempotency, "retry-1"}, status: 400, code: "invalid"},
		{name: "bad instant", method: "GET", path: "/v1/locks/front/keys?at=tomorrow", as: "bill", status: 400, code: "invalid", field: "at"},
		{name: "bad cursor", method: "GET", path: "/v1/locks/front/history?cursor=zz", as: "bill", status: 400, code: "invalid_query"},
		{name: "bad order", method: "GET", path: "/v1/locks/front/history?order=random", as: "bill", status: 400, code: "invalid", field: "order"},
		{name: "unknown lock", method: "GET", path: "/v1/locks/back/keys", as: "bill", status: 404, code: "not_found"},
		{name: "unknown lock slots", method: "GET", path: "/v1/locks/back/slots", as: "bill", status: 404, code: "not_found"},
		{name: "unknown lock history", method: "GET", path: "/v1/locks/back/history", as: "bill", status: 404, code: "not_found"},
		{name: "unknown key history", method: "GET", path: "/v1/keys/nope/history", as: "bill", status: 404, code: "not_found"},
		{name: "unknown lock on create", method: "POST", path: "/v1/locks/back/keys", as: "bill", body: `{"key":"k9","kind":"share"}`, status: 404, code: "not_found"},
		{name: "unknown key", method: "POST", path: "/v1/keys/nope/unlock", as: "ann", body: `{}`, status: 404, code: "not_found"},
		{name: "unknown key read", method: "GET", path: "/v1/keys/nope", as: "ann", status: 404, code: "not_found"},
		{name: "unknown share account", method: "POST", path: "/v1/keys/k2/share", as: "bill", body: `{"method":"id","account":"zed"}`, status: 404, code: "not_found"},
		{name: "not the owner", method: "POST", path: "/v1/keys/k2/share", as: "ann", body: `{"method":"id","account":"ann"}`, status: 403, code: "not_permitted"},
		{name: "not the owner's list", method: "GET", path: "/v1/locks/front/keys", as: "ann", status: 403, code: "not_permitted"},
		{name: "someone else's keys", method: "GET", path: "/v1/accounts/bill/keys", as: "ann", status: 403, code: "not_permitted"},
		{name: "edit after download", method: "PUT", path: "/v1/keys/k1/settings", as: "bill", body: `{"name":"renamed"}`, status: 409, code: "forbidden_state", state: "downloaded"},
		{name: "revoke after download", method: "POST", path: "/v1/keys/k1/revoke", as: "bill", status: 409, code: "forbidden_state", state: "downloaded"},
		{name: "duplicate account", method: "POST", path: "/v1/accounts", body: `{"account":"ann","name":"Ann","email":"ann@example.com"}`, status: 409, code: "exists"},
		{name: "no free slot", method: "POST", path: "/v1/locks/front/keys", as: "bill", body: `{"key":"k3","kind":"share"}`, status: 409, code: "no_free_slot"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := a.do(c.method, c.path, c.as, c.body, c.headers...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d\n%s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			body := r.json(t)
			if body["code"] != c.code || body["error"] == "" {
				t.Errorf("body %v, want code %q and an error message", body, c.code)
			}
			if c.field != "" && body["field"] != c.field {
				t.Errorf("field %v, want %q", body["field"], c.field)
			}
			if c.state != "" && body["state"] != c.state {
				t.Errorf("state %v, want %q", body["state"], c.state)
			}
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
}

// TestIdempotentCreate: a retried request with the same Idempotency-Key
// returns the first outcome and creates nothing twice.
func TestIdempotentCreate(t *testing.T) {
	a := newAPI(t)
	a.setup()
	idem := uuid.NewString()
	first := a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share"}`, headerIdempotency, idem)
	again := a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share"}`, headerIdempotency, idem)
	if first["slot"] != again["slot"] || first["key"] != again["key"] {
		t.Errorf("retry %v, first %v", again, first)
	}
	list := a.must(200, "GET", "/v1/locks/front/keys", "bill", "")
	if n := len(list["keys"].([]any)); n != 1 {
		t.Errorf("%d keys after a retried create", n)
	}
}

// An edit never widens a key by leaving something out: a field absent from
// PUT /settings keeps its value. Renaming a key open Mon/Wed/Fri 08–18 used
// to make it open at all times.
func TestEditKeepsWhatItOmits(t *testing.T) {
	a := newAPI(t)
	a.setup()
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"intercom","doors":["main","inner"],"welcome":"Hi",
		"policy":{"start":"2026-03-01T00:00:00Z","end":"2026-04-01T00:00:00Z","windows":[{"days":["mon","wed","fri"],"from":"08:00","to":"18:00"}]}}`)
	before := a.must(200, "GET", "/v1/keys/k1", "bill", "")
	edited := a.must(200, "PUT", "/v1/keys/k1/settings", "bill", `{"name":"x"}`)
	st, was := edited["settings"].(map[string]any), before["settings"].(map[string]any)
	if st["name"] != "x" || fmt.Sprint(st["policy"]) != fmt.Sprint(was["policy"]) || fmt.Sprint(st["doors"]) != fmt.Sprint(was["doors"]) ||
		st["welcome"] != "Hi" || st["policy"] == nil {
		t.Fatalf("after renaming: %v, want only the name changed from %v", st, was)
	}
	// Tuesday 2026-03-03 10:00 in Berlin: outside the schedule, still.
	if k := a.must(200, "GET", "/v1/keys/k1?at=2026-03-03T09:00:00Z", "bill", ""); k["in_window"] != false {
		t.Errorf("on a Tuesday after renaming: %v", k)
	}
	// What is sent is set; "policy": {} makes the key unlimited, explicitly.
	edited = a.must(200, "PUT", "/v1/keys/k1/settings", "bill", `{"doors":["main"],"policy":{}}`)
	if st := edited["settings"].(map[string]any); st["name"] != "x" || fmt.Sprint(st["doors"]) != "[main]" || st["policy"] != nil {
		t.Errorf("after setting doors and policy: %v", st)
	}
	a.must(400, "PUT", "/v1/keys/k1/settings", "bill", `{}`) // an edit that sets nothing
}

// A request whose fields are all optional (download by the holder, unlock)
// needs no body: an empty one is the same as {}. Download used to answer
// 400 without "{}".
func TestEmptyBodyWhereEveryFieldIsOptional(t *testing.T) {
	a := newAPI(t)
	a.setup()
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share"}`)
	a.must(200, "POST", "/v1/keys/k1/share", "bill", `{"method":"id","account":"ann"}`)
	if dl := a.must(200, "POST", "/v1/keys/k1/download", "ann", ""); dl["key"] != "k1" {
		t.Errorf("download without a body: %v", dl)
	}
	if u := a.must(200, "POST", "/v1/keys/k1/unlock", "ann", ""); u["granted"] != true {
		t.Errorf("unlock without a body: %v", u)
	}
	// Where a field is required the body still is: the code alone.
	if r := a.do("POST", "/v1/downloads", "ann", ""); r.status != 400 || r.json(t)["field"] != "code" {
		t.Errorf("download by code without a body: %d %s", r.status, r.body)
	}
}

// An Idempotency-Key names one request: the same request again gets the
// first answer; a different request with it is refused with 422 id_reused
// and changes nothing (it used to answer 201 with the new body and
// register nobody).
func TestIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	a := newAPI(t)
	idem := uuid.NewString()
	a.must(201, "POST", "/v1/accounts", "", `{"account":"dan","name":"Dan","email":"dan@example.com"}`, headerIdempotency, idem)
	r := a.do("POST", "/v1/accounts", "", `{"account":"eve","name":"Eve","email":"eve@example.com"}`, headerIdempotency, idem)
	if body := r.json(t); r.status != 422 || body["code"] != "id_reused" || !strings.Contains(body["error"].(string), idem) {
		t.Fatalf("reused key: %d %s", r.status, r.body)
	}
	a.must(201, "POST", "/v1/accounts", "", `{"account":"dan","name":"Dan","email":"dan@example.com"}`, headerIdempotency, idem)
	a.must(201, "POST", "/v1/accounts", "", `{"account":"eve","name":"Eve","email":"eve@example.com"}`) // eve is still free
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe: main's wiring opens a ledger, serves, and shuts down cleanly
// when its context ends (what Ctrl-C does).
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), ln, storage{dir: t.TempDir()})
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
}

// TestClassify pins the mapping from the library's errors to HTTP answers,
// including the ones the end-to-end tests cannot easily provoke.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{&commands.ValidationError{Field: "name", Reason: "too long"}, 400, "invalid"},
		{&commands.ValidationError{Field: "policy", Reason: "end before start", Err: &policy.ValidationError{Field: "End", Err: policy.ErrInvalid}}, 422, "invalid_policy"},
		{&commands.ValidationError{Field: "policy", Reason: "not one a server would match by name"}, 400, "invalid"},
		{&commands.NotFoundError{What: "key", ID: "k"}, 404, "not_found"},
		{fmt.Errorf("wrapped: %w", projections.ErrNotFound), 404, "not_found"},
		{&projections.NotFoundError{What: "lock", ID: "l"}, 404, "not_found"},
		{&commands.StateError{Key: "k", Kind: events.KindShare, State: events.StateDownloaded, Action: events.ActEdit}, 409, "forbidden_state"},
		{&commands.InvitationError{Lock: "l", Account: "a", State: events.InviteDeclined, Action: "accept"}, 409, "forbidden_state"},
		{fmt.Errorf("%w: x", commands.ErrNotPermitted), 403, "not_permitted"},
		{fmt.Errorf("%w: x", commands.ErrExists), 409, "exists"},
		{commands.ErrNoSlot, 409, "no_free_slot"},
		{commands.ErrPINTaken, 409, "pin_taken"},
		{fmt.Errorf("%w: lock %q", commands.ErrCardTaken, "front"), 409, "card_taken"},
		{&commands.AtLockError{Key: "k1", Lock: "front", Sync: events.SyncRemoving}, 409, "still_at_lock"},
		{&commands.GroupFullError{Key: "k", Max: 5}, 409, "group_full"},
		{commands.ErrNetworkOff, 409, "network_off"},
		{&ledger.ConflictError{Stream: "s"}, 409, "conflict"},
		{&commands.IDReusedError{ID: uuid.New(), Position: 4, Event: "account.registered", Field: "account"}, 422, "id_reused"},
		{commands.ErrBusy, 503, "busy"},
		{ledger.ErrClosed, 503, "unavailable"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{&http.MaxBytesError{Limit: maxBody}, 413, "too_large"},
		{errors.New("disk on fire: /var/lib/secret-path"), 500, "internal"},
	} {
		e := classify(c.err)
		if e.status != c.status || e.code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, e.status, e.code, c.status, c.code)
		}
		if c.status == 500 && e.msg != "internal error" {
			t.Errorf("a 500 tells the client %q", e.msg)
		}
	}
}
