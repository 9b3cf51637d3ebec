package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// typedCommandError reports whether err is one of the commands package's
// documented errors (a conflict that gave up is ErrBusy).
func typedCommandError(err error) bool {
	for _, k := range []error{commands.ErrForbidden, commands.ErrNotFound, commands.ErrExists, commands.ErrInvalid,
		commands.ErrNotPermitted, commands.ErrNoSlot, commands.ErrPINTaken, commands.ErrBusy, commands.ErrGroupFull, commands.ErrNetworkOff} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// TestConcurrentConflicts checks that concurrent commands on the same key
// never lose an update: it has hundreds of goroutines issue conflicting
// commands on few keys of one lock, then checks the invariants on the log
// itself (not only on what the commands returned):
//   - single-use and 3-use keys unlocked by 48 goroutines at once: granted
//     exactly up to the limit, never more (results, UnlockAttempted events,
//     and the projections' use count agree);
//   - the 5-account limit of online keys: 40 goroutines invite 40 accounts
//     to two keys while others withdraw invitations; replaying the group
//     stream, no key ever holds more than 5 seats, and every invitation that
//     returned nil holds or held a seat;
//   - edits against downloads of share keys: no KeyEdited after the
//     KeyDownloaded in any key stream, every acknowledged edit is in the log;
//   - resets against downloads: no reset before the download, at most one
//     download and one reset per key, and the slot generation moves once;
//
// then projections equal a rebuild and Verify passes. Every error returned
// is one of the package's typed errors. Bounded: 4 rounds; KEYLEDGER_SOAK=1:
// 20 rounds.
func TestConcurrentConflicts(t *testing.T) {
	rounds := 4
	if soak() {
		rounds = 20
	}
	var total conflictStats
	for r := range rounds {
		st := conflictRound(t, r)
		total.add(st)
	}
	t.Logf("rounds: %d; goroutines per round: %d; commands issued: %d (errors: %d, all typed: %v); "+
		"unlocks granted %d of %d tried on %d limited keys (limit respected); invitations accepted %d, refused as full %d; "+
		"edits accepted %d (none after a download), downloads %d, resets %d",
		rounds, total.goroutines/rounds, total.commands.Load(), total.errors.Load(), total.byErr, total.granted, total.unlocks, total.limitedKeys,
		total.invited, total.full, total.edits, total.downloads, total.resets)
}

type conflictStats struct {
	goroutines                                   int
	commands, errors                             atomic.Int64
	byErr                                        map[string]int
	granted, unlocks, limitedKeys, invited, full int
	edits, downloads, resets                     int
	mu                                           sync.Mutex
}

func (c *conflictStats) add(o *conflictStats) {
	c.goroutines += o.goroutines
	c.commands.Add(o.commands.Load())
	c.errors.Add(o.errors.Load())
	if c.byErr == nil {
		c.byErr = map[string]int{}
	}
	for k, v := range o.byErr {
		c.byErr[k] += v
	}
	c.granted += o.granted
	c.unlocks += o.unlocks
	c.limitedKeys += o.limitedKeys
	c.invited += o.invited
	c.full += o.full
	c.edits += o.edits
	c.downloads += o.downloads
	c.resets += o.resets
}

func (c *conflictStats) record(t *testing.T, what string, err error) {
	c.commands.Add(1)
	if err == nil {
		return
	}
	c.errors.Add(1)
	if !typedCommandError(err) {
		t.Errorf("%s: untyped error %v", what, err)
	}
	name := "other"
	for n, k := range map[string]error{"ErrBusy": commands.ErrBusy, "ErrForbidden": commands.ErrForbidden, "ErrGroupFull": commands.ErrGroupFull,
		"ErrNotPermitted": commands.ErrNotPermitted, "ErrNotFound": commands.ErrNotFound, "ErrExists": commands.ErrExists} {
		if errors.Is(err, k) {
			name = n
		}
	}
	c.mu.Lock()
	c.byErr[name]++
	c.mu.Unlock()
}

func conflictRound(t *testing.T, round int) *conflictStats {
	ctx := context.Background()
	s, err := openStack("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	st := &conflictStats{byErr: map[string]int{}}
	ids := atomic.Uint64{}
	id := func() uuid.UUID {
		var u uuid.UUID
		u[0], u[1] = 0xcc, byte(round)
		n := ids.Add(1)
		for i := range 8 {
			u[8+i] = byte(n >> (8 * (7 - i)))
		}
		return u
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	svc := s.svc
	for _, a := range []string{"bill", "ann"} {
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	const invitees = 40
	for i := range invitees {
		a := fmt.Sprintf("inv-%d", i)
		must(svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: a, Name: a, Email: a + "@example.com"}))
	}
	must(svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front", Zone: "Europe/Berlin", Slots: 64}))
	_, err = svc.TurnOnNetwork(ctx, commands.TurnOnNetwork{ID: id(), Lock: "front", By: "bill", MasterCode: secret.FromString("48151623"), Duration: time.Hour * 24})
	must(err)

	// Limited keys, downloaded by ann.
	limits := map[string]uint32{"single-1": 1, "single-2": 1, "single-3": 1, "three-1": 3}
	for k, n := range limits {
		_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k, Lock: "front", By: "bill", Kind: events.KindIntercom,
			Settings: events.Settings{Name: k, Policy: policy.Policy{Uses: policy.UsesN(n),
				Start: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}}}) // limited intercom keys are dated
		must(err)
		_, err = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: k, By: "bill", Method: events.ShareToID, Account: "ann"})
		must(err)
		_, err = svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: k, By: "ann"})
		must(err)
	}
	// Share keys shared to ann, not downloaded: edits race downloads and resets.
	shareKeys := []string{"s-1", "s-2", "s-3", "s-4"}
	for _, k := range shareKeys {
		_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k, Lock: "front", By: "bill", Kind: events.KindShare, Settings: events.Settings{Name: k}})
		must(err)
		_, err = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: k, By: "bill", Method: events.ShareToID, Account: "ann"})
		must(err)
	}
	onlineKeys := []string{"o-1", "o-2"}
	for _, k := range onlineKeys {
		_, err := svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: k, Lock: "front", By: "bill", Kind: events.KindOnline, Settings: events.Settings{Name: k}})
		must(err)
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	goroutines := 0
	spawn := func(f func()) {
		goroutines++
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f()
		}()
	}
	var granted sync.Map // key -> *atomic.Int64
	for k := range limits {
		granted.Store(k, new(atomic.Int64))
	}
	// 48 goroutines x 3 unlocks of every limited key.
	for range 48 {
		spawn(func() {
			for range 3 {
				for k := range limits {
					res, err := svc.Unlock(ctx, commands.Unlock{ID: id(), Key: k, By: "ann"})
					st.record(t, "unlock", err)
					st.mu.Lock()
					st.unlocks++
					st.mu.Unlock()
					if err == nil && res.Granted {
						c, _ := granted.Load(k)
						c.(*atomic.Int64).Add(1)
					}
				}
			}
		})
	}
	// 40 inviters over 2 online keys, and 20 withdrawers.
	var invitedOK sync.Map // account -> key
	for i := range invitees {
		key := onlineKeys[i%len(onlineKeys)]
		acct := fmt.Sprintf("inv-%d", i)
		spawn(func() {
			for range 10 { // a full group may free a seat when a withdrawal lands
				err := svc.InviteMember(ctx, commands.InviteMember{ID: id(), Lock: "front", Key: key, Account: acct, By: "bill"})
				st.record(t, "invite", err)
				if err == nil {
					invitedOK.Store(acct, key)
					return
				}
				st.mu.Lock()
				if errors.Is(err, commands.ErrGroupFull) {
					st.full++
				}
				st.mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	for i := range 20 {
		acct := fmt.Sprintf("inv-%d", i*2)
		spawn(func() {
			for range 20 {
				if _, ok := invitedOK.Load(acct); ok {
					err := svc.WithdrawInvitation(ctx, commands.InvitationCommand{ID: id(), Lock: "front", Account: acct, By: "bill"})
					st.record(t, "withdraw", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	// Edits vs downloads vs resets on the share keys.
	var editOK sync.Map // command ID -> key
	for _, k := range shareKeys {
		for e := range 12 {
			spawn(func() {
				cid := id()
				err := svc.EditKey(ctx, commands.EditKey{ID: cid, Key: k, By: "bill", Settings: commands.SettingsPatch{Name: new(fmt.Sprintf("%s edit %d", k, e))}})
				st.record(t, "edit", err)
				if err == nil {
					editOK.Store(cid, k)
				}
			})
		}
		for range 4 {
			spawn(func() {
				_, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: k, By: "ann"})
				st.record(t, "download", err)
			})
		}
		for range 6 {
			spawn(func() {
				err := svc.ResetKey(ctx, commands.KeyCommand{ID: id(), Key: k, By: "bill"})
				st.record(t, "reset", err)
			})
		}
	}
	close(start)
	wg.Wait()
	st.goroutines = goroutines

	// Limits: results, log and projections agree.
	for k, n := range limits {
		c, _ := granted.Load(k)
		got := c.(*atomic.Int64).Load()
		if got != int64(n) {
			t.Errorf("key %s (limit %d): %d unlocks granted", k, n, got)
		}
		logGranted := 0
		for ev, err := range s.l.ReadStream(ctx, "key-"+k, 0) {
			must(err)
			if u, ok := ev.Data.(events.UnlockAttempted); ok && u.Granted {
				logGranted++
			}
		}
		if logGranted != int(n) {
			t.Errorf("key %s (limit %d): %d granted UnlockAttempted in the log", k, n, logGranted)
		}
		row, err := s.proj.Key(ctx, k)
		must(err)
		if row.Uses != n {
			t.Errorf("key %s: projections count %d uses, limit %d", k, row.Uses, n)
		}
		st.granted += int(got)
		st.limitedKeys++
	}
	// Seats: replay the group stream.
	seats := map[string]map[string]bool{} // key -> accounts holding a seat
	everSeated := map[string]bool{}
	for ev, err := range s.l.ReadStream(ctx, "group-front", 0) {
		must(err)
		switch e := ev.Data.(type) {
		case events.MemberInvited:
			if seats[e.Key] == nil {
				seats[e.Key] = map[string]bool{}
			}
			seats[e.Key][e.Account] = true
			everSeated[e.Account] = true
			if len(seats[e.Key]) > commands.MaxOnlineAccounts {
				t.Errorf("online key %s holds %d seats at position %d", e.Key, len(seats[e.Key]), ev.Position)
			}
		case events.InvitationWithdrawn:
			delete(seats[e.Key], e.Account)
		case events.InvitationDeclined:
			delete(seats[e.Key], e.Account)
		case events.InvitationExpired:
			delete(seats[e.Key], e.Account)
		case events.MemberRemoved:
			delete(seats[e.Key], e.Account)
		}
	}
	invitedOK.Range(func(a, _ any) bool {
		st.invited++
		if !everSeated[a.(string)] {
			t.Errorf("invitation of %s returned nil but is not in the group stream", a)
		}
		return true
	})
	gs, err := svc.GroupStatus(ctx, "front", time.Now())
	must(err)
	for _, k := range gs.Keys {
		if k.Accounts > commands.MaxOnlineAccounts {
			t.Errorf("group status: key %s has %d accounts", k.Key, k.Accounts)
		}
	}
	// Edits, downloads, resets: the order in each key stream.
	editEvents := map[uuid.UUID]bool{}
	for _, k := range shareKeys {
		downloaded, reset := 0, 0
		var gens []uint32
		for ev, err := range s.l.ReadStream(ctx, "key-"+k, 0) {
			must(err)
			switch e := ev.Data.(type) {
			case events.KeyEdited:
				editEvents[ev.ID] = true
				if downloaded > 0 {
					t.Errorf("key %s: edit accepted after its download (position %d)", k, ev.Position)
				}
				st.edits++
			case events.KeyDownloaded:
				downloaded++
				st.downloads++
			case events.KeyReset:
				if downloaded == 0 {
					t.Errorf("key %s: reset before download (position %d)", k, ev.Position)
				}
				reset++
				gens = append(gens, e.Generation)
				st.resets++
			}
		}
		if downloaded > 1 || reset > 1 {
			t.Errorf("key %s: %d downloads and %d resets", k, downloaded, reset)
		}
	}
	editOK.Range(func(cid, k any) bool {
		if !editEvents[eventID(cid.(uuid.UUID), 0)] {
			t.Errorf("acknowledged edit %s of %s is not in the log", cid, k)
		}
		return true
	})
	if _, err := checkProjections(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.Verify(ctx); err != nil {
		t.Fatal(err)
	}

	return st
}
