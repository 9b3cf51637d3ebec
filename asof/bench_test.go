package asof_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

// lockWithKeys is a log of one lock with n keys, each created, delivered,
// applied at the lock and used once (4 events a key), a weekday 8:00 to
// 18:00 window on every other key and every tenth key revoked.
func lockWithKeys(n int) []logged {
	now := t0
	log := []logged{{"lock-front", now, events.LockRegistered{Lock: "front", Owner: "bill", Zone: "Europe/Berlin", Slots: 2, Doors: access.MainInner}}}
	for i := range n {
		now = now.Add(time.Second)
		k := fmt.Sprintf("k%04d", i)
		p := policy.Policy{Zone: "Europe/Berlin"}
		if i%2 == 1 {
			p.Windows = []policy.Window{{Days: policy.Weekdays(0b0111110), From: 8 * 60, To: 18 * 60}}
		}
		log = append(log,
			logged{"key-" + k, now, events.KeyCreated{Key: k, Lock: "front", Owner: "bill", Kind: events.KindDigital,
				Holder: fmt.Sprintf("user%d", i), Settings: events.Settings{Doors: access.MainInner, Policy: p}}},
			logged{"key-" + k, now, events.KeyDownloaded{Key: k, Lock: "front", Holder: fmt.Sprintf("user%d", i)}},
			logged{"key-" + k, now, events.LockSynced{Key: k, Lock: "front", Sync: events.SyncApplied}},
			logged{"key-" + k, now, events.UnlockAttempted{Key: k, Lock: "front", Granted: true, Uses: 1}})
		if i%10 == 0 {
			log = append(log, logged{"key-" + k, now, events.KeyRevoked{Key: k, Lock: "front"}})
		}
	}
	return log
}

func BenchmarkWhoCouldOpen1000Keys(b *testing.B) {
	x := index(b, store(b, lockWithKeys(1000)))
	ctx := context.Background()
	at := t0.Add(2 * time.Hour) // Monday 11:00 in Berlin
	b.ReportAllocs()
	for b.Loop() {
		ans, err := x.WhoCouldOpen(ctx, "front", access.MainDoor, at)
		if err != nil || len(ans.Openings) != 1000 {
			b.Fatal(err, len(ans.Openings))
		}
	}
}

func BenchmarkCouldOpenAWeek(b *testing.B) {
	x := index(b, store(b, lockWithKeys(1000)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ans, err := x.CouldOpen(ctx, "user1", t0, t0.AddDate(0, 0, 7))
		if err != nil || len(ans.Doors) != 2 {
			b.Fatal(err, ans.Doors)
		}
	}
}

// BenchmarkReadAll1000Keys is the baseline: reading the same log.
func BenchmarkReadAll1000Keys(b *testing.B) {
	l := store(b, lockWithKeys(1000))
	ctx := context.Background()
	for b.Loop() {
		for _, err := range l.ReadAll(ctx, 1) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkKeyListNow1000Keys is the baseline of the instant query: the
// live read models' key list of the same lock, with each key's status.
func BenchmarkKeyListNow1000Keys(b *testing.B) {
	l := store(b, lockWithKeys(1000))
	p, err := projections.Open(l, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.WaitApplied(ctx, l.DurablePosition()); err != nil {
		b.Fatal(err)
	}
	at := t0.Add(2 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		keys, err := p.KeyList(ctx, "front", at)
		if err != nil || len(keys) != 1000 {
			b.Fatal(err, len(keys))
		}
	}
}

// BenchmarkReadModelsAtHalf rebuilds the read models as of the middle of
// the log of a lock with 1,000 keys (about 2,050 events).
func BenchmarkReadModelsAtHalf(b *testing.B) {
	l := store(b, lockWithKeys(1000))
	ctx := context.Background()
	pos := l.DurablePosition() / 2
	b.ReportAllocs()
	for b.Loop() {
		rm, err := asof.ReadModelsAt(ctx, l, pos)
		if err != nil {
			b.Fatal(err)
		}
		rm.Close()
	}
}
