package commands_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

// TestConcurrentUnlockAndEditLoseNothing: many goroutines unlock and edit one
// key at once; every unlock is counted, every edit recorded, and the read
// models agree with the log.
func TestConcurrentUnlockAndEditLoseNothing(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "i1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "i1", By: "ann"}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 12
	ids := make([][]commands.Unlock, workers)
	edits := make([][]commands.EditKey, workers)
	for w := range workers {
		for i := range each {
			ids[w] = append(ids[w], commands.Unlock{ID: e.id(), Key: "i1", By: "ann"})
			edits[w] = append(edits[w], commands.EditKey{ID: e.id(), Key: "i1", By: "bill", Settings: commands.AllSettings(settings(fmt.Sprintf("w%d-%d", w, i)))})
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if w%2 == 0 {
					r, err := e.svc.Unlock(bg, ids[w][i])
					if err != nil {
						t.Error(err)
						return
					}
					if r.Granted {
						mu.Lock()
						granted++
						mu.Unlock()
					}
				} else if err := e.svc.EditKey(bg, edits[w][i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if granted != workers/2*each {
		t.Fatalf("%d unlocks granted, want %d", granted, workers/2*each)
	}
	var unlocks, edited int
	var last string
	for ev, err := range e.l.ReadStream(bg, "key-i1", 0) {
		if err != nil {
			t.Fatal(err)
		}
		switch d := ev.Data.(type) {
		case events.UnlockAttempted:
			unlocks++
			if d.Uses != uint32(unlocks) {
				t.Fatalf("unlock %d recorded uses %d", unlocks, d.Uses)
			}
		case events.KeyEdited:
			edited++
			last = d.Settings.Name
		}
	}
	if unlocks != workers/2*each || edited != workers/2*each {
		t.Fatalf("log has %d unlocks and %d edits", unlocks, edited)
	}
	row, err := e.proj.Key(bg, "i1")
	if err != nil || row.Uses != uint32(unlocks) || row.Settings.Name != last {
		t.Fatalf("read model %+v (%v), want uses %d name %q", row, err, unlocks, last)
	}
	// Retrying every command changes nothing.
	before := e.l.DurablePosition()
	for w := range workers {
		for i := range each {
			if w%2 == 0 {
				if _, err := e.svc.Unlock(bg, ids[w][i]); err != nil {
					t.Fatal(err)
				}
			} else if err := e.svc.EditKey(bg, edits[w][i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if e.l.DurablePosition() != before {
		t.Fatal("retried commands appended events")
	}
}
