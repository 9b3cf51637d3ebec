package projections

import "time"

// used records a key's first use at at, if it has none yet. The row is
// rewritten once; with an expiry after first use the policy in force
// changes, so its position moves (cached schedules recompile).
func (b *batch) used(r *KeyRow, at time.Time, pos uint64) {
	if !r.FirstUsed.IsZero() || at.IsZero() {
		return
	}
	r.FirstUsed = at
	if r.Settings.Policy.AfterFirstUse != 0 {
		r.SettingsAt = pos
	}
	b.full[r.Key] = true
}
