package policy

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // zone data on machines without /usr/share/zoneinfo
	"unsafe"
)

// Errors. Every validation problem wraps ErrInvalid; an unknown zone also
// wraps ErrUnknownZone.
var (
	ErrInvalid     = errors.New("policy: invalid")
	ErrUnknownZone = fmt.Errorf("%w: unknown time zone", ErrInvalid)
	// ErrLossy: the compact form is narrower than the policy (see doc.go).
	ErrLossy = errors.New("policy: compact form narrower than the policy")
	// ErrNotCompact: no compact form can express the policy safely.
	ErrNotCompact = errors.New("policy: not expressible in the compact form")
)

// ValidationError names one problem with a policy.
type ValidationError struct {
	Field  string // e.g. "Windows[2].To"
	Value  any    // the offending value
	Reason string
	Err    error // ErrInvalid or ErrUnknownZone
}

func (e *ValidationError) Error() string {
	v := e.Value
	if t, ok := v.(time.Time); ok {
		v = t.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("policy: %s = %v: %s", e.Field, v, e.Reason)
}

func (e *ValidationError) Unwrap() error { return e.Err }

// CompactError says what the compact form could not express.
type CompactError struct {
	What string
	Err  error // ErrLossy or ErrNotCompact
}

func (e *CompactError) Error() string { return e.Err.Error() + ": " + e.What }
func (e *CompactError) Unwrap() error { return e.Err }

// Uses is a use limit. The zero value is Unlimited; a limit of 0 is invalid.
type Uses struct {
	Limited bool
	N       uint32 // granted uses allowed when Limited
}

var (
	Unlimited = Uses{}
	SingleUse = Uses{Limited: true, N: 1}
)

// UsesN limits a key to n granted uses.
func UsesN(n uint32) Uses { return Uses{Limited: true, N: n} }

// MinutesPerDay is the largest minute value (24:00).
const MinutesPerDay = 1440

// Window is a weekly wall-clock range: on each day in Days, minutes [From, To)
// of the lock's local day. To may be 1440; To < From crosses midnight and
// belongs to the day it starts.
type Window struct {
	Days     Weekdays
	From, To uint16
}

// Blackout is either weekly (Days != 0: a Window during which the key is
// refused) or absolute (Days == 0: the instants [Start, End)).
type Blackout struct {
	Days       Weekdays
	From, To   uint16
	Start, End time.Time
}

// Policy is the schedule of one key. Zone is the lock's IANA zone name
// ("" = UTC). All conditions are AND-combined; Windows are OR-combined
// (none = no weekly restriction); Blackouts override windows.
type Policy struct {
	Start, End time.Time // validity [Start, End); zero = open side
	Uses       Uses
	Windows    []Window
	Blackouts  []Blackout
	Zone       string

	tz *zone     // resolved Zone, set by Validate or WithLocation (shared per zone, see zone.go)
	wk *weekMask // Windows and weekly Blackouts as minute-of-week bits, set by Validate
}

// weekMask holds a valid policy's weekly rules as one bit per minute of the
// week (bit 0 = Sunday 00:00), so Allowed tests a bit instead of walking the
// windows; it says nothing the rules do not (covers decides every bit).
type weekMask struct {
	open, black weekBits
	absolute    bool // some blackout is absolute (checked by instant)
	// The slices it was built from: a policy whose Windows or Blackouts
	// were reassigned or appended to since Validate walks them instead.
	// (Editing elements in place needs Validate again, as the doc says.)
	windows   *Window
	nWindows  int
	blackouts *Blackout
	nBlack    int
}

// current reports whether w was built from p's present Windows and Blackouts.
func (w *weekMask) current(p *Policy) bool {
	return w.windows == unsafe.SliceData(p.Windows) && w.nWindows == len(p.Windows) &&
		w.blackouts == unsafe.SliceData(p.Blackouts) && w.nBlack == len(p.Blackouts)
}

type weekBits [(7*MinutesPerDay + 63) / 64]uint64

// set sets the minutes a weekly range covers, exactly as covers decides
// (property-tested); a range breaking minutesOK sets nothing.
func (m *weekBits) set(days Weekdays, from, to uint16) {
	if !minutesOK(from, to) {
		return
	}
	f, t := int(from), int(to)
	for d := range 7 {
		if days&(1<<d) == 0 {
			continue
		}
		day, next := d*MinutesPerDay, (d+1)%7*MinutesPerDay
		if f < t {
			m.setRange(day+f, day+t)
		} else { // crosses midnight: belongs to the day it starts
			m.setRange(day+f, day+MinutesPerDay)
			m.setRange(next, next+t)
		}
	}
}

func (m *weekBits) setRange(lo, hi int) {
	for i := lo; i < hi; {
		if i%64 == 0 && i+64 <= hi {
			m[i/64] = ^uint64(0)
			i += 64
			continue
		}
		m[i/64] |= 1 << (i % 64)
		i++
	}
}

func newWeekMask(p *Policy) *weekMask {
	w := &weekMask{windows: unsafe.SliceData(p.Windows), nWindows: len(p.Windows),
		blackouts: unsafe.SliceData(p.Blackouts), nBlack: len(p.Blackouts)}
	if len(p.Windows) == 0 {
		for i := range 7 * MinutesPerDay {
			w.open[i/64] |= 1 << (i % 64)
		}
	}
	for _, win := range p.Windows {
		w.open.set(win.Days, win.From, win.To)
	}
	for _, b := range p.Blackouts {
		if b.Days != 0 {
			w.black.set(b.Days, b.From, b.To)
		} else {
			w.absolute = true
		}
	}
	return w
}

// minuteOfWeek is the minute of the week (0 = Sunday 00:00) of a Unix time
// read at a UTC offset.
func minuteOfWeek(unix int64, offset int) int {
	wd, m := wall(unix, offset)
	return int(wd)*MinutesPerDay + m
}

// LoadZone resolves an IANA zone name, caching the result. "" is UTC;
// "Local" is refused (a lock's zone must be explicit).
func LoadZone(name string) (*time.Location, error) {
	z, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	return z.loc, nil
}

// WithLocation returns p with Zone = loc.String() and the location cached.
func (p Policy) WithLocation(loc *time.Location) Policy {
	p.Zone, p.tz = loc.String(), zoneOf(loc)
	if p.Zone == "UTC" {
		p.Zone = ""
	}
	p.wk = newWeekMask(&p) // bit for bit what covers decides, valid or not
	return p
}

// Location resolves the policy's zone (cached after Validate).
func (p *Policy) Location() (*time.Location, error) {
	if p.tz != nil {
		return p.tz.loc, nil
	}
	return LoadZone(p.Zone)
}

// WithBlackouts returns p with the lock-wide blackouts added to its own.
func (p Policy) WithBlackouts(lock []Blackout) Policy {
	if len(lock) == 0 {
		return p
	}
	b := make([]Blackout, 0, len(p.Blackouts)+len(lock))
	p.Blackouts = append(append(b, p.Blackouts...), lock...)
	p.wk = nil // the weekly rules changed: Allowed walks them (or Validate again)
	return p
}

// Validate reports every problem (errors.Join) and caches the resolved zone
// and, for a valid policy, its weekly rules as a minute-of-week bit map, so
// that Allowed and NextOpen do not allocate and Allowed tests one bit. Call
// it after decoding, and again after changing a validated policy's fields.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(field string, v any, reason string) {
		errs = append(errs, &ValidationError{Field: field, Value: v, Reason: reason, Err: ErrInvalid})
	}
	if !p.Start.IsZero() && !p.End.IsZero() && !p.End.After(p.Start) {
		bad("End", p.End, "not after Start "+p.Start.Format(time.RFC3339Nano))
	}
	if p.Uses.Limited && p.Uses.N == 0 {
		bad("Uses.N", 0, "a use limit of 0 never opens")
	}
	if !p.Uses.Limited && p.Uses.N != 0 {
		bad("Uses.N", p.Uses.N, "set on an unlimited key")
	}
	for i, w := range p.Windows {
		checkRange(fmt.Sprintf("Windows[%d]", i), w.Days, w.From, w.To, bad)
	}
	for i, b := range p.Blackouts {
		f := fmt.Sprintf("Blackouts[%d]", i)
		if b.Days != 0 {
			checkRange(f, b.Days, b.From, b.To, bad)
			if !b.Start.IsZero() || !b.End.IsZero() {
				bad(f+".Start", b.Start, "a weekly blackout has no instants")
			}
			continue
		}
		if b.From != 0 || b.To != 0 {
			bad(f+".Days", 0, "empty weekday set")
		}
		if b.Start.IsZero() || b.End.IsZero() {
			bad(f+".End", b.End, "an absolute blackout needs Start and End")
		} else if !b.End.After(b.Start) {
			bad(f+".End", b.End, "not after Start "+b.Start.Format(time.RFC3339Nano))
		}
	}
	z, err := loadZone(p.Zone)
	if err != nil {
		errs = append(errs, err)
	} else {
		p.tz = z
	}
	p.wk = nil
	if len(errs) == 0 {
		p.wk = newWeekMask(p)
	}
	return errors.Join(errs...)
}

