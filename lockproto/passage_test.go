package lockproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
	"pgregory.net/rapid"
)

// officeHours frees the doors on weekdays 08:00–18:00 local time.
func officeHours() policy.Compact {
	c := policy.Compact{NumWindows: 1}
	c.Windows[0] = policy.CompactWindow{Days: 0b0111110, From: 8 * 60, To: 18 * 60}
	return c
}

// setPassage delivers a passage message with the next sequence number.
func (w *world) setPassage(p Passage) error {
	w.t.Helper()
	w.seq++
	m, err := w.issuer.Passage(testLock, w.seq, p)
	w.must(err)
	return w.lock.HandleAdmin(m)
}

func TestPassageValidate(t *testing.T) {
	ok := officeHours()
	limited := ok
	limited.UseLimit = 1
	badWindow := ok
	badWindow.Windows[0].From = 1440
	empty := policy.Compact{NotBefore: 10, NotAfter: 10}
	dated := ok
	dated.NumPeriods, dated.Periods[0] = 1, policy.CompactPeriod{From: 100, To: 200}
	for _, c := range []struct {
		name string
		p    Passage
		want string // "" = valid
	}{
		{"clear", Passage{}, ""},
		{"one period", Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{ok}}, ""},
		{"four periods", Passage{Doors: 3, N: 4, Periods: [4]policy.Compact{ok, ok, ok, {}}}, ""},
		{"five periods", Passage{Doors: 1, N: 5}, "5 periods"},
		{"clear naming doors", Passage{Doors: 1}, "no period"},
		{"periods freeing no door", Passage{N: 1, Periods: [4]policy.Compact{ok}}, "free no door"},
		{"use limit", Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{limited}}, "use limit 1"},
		{"dated periods", Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{dated}}, "1 dated periods"},
		{"bad window", Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{badWindow}}, "period 0: "},
		{"empty validity", Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{empty}}, "is empty"},
		{"period past n", Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{ok, ok}}, "period 1 set past"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewIssuer(newWorld(t).signer).Passage(testLock, 1, c.p)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want ErrInvalid saying %q", err, c.want)
			}
		})
	}
}

// Passage and OpenFree in every state the lock can be in. t0 is a Monday,
// 10:00 UTC; the zone set by syncTime is UTC+offset.
func TestOpenFree(t *testing.T) {
	inside := Passage{Doors: 0b01, N: 1, Periods: [4]policy.Compact{officeHours()}}
	validity := Passage{Doors: 0b01, N: 1, Periods: [4]policy.Compact{{NotBefore: uint32(t0.Unix()), NotAfter: uint32(t0.Add(time.Hour).Unix())}}}
	for _, c := range []struct {
		name   string
		setup  func(w *world)
		door   uint8
		want   access.Reason
		record bool // a grant's audit record
	}{
		{"inside", func(w *world) { w.syncTime(0); w.must(w.setPassage(inside)) }, 0, access.Granted, true},
		{"outside", func(w *world) { w.syncTime(9 * 3600); w.must(w.setPassage(inside)) }, 0, access.NotInPassage, false}, // 19:00
		{"wrong door", func(w *world) { w.syncTime(0); w.must(w.setPassage(inside)) }, 1, access.NotInPassage, false},
		{"door past 7", func(w *world) { w.syncTime(0); w.must(w.setPassage(inside)) }, 8, access.Malformed, false},
		{"no schedule", func(w *world) { w.syncTime(0) }, 0, access.NotInPassage, false},
		{"cleared", func(w *world) { w.syncTime(0); w.must(w.setPassage(inside)); w.must(w.setPassage(Passage{})) }, 0, access.NotInPassage, false},
		{"clock unknown", func(w *world) { w.must(w.setPassage(inside)) }, 0, access.ClockUnknown, false},
		{"zone unknown", func(w *world) { w.resync(); w.must(w.setPassage(inside)) }, 0, access.ZoneUnknown, false},
		{"validity only, zone unknown", func(w *world) { w.resync(); w.must(w.setPassage(validity)) }, 0, access.Granted, true},
		{"validity over", func(w *world) { w.resync(); w.must(w.setPassage(validity)); w.advance(time.Hour) }, 0, access.NotInPassage, false},
		{"audit full", func(w *world) { // opens, tallied (checked in TestPassageOpensCannotFillTheAudit)
			w.syncTime(0)
			w.must(w.setPassage(inside))
			w.lock.st.AuditSeq, w.lock.st.AuditAcked = AuditRingSize+5, 5
		}, 0, access.Granted, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			c.setup(w)
			free, r := w.lock.Passage(c.door)
			if want := c.want == access.Granted; free != want {
				t.Errorf("Passage(%d) = %v, %v; want free %v", c.door, free, r, want)
			}
			seq, unrec := w.lock.st.AuditSeq, w.lock.st.Unrecorded.Count
			d := w.lock.OpenFree(c.door)
			if d.Reason != c.want || d.Granted != (c.want == access.Granted) {
				t.Fatalf("OpenFree(%d) = %+v, want %v", c.door, d, c.want)
			}
			switch {
			case c.record:
				e := w.lock.st.AuditRing[(d.AuditSeq-1)%AuditRingSize].Record
				if d.AuditSeq != seq+1 || e.Kind != AuditPassage || e.Door != c.door || !e.Granted || e.Value != 1 || e.Credential != (CredentialID{}) {
					t.Fatalf("record %d: %+v", d.AuditSeq, e)
				}
			case c.want == access.Granted: // tallied: no record of its own
				if d.AuditSeq != 0 || w.lock.st.AuditSeq != seq || w.lock.st.Passed.Count != 1 || w.lock.st.Passed.Door != c.door {
					t.Fatalf("tallied open: %+v, seq %d -> %d, tally %+v", d, seq, w.lock.st.AuditSeq, w.lock.st.Passed)
				}
			case c.want == access.Malformed:
				if w.lock.st.AuditSeq != seq || w.lock.st.Unrecorded.Count != unrec {
					t.Fatal("a firmware fault was recorded")
				}
			default: // refusals anyone can cause are tallied, never recorded one by one
				if d.AuditSeq != 0 || w.lock.st.AuditSeq != seq || w.lock.st.Unrecorded.Count != unrec+1 || w.lock.st.Unrecorded.Reason != c.want {
					t.Fatalf("refusal: seq %d -> %d, tally %+v", seq, w.lock.st.AuditSeq, w.lock.st.Unrecorded)
				}
			}
		})
	}
}

