package projections

import "time"

// used records a granted use of a key at at: its first use is the
// earliest (an audit uploaded late may bring an earlier one). The row is
// rewritten when it changes; with an expiry after first use the policy in
// force changes, so its position moves (cached schedules recompile).
func (b *batch) used(r *KeyRow, at time.Time, pos uint64) {
	if at.IsZero() || !r.FirstUsed.IsZero() && !at.Before(r.FirstUsed) {
		return
	}
	r.FirstUsed = at
	if r.Settings.Policy.AfterFirstUse != 0 {
		r.SettingsAt = pos
	}
	b.full[r.Key] = true
}
