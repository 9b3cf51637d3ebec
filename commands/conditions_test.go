package commands_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// racedStore is a ledger whose next AppendMulti first runs a hook: another
// writer's command lands between a decision's loads and its append. It
// records every AppendMulti and its error.
type racedStore struct {
	ledger.Backend
	mu     sync.Mutex
	before func()
	calls  []racedCall
}

type racedCall struct {
	appends []ledger.StreamAppend
	err     error
}

func (s *racedStore) AppendMulti(ctx context.Context, appends ...ledger.StreamAppend) (ledger.AppendResult, error) {
	s.mu.Lock()
	f := s.before
	s.before = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	res, err := s.Backend.AppendMulti(ctx, appends...)
	s.mu.Lock()
	s.calls = append(s.calls, racedCall{appends, err})
	s.mu.Unlock()
	return res, err
}

// raced returns a second service over e's ledger, writing through a
// racedStore, with its own state cache (another process, or a second
// Service in this one).
func raced(t *testing.T, e *env, issuer *lockproto.Issuer) (*commands.Service, *racedStore) {
	t.Helper()
	rs := &racedStore{Backend: e.l}
	svc, err := commands.New(rs, &commands.Options{Clock: func() time.Time { return e.now }, Vault: e.vault, Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	return svc, rs
}

// conflictedOn checks that the first append was refused because stream,
// which it carried as a condition only (read, not written), had moved.
func (rs *racedStore) conflictedOn(t *testing.T, stream string) {
	t.Helper()
	if len(rs.calls) == 0 {
		t.Fatal("no append")
	}
	c := rs.calls[0]
	var ce *ledger.ConflictError
	if !errors.As(c.err, &ce) || ce.Stream != stream {
		t.Fatalf("first append: %v, want a conflict on %s", c.err, stream)
	}
	for _, a := range c.appends {
		if a.Stream == stream && len(a.Events) == 0 {
			return
		}
	}
	t.Fatalf("first append %+v has no condition on %s", c.appends, stream)
}

func heldIntercomKey(t *testing.T, e *env, key string) {
	t.Helper()
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindIntercom}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: key, By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: key, By: "ann"}); err != nil {
		t.Fatal(err)
	}
}

// An unlock reads the lock's blackouts but writes only the key: if the
// owner changes the blackouts after the unlock loaded the lock and before
// it appended, the append is refused and the unlock decided again on the
// new blackouts, one way or the other.
func TestUnlockDecidesOnBlackoutsSetMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after bool // a lock-wide blackout covers now
		want          access.Reason
	}{
		{"blackout set", false, true, access.LockBlackout},
		{"blackout lifted", true, false, access.Granted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.given(frontLock()...)
			heldIntercomKey(t, e, "i1")
			blackouts := func(on bool) []policy.Blackout {
				if !on {
					return nil
				}
				return []policy.Blackout{{Start: e.now.Add(-time.Hour), End: e.now.Add(time.Hour)}}
			}
			if err := e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "bill", Blackouts: blackouts(tc.before)}); err != nil {
				t.Fatal(err)
			}
			other, rs := raced(t, e, nil)
			rs.before = func() {
				if err := e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "bill", Blackouts: blackouts(tc.after)}); err != nil {
					t.Error(err)
				}
			}
			mark := e.l.DurablePosition()
			r, err := other.Unlock(bg, commands.Unlock{ID: e.id(), Key: "i1", By: "ann"})
			if err != nil || r.Reason != tc.want || r.Granted != (tc.want == access.Granted) {
				t.Fatalf("Unlock = %+v, %v; want reason %v", r, err, tc.want)
			}
			rs.conflictedOn(t, "lock-front")
			var attempts []events.UnlockAttempted
			for _, d := range e.eventsSince(mark) {
				if u, ok := d.(events.UnlockAttempted); ok {
					attempts = append(attempts, u)
				}
			}
			if len(attempts) != 1 || attempts[0].Reason != tc.want {
				t.Fatalf("recorded %+v, want one attempt with reason %v", attempts, tc.want)
			}
		})
	}
}