// An open in passage mode is on storage before the door opens: when the
// write fails, the open is refused and no record is left.
func TestOpenFreePersistsBeforeGranting(t *testing.T) {
	fail := false
	var saved State
	w := newWorldConfig(t, Config{Persist: func(st *State) error {
		if fail {
			return errors.New("flash full")
		}
		saved = *st
		return nil
	}})
	w.syncTime(0)
	w.must(w.setPassage(Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{officeHours()}}))
	seq := w.lock.st.AuditSeq
	fail = true
	if d := w.lock.OpenFree(0); d.Granted || d.Reason != access.StorageFailed {
		t.Fatalf("failed write: %+v", d)
	}
	if w.lock.st.AuditSeq != seq {
		t.Fatalf("record %d kept without a write", w.lock.st.AuditSeq)
	}
	fail = false
	d := w.lock.OpenFree(0)
	if !d.Granted || saved.AuditSeq != d.AuditSeq || saved.AuditRing[(d.AuditSeq-1)%AuditRingSize].Record.Kind != AuditPassage {
		t.Fatalf("after the write works: %+v, saved seq %d", d, saved.AuditSeq)
	}
}

// Anyone can turn a handle: opens in passage mode use only the places a
// refusal may, then are tallied, so a key still opens and an admin message
// still applies however often the door was opened, and the audit still
// accounts for every open.
func TestPassageOpensCannotFillTheAudit(t *testing.T) {
	var saved State
	w := newWorldConfig(t, Config{Persist: func(st *State) error { saved = *st; return nil }})
	w.syncTime(0)
	w.must(w.setPassage(Passage{Doors: 0b11, N: 1, Periods: [4]policy.Compact{officeHours()}}))
	h, _ := w.holder(baseCredential(w.key))
	const opens = 200
	for i := range opens {
		d := w.lock.OpenFree(uint8(i % 2))
		if !d.Granted {
			t.Fatalf("open %d: %v", i, d.Reason)
		}
		if saved.Passed != w.lock.st.Passed || saved.AuditSeq != w.lock.st.AuditSeq {
			t.Fatalf("open %d granted before its record or tally was persisted", i)
		}
	}
	if u := w.lock.unacked(); u != AuditRingSize-AuditReserve {
		t.Fatalf("%d records unacknowledged, want the refusal limit %d", u, AuditRingSize-AuditReserve)
	}
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("a key after %d passage opens: %v", opens, d.Reason)
	}
	w.seq++
	m, err := w.issuer.ResetSlot(testLock, w.seq, 3, 1)
	w.must(err)
	if err := w.lock.HandleAdmin(m); err != nil {
		t.Fatalf("a slot reset after %d passage opens: %v", opens, err)
	}
	recs, cur := drainAll(t, w, AuditCursor{})
	ack := NewAuditAck(w.pairing.AuditKey, testLock, cur)
	w.must(w.lock.HandleAuditAck(AppendAuditAck(nil, &ack)))
	more, _ := drainAll(t, w, cur) // the tally is written once there is room
	total, tallies := 0, 0
	for _, r := range append(recs, more...) {
		if r.Kind == AuditPassage {
			if !r.Granted || r.Value == 0 {
				t.Fatalf("passage record %+v", r)
			}
			total += int(r.Value)
			if r.Value > 1 {
				tallies++
				if r.Door != 1 || r.LockTime == 0 { // the last open's door and time
					t.Fatalf("tally record %+v", r)
				}
			}
		}
	}
	if total != opens || tallies != 1 {
		t.Fatalf("the audit accounts for %d opens in %d tally records, want %d in 1", total, tallies, opens)
	}
}

