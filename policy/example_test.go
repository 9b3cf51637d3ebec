package policy_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// A cleaner's key: workdays 08:00–18:00 in Berlin for March, ten uses,
// never at lunch. Compile once, then ask the schedule as often as needed.
func ExampleSchedule_Status() {
	p := policy.Policy{
		Zone:      "Europe/Berlin",
		Start:     time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		End:       time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		Uses:      policy.UsesN(10),
		Windows:   []policy.Window{{Days: policy.Workdays, From: 8 * 60, To: 18 * 60}},
		Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 12 * 60, To: 13 * 60}},
	}
	s, err := policy.Compile(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	berlin := s.Location()
	for _, at := range []time.Time{
		time.Date(2026, 3, 1, 9, 0, 0, 0, berlin),
		time.Date(2026, 3, 2, 9, 0, 0, 0, berlin),
		time.Date(2026, 3, 2, 12, 30, 0, 0, berlin),
		time.Date(2026, 4, 2, 9, 0, 0, 0, berlin),
	} {
		st := s.Status(at, 4)
		next := "none"
		if !st.Next.IsZero() {
			next = st.Next.In(berlin).Format("Mon 02 Jan 15:04")
		}
		fmt.Printf("%s %s (%s) in window: %v, next open: %s\n", at.Format("Mon 02 Jan 15:04"), st.State, st.Reason, st.InWindow, next)
	}
	fmt.Println(s.Status(time.Date(2026, 3, 2, 9, 0, 0, 0, berlin), 10).State)
	// Output:
	// Sun 01 Mar 09:00 UPCOMING (not yet valid) in window: false, next open: Mon 02 Mar 08:00
	// Mon 02 Mar 09:00 ACTIVE (granted) in window: true, next open: Mon 02 Mar 09:00
	// Mon 02 Mar 12:30 ACTIVE (blackout) in window: false, next open: Mon 02 Mar 13:00
	// Thu 02 Apr 09:00 EXPIRED (expired) in window: false, next open: none
	// EXHAUSTED
}

// NextOpen across the spring-forward night: 02:30 does not exist in Berlin
// on 29 March 2026, so a 02:15–02:45 window next opens on Monday.
func ExampleSchedule_NextOpen() {
	s, err := policy.Compile(policy.Policy{Zone: "Europe/Berlin", Windows: []policy.Window{{Days: policy.EveryDay, From: 2*60 + 15, To: 2*60 + 45}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	berlin := s.Location()
	next, ok := s.NextOpen(time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), 0)
	fmt.Println(next.In(berlin), ok)
	// Output:
	// 2026-03-30 02:15:00 +0200 CEST true
}

// The lock gets the compact form and evaluates it with its UTC offset. (The
// Policy methods compile on each call: fine once, not in a loop.)
func ExamplePolicy_Compact() {
	p := policy.Policy{
		Zone:      "Europe/Berlin",
		Windows:   []policy.Window{{Days: policy.EveryDay, From: 0, To: 24 * 60}},
		Blackouts: []policy.Blackout{{Days: policy.EveryDay, From: 22 * 60, To: 6 * 60}}, // invalid at night
	}
	c, err := p.Compact()
	fmt.Printf("%+v %v\n", c.Windows[:c.NumWindows], err)
	at := time.Date(2026, 7, 1, 21, 30, 0, 0, time.UTC) // 23:30 CEST
	fmt.Println(c.Allowed(at, 2*3600, 0), p.Allowed(at, 0))
	// Output:
	// [{Days:127 From:360 To:1320}] <nil>
	// outside window blackout
}

// An invalid policy does not compile; every problem is reported at once.
func ExampleCompile() {
	_, err := policy.Compile(policy.Policy{
		Zone:    "Mars/Olympus",
		Uses:    policy.UsesN(0),
		Windows: []policy.Window{{Days: policy.Workdays, From: 18 * 60, To: 18 * 60}},
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, policy.ErrUnknownZone))
	// Output:
	// policy: Uses.N = 0: a use limit of 0 never opens
	// policy: Windows[0].To = 1080: From == To
	// policy: Zone = Mars/Olympus: unknown time zone
	// true
}
