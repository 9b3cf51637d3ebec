package commands_test

// Benchmarks with the ledger's own baseline in the same run, so each ratio
// in BENCHMARKS.md (repository root) comes from one command:
//
//	go test ./commands -run '^$' -bench . -benchtime 2s

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// diskEnv is a service and projections over an on-disk (durable) ledger,
// or over PostgreSQL when the run selects it (internal/testbackend).
func diskEnv(b *testing.B) *env {
	b.Helper()
	e := &env{t: b, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		b.Fatal(err)
	}
	var err error
	if testbackend.Postgres() {
		e.l = testbackend.Open(b, reg, nil)
	} else {
		l, err := ledger.Open(b.TempDir(), &ledger.Options{Registry: reg})
		if err != nil {
			b.Fatal(err)
		}
		e.l = l
	}
	l := e.l
	if e.proj, err = projections.Open(l, nil); err != nil {
		b.Fatal(err)
	}
	if e.svc, err = commands.New(l, &commands.Options{Clock: func() time.Time { return e.now }, Projections: e.proj, Root: testRoot}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.close)
	return e
}

// downloadedKeys creates n intercom keys held by ann.
func downloadedKeys(b *testing.B, e *env, n int) {
	e.given(frontLock()...)
	for i := range n {
		k := fmt.Sprintf("b%d", i)
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: k, Lock: "front", By: "bill", Kind: events.KindIntercom}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: k, By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: k, By: "ann"}); err != nil {
			b.Fatal(err)
		}
	}
}

var benchCmd atomic.Uint64

func benchID() uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], benchCmd.Add(1))
	u[0], u[1] = 0xbe, byte(time.Now().UnixNano())
	binary.BigEndian.PutUint64(u[2:], uint64(time.Now().UnixNano()))
	return u
}

// BenchmarkUnlock64: 64 concurrent callers, each unlocking its own key:
// decision, durable record, projections applied. Baseline: the ledger's own
// 64-writer durable append of an event of the same type.
func BenchmarkUnlock64(b *testing.B) {
	par := 64 / runtime.GOMAXPROCS(0)
	b.Run("ledger-append", func(b *testing.B) {
		e := diskEnv(b)
		var w atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			stream := fmt.Sprintf("key-w%d", w.Add(1))
			ev := events.UnlockAttempted{Key: stream, Lock: "front", By: "ann", Door: access.Main, Source: "app", Granted: true}
			for pb.Next() {
				if _, err := e.l.Append(bg, stream, ledger.ExpectAny, ledger.NewEvent{Data: ev}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("unlock", func(b *testing.B) {
		e := diskEnv(b)
		downloadedKeys(b, e, 64)
		var w atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(par)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			k := fmt.Sprintf("b%d", (w.Add(1)-1)%64)
			for pb.Next() {
				r, err := e.svc.Unlock(bg, commands.Unlock{ID: benchID(), Key: k, By: "ann"})
				if err != nil || !r.Granted {
					b.Errorf("%+v %v", r, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkKeyStatus: status of one key at an instant. Baseline: the bare
// ledger GetState of a row of the same key.
func BenchmarkKeyStatus(b *testing.B) {
	e := newEnv(b)
	downloadedKeys(b, e, 1)
	key := []byte("p/st/b0") // the row KeyStatus reads
	b.Run("ledger-getstate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.l.GetState(bg, key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status", func(b *testing.B) {
		b.ReportAllocs()
		at := e.now
		for b.Loop() {
			if _, err := e.proj.KeyStatus(bg, "b0", at); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRebuildKeys: a rebuild of a log of 20,000 key creations, each
// touching rows of its own (the key's, and the lists of its lock and its
// owner): where a batch's memory goes when its events are not unlocks.
func BenchmarkRebuildKeys(b *testing.B) {
	e := diskEnv(b)
	e.given(frontLock()...)
	for i := range 200 {
		appends := make([]ledger.StreamAppend, 100)
		for j := range appends {
			k := fmt.Sprintf("k%d", i*100+j)
			appends[j] = ledger.StreamAppend{Stream: "key-" + k, Expect: ledger.ExpectNoStream, Events: []ledger.NewEvent{{
				Data: events.KeyCreated{Key: k, Lock: "front", Owner: "bill", By: "bill", Kind: events.KindIntercom, Holder: fmt.Sprintf("u%d", j)}}}}
		}
		if _, err := e.l.AppendMulti(bg, appends...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := e.proj.Rebuild(bg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*20000/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, cpu)
}

// BenchmarkRebuild: events per second of a projection rebuild against the
// ledger's ReadAll over the same log, and the CPU time of each (the rebuild
// reads on one goroutine and applies on another: other jobs on the machine
// slow it more than the one-goroutine ReadAll).
func BenchmarkRebuild(b *testing.B) {
	e := diskEnv(b)
	downloadedKeys(b, e, 16)
	for i := range 200 { // 20,000 unlock records, 100 per append
		evs := make([]ledger.NewEvent, 100)
		for j := range evs {
			evs[j] = ledger.NewEvent{Data: events.UnlockAttempted{Key: "b3", Lock: "front", By: "ann", Door: access.Main,
				Source: "app", Granted: true, Uses: uint32(i*100 + j + 1)}, Time: e.now.Add(time.Duration(i*100+j) * time.Second)}
		}
		if _, err := e.l.Append(bg, "key-b3", ledger.ExpectAny, evs...); err != nil {
			b.Fatal(err)
		}
	}
	n := e.l.DurablePosition()
	b.Run("ledger-readall", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			c := 0
			for _, err := range e.l.ReadAll(bg, 0) {
				if err != nil {
					b.Fatal(err)
				}
				c++
			}
		}
		b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "events/s")
		reportCPU(b, cpu)
	})
	b.Run("rebuild", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if err := e.proj.Rebuild(bg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "events/s")
		reportCPU(b, cpu)
	})
}

// BenchmarkUnlockByPIN: a code typed at a keypad (hash the digits, find the
// key among the lock's PINs, decide, record, projections applied) against
// the app's unlock of the same key by its ID, serially on Pebble over
// vfs.NewMem (the CPU cost). Target: at most 1.5× the unlock by ID (one
// HMAC-SHA256 and a read of the keypad stream more).
func BenchmarkUnlockByPIN(b *testing.B) {
	setup := func(b *testing.B) *env {
		e := newEnv(b)
		e.given(frontLock()...)
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "d1", Lock: "front", By: "bill", Kind: events.KindDigital,
			For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482913"), Settings: settings("d1")}); err != nil {
			b.Fatal(err)
		}
		return e
	}
	b.Run("unlock-by-id", func(b *testing.B) {
		e := setup(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if r, err := e.svc.Unlock(bg, commands.Unlock{ID: benchID(), Key: "d1", By: "ann"}); err != nil || !r.Granted {
				b.Fatalf("%+v %v", r, err)
			}
		}
	})
	b.Run("unlock-by-pin", func(b *testing.B) {
		e := setup(b)
		pin := secret.FromString("482913")
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if r, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: benchID(), Lock: "front", Panel: "p1", PIN: pin}); err != nil || !r.Granted {
				b.Fatalf("%+v %v", r, err)
			}
		}
	})
}
