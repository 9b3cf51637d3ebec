package commands_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// pinKey creates a digital PIN key for ann ending at end (zero: none).
func (e *lockEnv) pinKey(key, pin string, end time.Time) {
	e.t.Helper()
	st := settings(key)
	st.Policy.End = end
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: key, Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString(pin), Settings: st}); err != nil {
		e.t.Fatal(err)
	}
}

// syncAll delivers every pending admin message and uploads the audit, in
// rounds: a phone is handed a bounded number at a time.
func (e *lockEnv) syncAll() {
	e.t.Helper()
	for range 8 {
		msgs := e.pending("front")
		if len(msgs) == 0 {
			return
		}
		e.deliver(e.lock, msgs)
		e.upload(e.lock, "front")
	}
	e.t.Fatal("admin messages still pending after 8 rounds")
}

func (e *lockEnv) suspendKey(key string) {
	e.t.Helper()
	if err := e.svc.SuspendKey(bg, commands.KeyCommand{ID: e.id(), Key: key, By: "bill"}); err != nil {
		e.t.Fatal(err)
	}
}

// A suspended key that holds a PIN at its lock is refused online at once,
// but opens at the lock until the lock applies the suspension: its status
// and the key list say so as they do for a revoked key, until the lock's
// audit shows the suspension applied. A suspension the lock refuses (its
// suspension table full) leaves the key open there, its sync failed, and
// the audit upload names it. A resume before the suspension reached the
// lock leaves nothing open beyond what the key may do anyway.
func TestSuspendedKeyStillOpenAtTheLock(t *testing.T) {
	for _, tc := range []struct {
		name    string
		deliver bool // the suspend message reaches the lock
		upload  bool // and its audit reaches the ledger
		resume  bool // resumed before the suspend message reached the lock
		full    bool // the lock's suspension table is full
		open    bool // the lock still opens for the PIN
		status  projections.Status
		sync    events.LockSync
		still   bool // OpenAtLock
		summary string
	}{
		{name: "suspend on its way", status: projections.StatusSuspended, sync: events.SyncPending, open: true, still: true,
			summary: "SUSPENDED, still open at the lock until 2027-01-06T00:00:00Z"},
		{name: "applied, the audit not uploaded yet", deliver: true, status: projections.StatusSuspended, sync: events.SyncPending, still: true,
			summary: "SUSPENDED, still open at the lock until 2027-01-06T00:00:00Z"},
		{name: "applied at the lock", deliver: true, upload: true, status: projections.StatusSuspended, sync: events.SyncApplied,
			summary: "SUSPENDED"},
		{name: "refused: the suspension table is full", deliver: true, upload: true, full: true, status: projections.StatusSuspended,
			sync: events.SyncFailed, open: true, still: true, summary: "SUSPENDED, still open at the lock until 2027-01-06T00:00:00Z"},
		{name: "resumed before the lock heard of it", resume: true, status: projections.StatusActive, open: true,
			summary: "ACTIVE", sync: events.SyncApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLockEnv(t)
			end := time.Date(2027, 1, 6, 0, 0, 0, 0, time.UTC)
			e.pinKey("p", "482915", end)
			if tc.full {
				for i := range lockproto.MaxSuspensions {
					e.pinKey(fmt.Sprintf("f%02d", i), fmt.Sprintf("5%05d", i), time.Time{})
				}
			}
			e.syncAll() // the PINs are applied at the lock
			if tc.full {
				for i := range lockproto.MaxSuspensions {
					e.suspendKey(fmt.Sprintf("f%02d", i))
				}
				e.syncAll()
			}
			e.suspendKey("p")
			if tc.resume {
				if err := e.svc.ResumeKey(bg, commands.KeyCommand{ID: e.id(), Key: "p", By: "bill"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.deliver {
				for _, m := range e.pending("front") {
					if err := e.lock.HandleAdmin(m); err != nil && !(tc.full && errors.Is(err, lockproto.ErrRefused)) {
						t.Fatalf("suspend message: %v", err)
					}
				}
			}
			if tc.upload {
				r := e.upload(e.lock, "front")
				if refused := slices.Contains(r.SuspensionsRefused, "p"); refused != tc.full {
					t.Fatalf("upload names refused suspensions %v", r.SuspensionsRefused)
				}
			}
			if d := e.lock.EnterCode(0, []byte("482915")); d.Granted != tc.open {
				t.Fatalf("at the lock: %+v, want granted %v", d, tc.open)
			}
			online, err := e.svc.UnlockByPIN(bg, commands.UnlockByPIN{ID: e.id(), Lock: "front", Panel: "gate", PIN: secret.FromString("482915"), Door: access.MainDoor})
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.status == projections.StatusActive; online.Granted != want {
				t.Fatalf("online: %v, want granted %v", online.Reason, want)
			}
			s := e.status("p")
			if s.Status != tc.status || s.AtLock != tc.sync || s.OpenAtLock != tc.still || s.Summary() != tc.summary {
				t.Fatalf("status %+v %q; want %v %v still open %v %q", s, s.Summary(), tc.status, tc.sync, tc.still, tc.summary)
			}
			if tc.still && !s.OpenUntil.Equal(end) {
				t.Fatalf("open until %v, want the PIN's own end", s.OpenUntil)
			}
			list, err := e.proj.KeyList(bg, "front", e.now)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(list, func(v projections.KeyView) bool { return v.Key == "p" })
			if i < 0 {
				t.Fatal("the key list lacks the key")
			}
			if v := list[i].Status; v.Status != s.Status || v.AtLock != s.AtLock || v.OpenAtLock != s.OpenAtLock || !v.OpenUntil.Equal(s.OpenUntil) {
				t.Fatalf("key list shows %+v, status %+v", v, s)
			}
			if !tc.still && strings.Contains(s.Summary(), "still open") {
				t.Fatalf("summary %q", s.Summary())
			}
		})
	}
}

// The owner's fallback for a suspension the lock refused: revoking the key
// clears its PIN through the code table, not the full suspension table,
// so the lock stops opening for it and nothing is still open there.
func TestRevokeAfterARefusedSuspension(t *testing.T) {
	e := newLockEnv(t)
	e.pinKey("p", "482915", time.Time{})
	for i := range lockproto.MaxSuspensions {
		e.pinKey(fmt.Sprintf("f%02d", i), fmt.Sprintf("5%05d", i), time.Time{})
	}
	e.syncAll()
	for i := range lockproto.MaxSuspensions {
		e.suspendKey(fmt.Sprintf("f%02d", i))
	}
	e.syncAll()
	e.suspendKey("p")
	for _, m := range e.pending("front") {
		if err := e.lock.HandleAdmin(m); !errors.Is(err, lockproto.ErrRefused) {
			t.Fatalf("one suspension more than the table holds: %v, want refused", err)
		}
	}
	if r := e.upload(e.lock, "front"); !slices.Equal(r.SuspensionsRefused, []string{"p"}) {
		t.Fatalf("refused suspensions %v", r.SuspensionsRefused)
	}
	if s := e.status("p"); !s.OpenAtLock || s.AtLock != events.SyncFailed ||
		s.Summary() != "SUSPENDED, still open at the lock: it refused the suspension" {
		t.Fatalf("status %+v %q", s, s.Summary())
	}
	if err := e.svc.RevokeKey(bg, commands.KeyCommand{ID: e.id(), Key: "p", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	if s := e.status("p"); s.Status != projections.StatusRevoked || !s.OpenAtLock {
		t.Fatalf("revoked, before the lock heard of it: %+v", s)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, []byte("482915")); d.Granted {
		t.Fatalf("the lock still opens for the revoked PIN: %+v", d)
	}
	e.upload(e.lock, "front")
	if s := e.status("p"); s.OpenAtLock || s.AtLock != events.SyncRemoved {
		t.Fatalf("revoked at the lock: %+v", s)
	}
}
