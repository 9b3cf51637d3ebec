package projections

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
)

// A status row keeps where the key stands at its lock and its
// credential's end (layout 2); a row of the first layout, written before
// there was such a thing, still reads, as nothing at the lock. Rows of
// any other length or version are refused.
func TestStatusRowLayouts(t *testing.T) {
	until := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	r := &KeyRow{State: events.StateReset, Uses: 3, SettingsAt: 42, AtLock: events.AtLock{Sync: events.SyncRemoving, Until: until}}
	v2 := appendStatusRow(nil, r)
	if !statusRowOK(v2) || len(v2) != statusRowLen {
		t.Fatalf("layout 2 row %x refused", v2)
	}
	if a := atLockOf(v2); a.Sync != events.SyncRemoving || !a.Until.Equal(until) {
		t.Fatalf("at the lock %+v", a)
	}
	v1 := append([]byte{1}, v2[1:statusRowLenV1]...)
	if !statusRowOK(v1) || atLockOf(v1) != (events.AtLock{}) {
		t.Fatalf("layout 1 row %x: ok %v, at the lock %+v", v1, statusRowOK(v1), atLockOf(v1))
	}
	for _, bad := range [][]byte{v2[:statusRowLen-1], append([]byte{1}, v2[1:]...), append([]byte{2}, v1[1:]...), nil} {
		if statusRowOK(bad) {
			t.Fatalf("row %x accepted", bad)
		}
	}
}
