package commands_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

var errInjectedRead = errors.New("injected read error")

// readFaultKeystore is the ledger keystore (real Pebble underneath) whose
// reads fail while armed, as a failing disk under the keystore does.
type readFaultKeystore struct {
	*commands.LedgerKeystore
	armed atomic.Bool
}

func (k *readFaultKeystore) Get(ctx context.Context, id secret.KeyID) ([]byte, error) {
	if k.armed.Load() {
		return nil, errInjectedRead
	}
	return k.LedgerKeystore.Get(ctx, id)
}

// A read error on the member's sealed password hash is no verdict on the
// password: UnlockOnline and ChangePassword return it and record nothing —
// no PasswordRejected, no step toward the lockout, no refused attempt — and
// once the disk reads again, the right password opens, which was once a bug.
func TestPasswordReadErrorIsNotAWrongPassword(t *testing.T) {
	var ks *readFaultKeystore
	e := newOnlineEnvKeystore(t, "", secret.TestPasswordParams, func(l *commands.LedgerKeystore) secret.Keystore {
		ks = &readFaultKeystore{LedgerKeystore: l}
		return ks
	})
	e.setUpGarage()
	svc := e.svc
	_, err := svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: 30 * 24 * time.Hour})
	e.must(err)
	e.must(e.createOnline("staff", staffNoNights()))
	e.must(svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "staff", Account: "ann", By: "bill"}))
	const pw = "ann-pass-2026"
	e.must(svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString(pw)}))

	ks.armed.Store(true)
	pos := e.mark()
	for i := range commands.MaxPasswordFailures + 1 { // more than enough to lock her out, were they counted
		res, err := svc.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: "staff", By: "ann", Password: secret.FromString(pw)})
		if !errors.Is(err, errInjectedRead) {
			t.Fatalf("unlock %d with the right password on a failing read: %+v, %v; want the read error", i, res, err)
		}
		if errors.Is(err, commands.ErrNotPermitted) {
			t.Fatalf("read error reported as a refusal: %v", err)
		}
	}
	err = svc.ChangePassword(bg, commands.ChangePassword{ID: e.id(), Lock: "garage", Account: "ann", Old: secret.FromString(pw), New: secret.FromString("ann-new-pass-2026")})
	if !errors.Is(err, errInjectedRead) || errors.Is(err, commands.ErrNotPermitted) {
		t.Fatalf("change password with the right old one on a failing read: %v; want the read error, not ErrNotPermitted", err)
	}
	if evs := e.eventsSince(pos); len(evs) != 0 {
		t.Fatalf("failed reads recorded %#v", evs)
	}

	ks.armed.Store(false)
	res, err := svc.UnlockOnline(bg, commands.UnlockOnline{ID: e.id(), Key: "staff", By: "ann", Password: secret.FromString(pw)})
	if err != nil || !res.Granted {
		t.Fatalf("unlock after the disk recovered: %+v, %v", res, err)
	}
	for _, ev := range e.eventsSince(pos) {
		if _, ok := ev.(events.PasswordRejected); ok {
			t.Fatalf("a PasswordRejected was recorded: %#v", ev)
		}
	}
}
