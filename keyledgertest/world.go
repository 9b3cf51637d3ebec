package keyledgertest

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

// World is what a model check starts from: registered accounts, one lock,
// and the few key IDs its steps pick from (few, so that steps keep meeting
// the same keys and run into the rules).
type World struct {
	Owner    string   // owns the lock, so every key and every owner command
	Accounts []string // the other registered accounts: recipients, users, holders
	Device   string   // a device ID that is no account: the bearer of a share code
	Lock     string
	Zone     string       // the lock's IANA zone; every key's schedule is read in it
	Slots    int          // share-key slots of the lock
	Doors    access.Doors // the lock's doors: access.Main, optionally access.Inner
	Keys     []string     // the key IDs steps use
	// Kinds are the kinds of key steps create (default: share, digital and
	// intercom keys, the kinds the model knows).
	Kinds []events.Kind
}

// DefaultWorld is Bill's front door in Berlin with two slots and an inner
// door; Ann and Bob are registered, phone-1 is a phone with no account,
// and steps use the keys k0 to k3.
func DefaultWorld() World {
	return World{Owner: "bill", Accounts: []string{"ann", "bob"}, Device: "phone-1", Lock: "front", Zone: "Europe/Berlin",
		Slots: 2, Doors: access.Main | access.Inner, Keys: []string{"k0", "k1", "k2", "k3"}}
}

// kinds is w.Kinds or the default.
func (w World) kinds() []events.Kind {
	if len(w.Kinds) == 0 {
		return modelKinds
	}
	return w.Kinds
}

// people are the IDs that present keys: the owner, the accounts, the device.
func (w World) people() []string {
	return append(append([]string{w.Owner}, w.Accounts...), w.Device)
}

// validate reports what makes w unusable by the model.
func (w World) validate() error {
	switch {
	case w.Owner == "" || w.Lock == "" || w.Device == "" || w.Zone == "":
		return fmt.Errorf("keyledgertest: world needs an owner, a lock, a device and a zone: %+v", w)
	case len(w.Accounts) == 0 || len(w.Keys) == 0:
		return fmt.Errorf("keyledgertest: world needs accounts and keys: %+v", w)
	case slices.Contains(w.Accounts, w.Owner) || slices.Contains(w.Accounts, w.Device) || w.Device == w.Owner:
		return fmt.Errorf("keyledgertest: world's owner %q, accounts %q and device %q must differ", w.Owner, w.Accounts, w.Device)
	case w.Doors&access.Main == 0:
		return fmt.Errorf("keyledgertest: world's lock has doors %v, it needs the main door", w.Doors)
	}
	for _, k := range w.kinds() {
		if !slices.Contains(modelKinds, k) {
			return fmt.Errorf("keyledgertest: the model knows no %v keys: add them as actions", k)
		}
	}
	return nil
}

// Register registers w's accounts and lock on svc, with command IDs from
// id. It returns the first error.
func (w World) Register(ctx context.Context, svc *commands.Service, id func() uuid.UUID) error {
	for i, a := range append([]string{w.Owner}, w.Accounts...) {
		c := commands.RegisterAccount{ID: id(), Account: a, Name: fmt.Sprintf("Account %d", i), Email: fmt.Sprintf("user%d@example.com", i)}
		if err := svc.RegisterAccount(ctx, c); err != nil {
			return fmt.Errorf("keyledgertest: register account %q: %w", a, err)
		}
	}
	c := commands.RegisterLock{ID: id(), Lock: w.Lock, Owner: w.Owner, Name: "Lock", Zone: w.Zone, Slots: w.Slots, Doors: w.Doors}
	if err := svc.RegisterLock(ctx, c); err != nil {
		return fmt.Errorf("keyledgertest: register lock %q: %w", w.Lock, err)
	}
	return nil
}
