package policy

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

// Zones with DST both ways, a 30-minute shift, negative DST (Dublin),
// abolished DST (Sao Paulo), changed standard offsets (Moscow, Apia), none.
var cacheZones = []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin",
	"America/Sao_Paulo", "Europe/Moscow", "Pacific/Apia", "America/Santiago", "Asia/Tokyo", "UTC"}

// uncachedAllowed is Allowed by walking p's rules, with the offset from
// t.In(loc).Zone() itself: an oracle independent of the zone cache and the
// week bits.
func uncachedAllowed(p *Policy, at time.Time, uses uint32) access.Reason {
	if !p.Start.IsZero() && at.Before(p.Start) {
		return access.NotYetValid
	}
	if !p.End.IsZero() && !at.Before(p.End) {
		return access.Expired
	}
	if p.Uses.Limited && uses >= p.Uses.N {
		return access.Exhausted
	}
	loc, err := LoadZone(p.Zone)
	if err != nil {
		return access.InvalidPolicy
	}
	_, off := at.In(loc).Zone()
	wd, m := wall(at.Unix(), off)
	in := len(p.Windows) == 0
	for _, w := range p.Windows {
		in = in || covers(w.Days, w.From, w.To, wd, m)
	}
	if !in {
		return access.OutsideWindow
	}
	for _, b := range p.Blackouts {
		if b.Days != 0 && covers(b.Days, b.From, b.To, wd, m) || b.Days == 0 && !at.Before(b.Start) && at.Before(b.End) {
			return access.InBlackout
		}
	}
	return access.Granted
}

// checkSpan: the stored span holds the instant's offset at its edges.
func checkSpan(t interface{ Fatalf(string, ...any) }, z *zone) {
	s := z.last.Load()
	if s == nil {
		return
	}
	for _, u := range []int64{s.start, s.end - 1, s.start/2 + s.end/2} {
		if u == math.MinInt64 || u == math.MaxInt64-1 {
			continue
		}
		if _, off := time.Unix(u, 0).In(z.loc).Zone(); off != s.off {
			t.Fatalf("%s: span [%d, %d) offset %d, but %d at %d", z.loc, s.start, s.end, s.off, off, u)
		}
	}
}

// Instants alternating across DST changes and far apart (each a cache miss):
// the cached offset and Allowed equal the uncached computation.
func TestZoneCacheAlternating(t *testing.T) {
	var ats []time.Time
	for _, base := range testBases {
		for _, d := range []time.Duration{-time.Second, 0, time.Second, time.Hour, -time.Hour, 36 * time.Hour} {
			ats = append(ats, base.Add(d), base.Add(7*24*time.Hour+d)) // before and after the week's change
		}
		ats = append(ats, base.AddDate(-60, 0, 0), base.AddDate(80, 0, 0), base.AddDate(-120, 0, 0))
	}
	ats = append(ats, time.Date(2096, 12, 31, 12, 0, 0, 0, time.UTC), time.Date(2097, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Unix(0, 0), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, name := range cacheZones {
		p := Policy{Zone: name, Windows: []Window{{Workdays, 8 * 60, 12 * 60}, {Days(time.Friday), 22 * 60, 2 * 60},
			{Days(time.Sunday), 2 * 60, 3 * 60}}, Blackouts: []Blackout{{Days: EveryDay, From: 23 * 60, To: 60 + 30}}}
		s := mustCompile(t, p)
		ats := ats
		for _, base := range testBases { // each change to the second, from both sides
			start, end := base.In(s.Location()).ZoneBounds()
			for _, e := range []time.Time{start, end} {
				if !e.IsZero() {
					ats = append(ats, e.Add(-time.Second), e, e.Add(-time.Nanosecond), e.Add(time.Second), e.Add(-time.Second), e)
				}
			}
		}
		// Every instant after every other, from a fresh cache and the shared one.
		for _, z := range []*zone{{loc: s.tz.loc}, s.tz} {
			q := *s
			q.tz = z
			for i := 0; i < 3; i++ {
				for j, at := range ats {
					for _, a := range []time.Time{at, ats[(j*7+i)%len(ats)], at.Add(time.Duration(j) * time.Minute)} {
						if got, want := q.Allowed(a, 0), uncachedAllowed(&p, a, 0); got != want {
							t.Fatalf("%s at %v: Allowed %v, uncached %v", name, a.In(z.loc), got, want)
						}
						checkSpan(t, z)
						_, want := a.In(z.loc).Zone()
						if got := z.offset(a); got != want {
							t.Fatalf("%s at %v: offset %d, want %d", name, a, got, want)
						}
					}
				}
			}
		}
	}
}

// Random instants, near changes and anywhere in ±200 years, in any order.
func TestPropZoneCacheMatchesZone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.SampledFrom(cacheZones).Draw(t, "zone")
		loc, err := LoadZone(name)
		if err != nil {
			t.Fatal(err)
		}
		z := &zone{loc: loc}
		for i := 0; i < 40; i++ {
			var at time.Time
			if rapid.Bool().Draw(t, "near") {
				at = rapid.SampledFrom(testBases).Draw(t, "base").Add(time.Duration(rapid.IntRange(-86400, 15*86400).Draw(t, "sec")) * time.Second)
			} else {
				at = time.Unix(rapid.Int64Range(-6_300_000_000, 7_300_000_000).Draw(t, "unix"), 0)
			}
			if _, want := at.In(loc).Zone(); z.offset(at) != want {
				t.Fatalf("%s at %v: offset %d, want %d", name, at, z.offset(at), want)
			}
			checkSpan(t, z)
		}
	})
}

