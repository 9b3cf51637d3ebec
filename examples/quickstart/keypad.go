package main

import (
	"fmt"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// frontDoor is the front door's own keypad, card reader and intercom: a PIN
// key and a keycard key reach the lock as signed admin messages (keyed
// digests, never the code) any phone delivers; a remote open signed after
// the ledger's own decision is relayed by the intercom panel; and a reset
// key shows as still open at the lock until the lock hears of it.
func (t *tour) frontDoor() error {
	t.heading("The front door's keypad, card reader and intercom")
	t.clock.Set(t.at(5, 8, 0))
	res, err := t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: "front-pin", Lock: front, By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, Settings: events.Settings{Name: "Ann's door PIN", Doors: access.Main}})
	if err := t.ok("Bill makes front-pin for Ann: a 6-digit PIN for the front door's keypad", err); err != nil {
		return err
	}
	pin := res.PIN // Ann is told it; the log keeps keyed hashes only
	card := secret.New([]byte{0x04, 0x5a, 0x91, 0x3c, 0x22, 0x7e, 0x81})
	_, err = t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: "front-card", Lock: front, By: "bill", Kind: events.KindDigital,
		For: "cid", Credential: events.CredentialKeycard, Card: card, Settings: events.Settings{Name: "Cid's card", Doors: access.Main}})
	if err := t.ok("Bill makes front-card for Cid's badge", err); err != nil {
		return err
	}
	if err := t.atLock("front-pin", "front-card"); err != nil {
		return err
	}
	if err := t.atTheLock(); err != nil {
		return err
	}
	if err := t.typeAtDoor("ann", pin.Reveal()); err != nil {
		return err
	}
	t.present("cid", card.Reveal())
	t.clock.Set(t.at(5, 8, 5))
	for range 5 {
		if err := t.typeAtDoor("a stranger", []byte("000000")); err != nil {
			return err
		}
	}
	if err := t.typeAtDoor("ann", pin.Reveal()); err != nil {
		return err
	}
	t.present("cid", card.Reveal()) // the lockout is the keypad's alone
	if err := t.uploadAudit(); err != nil {
		return err
	}
	if err := t.atLock("front-pin", "front-card"); err != nil {
		return err
	}

	// An app key decided by the ledger, opened through the intercom panel.
	_, err = t.svc.CreateKey(t.ctx, commands.CreateKey{ID: t.id(), Key: "front-app", Lock: front, By: "bill", Kind: events.KindDigital,
		For: "bob", Settings: events.Settings{Name: "Bob's app key", Doors: access.Main}})
	if err := t.ok("Bill makes front-app for Bob", err); err != nil {
		return err
	}
	decision := commands.Unlock{ID: t.id(), Key: "front-app", By: "bob", Door: access.MainDoor, Source: "intercom"}
	r, err := t.svc.Unlock(t.ctx, decision)
	if err != nil {
		return err
	}
	t.decision("front-app", "bob", access.MainDoor, "intercom", r)
	chb, err := t.door.Challenge()
	if err != nil {
		return err
	}
	frame, err := t.svc.RemoteOpen(t.ctx, commands.RemoteOpen{Decision: decision.ID, Challenge: chb, Relay: lockproto.RelayIntercom})
	if err != nil {
		return err
	}
	t.say("    the ledger signs a remote open of %d bytes bound to the lock's challenge; the intercom panel relays it", len(frame))
	d := t.door.HandleRemoteOpen(frame)
	t.say("  %s the front door opens for the remote open → %s; relayed again → %s", mark(d.Granted), verdict(d.Granted, d.Reason),
		verdict(false, t.door.HandleRemoteOpen(frame).Reason))

	// A reset key may still open until the lock hears of it.
	t.clock.Set(t.at(5, 9, 0))
	if err := t.ok("Bill resets guest-bob", t.svc.ResetKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "guest-bob", By: "bill"})); err != nil {
		return err
	}
	if err := t.exposure("guest-bob"); err != nil {
		return err
	}
	if err := t.ok("Bill revokes front-pin", t.svc.RevokeKey(t.ctx, commands.KeyCommand{ID: t.id(), Key: "front-pin", By: "bill"})); err != nil {
		return err
	}
	if err := t.exposure("front-pin"); err != nil {
		return err
	}
	if err := t.typeAtDoor("ann", pin.Reveal()); err != nil { // the lock has not heard yet
		return err
	}
	if err := t.atTheLock(); err != nil {
		return err
	}
	if err := t.typeAtDoor("ann", pin.Reveal()); err != nil {
		return err
	}
	if err := t.uploadAudit(); err != nil {
		return err
	}
	if err := t.exposure("guest-bob"); err != nil {
		return err
	}
	return t.atLock("front-pin")
}

// atLock prints where keys stand at the front door.
func (t *tour) atLock(keys ...string) error {
	for _, k := range keys {
		s, err := t.proj.KeyStatus(t.ctx, k, t.clock.Now())
		if err != nil {
			return err
		}
		t.say("    %s at the lock: %v", k, s.AtLock)
	}
	return nil
}

// exposure prints whether a key taken away may still open the lock.
func (t *tour) exposure(key string) error {
	s, err := t.proj.KeyStatus(t.ctx, key, t.clock.Now())
	if err != nil {
		return err
	}
	if s.OpenAtLock {
		until := "until the lock applies it"
		if !s.OpenUntil.IsZero() {
			until = "until " + t.when(s.OpenUntil) + " at the latest"
		}
		t.say("    %s: %v, at the lock %v — exposed: it may still open the front door %s", key, s.Status, s.AtLock, until)
		return nil
	}
	t.say("    %s: %v, at the lock %v — no longer opens", key, s.Status, s.AtLock)
	return nil
}

// typeAtDoor is someone typing digits at the front door's keypad.
func (t *tour) typeAtDoor(who string, digits []byte) error {
	d := t.door.EnterCode(lockDoorMain, digits)
	clear(digits)
	extra := ""
	if d.LockedOut && d.Reason == access.WrongPIN {
		extra = "; the keypad locks itself out and records an alarm"
	}
	t.say("  %s %s  %-11s types a PIN at the front door's keypad → %s%s", mark(d.Granted), t.when(t.clock.Now()), who, verdict(d.Granted, d.Reason), extra)
	return nil
}

// present is someone holding a card to the front door's reader.
func (t *tour) present(who string, uid []byte) {
	d := t.door.PresentCard(lockDoorMain, uid)
	clear(uid)
	t.say("  %s %s  %-11s presents a card at the front door → %s", mark(d.Granted), t.when(t.clock.Now()), who, verdict(d.Granted, d.Reason))
}

func mark(granted bool) string {
	if granted {
		return "✓"
	}
	return "✗"
}

func verdict(granted bool, r access.Reason) string {
	if granted {
		return "granted"
	}
	return fmt.Sprintf("refused: %v", r)
}
