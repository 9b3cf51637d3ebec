package policy

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

func TestWeekdaysInterop(t *testing.T) {
	mon := Days(time.Monday)
	if mon.Nuki() != 64 || Days(time.Sunday).Nuki() != 1 || Days(time.Saturday).Nuki() != 2 {
		t.Errorf("nuki: Monday %d Sunday %d Saturday %d", mon.Nuki(), Days(time.Sunday).Nuki(), Days(time.Saturday).Nuki())
	}
	if mon.Matter() != 2 || Days(time.Sunday).Matter() != 1 {
		t.Errorf("matter: Monday %d", mon.Matter())
	}
	if got := Weekend.TTLock(); !reflect.DeepEqual(got, []int{6, 7}) {
		t.Errorf("ttlock weekend = %v, want [6 7] (Saturday, Sunday)", got)
	}
	for w := Weekdays(1); w < 128; w++ {
		if v, err := FromMatter(w.Matter()); err != nil || v != w {
			t.Errorf("matter %#x: %#x %v", w, v, err)
		}
		if v, err := FromNuki(w.Nuki()); err != nil || v != w {
			t.Errorf("nuki %#x: %#x %v", w, v, err)
		}
		if v, err := FromTTLock(w.TTLock()); err != nil || v != w {
			t.Errorf("ttlock %#x: %#x %v", w, v, err)
		}
	}
	for _, err := range []error{
		second(FromMatter(0)), second(FromMatter(0x80)), second(FromMatter(0xff)),
		second(FromNuki(0)), second(FromNuki(128)),
		second(FromTTLock(nil)), second(FromTTLock([]int{0})), second(FromTTLock([]int{8})), second(FromTTLock([]int{2, 2})),
	} {
		var fe *FormatError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) {
			t.Errorf("want *FormatError wrapping ErrInvalid, got %v", err)
		}
	}
}

// TTLock numbers the days of the week from Monday: 1 is Monday, 6 is
// Saturday and 7 is Sunday (there is no 0).
func TestTTLockNumbering(t *testing.T) {
	for _, c := range []struct {
		name   string
		ttlock []int
		want   Weekdays
	}{
		{"1 is Monday", []int{1}, Days(time.Monday)},
		{"2 is Tuesday", []int{2}, Days(time.Tuesday)},
		{"3 is Wednesday", []int{3}, Days(time.Wednesday)},
		{"4 is Thursday", []int{4}, Days(time.Thursday)},
		{"5 is Friday", []int{5}, Days(time.Friday)},
		{"6 is Saturday", []int{6}, Days(time.Saturday)},
		{"7 is Sunday", []int{7}, Days(time.Sunday)},
		{"1 to 5 are the workdays", []int{1, 2, 3, 4, 5}, Workdays},
		{"6 and 7 are the weekend", []int{6, 7}, Weekend},
		{"1 to 7 are every day", []int{1, 2, 3, 4, 5, 6, 7}, EveryDay},
	} {
		got, err := FromTTLock(c.ttlock)
		if err != nil || got != c.want {
			t.Errorf("%s: FromTTLock(%v) = %07b %v, want %07b", c.name, c.ttlock, got, err, c.want)
		}
		if back := c.want.TTLock(); !reflect.DeepEqual(back, c.ttlock) {
			t.Errorf("%s: %07b.TTLock() = %v, want %v", c.name, c.want, back, c.ttlock)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestParseClock(t *testing.T) {
	for s, want := range map[string]int{"00:00": 0, "08:30": 510, "23:59": 1439, "24:00": 1440,
		"24:01": -1, "25:00": -1, "12:60": -1, "8:30": -1, "08-30": -1, "": -1, "0a:00": -1} {
		got, err := ParseClock(s)
		if want < 0 && err == nil || want >= 0 && (err != nil || int(got) != want) {
			t.Errorf("ParseClock(%q) = %d, %v; want %d", s, got, err, want)
		}
		if want >= 0 && FormatClock(got) != s {
			t.Errorf("FormatClock(%d) = %q", got, FormatClock(got))
		}
	}
}

func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"00:00", "24:00", "12:34", "99:99", "1:2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseClock(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if m > MinutesPerDay || FormatClock(m) != s {
			t.Fatalf("%q -> %d -> %q", s, m, FormatClock(m))
		}
	})
}

