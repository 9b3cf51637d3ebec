package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// 'keyledger access -lock' lists a door the passage schedule freed as
// "(anyone)", and history names the schedule's setting.
func TestAccessPassage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	st, err := keyledger.Open(dir, &keyledger.Options{Clock: func() time.Time { return now },
		Root: secret.New([]byte("keyledger cli passage root secret, 32+ bytes"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, n := context.Background(), byte(0)
	id := func() uuid.UUID { n++; return uuid.UUID{0xc0, n} }
	svc := st.Commands
	for _, err := range []error{
		svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "bill", Name: "Bill", Email: "bill@example.com"}),
		svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front", Zone: "Europe/Berlin", Slots: 1}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	office := policy.Policy{Windows: []policy.Window{{Days: 0b0111110, From: 8 * 60, To: 18 * 60}}}
	if _, err := svc.SetPassageMode(ctx, commands.SetPassageMode{ID: id(), Lock: "front", By: "bill", Doors: access.Main, Periods: []policy.Policy{office}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := ok(t, "access", "-lock", "front", "-at", "2026-03-02T12:00:00Z", dir)
	wantLines(t, "access -lock front", out,
		"# main door of front at 2026-03-02T12:00:00Z: log position 3 of 3",
		"ACCOUNT   KEY  KIND     SINCE                 SCHEDULE                                  USES  AT LOCK       EVENTS",
		"(anyone)  -    passage  2026-03-02T09:00:00Z  Mo,Tu,We,Th,Fr 08:00-18:00 Europe/Berlin  -     passage mode  3",
	)
	out, _ = ok(t, "access", "-lock", "front", "-at", "2026-03-02T12:00:00Z", "-json", dir)
	var o openingLine
	if err := json.Unmarshal([]byte(out), &o); err != nil || !o.Passage || o.Account != "" || o.Key != "" || o.Positions[0] != 3 {
		t.Fatalf("json: %q (%v)", out, err)
	}
	if out, _ := ok(t, "access", "-lock", "front", "-at", "2026-03-02T20:00:00Z", dir); strings.Contains(out, "passage") {
		t.Fatalf("after hours: %q", out)
	}
	if out, _ := ok(t, "history", "-lock", "front", dir); !strings.Contains(out, "passage mode set") {
		t.Fatalf("history: %q", out)
	}
}
