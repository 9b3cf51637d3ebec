package projections_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
)

// A suspended key still open at its lock is said as a revoked one is: until
// its credential's own end, or until the lock applies the suspension, or,
// when the lock refused it, with no end in sight.
func TestSummaryOfASuspensionNotAtTheLock(t *testing.T) {
	end := time.Date(2027, 1, 6, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		s    projections.KeyStatus
		want string
	}{
		{projections.KeyStatus{Status: projections.StatusSuspended, Suspended: true, AtLock: events.SyncPending, OpenAtLock: true, OpenUntil: end},
			"SUSPENDED, still open at the lock until 2027-01-06T00:00:00Z"},
		{projections.KeyStatus{Status: projections.StatusSuspended, Suspended: true, AtLock: events.SyncPending, OpenAtLock: true},
			"SUSPENDED, still open at the lock until it applies the suspension"},
		{projections.KeyStatus{Status: projections.StatusSuspended, Suspended: true, AtLock: events.SyncFailed, OpenAtLock: true},
			"SUSPENDED, still open at the lock: it refused the suspension"},
		{projections.KeyStatus{Status: projections.StatusSuspended, Suspended: true, AtLock: events.SyncApplied}, "SUSPENDED"},
		{projections.KeyStatus{Status: projections.StatusRevoked, Suspended: true, AtLock: events.SyncRemoving, OpenAtLock: true},
			"REVOKED, still open at the lock until it applies the removal"},
	} {
		if got := tc.s.Summary(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}
