package lockproto

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

// hourOf is t's hour counted from CodeEpoch.
func hourOf(t time.Time) uint32 { return uint32((t.Unix() - CodeEpoch) / 3600) }

// dayOf is t's UTC day counted from CodeEpoch.
func dayOf(t time.Time) uint32 { return uint32((t.Unix() - CodeEpoch) / 86400) }

func (w *world) codeCipher() *CodeCipher {
	w.t.Helper()
	c, err := NewCodeCipher(&w.pairing.CodeKey)
	w.must(err)
	return c
}

// code returns the digits of c for the world's lock.
func (w *world) code(c OfflineCode) []byte {
	w.t.Helper()
	d, err := w.codeCipher().Encode(c)
	w.must(err)
	return d[:]
}

func drawCode(t *rapid.T) OfflineCode {
	c := OfflineCode{Seq: uint8(rapid.IntRange(0, CodeSeqs-1).Draw(t, "seq"))}
	switch rapid.IntRange(0, 5).Draw(t, "shape") {
	case 0:
		c.Kind, c.Unit, c.Start = CodeOneTime, CodeHour, rapid.Uint32Range(0, codeHourStarts-1).Draw(t, "start")
		c.Length = rapid.SampledFrom(codeHours[:]).Draw(t, "length")
	case 1:
		c.Kind, c.Unit, c.Start = CodeOneTime, CodeDay, rapid.Uint32Range(0, codeDayStarts-1).Draw(t, "start")
		c.Length = rapid.SampledFrom(codeOneTimeDays[:]).Draw(t, "length")
	case 2:
		c.Kind, c.Unit, c.Start = CodePeriod, CodeHour, rapid.Uint32Range(0, codeHourStarts-1).Draw(t, "start")
		c.Length = rapid.SampledFrom(codeHours[:]).Draw(t, "length")
	case 3:
		c.Kind, c.Unit, c.Start = CodePeriod, CodeDay, rapid.Uint32Range(0, codeDayStarts-1).Draw(t, "start")
		c.Length = uint16(rapid.IntRange(1, maxCodeDays).Draw(t, "length"))
	case 4:
		c.Kind, c.Unit, c.Start = CodeWeekly, CodeWeek, rapid.Uint32Range(0, codeWeekStarts-1).Draw(t, "start")
		c.Length = uint16(rapid.IntRange(1, maxCodeWeeks).Draw(t, "length"))
		c.Days = CodeDays(rapid.IntRange(0, numCodeDays-1).Draw(t, "days"))
		c.Window = CodeWindow(rapid.IntRange(0, numCodeWindows-1).Draw(t, "window"))
	default:
		c.Kind, c.Unit, c.Start = CodeErase, CodeDay, rapid.Uint32Range(0, codeDayStarts-1).Draw(t, "start")
		c.Length = uint16(rapid.IntRange(1, maxCodeDays).Draw(t, "length"))
	}
	return c
}

// Every code the issuer can express decodes to itself, and its digits are
// ten decimal digits.
func TestOfflineCodeRoundTrip(t *testing.T) {
	var key [32]byte
	key[0] = 7
	cc, err := NewCodeCipher(&key)
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(t *rapid.T) {
		c := drawCode(t)
		d, err := cc.Encode(c)
		if err != nil {
			t.Fatalf("encode %+v: %v", c, err)
		}
		if !codeShaped(d[:]) {
			t.Fatalf("digits %q", d)
		}
		got, err := cc.Decode(d[:])
		if err != nil || got != c {
			t.Fatalf("decode %q = %+v, %v; want %+v", d, got, err, c)
		}
	})
}

