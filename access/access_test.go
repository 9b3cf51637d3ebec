package access_test

import (
	"testing"

	"github.com/keyledger/keyledger/access"
)

// Every code has one name and one text, and no two codes share a name: a
// stored name must read back as the code that wrote it.
func TestReasonNamesAreUniqueAndRoundTrip(t *testing.T) {
	seen := map[string]access.Reason{}
	for code := 0; code < 255; code++ {
		r := access.Reason(code)
		if !r.Known() {
			continue // a gap: reserved, not assigned yet
		}
		name := r.Name()
		if prev, dup := seen[name]; dup {
			t.Fatalf("codes %d and %d share the name %q", prev, r, name)
		}
		seen[name] = r
		if r.String() == "" {
			t.Errorf("code %d has no text", r)
		}
		got, ok := access.ParseReason(name)
		if !ok || got != r {
			t.Errorf("ParseReason(%q) = %d, %v; want %d", name, got, ok, r)
		}
		b, _ := r.MarshalText()
		var back access.Reason
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("text round trip of %d: %d, %v", r, back, err)
		}
	}
}

// The lock's wire codes keep their numbers: they are in deployed firmware
// and in stored audit records.
func TestWireCodesKeepTheirNumbers(t *testing.T) {
	for r, code := range map[access.Reason]uint8{
		access.Granted: 0, access.Malformed: 1, access.BadNonce: 5, access.Revoked: 6,
		access.Superseded: 7, access.BadSignature: 8, access.NotYetValid: 13, access.Expired: 14,
		access.OutsideWindow: 15, access.Exhausted: 16, access.WrongDoor: 17, access.Policy: 23,
		access.OpNotPermitted: 37, access.AuditFull: 42, access.KeyRetired: 43, access.StorageFailed: 44,
		access.CodeMalformed: 50, access.CodeInvalid: 51, access.CodeUsed: 52, access.CodeRevoked: 53,
		access.KeySuspended: 54, access.LockReset: 55,
	} {
		if uint8(r) != code {
			t.Errorf("%v has code %d, want %d", r, uint8(r), code)
		}
	}
}

// A name written by a newer version reads as Unknown instead of failing
// the event that carries it.
func TestUnknownNameReadsAsUnknown(t *testing.T) {
	var r access.Reason
	if err := r.UnmarshalText([]byte("a_reason_from_the_future")); err != nil || r != access.Unknown {
		t.Fatalf("got %d, %v; want Unknown", r, err)
	}
	if _, ok := access.ParseReason("a_reason_from_the_future"); ok {
		t.Fatal("ParseReason accepted an unknown name")
	}
}

func TestDoors(t *testing.T) {
	if !access.MainInner.Has(access.InnerDoor) || access.Main.Has(access.InnerDoor) {
		t.Fatal("Has is wrong")
	}
	if access.InnerDoor.Set() != access.Inner || access.Door(8).Set() != 0 || access.Main.Has(access.Door(200)) {
		t.Fatal("Set or Has accepts a door past MaxDoors")
	}
	if d, ok := access.Inner.Single(); !ok || d != access.InnerDoor {
		t.Fatal("Single of a one-door set")
	}
	if _, ok := access.MainInner.Single(); ok {
		t.Fatal("Single of two doors")
	}
	for s, want := range map[access.Doors]string{0: "none", access.Main: "main", access.Inner: "inner", access.MainInner: "main+inner", 1 << 3: "door 3"} {
		if got := s.String(); got != want {
			t.Errorf("%08b: %q, want %q", uint8(s), got, want)
		}
	}
}

// Codes reserved but not assigned are unknown and take no name: a gap in
// the table never reads back as Granted.
func TestReservedCodesAreUnknown(t *testing.T) {
	r := access.Reason(57) // left free between assigned codes
	if r.Known() {
		t.Fatalf("reserved code %d is known", r)
	}
	if got := r.Name(); got != "reason_57" {
		t.Fatalf("reserved code's name %q", got)
	}
	if got, ok := access.ParseReason(""); !ok || got != access.Granted {
		t.Fatalf("ParseReason(\"\") = %d, %v; want Granted", got, ok)
	}
}
