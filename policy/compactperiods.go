package policy

import (
	"math"
	"sort"
	"time"
)

// inPeriods reports whether some period of c holds the Unix time u. A
// period with From >= To holds nothing.
func (c *Compact) inPeriods(u int64) bool {
	for i := 0; i < int(c.NumPeriods) && i < MaxCompactPeriods; i++ {
		if p := &c.Periods[i]; int64(p.From) <= u && u < int64(p.To) {
			return true
		}
	}
	return false
}

// secs is a dated period in whole Unix seconds, [f, t).
type secs struct{ f, t int64 }

// clipPeriods turns the periods into whole seconds (start rounded up, end
// down, as validity), clipped to [nb, na) (na 0 = open), sorted and merged
// where they overlap or touch. Validity becomes [first start, last end):
// outside it no period holds, so that is exact.
func clipPeriods(periods []Period, nb, na int64, lossy *[]string) ([]secs, int64, int64, error) {
	ps := make([]secs, 0, len(periods))
	late := false
	for i := range periods {
		p := &periods[i]
		f, t := p.Start.Unix(), p.End.Unix()
		if p.Start.Nanosecond() != 0 {
			f++
		}
		f = max(f, nb)
		if na != 0 {
			t = min(t, na)
		}
		if t > math.MaxUint32 {
			t, late = math.MaxUint32, true
		}
		if f < t {
			ps = append(ps, secs{f, t})
		}
	}
	if late {
		*lossy = append(*lossy, "a dated period after 2106 narrowed to 2106-02-07")
	}
	if len(ps) == 0 {
		return nil, 0, 0, &CompactError{What: "no dated period within validity", Err: ErrNotCompact}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].f < ps[j].f })
	out := ps[:1]
	for _, p := range ps[1:] {
		if last := &out[len(out)-1]; p.f <= last.t {
			last.t = max(last.t, p.t)
		} else {
			out = append(out, p)
		}
	}
	return out, out[0].f, out[len(out)-1].t, nil
}

// setPeriods stores the spans, clipped again to the final [nb, na) (absolute
// blackouts may have narrowed it), in c. One secs is validity itself, so it
// is folded into NotBefore and NotAfter and carries no period. Beyond
// MaxCompactPeriods the earliest are kept, narrower.
func (c *Compact) setPeriods(ps []secs, nb, na int64, lossy *[]string) (int64, int64, error) {
	out := ps[:0]
	for _, p := range ps {
		p.f, p.t = max(p.f, nb), min(p.t, na)
		if p.f < p.t {
			out = append(out, p)
		}
	}
	switch {
	case len(out) == 0:
		return 0, 0, &CompactError{What: "never valid", Err: ErrNotCompact}
	case len(out) == 1:
		return out[0].f, out[0].t, nil
	case len(out) > MaxCompactPeriods:
		*lossy = append(*lossy, "more dated periods than fit: those from "+
			time.Unix(out[MaxCompactPeriods].f, 0).UTC().Format(time.RFC3339)+" on were dropped")
		out = out[:MaxCompactPeriods]
	}
	c.NumPeriods = uint8(len(out))
	for i, p := range out {
		c.Periods[i] = CompactPeriod{From: uint32(p.f), To: uint32(p.t)}
	}
	return out[0].f, out[len(out)-1].t, nil
}