// The issuer refuses fields the format cannot carry rather than issuing
// another code.
func TestOfflineCodeEncodeRefusesOutOfRange(t *testing.T) {
	var key [32]byte
	key[0] = 7
	cc, _ := NewCodeCipher(&key)
	for _, c := range []OfflineCode{
		{},
		{Kind: CodeOneTime, Unit: CodeHour, Length: 5},
		{Kind: CodeOneTime, Unit: CodeHour, Length: 1, Seq: CodeSeqs},
		{Kind: CodeOneTime, Unit: CodeHour, Length: 1, Start: codeHourStarts},
		{Kind: CodePeriod, Unit: CodeDay, Length: maxCodeDays + 1},
		{Kind: CodePeriod, Unit: CodeWeek, Length: 1},
		{Kind: CodeWeekly, Unit: CodeWeek, Length: 1, Days: numCodeDays},
		{Kind: CodeWeekly, Unit: CodeWeek, Length: 1, Window: numCodeWindows},
		{Kind: CodeWeekly, Unit: CodeWeek, Length: maxCodeWeeks + 1},
		{Kind: CodePeriod, Unit: CodeHour, Length: 1, Days: 1},
		{Kind: CodeErase, Unit: CodeHour, Length: 1},
		{Kind: 9, Unit: CodeDay, Length: 1},
	} {
		if _, err := cc.Encode(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%+v) = %v, want ErrInvalid", c, err)
		}
	}
	if _, err := NewCodeCipher(&[32]byte{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewCodeCipher(zero key) = %v", err)
	}
}

// codeWorld is a lock that knows the time and its zone (UTC+1), at t0
// (Monday 10:00 UTC).
func codeWorld(t *testing.T) *world {
	w := newWorld(t)
	w.syncTime(3600)
	return w
}

// Every refusal has its reason and counts as a wrong code.
func TestEnterOfflineCodeRefusals(t *testing.T) {
	now := hourOf(t0)
	period := OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now - 1, Length: 4, Seq: 3}
	flip := func(d []byte, i int) []byte {
		b := append([]byte(nil), d...)
		b[i] = '0' + (b[i]-'0'+1)%10
		return b
	}
	for _, tc := range []struct {
		name  string
		typed func(w *world) []byte
		want  access.Reason
	}{
		{"nine digits", func(w *world) []byte { return w.code(period)[:9] }, access.CodeMalformed},
		{"eleven digits", func(w *world) []byte { return append(w.code(period), '1') }, access.CodeMalformed},
		{"first digit flipped", func(w *world) []byte { return flip(w.code(period), 0) }, access.CodeInvalid},
		{"last digit flipped", func(w *world) []byte { return flip(w.code(period), 9) }, access.CodeInvalid},
		{"two digits swapped", func(w *world) []byte {
			b := w.code(period)
			for i := 0; i+1 < len(b); i++ {
				if b[i] != b[i+1] {
					b[i], b[i+1] = b[i+1], b[i]
					break
				}
			}
			return b
		}, access.CodeInvalid},
		{"another lock's code", func(w *world) []byte {
			other, err := NewPairing(otherLock, w.signer.PublicKey(), newDetRand(9))
			w.must(err)
			cc, err := NewCodeCipher(&other.CodeKey)
			w.must(err)
			d, err := cc.Encode(period)
			w.must(err)
			return d[:]
		}, access.CodeInvalid},
		{"expired", func(w *world) []byte {
			return w.code(OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now - 3, Length: 3, Seq: 1})
		}, access.Expired},
		{"not yet valid", func(w *world) []byte {
			return w.code(OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now + 1, Length: 3, Seq: 1})
		}, access.NotYetValid},
		{"one-time, used before", func(w *world) []byte {
			c := w.code(OfflineCode{Kind: CodeOneTime, Unit: CodeHour, Start: now, Length: 2, Seq: 4})
			if d := w.lock.EnterCode(0, c); !d.Granted {
				w.t.Fatalf("first use refused: %v", d.Reason)
			}
			return c
		}, access.CodeUsed},
		{"revoked by an erase code", func(w *world) []byte {
			erase := w.code(OfflineCode{Kind: CodeErase, Unit: CodeDay, Start: dayOf(t0), Length: 1, Seq: 3})
			if d := w.lock.EnterCode(0, erase); d.Reason != access.Granted || d.Granted {
				w.t.Fatalf("erase code: %+v", d)
			}
			return w.code(period)
		}, access.CodeRevoked},
		{"revoked by an admin message", func(w *world) []byte {
			_, end := period.Validity()
			w.seq++
			m, err := w.issuer.RevokeCode(testLock, w.seq, period.Seq, end)
			w.must(err)
			w.must(w.lock.HandleAdmin(m))
			return w.code(period)
		}, access.CodeRevoked},
		{"weekly, outside its window", func(w *world) []byte {
			// 11:00 local on a Monday; the window is 12–18.
			return w.code(OfflineCode{Kind: CodeWeekly, Unit: CodeWeek, Start: dayOf(t0) / 7, Length: 1, Days: CodeWeekdays, Window: 6})
		}, access.OutsideWindow},
		{"weekly, another day", func(w *world) []byte {
			return w.code(OfflineCode{Kind: CodeWeekly, Unit: CodeWeek, Start: dayOf(t0) / 7, Length: 1, Days: CodeWeekend})
		}, access.OutsideWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := codeWorld(t)
			d := w.lock.EnterCode(0, tc.typed(w))
			if d.Granted || d.Reason != tc.want || d.Failures != 1 {
				t.Fatalf("got %+v (%v), want refused with %v", d, d.Reason, tc.want)
			}
		})
	}
}