func FuzzFromTTLock(f *testing.F) {
	f.Add([]byte{1, 7})
	f.Add([]byte{0})
	f.Add([]byte{2, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		days := make([]int, len(b))
		for i, v := range b {
			days[i] = int(int8(v))
		}
		w, err := FromTTLock(days)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		if w == 0 || w&0x80 != 0 || len(w.TTLock()) != len(days) {
			t.Fatalf("%v -> %#x", days, w)
		}
	})
}

func TestMsgpackRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, s, _ := drawPolicy(t)
		p.AfterFirstUse = time.Duration(rapid.IntRange(0, 3).Draw(t, "afterFirstUseH")) * time.Hour
		b, err := msgpack.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		var q Policy
		if err := msgpack.Unmarshal(b, &q); err != nil {
			t.Fatal(err)
		}
		qs, err := Compile(q)
		if err != nil {
			t.Fatal(err)
		}
		if !q.Start.Equal(p.Start) || !q.End.Equal(p.End) || q.Uses != p.Uses || q.Zone != p.Zone ||
			!reflect.DeepEqual(q.Windows, p.Windows) || len(q.Blackouts) != len(p.Blackouts) ||
			len(q.Periods) != len(p.Periods) || q.AfterFirstUse != p.AfterFirstUse {
			t.Fatalf("round trip\n%+v\n%+v", p, q)
		}
		for i := range p.Periods {
			if a, b := p.Periods[i], q.Periods[i]; !a.Start.Equal(b.Start) || !a.End.Equal(b.End) {
				t.Fatalf("period %d: %+v vs %+v", i, a, b)
			}
		}
		for i := range p.Blackouts {
			a, b := p.Blackouts[i], q.Blackouts[i]
			if a.Days != b.Days || a.From != b.From || a.To != b.To || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) {
				t.Fatalf("blackout %d: %+v vs %+v", i, a, b)
			}
		}
		for i := 0; i < 20; i++ {
			at := time.Unix(int64(rapid.IntRange(1_770_000_000, 1_800_000_000).Draw(t, "at")), 0)
			if s.Allowed(at, 0) != qs.Allowed(at, 0) {
				t.Fatalf("decoded policy decides differently at %v", at)
			}
		}
	})
}

