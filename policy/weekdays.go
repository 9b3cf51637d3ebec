package policy

import (
	"fmt"
	"strconv"
	"time"
)

// Has reports whether d is in the set.
func (w Weekdays) Has(d time.Weekday) bool { return w&(1<<uint(d)) != 0 }

// Days builds a set from weekdays.
func Days(days ...time.Weekday) Weekdays {
	var w Weekdays
	for _, d := range days {
		w |= 1 << uint(d%7)
	}
	return w
}

// Every day, Monday to Friday, Saturday and Sunday.
const (
	EveryDay Weekdays = 0x7f
	Workdays Weekdays = 0x3e
	Weekend  Weekdays = 0x41
)

// FormatError is a value an interop converter or parser refused.
type FormatError struct {
	Format string // "matter", "nuki", "ttlock", "clock"
	Value  string
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("policy: %s value %s: %s", e.Format, e.Value, e.Reason)
}
func (e *FormatError) Unwrap() error { return ErrInvalid }

// FromMatter converts a Matter DaysMask (bit 0 = Sunday). 0 and bit 7 are invalid.
func FromMatter(mask uint8) (Weekdays, error) {
	if mask == 0 || mask&0x80 != 0 {
		return 0, &FormatError{"matter", fmt.Sprintf("0x%02x", mask), "empty or bit 7 set"}
	}
	return Weekdays(mask), nil
}

// Matter returns the Matter DaysMask.
func (w Weekdays) Matter() uint8 { return uint8(w) & 0x7f }

func nukiBit(d time.Weekday) uint { // Monday = 64 … Saturday = 2, Sunday = 1
	if d == time.Sunday {
		return 0
	}
	return 7 - uint(d)
}

// FromNuki converts Nuki allowedWeekDays (64 = Monday … 1 = Sunday).
func FromNuki(v uint8) (Weekdays, error) {
	if v == 0 || v&0x80 != 0 {
		return 0, &FormatError{"nuki", strconv.Itoa(int(v)), "empty or above 127"}
	}
	var w Weekdays
	for d := time.Sunday; d <= time.Saturday; d++ {
		if v&(1<<nukiBit(d)) != 0 {
			w |= 1 << uint(d)
		}
	}
	return w, nil
}

// Nuki returns the Nuki allowedWeekDays value.
func (w Weekdays) Nuki() uint8 {
	var v uint8
	for d := time.Sunday; d <= time.Saturday; d++ {
		if w.Has(d) {
			v |= 1 << nukiBit(d)
		}
	}
	return v
}

// ttlockDay is the weekday TTLock numbers v: 1 = Monday … 6 = Saturday,
// 7 = Sunday (ISO 8601, as its SDK documents for cyclic cards, fingerprints,
// passcodes and passage mode).
func ttlockDay(v int) time.Weekday { return time.Weekday(v % 7) }

// FromTTLock converts a TTLock week-day list (1 = Monday … 7 = Sunday).
// Empty lists, values outside 1..7 and repeats are invalid.
func FromTTLock(days []int) (Weekdays, error) {
	if len(days) == 0 {
		return 0, &FormatError{"ttlock", "[]", "empty"}
	}
	var w Weekdays
	for _, v := range days {
		if v < 1 || v > 7 {
			return 0, &FormatError{"ttlock", strconv.Itoa(v), "outside 1..7"}
		}
		if w.Has(ttlockDay(v)) {
			return 0, &FormatError{"ttlock", strconv.Itoa(v), "repeated"}
		}
		w |= 1 << uint(ttlockDay(v))
	}
	return w, nil
}

// TTLock returns the TTLock list (1 = Monday … 7 = Sunday), ascending.
func (w Weekdays) TTLock() []int {
	var out []int
	for v := 1; v <= 7; v++ {
		if w.Has(ttlockDay(v)) {
			out = append(out, v)
		}
	}
	return out
}

// ParseClock parses "HH:MM" (00:00..24:00) into minutes of the day.
func ParseClock(s string) (uint16, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, &FormatError{"clock", strconv.Quote(s), "want HH:MM"}
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, &FormatError{"clock", strconv.Quote(s), "want HH:MM"}
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, &FormatError{"clock", strconv.Quote(s), "outside 00:00..24:00"}
	}
	return uint16(h*60 + m), nil
}

// FormatClock formats minutes of the day as "HH:MM".
func FormatClock(m uint16) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