// Offline codes share the keypad's wrong-code count and lockout: five bad
// codes of any kind lock the keypad out, and then even a right code is
// refused unread; a grant clears the count.
func TestOfflineCodesCountTowardTheKeypadLockout(t *testing.T) {
	w := codeWorld(t)
	now := hourOf(t0)
	good := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now, Length: 2, Seq: 1})
	expired := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now - 2, Length: 1, Seq: 2})
	bad := append([]byte(nil), good...)
	bad[0] = '0' + (bad[0]-'0'+5)%10
	for i, typed := range [][]byte{bad, []byte("1234567"), expired} {
		if d := w.lock.EnterCode(0, typed); d.Granted || d.Failures != uint32(i+1) {
			t.Fatalf("wrong code %d: %+v", i+1, d)
		}
	}
	if d := w.lock.EnterCode(0, good); !d.Granted || d.Failures != 0 || w.lock.State().Keypad.Failures != 0 {
		t.Fatalf("a right code after three wrong ones: %+v", d)
	}
	for i := 0; i < 5; i++ {
		w.lock.EnterCode(0, bad)
	}
	if d := w.lock.EnterCode(0, good); d.Reason != access.LockedOut || !d.LockedOut {
		t.Fatalf("a right code during the lockout: %+v", d)
	}
	w.advance(16 * time.Minute)
	if d := w.lock.EnterCode(0, good); !d.Granted {
		t.Fatalf("after the lockout: %+v", d)
	}
}

// Without a time sync (a fresh or restarted lock) or, for weekly codes,
// its zone, the lock does not know whether a code is valid: it refuses.
func TestEnterOfflineCodeFailsClosedWithoutClockOrZone(t *testing.T) {
	w := newWorld(t)
	c := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: dayOf(t0), Length: 1})
	if d := w.lock.EnterCode(0, c); d.Reason != access.ClockUnknown || d.Failures != 1 {
		t.Fatalf("no clock: %+v", d)
	}
	w.resync() // clock, no zone
	weekly := w.code(OfflineCode{Kind: CodeWeekly, Unit: CodeWeek, Start: dayOf(t0) / 7, Length: 1, Days: CodeEveryDay})
	if d := w.lock.EnterCode(0, weekly); d.Reason != access.ZoneUnknown {
		t.Fatalf("no zone: %+v", d)
	}
	if d := w.lock.EnterCode(0, c); !d.Granted {
		t.Fatalf("period code with the clock known: %+v", d)
	}
}

