package main

import (
	"fmt"
	"strings"
	"testing"
)

// A key's dated periods and expiry after first use go in and come out of
// the API as they were sent; a bad period is refused with its field.
func TestPolicyPeriodsAndFirstUseJSON(t *testing.T) {
	a := newAPI(t)
	a.setup()
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share","name":"two weekends",
		"policy":{"periods":[{"start":"2026-03-07T00:00:00Z","end":"2026-03-09T00:00:00Z"},{"start":"2026-03-14T00:00:00Z","end":"2026-03-16T00:00:00Z"}],
		"after_first_use_minutes":120}}`)
	k := a.must(200, "GET", "/v1/keys/k1", "bill", "")
	p := k["settings"].(map[string]any)["policy"].(map[string]any)
	if fmt.Sprint(p["periods"]) != "[map[end:2026-03-09T00:00:00Z start:2026-03-07T00:00:00Z] map[end:2026-03-16T00:00:00Z start:2026-03-14T00:00:00Z]]" ||
		p["after_first_use_minutes"] != 120.0 {
		t.Fatalf("policy out: %v", p)
	}
	r := a.do("POST", "/v1/locks/front/keys", "bill", `{"key":"k2","kind":"share","policy":{"periods":[{"start":"2026-03-09T00:00:00Z","end":"2026-03-07T00:00:00Z"}]}}`)
	if r.status != 422 {
		t.Fatalf("an empty period: status %d %s", r.status, r.body)
	}
}

// An expiry after first use outside 0 to 366 days is refused with its
// field before it is turned into a duration (a huge count would wrap).
func TestAfterFirstUseMinutesOutOfRange(t *testing.T) {
	a := newAPI(t)
	a.setup()
	for i, minutes := range []string{"-1", "527041", "153722867280912930"} {
		r := a.do("POST", "/v1/locks/front/keys", "bill", fmt.Sprintf(`{"key":"r%d","kind":"share","policy":{"after_first_use_minutes":%s}}`, i, minutes))
		if r.status != 400 || !strings.Contains(string(r.body), `"policy.after_first_use_minutes"`) || !strings.Contains(string(r.body), `"invalid"`) {
			t.Errorf("%s minutes: status %d %s, want 400 invalid for the field", minutes, r.status, r.body)
		}
	}
	a.must(201, "POST", "/v1/locks/front/keys", "bill", `{"key":"k1","kind":"share","policy":{"after_first_use_minutes":527040}}`)
}
