// Package reliability holds whole-stack tests of keyledger's promises under
// failure (specification section 5, R1–R5), on real Pebble with no mocks:
//
//   - R1, process crashes: TestCrashKill9 (ledger appends) and
//     TestCrashCommandsKill9 (every kind of command with projections) kill a
//     child process with SIGKILL and check what it acknowledged;
//   - R2, disk faults: TestDiskFaults (errorfs write, sync, read, ENOSPC and
//     sstable errors under the commands workload) and
//     TestDiskFaultsFatalPaths (MANIFEST, WAL-rotation and full-disk faults,
//     which used to kill the process, in child processes);
//   - R3, concurrency: TestConcurrentConflicts;
//   - R4, corruption and bad input: TestCorruption, TestHostileInputs;
//   - R5, secrets at rest: TestNoPlaintextSecrets.
//
// It has no API. RELIABILITY.md at the repository root says what each test
// proves, how to run it, the figures it produced and the bugs it found.
// The bounded versions run in `go test ./...`; KEYLEDGER_SOAK=1 runs the long
// ones; KEYLEDGER_STRICT=1 fails on known bugs instead of logging them.
package reliability