// A lock paired before offline codes has no code key: it refuses every
// code as not its own.
func TestEnterOfflineCodeWithoutCodeKey(t *testing.T) {
	w := codeWorld(t)
	c := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: dayOf(t0), Length: 1})
	st := w.lock.State()
	st.Pairing.CodeKey = [32]byte{}
	l, err := RestoreLock(st, &Config{Clock: w.clock.now})
	w.must(err)
	if d := l.EnterCode(0, c); d.Reason != access.CodeInvalid {
		t.Fatalf("got %+v", d)
	}
	if d := l.EnterCode(0, []byte("123456789")); d.Reason != access.CodeMalformed {
		t.Fatalf("got %+v", d)
	}
}

// A period code opens as often as typed within its validity; a one-time
// code once; a weekly code in its window; each grant is an audit record
// naming the code's kind and sequence number, which the backend verifies.
func TestEnterOfflineCodeGrantsAndAudits(t *testing.T) {
	w := codeWorld(t)
	now := hourOf(t0)
	period := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now, Length: 1, Seq: 5})
	for i := 0; i < 3; i++ {
		if d := w.lock.EnterCode(0, period); !d.Granted || d.Kind != CodePeriod || d.Seq != 5 || d.AuditSeq == 0 {
			t.Fatalf("period code, use %d: %+v", i, d)
		}
	}
	weekly := w.code(OfflineCode{Kind: CodeWeekly, Unit: CodeWeek, Start: dayOf(t0) / 7, Length: 1, Days: time0Weekday(), Window: 5, Seq: 6})
	if d := w.lock.EnterCode(0, weekly); !d.Granted {
		t.Fatalf("weekly code at 11:00 local in 08–12: %+v", d)
	}
	w.advance(time.Hour) // 12:00 local
	if d := w.lock.EnterCode(0, weekly); d.Reason != access.OutsideWindow {
		t.Fatalf("weekly code at 12:00 local: %+v", d)
	}
	var seen []string
	for b := w.lock.DrainAudit(); b != nil; b = w.lock.DrainAudit() {
		recs, cur, err := VerifyAudit(w.pairing.AuditKey, testLock, w.cursor, b)
		w.must(err)
		w.cursor = cur
		for _, r := range recs {
			if r.Kind == AuditCode {
				seen = append(seen, fmt.Sprintf("%v/%d/%s", CodeKind(r.Slot), r.Value, r.Reason.Name()))
			}
		}
	}
	want := "[period/5/ period/5/ period/5/ weekly/6/ weekly/6/outside_window]"
	if got := fmt.Sprint(seen); got != want {
		t.Fatalf("audit: %s, want %s", got, want)
	}
}

func time0Weekday() CodeDays { return CodeDays(t0.Weekday()) }

// Use and revocation commute: whichever the lock learns first, the code is
// refused afterwards, and the revocation of an earlier code with the same
// number does not refuse a later code.
func TestCodeRevocationOrderAndReuse(t *testing.T) {
	w := codeWorld(t)
	now := hourOf(t0)
	old := OfflineCode{Kind: CodeOneTime, Unit: CodeHour, Start: now - 1, Length: 2, Seq: 9}
	_, oldEnd := old.Validity()
	w.seq++
	m, err := w.issuer.RevokeCode(testLock, w.seq, 9, oldEnd)
	w.must(err)
	if d := w.lock.EnterCode(0, w.code(old)); !d.Granted {
		t.Fatalf("before the revocation: %+v", d)
	}
	w.must(w.lock.HandleAdmin(m))
	if d := w.lock.EnterCode(0, w.code(old)); d.Reason != access.CodeRevoked {
		t.Fatalf("after use and revocation: %+v", d)
	}
	w.advance(time.Hour)
	next := OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now + 1, Length: 1, Seq: 9}
	if d := w.lock.EnterCode(0, w.code(next)); !d.Granted {
		t.Fatalf("the next code with the same number: %+v", d)
	}
}

