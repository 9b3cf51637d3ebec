// Package reliability holds whole-stack tests of keyledger's promises under
// failure: process crashes (SIGKILL of a child process mid-workload), disk
// faults, corruption, concurrency and hostile input. It has no API; see
// RELIABILITY.md at the repository root for what each test proves, how to run
// it and the figures it produced.
//
// The bounded versions run in `go test ./...`; KEYLEDGER_SOAK=1 runs the long ones.
package reliability
