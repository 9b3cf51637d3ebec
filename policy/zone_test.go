package policy

import (
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Zones with DST both ways, a 30-minute shift, negative DST (Dublin),
// abolished DST (Sao Paulo), changed standard offsets (Moscow, Apia), none.
var cacheZones = []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin",
	"America/Sao_Paulo", "Europe/Moscow", "Pacific/Apia", "America/Santiago", "Asia/Tokyo", "UTC"}

// uncachedAllowed is Allowed with the offset from t.In(loc).Zone() itself.
func uncachedAllowed(p *Policy, at time.Time, uses uint32) Reason {
	if !p.Start.IsZero() && at.Before(p.Start) {
		return NotYetValid
	}
	if !p.End.IsZero() && !at.Before(p.End) {
		return Expired
	}
	if p.Uses.Limited && uses >= p.Uses.N {
		return Exhausted
	}
	_, off := at.In(p.tz.loc).Zone()
	return p.weekly(at, at.Unix(), off)
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
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		ats := ats
		for _, base := range testBases { // each change to the second, from both sides
			start, end := base.In(p.tz.loc).ZoneBounds()
			for _, e := range []time.Time{start, end} {
				if !e.IsZero() {
					ats = append(ats, e.Add(-time.Second), e, e.Add(-time.Nanosecond), e.Add(time.Second), e.Add(-time.Second), e)
				}
			}
		}
		// Every instant after every other, from a fresh cache and the shared one.
		for _, z := range []*zone{{loc: p.tz.loc, cached: true}, p.tz} {
			q := p
			q.tz = z
			for i := 0; i < 3; i++ {
				for j, at := range ats {
					for _, a := range []time.Time{at, ats[(j*7+i)%len(ats)], at.Add(time.Duration(j) * time.Minute)} {
						if got, want := q.Allowed(a, 0), uncachedAllowed(&q, a, 0); got != want {
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
		z := &zone{loc: loc, cached: true}
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

// Concurrent Allowed on instants in different offset periods of one shared
// zone (go test -race): every answer equals the uncached one.
func TestZoneCacheConcurrent(t *testing.T) {
	p := benchPolicy(t)
	p.Start, p.End = time.Time{}, time.Time{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := p // copies share the zone
			for i := 0; i < 2000; i++ {
				at := time.Date(2020+g, time.Month(1+(i*5+g)%12), 1+i%28, i%24, i%60, 0, 0, time.UTC)
				if got, want := q.Allowed(at, 0), uncachedAllowed(&q, at, 0); got != want {
					t.Errorf("at %v: Allowed %v, uncached %v", at.In(q.tz.loc), got, want)
					return
				}
				if next, ok := q.NextOpen(at, 0); !ok || q.Allowed(next, 0) != Granted {
					t.Errorf("NextOpen(%v) = %v %v", at, next, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Validated policies with the same zone share its cache, so they stay
// reflect.DeepEqual whatever each has looked up.
func TestZoneSharedDeepEqual(t *testing.T) {
	berlin, _ := LoadZone("Europe/Berlin")
	a, b := Policy{Zone: "Europe/Berlin", Uses: SingleUse}, Policy{Uses: SingleUse}.WithLocation(berlin)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	a.Allowed(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	b.Allowed(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), 0)
	if !reflect.DeepEqual(a, b) || a.tz != b.tz {
		t.Fatalf("not equal: %+v %+v", a, b)
	}
	if u := (Policy{}).WithLocation(time.UTC); u.tz != utcZone || u.Zone != "" {
		t.Fatalf("UTC: %+v", u)
	}
	// A location LoadZone did not make works, uncached.
	own, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	c := Policy{Windows: []Window{{Workdays, 8 * 60, 12 * 60}}}.WithLocation(own)
	at := time.Date(2026, 7, 1, 7, 30, 0, 0, time.UTC) // 09:30 CEST, Wednesday
	if c.Allowed(at, 0) != Granted || c.tz.last.Load() != nil {
		t.Fatalf("own location: %v", c.Allowed(at, 0))
	}
}

// Allowed's minute-of-week bits never outlive the rules they were built
// from: reassigning or appending windows, or adding lock-wide blackouts,
// after Validate is still decided by the present rules.
func TestWeekMaskFollowsRuleChanges(t *testing.T) {
	loc, _ := LoadZone("Europe/Berlin")
	tue10 := time.Date(2026, 3, 3, 10, 30, 0, 0, loc)
	p := Policy{Zone: "Europe/Berlin", Windows: []Window{{Days: Days(time.Monday), From: 600, To: 720}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := p.Allowed(tue10, 0); r != OutsideWindow {
		t.Fatalf("Tuesday with a Monday window: %v", r)
	}
	p.Windows = append(p.Windows, Window{Days: Days(time.Tuesday), From: 600, To: 720})
	if r := p.Allowed(tue10, 0); r != Granted {
		t.Fatalf("after appending a Tuesday window: %v", r)
	}
	p.Windows = []Window{{Days: Days(time.Tuesday), From: 0, To: 60}}
	if r := p.Allowed(tue10, 0); r != OutsideWindow {
		t.Fatalf("after reassigning the windows: %v", r)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	q := Policy{Zone: "Europe/Berlin"}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	closed := q.WithBlackouts([]Blackout{{Days: EveryDay, From: 600, To: 660}})
	if r := closed.Allowed(tue10, 0); r != InBlackout {
		t.Fatalf("lock-wide blackout added after Validate: %v", r)
	}
	if r := q.Allowed(tue10, 0); r != Granted {
		t.Fatalf("the key's own policy changed: %v", r)
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
			i := int(d)*MinutesPerDay + minute
			if got, want := m[i/64]&(1<<(i%64)) != 0, covers(days, from, to, d, minute); got != want {
				t.Fatalf("days %08b [%d, %d) at %v %d: bit %v, covers %v", days, from, to, d, minute, got, want)
			}
		}
	}
}
