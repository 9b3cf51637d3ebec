// Command metrics shows keyledger's observability without a metrics stack
// inside the library: a ledger, the commands service and the projections
// log through log/slog (here: to stderr, at Info) and keep counters that
// Stats methods return as plain snapshots. This program exports them as
// Prometheus metrics with a custom collector that reads the snapshots at
// each scrape, does a few unlocks, scrapes its own registry in process (no
// network listener) and prints the text exposition format.
//
// Run it from the module root:
//
//	go run ./examples/metrics
//
// Latencies, sync counts and commit sizes vary from run to run; the
// decisions counted do not. main_test.go pins the metric names and types
// and the counts the unlocks make.
package main

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(context.Background(), os.Stdout, logger); err != nil {
		log.Fatal(err)
	}
}

// run opens the stack in a temporary directory, unlocks, and writes one
// scrape to w.
func run(ctx context.Context, w io.Writer, logger *slog.Logger) error {
	dir, err := os.MkdirTemp("", "keyledger-metrics-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	st, err := keyledger.Open(dir, &keyledger.Options{
		Clock:  func() time.Time { return now },
		Root:   secret.New([]byte("example root secret: production roots come from a secret manager")),
		Logger: logger,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	l := st.Ledger.(*ledger.Ledger) // the embedded ledger: its Stats
	proj, svc := st.Projections, st.Commands
	if err := unlocks(ctx, svc); err != nil {
		return err
	}

	registry := prometheus.NewRegistry()
	if err := registry.Register(&collector{ledger: l, service: svc, projections: proj}); err != nil {
		return err
	}
	families, err := registry.Gather()
	if err != nil {
		return err
	}
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}

// unlocks shares a key with Ann and tries it: three grants, a refusal for
// Bob who does not hold it, one for a door the key does not open.
func unlocks(ctx context.Context, svc *commands.Service) error {
	var n uint64
	id := func() uuid.UUID { // deterministic command IDs for the demo
		n++
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[8:], n)
		return u
	}
	for _, a := range []string{"bill", "ann", "bob"} {
		if err := svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}); err != nil {
			return err
		}
	}
	if err := svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front door",
		Zone: "Europe/Berlin", Slots: 2, Doors: access.Main | access.Inner}); err != nil {
		return err
	}
	settings := events.Settings{Name: "Ann", Category: events.CategoryFriend, Role: events.RoleUser, Doors: access.Main}
	if _, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings}); err != nil {
		return err
	}
	if _, err := svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		return err
	}
	if _, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "k1", By: "ann"}); err != nil {
		return err
	}
	for _, u := range []commands.Unlock{
		{Key: "k1", By: "ann"}, {Key: "k1", By: "ann"}, {Key: "k1", By: "ann"},
		{Key: "k1", By: "bob"},
		{Key: "k1", By: "ann", Door: access.InnerDoor},
	} {
		u.ID = id()
		if _, err := svc.Unlock(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// collector exports the Stats snapshots. It keeps no state: every scrape
// reads fresh snapshots, so the library's counters are the only ones.
type collector struct {
	ledger      *ledger.Ledger
	service     *commands.Service
	projections *projections.Projections
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("keyledger_"+name, help, labels, nil)
}

var (
	appendsDesc       = desc("ledger_appends_total", "Appends that succeeded, idempotent retries included.")
	retriesDesc       = desc("ledger_append_retries_total", "Appends answered with an earlier append's result (nothing written).")
	eventsDesc        = desc("ledger_events_total", "Events written to the log.")
	appendErrorsDesc  = desc("ledger_append_errors_total", "Appends that failed, by kind.", "kind")
	appendLatencyDesc = desc("ledger_append_duration_seconds", "Time from an append's call to its durable return.")
	commitSizeDesc    = desc("ledger_commit_appends", "Appends made durable per write-ahead log sync (group commit).")
	walSyncsDesc      = desc("ledger_wal_syncs_total", "Syncs of the write-ahead log.")
	syncsDesc         = desc("ledger_syncs_total", "Syncs of the WAL, MANIFEST, markers and directories.")
	backgroundDesc    = desc("ledger_background_errors_total", "Errors Pebble reported from flushes, compactions and corruption checks.")
	durableDesc       = desc("ledger_durable_position", "Highest log position known to be synced.")
	failedDesc        = desc("ledger_failed", "1 if the ledger fail-stopped after a storage error (reopen it).")

	appliedDesc    = desc("projections_applied_position", "Position up to which every event is in the read models.")
	lagDesc        = desc("projections_lag_events", "Events durable in the log and not yet in the read models.")
	batchesDesc    = desc("projections_batches_total", "Batches applied to the read models.")
	projEventsDesc = desc("projections_events_total", "Events applied to the read models.")
	stoppedDesc    = desc("projections_stopped", "1 if an error stopped the projections.")

	decisionsDesc = desc("unlock_decisions_total", "Unlock decisions by where they were made (online: by the service; offline: by a lock, uploaded) and reason.", "mode", "reason")
	gapsDesc      = desc("audit_gaps_total", "Gaps in uploaded lock audit records.")
	rejectedDesc  = desc("password_rejections_total", "Wrong member passwords.")
	lockoutsDesc  = desc("lockouts_total", "Members locked out after wrong passwords.")
	adminDesc     = desc("admin_messages_total", "Admin messages for locks, by what happened to them.", "event")
	busyDesc      = desc("commands_busy_total", "Commands that gave up after conflicting writes.")
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{appendsDesc, retriesDesc, eventsDesc, appendErrorsDesc, appendLatencyDesc, commitSizeDesc,
		walSyncsDesc, syncsDesc, backgroundDesc, durableDesc, failedDesc, appliedDesc, lagDesc, batchesDesc, projEventsDesc,
		stoppedDesc, decisionsDesc, gapsDesc, rejectedDesc, lockoutsDesc, adminDesc, busyDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	ls := c.ledger.Stats()
	counter(appendsDesc, ls.Appends)
	counter(retriesDesc, ls.Retries)
	counter(eventsDesc, ls.Events)
	counter(appendErrorsDesc, ls.Conflicts, "conflict")
	counter(appendErrorsDesc, ls.Invalid, "invalid")
	counter(appendErrorsDesc, ls.Failures, "failed")
	counter(appendErrorsDesc, ls.OtherErrors, "other")
	ch <- durationHistogram(appendLatencyDesc, ls.AppendLatency)
	ch <- sizeHistogram(commitSizeDesc, ls.CommitSize)
	counter(walSyncsDesc, ls.WALSyncs)
	counter(syncsDesc, ls.Syncs)
	counter(backgroundDesc, ls.BackgroundErrors)
	gauge(durableDesc, float64(ls.DurablePosition))
	gauge(failedDesc, flag(ls.Failed))

	ps := c.projections.Stats()
	gauge(appliedDesc, float64(ps.Applied))
	gauge(lagDesc, float64(ps.Lag))
	counter(batchesDesc, ps.Batches)
	counter(projEventsDesc, ps.Events)
	gauge(stoppedDesc, flag(ps.Stopped))

	cs := c.service.Stats()
	for mode, m := range map[string]map[access.Reason]uint64{"online": cs.Unlocks, "offline": cs.OfflineUnlocks} {
		for reason, n := range m {
			counter(decisionsDesc, n, mode, reasonLabel(reason))
		}
	}
	counter(gapsDesc, cs.AuditGaps)
	counter(rejectedDesc, cs.PasswordsRejected)
	counter(lockoutsDesc, cs.Lockouts)
	counter(adminDesc, cs.AdminIssued, "issued")
	counter(adminDesc, cs.AdminReissued, "reissued")
	counter(adminDesc, cs.AdminApplied, "applied")
	counter(busyDesc, cs.Busy)
}

// reasonLabel is the reason's persisted name; a grant's is "granted".
func reasonLabel(r access.Reason) string {
	if r == access.Granted {
		return "granted"
	}
	return r.Name()
}

// durationHistogram turns a ledger.Histogram (per-bucket counts) into a
// Prometheus histogram (cumulative counts, seconds).
func durationHistogram(d *prometheus.Desc, h ledger.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count(), h.Sum.Seconds(), buckets)
}

func sizeHistogram(d *prometheus.Desc, h ledger.SizeHistogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[float64(b)] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count(), float64(h.Sum), buckets)
}
