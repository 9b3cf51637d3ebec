package lockproto

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// pinEntry is a code entry for pin valid around t0, door 0.
func (w *world) pinEntry(id byte, pin string) CodeEntry {
	w.t.Helper()
	d, err := PINDigest(w.pairing.AuditKey, testLock, []byte(pin))
	w.must(err)
	return CodeEntry{ID: CredentialID{0xC0, id}, Generation: 1, Doors: 0b01, Length: uint8(len(pin)), Digest: d,
		Policy: policy.Compact{NotBefore: uint32(t0.Add(-time.Hour).Unix()), NotAfter: uint32(t0.Add(30 * 24 * time.Hour).Unix())}}
}

// setPIN signs and delivers a set-PIN message; it returns the lock's answer.
func (w *world) setPIN(e CodeEntry) error {
	w.t.Helper()
	w.seq++
	m, err := w.issuer.SetPIN(testLock, w.seq, e)
	w.must(err)
	return w.lock.HandleAdmin(m)
}

func refusal(err error) access.Reason {
	var r *RefusalError
	if errors.As(err, &r) {
		return r.Reason
	}
	if err == nil {
		return access.Granted
	}
	return access.Unknown
}

func TestKeypadGrantsARightCodeAndRecordsIt(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.must(w.setPIN(w.pinEntry(1, "482915")))
	d := w.lock.EnterCode(0, []byte("482915"))
	if !d.Granted || d.ID != (CredentialID{0xC0, 1}) || d.AuditSeq == 0 {
		t.Fatalf("right code: %+v", d)
	}
	rec := w.lock.State().AuditRing[(d.AuditSeq-1)%AuditRingSize].Record
	if rec.Kind != AuditKeypad || !rec.Granted || rec.Credential != d.ID {
		t.Fatalf("record %+v", rec)
	}
	w.upload() // the backend verifies the new record kinds
}

func TestKeypadRefusals(t *testing.T) {
	limited := func(w *world) CodeEntry { e := w.pinEntry(1, "4829"); e.Policy.UseLimit = 1; return e }
	for _, tc := range []struct {
		name   string
		entry  func(w *world) CodeEntry
		before func(w *world)
		door   uint8
		code   string
		want   access.Reason
	}{
		{name: "wrong code", code: "111111", want: access.WrongPIN},
		{name: "too short", code: "482", want: access.WrongPIN},
		{name: "seven digits", code: "4829150", want: access.CodeMalformed}, // longer than a PIN: a mistyped offline code
		{name: "not digits", code: "48a9", want: access.Malformed},
		{name: "door the key lacks", code: "4829", door: 1, want: access.WrongDoor},
		{name: "door past 7", code: "4829", door: 8, want: access.Malformed},
		{name: "not yet valid", code: "4829", entry: func(w *world) CodeEntry {
			e := w.pinEntry(1, "4829")
			e.Policy.NotBefore = uint32(t0.Add(time.Hour).Unix())
			return e
		}, want: access.NotYetValid},
		{name: "unknown clock", code: "4829", before: func(w *world) { w.clock.advance(31 * 24 * time.Hour) }, want: access.ClockUnknown},
		{name: "use limit", code: "4829", entry: limited, before: func(w *world) {
			if d := w.lock.EnterCode(0, []byte("4829")); !d.Granted {
				w.t.Fatalf("first use: %+v", d)
			}
		}, want: access.Exhausted},
		{name: "outside window", code: "4829", entry: func(w *world) CodeEntry {
			e := w.pinEntry(1, "4829")
			e.Policy.NumWindows = 1
			e.Policy.Windows[0] = policy.CompactWindow{Days: 0x7f, From: 20 * 60, To: 21 * 60}
			return e
		}, want: access.OutsideWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.syncTime(0)
			e := w.pinEntry(1, "4829")
			if tc.entry != nil {
				e = tc.entry(w)
			}
			w.must(w.setPIN(e))
			if tc.before != nil {
				tc.before(w)
			}
			before := w.lock.State()
			d := w.lock.EnterCode(tc.door, []byte(tc.code))
			if d.Granted || d.Reason != tc.want {
				t.Fatalf("got %+v, want %v", d, tc.want)
			}
			if tc.want == access.Malformed && w.lock.State() != before {
				t.Fatal("a malformed entry changed the lock's state")
			}
		})
	}
}