// One *Schedule shared by goroutines deciding instants in different offset
// periods of its zone (go test -race): every answer equals the uncached one.
func TestScheduleConcurrent(t *testing.T) {
	p := benchPolicy(t)
	p.Start, p.End = time.Time{}, time.Time{}
	s := mustCompile(t, p)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				at := time.Date(2020+g, time.Month(1+(i*5+g)%12), 1+i%28, i%24, i%60, 0, 0, time.UTC)
				if got, want := s.Allowed(at, 0), uncachedAllowed(&p, at, 0); got != want {
					t.Errorf("at %v: Allowed %v, uncached %v", at.In(s.Location()), got, want)
					return
				}
				if next, ok := s.NextOpen(at, 0); !ok || s.Allowed(next, 0) != access.Granted {
					t.Errorf("NextOpen(%v) = %v %v", at, next, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Schedules compiled in one zone share its offset cache; WithLocation keeps
// only the zone's name, so a location LoadZone cannot resolve by name is an
// unknown zone.
func TestSchedulesShareZone(t *testing.T) {
	berlin, _ := LoadZone("Europe/Berlin")
	a := mustCompile(t, Policy{Zone: "Europe/Berlin", Uses: SingleUse})
	b := mustCompile(t, Policy{Uses: SingleUse}.WithLocation(berlin))
	if a.tz != b.tz || a.Location() != berlin {
		t.Fatalf("zones not shared: %p %p", a.tz, b.tz)
	}
	if u := (Policy{}).WithLocation(time.UTC); u.Zone != "" {
		t.Fatalf("UTC: %+v", u)
	}
	if own, err := time.LoadLocation("Europe/Berlin"); err == nil {
		c := mustCompile(t, Policy{Windows: []Window{{Workdays, 8 * 60, 12 * 60}}}.WithLocation(own))
		at := time.Date(2026, 7, 1, 7, 30, 0, 0, time.UTC) // 09:30 CEST, Wednesday
		if c.Allowed(at, 0) != access.Granted || c.tz != a.tz {
			t.Fatalf("a Berlin location of its own: %v", c.Allowed(at, 0))
		}
	}
	fixed := Policy{}.WithLocation(time.FixedZone("UTC+1", 3600))
	if _, err := Compile(fixed); !errors.Is(err, ErrUnknownZone) {
		t.Fatalf("fixed zone: %v, want ErrUnknownZone", err)
	}
}

// The Policy methods decide by the policy's present rules (they compile on
// each call); a Schedule keeps deciding by the rules it was compiled from,
// whatever happens to the slices it was given.
func TestScheduleIgnoresLaterEdits(t *testing.T) {
	loc, _ := LoadZone("Europe/Berlin")
	tue10 := time.Date(2026, 3, 3, 10, 30, 0, 0, loc)
	p := Policy{Zone: "Europe/Berlin", Windows: []Window{{Days: Days(time.Monday), From: 600, To: 720}}}
	s := mustCompile(t, p)
	if r := p.Allowed(tue10, 0); r != access.OutsideWindow {
		t.Fatalf("Tuesday with a Monday window: %v", r)
	}
	p.Windows = append(p.Windows, Window{Days: Days(time.Tuesday), From: 600, To: 720})
	if r := p.Allowed(tue10, 0); r != access.Granted {
		t.Fatalf("after appending a Tuesday window: %v", r)
	}
	p.Windows[0].Days = Days(time.Tuesday) // in place, in the slice Compile was given
	p.Windows[0].From = 0
	if r := s.Allowed(tue10, 0); r != access.OutsideWindow {
		t.Fatalf("schedule changed with the policy's slice: %v", r)
	}
	if got := s.Policy(); len(got.Windows) != 1 || got.Windows[0].Days != Days(time.Monday) {
		t.Fatalf("Policy() = %+v, want the compiled rules", got)
	}
	s.Policy().Windows[0].Days = EveryDay // a copy: the schedule keeps its own
	if got := s.Policy(); got.Windows[0].Days != Days(time.Monday) {
		t.Fatalf("Policy() returned the schedule's own slice")
	}
	q := Policy{Zone: "Europe/Berlin"}
	closed := q.WithBlackouts([]Blackout{{Days: EveryDay, From: 600, To: 660}})
	if r := closed.Allowed(tue10, 0); r != access.InBlackout {
		t.Fatalf("lock-wide blackout: %v", r)
	}
	if r := q.Allowed(tue10, 0); r != access.Granted {
		t.Fatalf("the key's own policy changed: %v", r)
	}
}

// A nil or zero Schedule (Compile failed, or never called) refuses
// everything instead of panicking.
func TestZeroScheduleFailsClosed(t *testing.T) {
	now := time.Date(2026, 3, 3, 10, 30, 0, 0, time.UTC)
	for _, s := range []*Schedule{nil, {}} {
		if r := s.Allowed(now, 0); r != access.InvalidPolicy {
			t.Errorf("%v: Allowed %v", s, r)
		}
		if _, ok := s.NextOpen(now, 0); ok {
			t.Errorf("%v: NextOpen found an instant", s)
		}
		if st := s.Status(now, 0); st.Reason != access.InvalidPolicy || st.InWindow || !st.Next.IsZero() {
			t.Errorf("%v: Status %+v", s, st)
		}
		if c, err := s.Compact(); c != (Compact{}) || !errors.Is(err, ErrNotCompact) {
			t.Errorf("%v: Compact %+v %v", s, c, err)
		}
		if s.Location() != nil {
			t.Errorf("%v: Location %v", s, s.Location())
		}
	}
}

// The minute-of-week bits say exactly what covers says, for any range,
// valid or not: minutes outside the one rule (From 0..1439, To 0..1440,
// From != To) cover nothing in both. Out-of-range minutes are drawn often.
func TestWeekBitsEqualCovers(t *testing.T) {
	minutes := rapid.OneOf(rapid.IntRange(0, MinutesPerDay), rapid.IntRange(MinutesPerDay+1, 65535),
		rapid.SampledFrom([]int{0, 1, 1439, 1440, 1441, 1500, 65535}))
	rapid.Check(t, func(t *rapid.T) {
		days := Weekdays(rapid.Uint8().Draw(t, "days"))
		from := uint16(minutes.Draw(t, "from"))
		to := uint16(minutes.Draw(t, "to"))
		checkBitsEqualCovers(t, days, from, to)
	})
}

// A Sunday range from minute 1500 to 1440 once had the bits closed and
// covers open all Monday (covers read it as crossing midnight).
func TestWeekBitsEqualCoversOutOfRange(t *testing.T) {
	for _, c := range []struct {
		days     Weekdays
		from, to uint16
	}{
		{Days(time.Sunday), 1500, 1440},
		{Days(time.Sunday), 1440, 60},
		{EveryDay, 60, 1441},
		{EveryDay, 65535, 0},
		{EveryDay, 600, 600},
	} {
		checkBitsEqualCovers(t, c.days, c.from, c.to)
		var m weekBits
		if m.set(c.days, c.from, c.to); m != (weekBits{}) {
			t.Errorf("%08b [%d, %d): bits set for a range outside the minutes rule", c.days, c.from, c.to)
		}
		if covers(c.days, c.from, c.to, time.Monday, 0) {
			t.Errorf("%08b [%d, %d): covers Monday 00:00", c.days, c.from, c.to)
		}
	}
}

func checkBitsEqualCovers(t interface{ Fatalf(string, ...any) }, days Weekdays, from, to uint16) {
	var m weekBits
	m.set(days, from, to)
	for d := time.Sunday; d <= time.Saturday; d++ {
		for minute := 0; minute < MinutesPerDay; minute++ {
			i := uint(d)*MinutesPerDay + uint(minute)
			if got, want := m.has(i), covers(days, from, to, d, minute); got != want {
				t.Fatalf("days %08b [%d, %d) at %v %d: bit %v, covers %v", days, from, to, d, minute, got, want)
			}
		}
	}
}