// A one-time code is spent on storage before the door opens: when the
// write fails, the code is refused and still unspent.
func TestEnterOfflineCodePersistsBeforeGranting(t *testing.T) {
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
	c := w.code(OfflineCode{Kind: CodeOneTime, Unit: CodeHour, Start: hourOf(t0), Length: 1, Seq: 2})
	fail = true
	if d := w.lock.EnterCode(0, c); d.Granted || d.Reason != access.StorageFailed {
		t.Fatalf("failed write: %+v", d)
	}
	if w.lock.State().Codes[2] != (CodeSeqState{}) {
		t.Fatalf("spent without a write: %+v", w.lock.State().Codes[2])
	}
	fail = false
	if d := w.lock.EnterCode(0, c); !d.Granted {
		t.Fatalf("after the write works: %+v", d)
	}
	if saved.Codes[2].Until == 0 {
		t.Fatal("the spent code was not persisted")
	}
	l, err := RestoreLock(saved, &Config{Clock: w.clock.now})
	w.must(err)
	l.st.Clock, l.st.Zone = w.lock.st.Clock, w.lock.st.Zone
	l.st.Clock.Boot = l.st.Boot
	if d := l.EnterCode(0, c); d.Reason != access.CodeUsed {
		t.Fatalf("after a restart: %+v", d)
	}
}

// Validation at the lock allocates nothing, granted or refused.
func TestEnterOfflineCodeAllocatesNothing(t *testing.T) {
	w := codeWorld(t)
	w.lock.st.AuditAcked = 1 << 31 // keep the ring from filling during the runs
	now := hourOf(t0)
	period := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeHour, Start: now, Length: 1, Seq: 5})
	wrong := append([]byte(nil), period...)
	wrong[3] ^= 1
	cc := w.codeCipher()
	for name, f := range map[string]func(){
		"EnterCode(grant)":   func() { w.lock.EnterCode(0, period) },
		"EnterCode(invalid)": func() { w.lock.st.Keypad = KeypadState{}; w.lock.EnterCode(0, wrong) },
		"Decode":             func() { _, _ = cc.Decode(period) },
	} {
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}

func BenchmarkEnterOfflineCode(b *testing.B) {
	w := newWorld(b)
	w.syncTime(0)
	c := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: dayOf(t0), Length: 30, Seq: 1})
	b.ReportAllocs()
	for b.Loop() {
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		if d := w.lock.EnterCode(0, c); !d.Granted {
			b.Fatal(d.Reason)
		}
	}
}

func BenchmarkCodeDecode(b *testing.B) {
	w := newWorld(b)
	cc := w.codeCipher()
	d, _ := cc.Encode(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: dayOf(t0), Length: 30, Seq: 1})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cc.Decode(d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// The decoder takes any bytes without panicking; whatever it accepts
// encodes back to the same digits.
func FuzzDecodeOfflineCode(f *testing.F) {
	var key [32]byte
	key[0] = 7
	cc, err := NewCodeCipher(&key)
	if err != nil {
		f.Fatal(err)
	}
	d, _ := cc.Encode(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: 100, Length: 3, Seq: 1})
	f.Add(d[:])
	f.Add([]byte("0000000000"))
	f.Add([]byte("9999999999"))
	f.Add([]byte("12345"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := cc.Decode(exact(b))
		if err != nil {
			if !errors.Is(err, ErrCodeFormat) && !errors.Is(err, ErrCodeInvalid) {
				t.Fatalf("error %v", err)
			}
			return
		}
		back, err := cc.Encode(c)
		if err != nil || string(back[:]) != string(b) {
			t.Fatalf("%q decodes to %+v, which encodes to %q, %v", b, c, back, err)
		}
	})
}