func TestWrongCodesLockOutTheKeypadOnly(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.must(w.setPIN(w.pinEntry(1, "482915")))
	h, _ := w.holder(baseCredential(w.key))
	for i := 1; i < 5; i++ {
		if d := w.lock.EnterCode(0, []byte("000000")); d.Reason != access.WrongPIN || d.Failures != uint32(i) || d.LockedOut {
			t.Fatalf("wrong code %d: %+v", i, d)
		}
	}
	d := w.lock.EnterCode(0, []byte("000000"))
	if !d.LockedOut || d.AuditSeq == 0 {
		t.Fatalf("fifth wrong code: %+v", d)
	}
	rec := w.lock.State().AuditRing[(d.AuditSeq-1)%AuditRingSize].Record
	if rec.Kind != AuditKeypadLockout || rec.Reason != access.LockedOut || rec.Value != 5 {
		t.Fatalf("alarm record %+v", rec)
	}
	if d := w.lock.EnterCode(0, []byte("482915")); d.Reason != access.LockedOut {
		t.Fatalf("right code during the lockout: %+v", d)
	}
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("phone during the keypad lockout: %v", d.Reason)
	}
	// A restart during the lockout starts a full one.
	w.clock.advance(10 * time.Minute)
	lk, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(9)})
	w.must(err)
	w.lock = lk
	w.resync()
	w.clock.advance(10 * time.Minute)
	if d := w.lock.EnterCode(0, []byte("482915")); d.Reason != access.LockedOut {
		t.Fatalf("after a restart in the lockout: %+v", d)
	}
	w.advance(6 * time.Minute)
	if d := w.lock.EnterCode(0, []byte("482915")); !d.Granted || d.Failures != 0 {
		t.Fatalf("after the lockout: %+v", d)
	}
	w.upload()
}

// A guesser who waits out each lockout gets fewer tries each time: every
// further lockout before a right code lasts twice the one before, up to the
// cap, and survives a restart at its current length; a right code starts
// again from the first length.
func TestLockoutsGrowUntilARightCode(t *testing.T) {
	w := newWorldConfig(t, Config{MaxCodeFailures: 1, CodeLockout: time.Minute, MaxCodeLockout: 3 * time.Minute})
	w.syncTime(0)
	w.must(w.setPIN(w.pinEntry(1, "482915")))
	lockedFor := func(want time.Duration) {
		t.Helper()
		if d := w.lock.EnterCode(0, []byte("000000")); !d.LockedOut || d.Reason != access.WrongPIN {
			t.Fatalf("wrong code after a lockout ended: %+v", d)
		}
		w.advance(want - time.Second)
		if d := w.lock.EnterCode(0, []byte("000000")); d.Reason != access.LockedOut {
			t.Fatalf("a second before a %v lockout ends: %+v", want, d)
		}
		w.advance(2 * time.Second)
	}
	lockedFor(time.Minute)
	lockedFor(2 * time.Minute)
	lockedFor(3 * time.Minute) // 4 minutes, capped
	if n := w.lock.State().Keypad.Lockouts; n != 3 {
		t.Fatalf("lockouts in a row = %d, want 3", n)
	}
	lk, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(9), MaxCodeFailures: 1,
		CodeLockout: time.Minute, MaxCodeLockout: 3 * time.Minute})
	w.must(err)
	w.lock = lk
	w.resync()
	if d := w.lock.EnterCode(0, []byte("482915")); d.Reason != access.LockedOut {
		t.Fatalf("a restart starts a full lockout of the current length: %+v", d)
	}
	w.advance(3*time.Minute - time.Second)
	if d := w.lock.EnterCode(0, []byte("482915")); d.Reason != access.LockedOut {
		t.Fatalf("a second before the restarted lockout ends: %+v", d)
	}
	w.advance(2 * time.Second)
	if d := w.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Fatalf("right code after the lockouts: %+v", d)
	}
	if n := w.lock.State().Keypad.Lockouts; n != 0 {
		t.Fatalf("lockouts after a right code = %d, want 0", n)
	}
	lockedFor(time.Minute)
}