func TestCompactConversion(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		p    Policy
		want Compact
		err  error
	}{
		{"unlimited", Policy{}, Compact{}, nil},
		{"validity and uses", Policy{Start: t0, End: t0.Add(time.Hour), Uses: UsesN(7)},
			Compact{NotBefore: uint32(t0.Unix()), NotAfter: uint32(t0.Unix() + 3600), UseLimit: 7}, nil},
		{"night blackout cut out of all-day window", Policy{Windows: []Window{{EveryDay, 0, 1440}},
			Blackouts: []Blackout{{Days: EveryDay, From: 22 * 60, To: 6 * 60}}},
			Compact{NumWindows: 1, Windows: [4]CompactWindow{{EveryDay, 6 * 60, 22 * 60}}}, nil},
		{"blackout splits a window", Policy{Windows: []Window{{Workdays, 8 * 60, 18 * 60}},
			Blackouts: []Blackout{{Days: EveryDay, From: 12 * 60, To: 13 * 60}}},
			Compact{NumWindows: 2, Windows: [4]CompactWindow{{Workdays, 8 * 60, 12 * 60}, {Workdays, 13 * 60, 18 * 60}}}, nil},
		{"crossing window kept", Policy{Windows: []Window{{Days(time.Friday), 22 * 60, 2 * 60}}},
			Compact{NumWindows: 1, Windows: [4]CompactWindow{{Days(time.Friday), 22 * 60, 2 * 60}}}, nil},
		{"whole week = no restriction", Policy{Windows: []Window{{EveryDay, 0, 1440}}}, Compact{}, nil},
		{"use limit too large", Policy{Uses: UsesN(70000)}, Compact{UseLimit: 65535}, ErrLossy},
		{"absolute blackout over the start", Policy{Start: t0, Blackouts: []Blackout{{Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}}},
			Compact{NotBefore: uint32(t0.Unix() + 3600)}, nil},
		{"absolute blackout in the middle ends validity", Policy{Start: t0, Blackouts: []Blackout{{Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)}}},
			Compact{NotBefore: uint32(t0.Unix()), NotAfter: uint32(t0.Unix() + 3600)}, ErrLossy},
		{"blackouts adjoining, any order", Policy{Start: t0, Blackouts: []Blackout{{Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)}, {Start: t0, End: t0.Add(time.Hour)}}},
			Compact{NotBefore: uint32(t0.Unix() + 7200)}, nil},
		{"never open", Policy{Windows: []Window{{Workdays, 60, 120}}, Blackouts: []Blackout{{Days: EveryDay, From: 0, To: 1440}}}, Compact{}, ErrNotCompact},
		{"end before 1970", Policy{End: time.Unix(-5, 0)}, Compact{}, ErrNotCompact},
		{"end after 2106", Policy{End: time.Unix(1<<33, 0)}, Compact{NotAfter: 1<<32 - 1}, ErrLossy},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.p.WithLocation(berlin)
			got, err := p.Compact()
			if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	// Five distinct windows: the smallest is dropped, reported as lossy.
	p := Policy{Windows: []Window{{1, 0, 100}, {2, 0, 200}, {4, 0, 50}, {8, 0, 300}, {16, 0, 400}}}
	c, err := p.Compact()
	if !errors.Is(err, ErrLossy) || c.NumWindows != MaxCompactWindows {
		t.Fatalf("%+v %v", c, err)
	}
	for _, w := range c.Windows {
		if w.Days == 4 {
			t.Errorf("kept the smallest window: %+v", c)
		}
	}
}

func TestCompactAllowedMalformedFailsClosed(t *testing.T) {
	now := time.Unix(1_780_000_000, 0)
	for _, c := range []Compact{
		{NumWindows: 5},
		{NumWindows: 1, Windows: [4]CompactWindow{{0xff, 0, 1440}}},
		{NumWindows: 1, Windows: [4]CompactWindow{{0x7f, 1440, 60}}},
		{NumWindows: 1, Windows: [4]CompactWindow{{0x7f, 60, 60}}},
	} {
		if r := c.Allowed(now, 0, 0); r == access.Granted {
			t.Errorf("%+v granted", c)
		}
	}
}

func TestOffsetTransitions(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	ts, until := OffsetTransitions(berlin, from, to, 8)
	want := []Transition{{uint32(from.Unix()), 3600},
		{uint32(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).Unix()), 7200},
		{uint32(time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).Unix()), 3600},
		{uint32(time.Date(2027, 3, 28, 1, 0, 0, 0, time.UTC).Unix()), 7200},
		{uint32(time.Date(2027, 10, 31, 1, 0, 0, 0, time.UTC).Unix()), 3600}}
	if !reflect.DeepEqual(ts, want) || !until.Equal(to) {
		t.Fatalf("got %v until %v", ts, until)
	}
	ts, until = OffsetTransitions(berlin, from, to, 2)
	if len(ts) != 2 || !until.Equal(time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("max 2: %v until %v", ts, until)
	}
	ts, _ = OffsetTransitions(mustLoc(t, "Asia/Tokyo"), from, to, 8)
	if len(ts) != 1 || ts[0].Offset != 9*3600 {
		t.Fatalf("tokyo: %v", ts)
	}
}

func TestCompactFromIgnoresPastBlackouts(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 500, time.UTC)
	p := Policy{Blackouts: []Blackout{{Start: now.Add(-48 * time.Hour), End: now.Add(-24 * time.Hour)}}}
	if _, err := p.Compact(); !errors.Is(err, ErrLossy) {
		t.Fatalf("Compact with an open start and a past blackout: %v, want ErrLossy", err)
	}
	c, err := p.CompactFrom(now)
	if err != nil || c != (Compact{NotBefore: uint32(now.Unix())}) {
		t.Fatalf("CompactFrom: %+v %v", c, err)
	}
}
