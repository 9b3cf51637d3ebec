package main

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/internal/golden"
)

// TestMetrics pins what a scrape exposes: every metric's name and type, in
// the exposition's (sorted) order, and the values the demo's unlocks make
// (latencies, syncs and commit sizes vary and are not pinned). It also
// checks that nothing was logged at Warn or above and that neither the
// output nor the log holds the root secret.
func TestMetrics(t *testing.T) {
	var out, logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(context.Background(), &out, logger); err != nil {
		t.Fatal(err)
	}
	var types []string
	for line := range strings.Lines(out.String()) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			types = append(types, strings.TrimSpace(name))
		}
	}
	want := []string{
		"keyledger_admin_messages_total counter",
		"keyledger_audit_gaps_total counter",
		"keyledger_commands_busy_total counter",
		"keyledger_ledger_append_duration_seconds histogram",
		"keyledger_ledger_append_errors_total counter",
		"keyledger_ledger_append_retries_total counter",
		"keyledger_ledger_appends_total counter",
		"keyledger_ledger_background_errors_total counter",
		"keyledger_ledger_commit_appends histogram",
		"keyledger_ledger_durable_position gauge",
		"keyledger_ledger_events_total counter",
		"keyledger_ledger_failed gauge",
		"keyledger_ledger_syncs_total counter",
		"keyledger_ledger_wal_syncs_total counter",
		"keyledger_lockouts_total counter",
		"keyledger_password_rejections_total counter",
		"keyledger_projections_applied_position gauge",
		"keyledger_projections_batches_total counter",
		"keyledger_projections_events_total counter",
		"keyledger_projections_lag_events gauge",
		"keyledger_projections_stopped gauge",
		"keyledger_unlock_decisions_total counter",
	}
	if !slices.Equal(types, want) {
		t.Fatalf("metric types:\n got %q\nwant %q", types, want)
	}
	for _, line := range []string{
		`keyledger_unlock_decisions_total{mode="online",reason="granted"} 3`,
		`keyledger_unlock_decisions_total{mode="online",reason="not_holder"} 1`,
		`keyledger_unlock_decisions_total{mode="online",reason="door_not_permitted"} 1`,
		`keyledger_ledger_appends_total 12`,
		`keyledger_ledger_events_total 14`,
		`keyledger_ledger_durable_position 14`,
		`keyledger_ledger_append_duration_seconds_count 12`,
		`keyledger_ledger_commit_appends_sum 12`,
		`keyledger_ledger_append_errors_total{kind="conflict"} 0`,
		`keyledger_ledger_failed 0`,
		`keyledger_projections_applied_position 14`,
		`keyledger_projections_events_total 14`,
		`keyledger_projections_lag_events 0`,
		`keyledger_projections_stopped 0`,
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("the scrape lacks %q", line)
		}
	}
	if n := strings.Count(out.String(), "keyledger_unlock_decisions_total{"); n != 3 {
		t.Errorf("%d unlock decision series, want 3 (granted, not_holder, door_not_permitted)", n)
	}
	for _, level := range []string{"level=WARN", "level=ERROR"} {
		if strings.Contains(logged.String(), level) {
			t.Errorf("the demo logged at %s:\n%s", level, logged.String())
		}
	}
	golden.NoSecrets(t, append(out.Bytes(), logged.Bytes()...), false, "example root secret: production roots come from a secret manager")
}
