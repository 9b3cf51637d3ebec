package commands_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// RegisterLock validates the zone as policy will for every key of the lock:
// a zone policy refuses would leave a lock on which no key can be created,
// so RegisterLock refuses it up front (policy.ErrUnknownZone).
func TestRegisterLockZone(t *testing.T) {
	for _, tc := range []struct {
		zone    string
		unknown bool // refused with policy.ErrUnknownZone; else accepted
	}{
		{zone: "Europe/Berlin"},
		{zone: "UTC"},
		{zone: "America/New_York"},
		{zone: "Local", unknown: true},
		{zone: "Mars/Olympus_Mons", unknown: true},
		{zone: "europe/nowhere", unknown: true},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			e := newOnlineEnv(t, "")
			e.must(e.svc.RegisterAccount(bg, commands.RegisterAccount{ID: e.id(), Account: "bill", Name: "Bill", Email: "bill@example.com"}))
			pos := e.mark()
			err := e.svc.RegisterLock(bg, commands.RegisterLock{ID: e.id(), Lock: "l1", Owner: "bill", Name: "Lock one", Zone: tc.zone, Slots: 2})
			if !tc.unknown {
				e.must(err)
				// The lock is usable: a key can be created on it.
				_, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k1", Lock: "l1", By: "bill", Kind: events.KindShare,
					Settings: events.Settings{Name: "k1", Doors: access.Main}})
				e.must(err)
				return
			}
			var ve *commands.ValidationError
			if !errors.Is(err, commands.ErrInvalid) || !errors.Is(err, policy.ErrUnknownZone) || !errors.As(err, &ve) || ve.Field != "zone" {
				t.Fatalf("zone %q: %v; want *ValidationError for zone, ErrInvalid and policy.ErrUnknownZone", tc.zone, err)
			}
			if !strings.Contains(err.Error(), tc.zone) {
				t.Fatalf("error does not name the zone %q: %v", tc.zone, err)
			}
			if evs := e.eventsSince(pos); len(evs) != 0 {
				t.Fatalf("refused registration recorded %#v", evs)
			}
		})
	}
}