// A download that issues an offline credential reads the lock's blackouts
// (the credential carries them) and writes only the key. Blackouts set
// meanwhile that leave no minute of the week open refuse it: no credential
// can carry the policy, and nothing is recorded.
func TestDownloadDecidesOnBlackoutsSetMeanwhile(t *testing.T) {
	e := newLockEnv(t)
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings("k1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	other, rs := raced(t, e.env, e.issuer)
	rs.before = func() {
		allWeek := []policy.Blackout{{Days: policy.EveryDay, From: 0, To: policy.MinutesPerDay}}
		if err := e.svc.SetLockBlackouts(bg, commands.SetLockBlackouts{ID: e.id(), Lock: "front", By: "bill", Blackouts: allWeek}); err != nil {
			t.Error(err)
		}
	}
	hk, err := lockproto.GenerateHolderKey(e.rnd)
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "ann", HolderKey: hk.PublicKey()})
	var ve *commands.ValidationError
	if !errors.As(err, &ve) || ve.Field != "policy" || !errors.Is(err, policy.ErrNotCompact) {
		t.Fatalf("DownloadKey: %v, want a policy ValidationError wrapping policy.ErrNotCompact", err)
	}
	rs.conflictedOn(t, "lock-front")
	if len(rs.calls) != 1 {
		t.Fatalf("%d appends, want the refused one only", len(rs.calls))
	}
	row, err := e.proj.Key(bg, "k1")
	if err != nil || row.State != events.StateSharing {
		t.Fatalf("key row %+v, %v: want it still shared, not downloaded", row, err)
	}
}

// Sharing To ID reads the recipient's account (it must be registered; the
// notification goes to its address) and writes only the key.
func TestShareToIDDecidesOnTheRecipientsAccount(t *testing.T) {
	share := func(svc *commands.Service, e *env, key, account string) (commands.ShareResult, error) {
		return svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: key, By: "bill", Method: events.ShareToID, Account: account})
	}
	t.Run("registered by another writer", func(t *testing.T) {
		e := newEnv(t)
		e.given(frontLock()...)
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom}); err != nil {
			t.Fatal(err)
		}
		other, _ := raced(t, e, nil)
		var nf *commands.NotFoundError
		if _, err := share(other, e, "i1", "cid"); !errors.As(err, &nf) || nf.ID != "cid" {
			t.Fatalf("share to an unregistered account: %v, want a NotFoundError", err)
		}
		// other's cache still says cid is not registered: the refusal is
		// checked against the log and the share decided again.
		if err := e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: "cid", Name: "Cid", Email: "cid@example.com"}); err != nil {
			t.Fatal(err)
		}
		if r, err := share(other, e, "i1", "cid"); err != nil || r.Account != "cid" {
			t.Fatalf("share after cid registered: %+v, %v", r, err)
		}
	})
	t.Run("account moves between load and append", func(t *testing.T) {
		e := newEnv(t)
		e.given(frontLock()...)
		if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "i1", Lock: "front", By: "bill", Kind: events.KindIntercom}); err != nil {
			t.Fatal(err)
		}
		other, rs := raced(t, e, nil)
		rs.before = func() {
			if err := e.svc.AddContact(bg, commands.AddContact{ID: e.id(), Account: "ann", Contact: "bob"}); err != nil {
				t.Error(err)
			}
		}
		mark := e.l.DurablePosition()
		if r, err := share(other, e, "i1", "ann"); err != nil || r.Account != "ann" {
			t.Fatalf("share: %+v, %v", r, err)
		}
		rs.conflictedOn(t, "account-ann")
		var shared, notes int
		for _, d := range e.eventsSince(mark) {
			switch d := d.(type) {
			case events.KeyShared:
				shared++
			case events.NotificationQueued:
				if notes++; d.To != "ann" || d.Email != "ann@example.com" {
					t.Fatalf("notification %+v, want it to ann at her address", d)
				}
			}
		}
		if shared != 1 || notes != 1 {
			t.Fatalf("%d shares and %d notifications recorded, want one each", shared, notes)
		}
	})
}

// A decision that appends nothing stands only on current state too: a
// service whose cache says the network is off must still see that another
// writer turned it on and that its duration is over, and record the expiry
// (which erases the master code).
func TestNothingToDoDecidedOnCurrentState(t *testing.T) {
	e := newEnv(t)
	e.given(frontLock()...)
	other, _ := raced(t, e, nil)
	if st, err := other.CheckNetwork(bg, commands.CheckNetwork{ID: e.id(), Lock: "front"}); err != nil || st.On {
		t.Fatalf("CheckNetwork = %+v, %v; want off", st, err)
	}
	if _, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "front", By: "bill", MasterCode: secret.FromString("4711-0815"), Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Hour)
	mark := e.l.DurablePosition()
	if st, err := other.CheckNetwork(bg, commands.CheckNetwork{ID: e.id(), Lock: "front"}); err != nil || st.On {
		t.Fatalf("CheckNetwork = %+v, %v; want off", st, err)
	}
	evs := e.eventsSince(mark)
	if len(evs) != 1 {
		t.Fatalf("recorded %+v, want the expiry", evs)
	}
	if off, ok := evs[0].(events.NetworkManagementOff); !ok || off.Reason != access.Expired {
		t.Fatalf("recorded %+v, want NetworkManagementOff for the expiry", evs[0])
	}
}