// A schedule replaces the lock's only if its sequence number is higher, so
// phones may deliver messages in any order.
func TestPassageLatestWins(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	on, err := w.issuer.Passage(testLock, 5, Passage{Doors: 1, N: 1, Periods: [4]policy.Compact{officeHours()}})
	w.must(err)
	off, err := w.issuer.Passage(testLock, 4, Passage{})
	w.must(err)
	w.must(w.lock.HandleAdmin(on))
	w.must(w.lock.HandleAdmin(off)) // applied (its number is spent), changes nothing
	if free, r := w.lock.Passage(0); !free {
		t.Fatalf("an older clear undid a newer schedule: %v", r)
	}
	if w.lock.st.PassageSeq != 5 {
		t.Fatalf("passage sequence %d", w.lock.st.PassageSeq)
	}
}

// passageFrames builds the passage frames pinned in golden-passage.txt.
func passageFrames(t testing.TB) []golden {
	w := newWorld(t)
	w.syncTime(3600)
	var out []golden
	p := Passage{Doors: 0b11, N: 2}
	p.Periods[0] = officeHours()
	p.Periods[1] = policy.Compact{NotBefore: uint32(t0.Unix()), NotAfter: uint32(t0.Add(24 * time.Hour).Unix())}
	m, err := w.issuer.Passage(testLock, 30, p)
	w.must(err)
	out = append(out, golden{"passage", m})
	w.must(w.lock.HandleAdmin(m))
	m, err = w.issuer.Passage(testLock, 31, Passage{})
	w.must(err)
	out = append(out, golden{"passage-clear", m})
	if d := w.lock.OpenFree(1); !d.Granted {
		t.Fatalf("golden open: %+v", d)
	}
	out = append(out, golden{"audit-batch-passage", bytes.Clone(w.lock.AuditFrom(w.lock.State().AuditSeq))})
	return out
}

func TestPassageGolden(t *testing.T) {
	got := passageFrames(t)
	path := filepath.Join("testdata", "golden-passage.txt")
	if *update {
		var b strings.Builder
		b.WriteString("# Passage-mode frames: name, size, hex. Keys as in golden.txt. Regenerate with go test -run TestPassageGolden -update.\n")
		for _, g := range got {
			fmt.Fprintf(&b, "%s %d %s\n", g.name, len(g.b), hex.EncodeToString(g.b))
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(got) {
		t.Fatalf("%d golden lines, %d frames", len(lines), len(got))
	}
	for i, g := range got {
		if want := fmt.Sprintf("%s %d %s", g.name, len(g.b), hex.EncodeToString(g.b)); lines[i] != want {
			t.Errorf("frame %s changed:\n got %s\nwant %s", g.name, want, lines[i])
		}
	}
	a, err := DecodeAdmin(got[0].b)
	if err != nil || a.Type != TypePassage || a.Passage.N != 2 || a.Passage.Doors != 0b11 || a.Passage.Periods[0] != officeHours() {
		t.Fatalf("decoded %+v, %v", a.Passage, err)
	}
	if len(got[0].b) != PassageSize(2, 1) {
		t.Errorf("passage frame of %d bytes, PassageSize says %d", len(got[0].b), PassageSize(2, 1))
	}
	b, err := DecodeAuditBatch(got[2].b)
	if err != nil || b.N != 1 || b.Records[0].Kind != AuditPassage || b.Records[0].Door != 1 {
		t.Fatalf("audit batch %+v, %v", b.All(), err)
	}
	// The largest schedule still rides in a download (one length byte).
	var full Passage
	full.Doors, full.N = 1, MaxPassagePeriods
	for i := range full.Periods {
		full.Periods[i] = policy.Compact{NumWindows: 4}
		for j := range full.Periods[i].Windows {
			full.Periods[i].Windows[j] = policy.CompactWindow{Days: 1 << j, From: 60, To: 120}
		}
	}
	m, err := NewIssuer(newWorld(t).signer).Passage(testLock, 1, full)
	if err != nil || len(m) != maxPassageSize || len(m) > MaxAdminSize {
		t.Fatalf("largest passage frame: %d bytes, %v; want %d, within MaxAdminSize %d", len(m), err, maxPassageSize, MaxAdminSize)
	}
}

// FuzzDecodePassage: any bytes decode or fail cleanly; whatever decodes
// re-encodes to the same bytes, and a lock given it does not panic.
func FuzzDecodePassage(f *testing.F) {
	for _, g := range passageFrames(f) {
		f.Add(g.b)
		f.Add(g.b[:len(g.b)/2])
	}
	w := newWorld(f)
	w.syncTime(0)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAdmin(b)
		if err != nil {
			return
		}
		re, err := AppendAdmin(nil, &a)
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x (%v), want %x", re, err, b)
		}
		_ = w.lock.HandleAdmin(b)
		w.lock.Passage(0)
		w.lock.OpenFree(0)
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
	})
}

