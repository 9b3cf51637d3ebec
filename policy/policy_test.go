package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustCompile(t testing.TB, p Policy) *Schedule {
	t.Helper()
	s, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAllowedBoundaries(t *testing.T) {
	loc := mustLoc(t, "Europe/Berlin")
	p := Policy{
		Start:   at(t, loc, "2026-03-02 00:00"),
		End:     at(t, loc, "2026-04-01 00:00"),
		Uses:    UsesN(3),
		Windows: []Window{{Days: Workdays, From: 8 * 60, To: 18 * 60}, {Days: Days(time.Friday), From: 22 * 60, To: 2 * 60}},
		Blackouts: []Blackout{
			{Days: EveryDay, From: 12 * 60, To: 13 * 60},
			{Start: at(t, loc, "2026-03-10 00:00"), End: at(t, loc, "2026-03-11 00:00")},
		},
		Zone: "Europe/Berlin",
	}
	s := mustCompile(t, p)
	for _, c := range []struct {
		when string
		uses uint32
		want access.Reason
	}{
		{"2026-03-01 23:59", 0, access.NotYetValid},
		{"2026-03-02 00:00", 0, access.OutsideWindow}, // Monday 00:00
		{"2026-03-02 07:59", 0, access.OutsideWindow},
		{"2026-03-02 08:00", 0, access.Granted}, // inclusive start
		{"2026-03-02 08:01", 0, access.Granted},
		{"2026-03-02 11:59", 0, access.Granted},
		{"2026-03-02 12:00", 0, access.InBlackout},
		{"2026-03-02 12:59", 0, access.InBlackout},
		{"2026-03-02 13:00", 0, access.Granted},
		{"2026-03-02 17:59", 0, access.Granted},
		{"2026-03-02 18:00", 0, access.OutsideWindow}, // exclusive end
		{"2026-03-02 09:00", 2, access.Granted},
		{"2026-03-02 09:00", 3, access.Exhausted},
		{"2026-03-06 21:59", 0, access.OutsideWindow}, // Friday
		{"2026-03-06 22:00", 0, access.Granted},
		{"2026-03-07 01:59", 0, access.Granted}, // Saturday, belongs to Friday's window
		{"2026-03-07 02:00", 0, access.OutsideWindow},
		{"2026-03-07 22:00", 0, access.OutsideWindow}, // Saturday night: not a Friday
		{"2026-03-09 23:59", 0, access.OutsideWindow},
		{"2026-03-10 09:00", 0, access.InBlackout}, // absolute
		{"2026-03-11 09:00", 0, access.Granted},
		{"2026-03-31 17:59", 0, access.Granted},
		{"2026-04-01 00:00", 0, access.Expired},
	} {
		if got := s.Allowed(at(t, loc, c.when), c.uses); got != c.want {
			t.Errorf("%s uses %d: %v, want %v", c.when, c.uses, got, c.want)
		}
		if got := p.Allowed(at(t, loc, c.when), c.uses); got != c.want {
			t.Errorf("Policy.Allowed %s uses %d: %v, want %v", c.when, c.uses, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		p    Policy
		err  error
	}{
		{"zero value is an unlimited key", Policy{}, nil},
		{"empty weekday set", Policy{Windows: []Window{{From: 1, To: 2}}}, ErrInvalid},
		{"bit 7", Policy{Windows: []Window{{Days: 0x81, From: 1, To: 2}}}, ErrInvalid},
		{"from == to", Policy{Windows: []Window{{Days: 1, From: 60, To: 60}}}, ErrInvalid},
		{"to above 1440", Policy{Windows: []Window{{Days: 1, From: 60, To: 1441}}}, ErrInvalid},
		{"from 1440", Policy{Windows: []Window{{Days: 1, From: 1440, To: 60}}}, ErrInvalid},
		{"to 24:00", Policy{Windows: []Window{{Days: 1, From: 60, To: 1440}}}, nil},
		{"end before start", Policy{Start: t0, End: t0.Add(-time.Second)}, ErrInvalid},
		{"end == start", Policy{Start: t0, End: t0}, ErrInvalid},
		{"limit 0", Policy{Uses: Uses{Limited: true}}, ErrInvalid},
		{"unknown zone", Policy{Zone: "Mars/Olympus"}, ErrUnknownZone},
		{"Local", Policy{Zone: "Local"}, ErrUnknownZone},
		{"blackout without end", Policy{Blackouts: []Blackout{{Start: t0}}}, ErrInvalid},
		{"blackout weekly with instants", Policy{Blackouts: []Blackout{{Days: 1, From: 0, To: 60, Start: t0}}}, ErrInvalid},
	} {
		err := c.p.Validate()
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
		var ve *ValidationError
		if c.err != nil && !errors.As(err, &ve) {
			t.Errorf("%s: %v is no *ValidationError", c.name, err)
		}
	}
	p := Policy{Uses: Uses{Limited: true}, Windows: []Window{{Days: 0, From: 5, To: 5}}, Zone: "Nowhere/X"}
	err := p.Validate()
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 4 {
		t.Errorf("want all 4 problems, got %d: %v", n, err)
	}
	// Messages name instants in RFC 3339, as users write them in APIs.
	bad := Policy{Start: t0, End: t0.Add(-time.Hour)}
	want := "policy: End = 2025-12-31T23:00:00Z: not after Start 2026-01-01T00:00:00Z"
	if err := bad.Validate(); err == nil || err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestLockBlackoutsAndUnknownZone(t *testing.T) {
	loc := mustLoc(t, "America/New_York")
	key := Policy{Zone: "America/New_York", Windows: []Window{{EveryDay, 0, 1440}}}
	lock := []Blackout{{Days: EveryDay, From: 22 * 60, To: 6 * 60}} // the lock is closed at night
	p := key.WithBlackouts(lock)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(key.Blackouts) != 0 {
		t.Fatal("WithBlackouts changed the key's own policy")
	}
	night, day := at(t, loc, "2026-07-01 23:00"), at(t, loc, "2026-07-01 06:00")
	if r := p.Allowed(night, 0); r != access.InBlackout {
		t.Errorf("night: %v", r)
	}
	if r := key.Allowed(night, 0); r != access.Granted {
		t.Errorf("key alone at night: %v", r)
	}
	if next, ok := p.NextOpen(night, 0); !ok || !next.Equal(day.AddDate(0, 0, 1)) {
		t.Errorf("NextOpen at night = %v %v", next, ok)
	}
	bad := Policy{Zone: "Atlantis/Capital"}
	if r := bad.Allowed(night, 0); r != access.InvalidPolicy {
		t.Errorf("unknown zone: %v, want fail closed", r)
	}
	if _, ok := bad.NextOpen(night, 0); ok {
		t.Error("unknown zone: NextOpen found an instant")
	}
}
