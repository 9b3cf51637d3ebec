package commands_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// A PIN key that starts in a week and expires a day after its first use:
// its set message counts the day from its Start, and an edit (of its
// doors) counts from the same instant — no use can precede it — so the
// edit is accepted and the lock's end stays Start + 1 day.
func TestPINEditCountsFromTheEarliestUse(t *testing.T) {
	e := newLockEnv(t)
	st := settings("p1")
	st.Policy.Start = e.now.Add(7 * 24 * time.Hour)
	st.Policy.End = e.now.Add(14 * 24 * time.Hour)
	st.Policy.AfterFirstUse = 24 * time.Hour
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "p1", Lock: "front", By: "bill", Kind: events.KindDigital,
		For: "ann", Credential: events.CredentialPIN, PIN: secret.FromString("482915"), Settings: st}); err != nil {
		t.Fatal(err)
	}
	want := uint32(st.Policy.Start.Add(24 * time.Hour).Unix())
	end := func(what string) {
		t.Helper()
		msgs := e.pending("front")
		a, err := lockproto.DecodeAdmin(msgs[len(msgs)-1])
		if err != nil {
			t.Fatal(err)
		}
		if a.Policy.NotAfter != want {
			t.Fatalf("%s: the lock's end %d, want Start + 1 day %d", what, a.Policy.NotAfter, want)
		}
	}
	end("created")
	e.now = e.now.Add(time.Hour)
	d := access.Main | access.Doors(2)
	if err := e.svc.EditKey(bg, commands.EditKey{ID: e.id(), Key: "p1", By: "bill", Settings: commands.SettingsPatch{Doors: &d}}); err != nil {
		t.Fatalf("an edit of its doors: %v", err)
	}
	end("edited")
}
