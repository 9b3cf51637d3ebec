//go:build race

package ledger

// raceEnabled: tests of large non-concurrent setups skip under the race
// detector, which slows them tenfold and has nothing to find in them.
const raceEnabled = true
