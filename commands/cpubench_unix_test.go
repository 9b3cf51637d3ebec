//go:build unix

package commands_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's CPU time so far (user and system, every thread:
// Pebble's background work included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start as "cpu-ns/op": on a
// shared machine it moves less than wall time, which other jobs stretch.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