// The revoke-code admin message decodes to what was signed; the issuer
// refuses a sequence number the format has no room for, or no end.
func TestRevokeCodeFrame(t *testing.T) {
	w := newWorld(t)
	m, err := w.issuer.RevokeCode(testLock, 7, 31, 1_800_000_000)
	w.must(err)
	a, err := VerifyAdmin(m, w.signer.PublicKey())
	if err != nil || a.Type != TypeRevokeCode || a.Seq != 7 || a.CodeSeq != 31 || a.NotAfter != 1_800_000_000 {
		t.Fatalf("got %+v, %v", a, err)
	}
	if len(m) != adminFixedSize+5 {
		t.Fatalf("%d bytes, want %d", len(m), adminFixedSize+5)
	}
	for _, bad := range []Admin{
		{Type: TypeRevokeCode, Lock: testLock, Seq: 1, CodeSeq: CodeSeqs, NotAfter: 1},
		{Type: TypeRevokeCode, Lock: testLock, Seq: 1, CodeSeq: 1},
		{Type: TypeRevokeCode, Lock: testLock, CodeSeq: 1, NotAfter: 1},
	} {
		if _, err := w.issuer.Admin(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Admin(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// The brute-force bound in PROTOCOL.md: at any instant of a week, in a
// zone an hour east of UTC, at most 1,306 field combinations per sequence
// number open — 41,792 of the 10^10 numbers with 32 sequence numbers —
// and some hour reaches it.
func TestOfflineCodesOpenAtOnce(t *testing.T) {
	const offset = 3600
	worst := 0
	for h := uint32(0); h < 7*24; h++ {
		at := uint32(CodeEpoch) + 52*7*86400 + h*3600 + 1800
		n := 0
		count := func(c OfflineCode) {
			from, to := c.Validity()
			if from <= at && at < to && c.InWindow(at, offset) {
				n++
			}
		}
		hour, day, week := (at-CodeEpoch)/3600, (at-CodeEpoch)/86400, (at-CodeEpoch)/(7*86400)
		for _, kind := range []CodeKind{CodeOneTime, CodePeriod} {
			for s := hour - 24; s <= hour; s++ {
				for _, l := range codeHours {
					count(OfflineCode{Kind: kind, Unit: CodeHour, Start: s, Length: l})
				}
			}
		}
		for s := day - 31; s <= day; s++ {
			for _, l := range codeOneTimeDays {
				count(OfflineCode{Kind: CodeOneTime, Unit: CodeDay, Start: s, Length: l})
			}
			for l := uint16(1); l <= maxCodeDays; l++ {
				count(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: s, Length: l})
			}
		}
		for s := week - maxCodeWeeks; s <= week; s++ {
			for l := uint16(1); l <= maxCodeWeeks; l++ {
				for ds := CodeDays(0); ds < numCodeDays; ds++ {
					for w := CodeWindow(0); w < numCodeWindows; w++ {
						count(OfflineCode{Kind: CodeWeekly, Unit: CodeWeek, Start: s, Length: l, Days: ds, Window: w})
					}
				}
			}
		}
		worst = max(worst, n)
	}
	if worst*CodeSeqs != 41_792 {
		t.Fatalf("at worst %d combinations per sequence number open at once (%d numbers), PROTOCOL.md says 1,306 (41,792)", worst, worst*CodeSeqs)
	}
}

// Whatever the keypad sends, the lock does not panic, and it opens only
// for digits that decode to a code of this lock.
func FuzzLockEnterOfflineCode(f *testing.F) {
	w := newWorld(f)
	w.syncTime(3600)
	good := w.code(OfflineCode{Kind: CodePeriod, Unit: CodeDay, Start: dayOf(t0), Length: 2, Seq: 4})
	f.Add(good)
	f.Add([]byte("0000000000"))
	f.Add([]byte("123456789"))
	f.Add([]byte("12345678901"))
	cc := w.codeCipher()
	f.Fuzz(func(t *testing.T, b []byte) {
		w.lock.st.Keypad = KeypadState{}
		w.lock.st.AuditAcked = w.lock.st.AuditSeq
		d := w.lock.EnterCode(0, exact(b))
		if d.Granted && len(b) == CodeDigits {
			if _, err := cc.Decode(b); err != nil {
				t.Fatalf("%q opened: %v", b, err)
			}
		}
	})
}