func checkRange(f string, d Weekdays, from, to uint16, bad func(string, any, string)) {
	if d == 0 {
		bad(f+".Days", d, "empty weekday set")
	} else if d&0x80 != 0 {
		bad(f+".Days", uint8(d), "bit 7 set")
	}
	if from >= MinutesPerDay {
		bad(f+".From", from, "minutes outside 0..1439")
	}
	if to > MinutesPerDay {
		bad(f+".To", to, "minutes outside 0..1440")
	}
	if from == to {
		bad(f+".To", to, "From == To")
	}
}

// Reason is why a key may not open; Granted when it may. Codes are
// append-only: never renumber or reuse.
type Reason uint8

const (
	Granted       Reason = 0
	NotYetValid   Reason = 1
	Expired       Reason = 2
	Exhausted     Reason = 3
	OutsideWindow Reason = 4
	InBlackout    Reason = 5
	InvalidPolicy Reason = 6 // unknown zone or malformed compact form: fail closed
)

var reasonNames = [...]string{"granted", "not yet valid", "expired", "exhausted", "outside window", "blackout", "invalid policy"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// wall returns the weekday and minute of day of a Unix time read with a UTC
// offset. The same arithmetic serves Policy and Compact.
func wall(unix int64, offset int) (time.Weekday, int) {
	if w := unix + int64(offset); w >= 0 { // fast path: unsigned division by constants
		u := uint64(w)
		return time.Weekday((u/86400 + 4) % 7), int(u % 86400 / 60) // 1970-01-01 was a Thursday
	}
	return wallBefore1970(unix + int64(offset))
}

func wallBefore1970(w int64) (time.Weekday, int) {
	day := floorDiv(w, 86400)
	return time.Weekday(floorMod(day+4, 7)), int((w - day*86400) / 60)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// minutesOK is the one rule for a weekly range's minutes: From in 0..1439,
// To in 0..1440 (24:00), From != To. A range that breaks it covers no minute
// (covers and the week bits agree on that) and Validate refuses it.
func minutesOK(from, to uint16) bool {
	return from < MinutesPerDay && to <= MinutesPerDay && from != to
}

// covers reports whether a weekly range contains (weekday, minute). A range
// whose minutes break minutesOK covers nothing.
func covers(days Weekdays, from, to uint16, wd time.Weekday, m int) bool {
	if !minutesOK(from, to) {
		return false
	}
	if from < to {
		return days.Has(wd) && m >= int(from) && m < int(to)
	}
	return (days.Has(wd) && m >= int(from)) || (days.Has((wd+6)%7) && m < int(to))
}

// Allowed reports whether the key may open at the instant, given how many
// uses were granted so far; otherwise the first failing reason in the order
// NotYetValid, Expired, Exhausted, OutsideWindow, InBlackout.
func (p *Policy) Allowed(at time.Time, usesSoFar uint32) Reason {
	if !p.Start.IsZero() && at.Before(p.Start) {
		return NotYetValid
	}
	if !p.End.IsZero() && !at.Before(p.End) {
		return Expired
	}
	if p.Uses.Limited && usesSoFar >= p.Uses.N {
		return Exhausted
	}
	z := p.tz
	if z == nil {
		var err error
		if z, err = loadZone(p.Zone); err != nil {
			return InvalidPolicy
		}
	}
	u := at.Unix()
	var off int
	if s := z.last.Load(); s != nil && s.start <= u && u < s.end { // z.offset, inlined by hand
		off = s.off
	} else {
		off = z.lookup(at).off
	}
	if w := p.wk; w != nil && w.current(p) {
		i := minuteOfWeek(u, off)
		if w.open[i/64]&(1<<(i%64)) == 0 {
			return OutsideWindow
		}
		if w.black[i/64]&(1<<(i%64)) != 0 {
			return InBlackout
		}
		if w.absolute {
			return p.absoluteBlackout(at)
		}
		return Granted
	}
	return p.weekly(at, u, off)
}

// absoluteBlackout is InBlackout if an absolute blackout covers at.
func (p *Policy) absoluteBlackout(at time.Time) Reason {
	for i := range p.Blackouts {
		if b := &p.Blackouts[i]; b.Days == 0 && !at.Before(b.Start) && at.Before(b.End) {
			return InBlackout
		}
	}
	return Granted
}

// weekly applies windows and blackouts at an instant (u = at.Unix()) whose
// offset is off.
func (p *Policy) weekly(at time.Time, u int64, off int) Reason {
	wd, m := wall(u, off)
	if len(p.Windows) > 0 {
		in := false
		for i := range p.Windows {
			w := &p.Windows[i]
			if covers(w.Days, w.From, w.To, wd, m) {
				in = true
				break
			}
		}
		if !in {
			return OutsideWindow
		}
	}
	for i := range p.Blackouts {
		b := &p.Blackouts[i]
		if b.Days != 0 {
			if covers(b.Days, b.From, b.To, wd, m) {
				return InBlackout
			}
		} else if !at.Before(b.Start) && at.Before(b.End) {
			return InBlackout
		}
	}
	return Granted
}
