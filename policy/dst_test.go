package policy

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
)

// Change days of 2026: Berlin 29 Mar (02:00->03:00) / 25 Oct (03:00->02:00);
// New York 8 Mar (02:00->03:00) / 1 Nov (02:00->01:00); Lord Howe 5 Apr
// (02:00->01:30) / 4 Oct (02:00->02:30); Tokyo none.
func TestDST(t *testing.T) {
	type check struct {
		utc  string // instant in UTC
		want access.Reason
	}
	for _, c := range []struct {
		name   string
		zone   string
		w      Window
		checks []check
		// from, next: NextOpen(from) == next (UTC); next "" = none expected within a week
		from, next string
	}{
		{"Berlin skipped hour: never opens that day", "Europe/Berlin", Window{EveryDay, 2*60 + 15, 2*60 + 45},
			[]check{{"2026-03-29 00:59", access.OutsideWindow}, {"2026-03-29 01:00", access.OutsideWindow}, {"2026-03-28 01:15", access.Granted}},
			"2026-03-29 00:00", "2026-03-30 00:15"},
		{"Berlin repeated hour: open in both passes", "Europe/Berlin", Window{EveryDay, 2*60 + 15, 2*60 + 45},
			[]check{{"2026-10-25 00:15", access.Granted}, {"2026-10-25 00:44", access.Granted}, {"2026-10-25 00:45", access.OutsideWindow},
				{"2026-10-25 01:14", access.OutsideWindow}, {"2026-10-25 01:15", access.Granted}, {"2026-10-25 01:45", access.OutsideWindow}},
			"2026-10-25 00:45", "2026-10-25 01:15"},
		{"Berlin midnight-crossing, spring day", "Europe/Berlin", Window{Days(time.Saturday), 23 * 60, 3 * 60},
			// Sat 23:00 CET = 22:00Z; Sun 02:00 CET -> 03:00 CEST at 01:00Z; window ends 03:00 wall = 01:00Z
			[]check{{"2026-03-28 21:59", access.OutsideWindow}, {"2026-03-28 22:00", access.Granted}, {"2026-03-29 00:59", access.Granted}, {"2026-03-29 01:00", access.OutsideWindow}},
			"2026-03-28 12:00", "2026-03-28 22:00"},
		{"Berlin midnight-crossing, autumn day", "Europe/Berlin", Window{Days(time.Saturday), 23 * 60, 3 * 60},
			// Sat 23:00 CEST = 21:00Z; wall 03:00 CET (second pass) = 02:00Z: four hours
			[]check{{"2026-10-24 20:59", access.OutsideWindow}, {"2026-10-24 21:00", access.Granted}, {"2026-10-25 01:59", access.Granted}, {"2026-10-25 02:00", access.OutsideWindow}},
			"2026-10-25 02:00", "2026-10-31 22:00"},
		{"New York skipped hour", "America/New_York", Window{EveryDay, 2 * 60, 2*60 + 30},
			[]check{{"2026-03-08 06:59", access.OutsideWindow}, {"2026-03-08 07:00", access.OutsideWindow}, {"2026-03-07 07:00", access.Granted}},
			"2026-03-08 05:00", "2026-03-09 06:00"},
		{"New York repeated hour", "America/New_York", Window{EveryDay, 1*60 + 30, 2 * 60},
			// 01:30 EDT = 05:30Z, 01:30 EST = 06:30Z
			[]check{{"2026-11-01 05:30", access.Granted}, {"2026-11-01 06:00", access.OutsideWindow}, {"2026-11-01 06:30", access.Granted}, {"2026-11-01 06:59", access.Granted}, {"2026-11-01 07:00", access.OutsideWindow}},
			"2026-11-01 06:00", "2026-11-01 06:30"},
		{"New York midnight-crossing over spring change", "America/New_York", Window{Days(time.Saturday), 22 * 60, 4 * 60},
			// Sat 22:00 EST = 03:00Z; Sun 04:00 EDT = 08:00Z
			[]check{{"2026-03-08 02:59", access.OutsideWindow}, {"2026-03-08 03:00", access.Granted}, {"2026-03-08 07:59", access.Granted}, {"2026-03-08 08:00", access.OutsideWindow}},
			"2026-03-07 12:00", "2026-03-08 03:00"},
		{"Lord Howe 30-minute skip", "Australia/Lord_Howe", Window{EveryDay, 2*60 + 5, 2*60 + 25},
			// 4 Oct 2026 02:00 LHST(+10:30) -> 02:30 LHDT(+11) at 15:30Z on 3 Oct
			[]check{{"2026-10-03 15:29", access.OutsideWindow}, {"2026-10-03 15:30", access.OutsideWindow}, {"2026-10-02 15:35", access.Granted}},
			"2026-10-03 15:00", "2026-10-04 15:05"},
		{"Lord Howe 30-minute repeat", "Australia/Lord_Howe", Window{EveryDay, 1*60 + 40, 1*60 + 50},
			// 5 Apr 2026 02:00 LHDT(+11) -> 01:30 LHST(+10:30) at 15:00Z on 4 Apr
			[]check{{"2026-04-04 14:40", access.Granted}, {"2026-04-04 14:50", access.OutsideWindow}, {"2026-04-04 15:10", access.Granted}, {"2026-04-04 15:20", access.OutsideWindow}},
			"2026-04-04 14:50", "2026-04-04 15:10"},
		{"Lord Howe midnight-crossing on forward day", "Australia/Lord_Howe", Window{Days(time.Saturday), 23 * 60, 3 * 60},
			// Sat 23:00 +10:30 = 12:30Z; Sun 03:00 +11 = 16:00Z
			[]check{{"2026-10-03 12:29", access.OutsideWindow}, {"2026-10-03 12:30", access.Granted}, {"2026-10-03 15:59", access.Granted}, {"2026-10-03 16:00", access.OutsideWindow}},
			"2026-10-03 16:00", "2026-10-10 12:00"}, // +11 now
		{"Tokyo: no change", "Asia/Tokyo", Window{EveryDay, 2 * 60, 3 * 60},
			[]check{{"2026-03-28 16:59", access.OutsideWindow}, {"2026-03-28 17:00", access.Granted}, {"2026-03-28 17:59", access.Granted}, {"2026-03-28 18:00", access.OutsideWindow}},
			"2026-03-28 18:00", "2026-03-29 17:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Policy{Zone: c.zone, Windows: []Window{c.w}}
			s := mustCompile(t, p)
			cp, err := s.Compact()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range c.checks {
				u := at(t, time.UTC, k.utc)
				if got := s.Allowed(u, 0); got != k.want {
					t.Errorf("%s (%s): %v, want %v", k.utc, u.In(s.Location()).Format("Mon 15:04 MST"), got, k.want)
				}
				if got := p.Allowed(u, 0); got != k.want {
					t.Errorf("Policy.Allowed %s: %v, want %v", k.utc, got, k.want)
				}
				_, off := u.In(s.Location()).Zone()
				if got := cp.Allowed(u, off, 0); (got == access.Granted) != (k.want == access.Granted) {
					t.Errorf("compact %s: %v, want %v", k.utc, got, k.want)
				}
			}
			want := at(t, time.UTC, c.next)
			if got, ok := s.NextOpen(at(t, time.UTC, c.from), 0); !ok || !got.Equal(want) {
				t.Errorf("NextOpen(%s) = %v %v, want %v", c.from, got.UTC(), ok, want)
			}
			if got, ok := p.NextOpen(at(t, time.UTC, c.from), 0); !ok || !got.Equal(want) {
				t.Errorf("Policy.NextOpen(%s) = %v %v, want %v", c.from, got.UTC(), ok, want)
			}
		})
	}
}
