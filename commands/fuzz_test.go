package commands_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// FuzzCreateKey: arbitrary input never panics, fails only with the package's
// typed errors, and no error message contains the PIN it was given.
func FuzzCreateKey(f *testing.F) {
	f.Add("k1", "front", "bill", uint8(1), 0, "name", "1234", uint8(1), uint8(1), uint8(1), "ann")
	f.Add("", "", "", uint8(9), -1, "\xff", "12a4", uint8(2), uint8(8), uint8(42), "")
	f.Add("k/2", "front", "ann", uint8(2), 3, strings.Repeat("x", 300), "999999", uint8(2), uint8(3), uint8(0), "nobody")
	e := newEnv(f)
	e.given(frontLock()...)
	f.Fuzz(func(t *testing.T, key, lock, by string, kind uint8, slot int, name, pin string, cred, doors, cat uint8, user string) {
		c := commands.CreateKey{ID: e.id(), Key: key, Lock: lock, By: by, Kind: events.Kind(kind), Slot: slot,
			Credential: events.Credential(cred), For: user,
			Settings: events.Settings{Name: name, Doors: access.Doors(doors), Category: events.Category(cat)}}
		if pin != "" {
			c.PIN = secret.FromString(pin)
		}
		_, err := e.svc.CreateKey(bg, c)
		if err == nil {
			return
		}
		known := []error{commands.ErrInvalid, commands.ErrNotFound, commands.ErrExists, commands.ErrNotPermitted,
			commands.ErrNoSlot, commands.ErrPINTaken, commands.ErrForbidden}
		ok := false
		for _, k := range known {
			ok = ok || errors.Is(err, k)
		}
		if !ok {
			t.Fatalf("untyped error %v", err)
		}
		if len(pin) >= 4 && strings.Contains(err.Error(), pin) && !strings.Contains(key+lock+by+name+user, pin) {
			t.Fatalf("error %q shows the PIN", err)
		}
	})
}

// FuzzDownloadCode: any typed code is refused without panicking and without
// echoing the code.
func FuzzDownloadCode(f *testing.F) {
	f.Add("AAAA-BBBB-CCCC")
	f.Add("")
	f.Add("\x00\xff-")
	e := newEnv(f)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0))...)
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToCode}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code string) {
		_, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "phone", Code: secret.FromString(code)})
		if err == nil {
			t.Fatalf("a guessed code downloaded the key")
		}
		if !errors.Is(err, commands.ErrNotPermitted) && !errors.Is(err, commands.ErrInvalid) {
			t.Fatalf("untyped error %v", err)
		}
		if len(code) >= 4 && strings.Contains(err.Error(), code) {
			t.Fatalf("error %q echoes the code", err)
		}
	})
}
