package policy

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // zone data on machines without /usr/share/zoneinfo

	"github.com/keyledger/keyledger/access"
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

// Policy is the schedule of one key, as plain data: it serialises as it is
// and holds nothing derived. Zone is the lock's IANA zone name ("" = UTC).
// All conditions are AND-combined; Windows are OR-combined (none = no weekly
// restriction), and so are Periods (none = no date restriction); Blackouts
// override windows. AfterFirstUse ends the key that long after its first
// use, which only the caller knows (FirstUsed). Compile turns a valid Policy
// into a *Schedule, the form that decides.
type Policy struct {
	Start, End time.Time // validity [Start, End); zero = open side
	Uses       Uses
	Windows    []Window
	Blackouts  []Blackout
	Zone       string
	Periods    []Period `msgpack:",omitempty" json:",omitempty"` // dated periods, OR-combined; at most MaxPeriods
	// AfterFirstUse: whole minutes, 1m..MaxAfterFirstUse; 0 = no such limit.
	AfterFirstUse time.Duration `msgpack:",omitempty" json:",omitempty"`
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

// WithLocation returns p with Zone set to loc's name ("" for UTC). Only the
// name is kept, so loc must be a zone LoadZone resolves by that name; any
// other location (time.FixedZone) leaves an unknown zone.
func (p Policy) WithLocation(loc *time.Location) Policy {
	p.Zone = loc.String()
	if p.Zone == "UTC" {
		p.Zone = ""
	}
	return p
}

// Location resolves the policy's zone.
func (p *Policy) Location() (*time.Location, error) { return LoadZone(p.Zone) }

// WithBlackouts returns p with the lock-wide blackouts added to its own
// (a new slice: p's is not changed).
func (p Policy) WithBlackouts(lock []Blackout) Policy {
	if len(lock) == 0 {
		return p
	}
	b := make([]Blackout, 0, len(p.Blackouts)+len(lock))
	p.Blackouts = append(append(b, p.Blackouts...), lock...)
	return p
}

// Validate reports every problem with the policy at once (errors.Join of
// *ValidationError). Compile returns the same errors; nil means Compile
// succeeds.
func (p *Policy) Validate() error {
	_, err := p.validate()
	return err
}

// validate is Validate that also returns the resolved zone.
func (p *Policy) validate() (*zone, error) {
	var errs []error
	bad := func(field string, v any, reason string) {
		errs = append(errs, &ValidationError{Field: field, Value: v, Reason: reason, Err: ErrInvalid})
	}
	if !validityOK(p.Start, p.End) {
		bad("End", p.End, "not after Start "+p.Start.Format(time.RFC3339Nano))
	}
	if p.Uses.Limited && p.Uses.N == 0 {
		bad("Uses.N", 0, "a use limit of 0 never opens")
	}
	if !p.Uses.Limited && p.Uses.N != 0 {
		bad("Uses.N", p.Uses.N, "set on an unlimited key")
	}
	for i, w := range p.Windows {
		if !rangeOK(w.Days, w.From, w.To) {
			checkRange(fmt.Sprintf("Windows[%d]", i), w.Days, w.From, w.To, bad)
		}
	}
	for i, b := range p.Blackouts {
		if blackoutOK(&b) {
			continue
		}
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
	validatePeriods(p.Periods, bad)
	validateAfterFirstUse(p.AfterFirstUse, bad)
	z, err := loadZone(p.Zone)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return z, nil
}

// valid is Validate() == nil without building errors: it allocates nothing
// (for a zone LoadZone has resolved before). A property test holds the two
// equal.
func (p *Policy) valid() (*zone, bool) {
	if !validityOK(p.Start, p.End) || p.Uses.Limited != (p.Uses.N != 0) {
		return nil, false
	}
	for i := range p.Windows {
		if w := &p.Windows[i]; !rangeOK(w.Days, w.From, w.To) {
			return nil, false
		}
	}
	for i := range p.Blackouts {
		if !blackoutOK(&p.Blackouts[i]) {
			return nil, false
		}
	}
	if !periodsOK(p.Periods) || !afterFirstUseOK(p.AfterFirstUse) {
		return nil, false
	}
	z, err := loadZone(p.Zone)
	return z, err == nil
}

func validityOK(start, end time.Time) bool {
	return start.IsZero() || end.IsZero() || end.After(start)
}

// minutesOK is the one rule for a weekly range's minutes: From in 0..1439,
// To in 0..1440 (24:00), From != To. A range that breaks it covers no minute
// (covers and the compiled week bits agree on that) and Validate refuses it.
func minutesOK(from, to uint16) bool {
	return from < MinutesPerDay && to <= MinutesPerDay && from != to
}

// rangeOK: a valid weekly range (some day, no bit 7, minutesOK).
func rangeOK(d Weekdays, from, to uint16) bool {
	return d != 0 && d&0x80 == 0 && minutesOK(from, to)
}

func blackoutOK(b *Blackout) bool {
	if b.Days != 0 {
		return rangeOK(b.Days, b.From, b.To) && b.Start.IsZero() && b.End.IsZero()
	}
	return b.From == 0 && b.To == 0 && !b.Start.IsZero() && !b.End.IsZero() && b.End.After(b.Start)
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

// Allowed is Schedule.Allowed for p, compiled on each call (without
// allocating): an invalid policy fails closed with InvalidPolicy. Hot paths
// compile once and keep the *Schedule.
func (p *Policy) Allowed(at time.Time, usesSoFar uint32) access.Reason {
	var s Schedule
	if !p.compileTo(&s) {
		return access.InvalidPolicy
	}
	return s.Allowed(at, usesSoFar)
}