// The wrong-code count is written at every wrong code: a guesser who cuts
// the power after four wrong codes is locked out by the fifth.
func TestPowerCycleKeepsTheWrongCodeCount(t *testing.T) {
	var saved State
	cfg := Config{Persist: func(st *State) error { saved = *st; return nil }}
	w := newWorldConfig(t, cfg)
	w.syncTime(0)
	w.must(w.setPIN(w.pinEntry(1, "482915")))
	for range 4 {
		w.lock.EnterCode(0, []byte("000000"))
	}
	if saved.Keypad.Failures != 4 {
		t.Fatalf("persisted wrong codes = %d, want 4", saved.Keypad.Failures)
	}
	lk, err := RestoreLock(saved, &Config{Clock: w.clock.now, Rand: newDetRand(9), Persist: cfg.Persist})
	w.must(err)
	w.lock = lk
	w.resync()
	if d := w.lock.EnterCode(0, []byte("000000")); !d.LockedOut || d.Failures != 5 {
		t.Fatalf("fifth wrong code after a power cycle: %+v", d)
	}
}

func TestRightCodeClearsTheWrongCodeCount(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.must(w.setPIN(w.pinEntry(1, "4829")))
	for range 4 {
		w.lock.EnterCode(0, []byte("0000"))
	}
	if d := w.lock.EnterCode(0, []byte("4829")); !d.Granted || d.Failures != 0 {
		t.Fatalf("%+v", d)
	}
	for i := 1; i <= 4; i++ {
		if d := w.lock.EnterCode(0, []byte("0000")); d.LockedOut {
			t.Fatalf("locked out after %d wrong codes since a right one", i)
		}
	}
}

func TestSetPINRefusals(t *testing.T) {
	w := newWorldConfig(t, Config{PINSlots: 2})
	w.syncTime(0)
	w.must(w.setPIN(w.pinEntry(1, "4829")))
	if r := refusal(w.setPIN(w.pinEntry(2, "4829"))); r != access.CodeInUse {
		t.Fatalf("same PIN for another key: %v", r)
	}
	w.must(w.setPIN(w.pinEntry(2, "5555")))
	if r := refusal(w.setPIN(w.pinEntry(3, "6666"))); r != access.CodeSlotsFull {
		t.Fatalf("beyond the capacity: %v", r)
	}
	if d := w.lock.EnterCode(0, []byte("6666")); d.Reason != access.WrongPIN {
		t.Fatalf("a refused PIN opens: %+v", d)
	}
	for _, digits := range []uint8{3, 7} {
		e := w.pinEntry(4, "4444")
		e.Length = digits
		if _, err := w.issuer.SetPIN(testLock, 99, e); !errors.Is(err, ErrInvalid) {
			t.Fatalf("PIN of %d digits: %v", digits, err)
		}
	}
	for _, pin := range []string{"123", "1234567", "12a4"} {
		_, err := PINDigest(w.pairing.AuditKey, testLock, []byte(pin))
		if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), pin) {
			t.Fatalf("PINDigest of %d characters: %v", len(pin), err)
		}
	}
}

func TestClearedPINStaysClearedWhateverTheOrder(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	e := w.pinEntry(1, "4829")
	set, err := w.issuer.SetPIN(testLock, 10, e)
	w.must(err)
	clr, err := w.issuer.ClearPIN(testLock, 11, e.ID, 2)
	w.must(err)
	w.must(w.lock.HandleAdmin(clr))
	if r := refusal(w.lock.HandleAdmin(set)); r != access.Superseded {
		t.Fatalf("set after its clear: %v", r)
	}
	if d := w.lock.EnterCode(0, []byte("4829")); d.Reason != access.WrongPIN {
		t.Fatalf("cleared PIN: %+v", d)
	}
	// A new generation of the same key takes the entry again.
	e.Generation, e.Digest = 2, w.pinEntry(1, "7777").Digest
	w.seq = 11
	w.must(w.setPIN(e))
	if d := w.lock.EnterCode(0, []byte("7777")); !d.Granted {
		t.Fatalf("new generation: %+v", d)
	}
}
