// Package reliability holds whole-stack tests of keyledger's promises under
// failure, on real Pebble with no mocks:
//
//   - a process crash loses no acknowledged event and leaves no partial one:
//     TestCrashKill9 (ledger appends) and TestCrashCommandsKill9 (every kind
//     of command with projections) kill a child process with SIGKILL and
//     check what it acknowledged;
//   - injected disk faults surface as errors and lose nothing acknowledged:
//     TestDiskFaults (errorfs write, sync, read, ENOSPC and sstable errors
//     under the commands workload) and
//     TestDiskFaultsFatalPaths (MANIFEST, WAL-rotation and full-disk faults,
//     which used to kill the process, in child processes);
//   - concurrent commands on the same key never lose an update:
//     TestConcurrentConflicts;
//   - corrupted stored bytes and bad input get a clear typed error, never a
//     panic: TestCorruption, TestHostileInputs;
//   - secrets never appear in plaintext at rest: TestNoPlaintextSecrets.
//
// It has no API. RELIABILITY.md at the repository root says what each test
// proves, how to run it, the figures it produced and the bugs it found.
// The bounded versions run in `go test ./...`; KEYLEDGER_SOAK=1 runs the long
// ones; KEYLEDGER_STRICT=1 fails on known bugs instead of logging them.
package reliability