// The lock agrees with the server: for random periods and instants,
// Lock.Passage is the OR over the periods of policy's Schedule.Allowed,
// given the lock the zone's offsets, whenever the compact forms are exact.
func TestPassageMatchesPolicy(t *testing.T) {
	const zone = "Europe/Berlin"
	loc, err := policy.LoadZone(zone)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rules, err := ZoneRulesFor(loc, from, from.AddDate(1, 6, 0))
	if err != nil {
		t.Fatal(err)
	}
	quarter := rapid.Custom(func(t *rapid.T) uint16 { return uint16(rapid.IntRange(0, 96).Draw(t, "q")) * 15 })
	rng := func(t *rapid.T, label string) (policy.Weekdays, uint16, uint16) {
		d := policy.Weekdays(rapid.IntRange(1, 127).Draw(t, label+".days"))
		f := min(quarter.Draw(t, label+".from"), 1425)
		to := quarter.Draw(t, label+".to")
		if to == f {
			to = (f + 60) % 1440
		}
		return d, f, to
	}
	rapid.Check(t, func(rt *rapid.T) {
		var scheds []*policy.Schedule
		var p Passage
		p.Doors = 1
		for i := range rapid.IntRange(1, MaxPassagePeriods).Draw(rt, "periods") {
			pol := policy.Policy{Zone: zone}
			if rapid.Bool().Draw(rt, "start") {
				pol.Start = from.Add(time.Duration(rapid.IntRange(0, 400*24).Draw(rt, "startH")) * time.Hour)
			}
			if rapid.Bool().Draw(rt, "end") {
				pol.End = from.Add(time.Duration(rapid.IntRange(1, 500*24).Draw(rt, "endH")) * time.Hour)
				if !pol.Start.IsZero() && !pol.End.After(pol.Start) {
					pol.End = pol.Start.Add(time.Hour)
				}
			}
			for j := range rapid.IntRange(0, 3).Draw(rt, "windows") {
				d, f, to := rng(rt, fmt.Sprintf("w%d.%d", i, j))
				pol.Windows = append(pol.Windows, policy.Window{Days: d, From: f, To: to})
			}
			if rapid.Bool().Draw(rt, "blackout") {
				d, f, to := rng(rt, fmt.Sprintf("b%d", i))
				pol.Blackouts = append(pol.Blackouts, policy.Blackout{Days: d, From: f, To: to})
			}
			s, err := policy.Compile(pol)
			if err != nil {
				rt.Fatalf("generated an invalid policy: %v", err)
			}
			c, err := s.Compact()
			if err != nil { // lossy or not expressible: the property is about exact forms
				continue
			}
			scheds = append(scheds, s)
			p.Periods[p.N] = c
			p.N++
		}
		if p.N == 0 {
			rt.Skip("no exact period")
		}
		w := newWorld(t) // no failure expected from setting up; clock never set
		w.must(w.setPassage(p))
		w.seq++
		m, err := w.issuer.TimeZone(testLock, w.seq, rules)
		w.must(err)
		w.must(w.lock.HandleAdmin(m))
		// Instants in increasing order: the lock's high-water mark of time
		// is then its clock, as in the field.
		ats := rapid.SliceOfN(rapid.Int64Range(from.Unix(), from.AddDate(1, 5, 0).Unix()), 1, 12).Draw(rt, "instants")
		slices.Sort(ats)
		for _, u := range ats {
			w.serverT = time.Unix(u, 0)
			w.resync()
			want := false
			for _, s := range scheds {
				want = want || s.Allowed(w.serverT, 0) == access.Granted
			}
			if free, r := w.lock.Passage(0); free != want {
				rt.Fatalf("at %v: lock says free %v (%v), the server's periods %v", w.serverT.In(loc), free, r, want)
			}
		}
	})
}
