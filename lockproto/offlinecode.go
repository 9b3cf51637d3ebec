package lockproto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/policy"
)

// Offline codes: digits a guest types at a lock that no phone visits
// before the guest arrives. A code names its validity, kind and sequence
// number, checked by a truncated MAC under the pairing's code key
// (Pairing.CodeKey) and then enciphered over all ten-digit numbers, so
// that a code reveals nothing of another and a mistyped or guessed one is
// a random number to the lock. PROTOCOL.md ("Offline codes") has the
// layout and the brute-force arithmetic.

// CodeEpoch is the instant offline-code times count from: Monday
// 2025-12-29 00:00 UTC (Unix seconds). Hours, days and weeks are UTC.
const CodeEpoch = 1766966400

// CodeDigits is the length of every offline code.
const CodeDigits = 10

// CodeSeqs is the number of sequence numbers (0..CodeSeqs-1): how many
// codes of a lock may be live at once. The issuer reuses a number only
// after every earlier code with it has ended (and its revocation with it).
const CodeSeqs = 32

// CodeKind is what a code lets its holder do. Stored in audit records:
// append only, never renumber or reuse.
type CodeKind uint8

const (
	CodeOneTime CodeKind = 1 // opens once within its validity; spent at first use
	CodePeriod  CodeKind = 2 // opens any number of times within its validity
	CodeWeekly  CodeKind = 3 // opens within its validity on its days, in its window (lock-local time)
	CodeErase   CodeKind = 4 // opens nothing: revokes the code with its sequence number
)

func (k CodeKind) String() string {
	switch k {
	case CodeOneTime:
		return "one-time"
	case CodePeriod:
		return "period"
	case CodeWeekly:
		return "weekly"
	case CodeErase:
		return "erase"
	}
	return fmt.Sprintf("code-kind(%d)", uint8(k))
}

// CodeUnit is the granularity of a code's Start and Length.
type CodeUnit uint8

const (
	CodeHour CodeUnit = 1 // one-time and period codes
	CodeDay  CodeUnit = 2 // one-time, period and erase codes
	CodeWeek CodeUnit = 3 // weekly codes
)

func (u CodeUnit) seconds() uint32 {
	switch u {
	case CodeHour:
		return 3600
	case CodeDay:
		return 86400
	case CodeWeek:
		return 7 * 86400
	}
	return 0
}

// CodeDays is the day set of a weekly code: a weekday (time.Weekday,
// 0 Sunday … 6 Saturday), or one of the three sets after them.
type CodeDays uint8

const (
	CodeWeekdays CodeDays = 7 // Monday to Friday
	CodeWeekend  CodeDays = 8 // Saturday and Sunday
	CodeEveryDay CodeDays = 9
	numCodeDays           = 10
)

const numCodeWindows = 8

// Has reports whether the set holds day d.
func (d CodeDays) Has(w time.Weekday) bool {
	switch {
	case d < 7:
		return time.Weekday(d) == w
	case d == CodeWeekdays:
		return w >= time.Monday && w <= time.Friday
	case d == CodeWeekend:
		return w == time.Saturday || w == time.Sunday
	}
	return d == CodeEveryDay
}

// Weekdays is the set in the policy model's form.
func (d CodeDays) Weekdays() policy.Weekdays {
	var w policy.Weekdays
	for i := time.Sunday; i <= time.Saturday; i++ {
		if d.Has(i) {
			w |= 1 << i
		}
	}
	return w
}

// CodeWindows are the daily windows of weekly codes, [From, To) in
// lock-local hours; CodeWindow indexes them.
var CodeWindows = [numCodeWindows]struct{ From, To uint8 }{
	{0, 24}, {6, 22}, {7, 19}, {8, 18}, {9, 17}, {8, 12}, {12, 18}, {18, 23},
}

// CodeWindow indexes CodeWindows.
type CodeWindow uint8

// Lengths a code may have, by kind and unit. Hour codes take one of
// codeHours; one-time day codes one of codeOneTimeDays; period and erase
// codes 1..31 days; weekly codes 1..8 weeks.
var (
	codeHours       = [8]uint16{1, 2, 3, 4, 6, 8, 12, 24}
	codeOneTimeDays = [8]uint16{1, 2, 3, 4, 5, 6, 7, 14}
)

const (
	maxCodeDays  = 31
	maxCodeWeeks = 8
	// Ranges of Start: about 15 years of hours, 22 of days, 19 of weeks.
	codeHourStarts = 1 << 17
	codeDayStarts  = 1 << 13
	codeWeekStarts = 1 << 10
)

// The index space. A code's fields are one index G (its kind's base plus
// its fields in mixed radix), F = Seq + CodeSeqs*G, and the plain number
// X = tag + codeTags*F < 10^10; X is enciphered to the digits.
const (
	gOneTimeHour = 0
	gOneTimeDay  = gOneTimeHour + codeHourStarts*8
	gPeriodHour  = gOneTimeDay + codeDayStarts*8
	gPeriodDay   = gPeriodHour + codeHourStarts*8
	gWeekly      = gPeriodDay + codeDayStarts*maxCodeDays
	gErase       = gWeekly + codeWeekStarts*maxCodeWeeks*numCodeDays*numCodeWindows
	gTotal       = gErase + codeDayStarts*maxCodeDays // 3,325,952
	codeSpace    = 10_000_000_000
	codeFields   = CodeSeqs * gTotal        // 106,430,464
	codeTags     = codeSpace / codeFields   // 93
	codeHalf     = 100_000                  // each Feistel half: five digits
	codeRounds   = 10                       // Feistel rounds
	codeMACLabel = "keyledger offline code" // key derivation labels' prefix
)

// Offline-code errors; use errors.Is. The lock refuses the first with
// access.CodeMalformed and the second with access.CodeInvalid.
var (
	ErrCodeFormat  = errors.New("lockproto: offline code is not ten digits")
	ErrCodeInvalid = errors.New("lockproto: not an offline code of this lock")
)

// OfflineCode is what a code says. Which fields count depends on Kind.
type OfflineCode struct {
	Kind CodeKind
	// Seq is the code's sequence number, 0..CodeSeqs-1: one-time codes are
	// spent, and any code is revoked, by it. An erase code names the code
	// it revokes by its Seq.
	Seq uint8
	// Unit is CodeHour or CodeDay for one-time and period codes, CodeDay
	// for erase codes, CodeWeek for weekly codes.
	Unit CodeUnit
	// Start counts Units since CodeEpoch; the code is valid from there for
	// Length Units: hours 1, 2, 3, 4, 6, 8, 12 or 24; one-time days 1–7
	// or 14; period and erase days 1–31; weeks 1–8. An erase code's
	// validity is when it may be typed; it revokes its sequence number
	// until its end, which the issuer makes no earlier than the revoked
	// code's end.
	Start  uint32
	Length uint16
	Days   CodeDays   // weekly
	Window CodeWindow // weekly: index into CodeWindows
}

// Validity returns the code's [from, to) in Unix seconds.
func (c *OfflineCode) Validity() (from, to uint32) {
	u := c.Unit.seconds()
	from = CodeEpoch + c.Start*u
	return from, from + uint32(c.Length)*u
}

// Policy is what the code allows in the policy model, for a lock in zone
// (an IANA name; weekly windows are its wall clock): its validity, one use
// for a one-time code, its window for a weekly code. The lock decides a
// code as this policy decides (an erase code opens nothing).
func (c *OfflineCode) Policy(zone string) policy.Policy {
	from, to := c.Validity()
	p := policy.Policy{Start: time.Unix(int64(from), 0).UTC(), End: time.Unix(int64(to), 0).UTC(), Zone: zone}
	switch c.Kind {
	case CodeOneTime:
		p.Uses = policy.SingleUse
	case CodeWeekly:
		w := CodeWindows[c.Window%numCodeWindows]
		p.Windows = []policy.Window{{Days: c.Days.Weekdays(), From: uint16(w.From) * 60, To: uint16(w.To) * 60}}
	}
	return p
}

// Check reports whether the format can carry c (ErrInvalid if not).
func (c *OfflineCode) Check() error {
	if _, ok := c.index(); !ok {
		return invalidf("offline code %+v: a field out of range", *c)
	}
	return nil
}

// index returns G, or false if a field is out of range.
func (c *OfflineCode) index() (uint32, bool) {
	if c.Seq >= CodeSeqs || c.Length == 0 {
		return 0, false
	}
	hours := lengthIndex(&codeHours, c.Length)
	switch {
	case c.Kind == CodeOneTime && c.Unit == CodeHour && c.Start < codeHourStarts && hours >= 0:
		return gOneTimeHour + c.Start*8 + uint32(hours), c.Days == 0 && c.Window == 0
	case c.Kind == CodeOneTime && c.Unit == CodeDay && c.Start < codeDayStarts:
		d := lengthIndex(&codeOneTimeDays, c.Length)
		return gOneTimeDay + c.Start*8 + uint32(d), d >= 0 && c.Days == 0 && c.Window == 0
	case c.Kind == CodePeriod && c.Unit == CodeHour && c.Start < codeHourStarts && hours >= 0:
		return gPeriodHour + c.Start*8 + uint32(hours), c.Days == 0 && c.Window == 0
	case c.Kind == CodePeriod && c.Unit == CodeDay && c.Start < codeDayStarts && c.Length <= maxCodeDays:
		return gPeriodDay + c.Start*maxCodeDays + uint32(c.Length-1), c.Days == 0 && c.Window == 0
	case c.Kind == CodeWeekly && c.Unit == CodeWeek && c.Start < codeWeekStarts && c.Length <= maxCodeWeeks &&
		c.Days < numCodeDays && c.Window < numCodeWindows:
		g := (c.Start*maxCodeWeeks+uint32(c.Length-1))*numCodeDays + uint32(c.Days)
		return gWeekly + g*numCodeWindows + uint32(c.Window), true
	case c.Kind == CodeErase && c.Unit == CodeDay && c.Start < codeDayStarts && c.Length <= maxCodeDays:
		return gErase + c.Start*maxCodeDays + uint32(c.Length-1), c.Days == 0 && c.Window == 0
	}
	return 0, false
}

func lengthIndex(t *[8]uint16, n uint16) int {
	for i, v := range t {
		if v == n {
			return i
		}
	}
	return -1
}

// fromIndex is the inverse of index for g < gTotal.
func fromIndex(g uint32, seq uint8) OfflineCode {
	c := OfflineCode{Seq: seq}
	switch {
	case g < gOneTimeDay:
		g -= gOneTimeHour
		c.Kind, c.Unit, c.Start, c.Length = CodeOneTime, CodeHour, g/8, codeHours[g%8]
	case g < gPeriodHour:
		g -= gOneTimeDay
		c.Kind, c.Unit, c.Start, c.Length = CodeOneTime, CodeDay, g/8, codeOneTimeDays[g%8]
	case g < gPeriodDay:
		g -= gPeriodHour
		c.Kind, c.Unit, c.Start, c.Length = CodePeriod, CodeHour, g/8, codeHours[g%8]
	case g < gWeekly:
		g -= gPeriodDay
		c.Kind, c.Unit, c.Start, c.Length = CodePeriod, CodeDay, g/maxCodeDays, uint16(g%maxCodeDays+1)
	case g < gErase:
		g -= gWeekly
		c.Window = CodeWindow(g % numCodeWindows)
		g /= numCodeWindows
		c.Days = CodeDays(g % numCodeDays)
		g /= numCodeDays
		c.Kind, c.Unit, c.Start, c.Length = CodeWeekly, CodeWeek, g/maxCodeWeeks, uint16(g%maxCodeWeeks+1)
	default:
		g -= gErase
		c.Kind, c.Unit, c.Start, c.Length = CodeErase, CodeDay, g/maxCodeDays, uint16(g%maxCodeDays+1)
	}
	return c
}

// CodeCipher encodes and decodes one lock's offline codes. It keeps
// scratch blocks, so it is not safe for concurrent use; it allocates only
// in NewCodeCipher.
type CodeCipher struct {
	mac, fpe cipher.Block
	k1       [16]byte // the CMAC subkey for a one-block message
	in, out  [16]byte
}

// NewCodeCipher derives a lock's code keys from its pairing's CodeKey.
func NewCodeCipher(codeKey *[32]byte) (*CodeCipher, error) {
	if *codeKey == ([32]byte{}) {
		return nil, invalidf("no code key (a pairing made before offline codes)")
	}
	c := &CodeCipher{}
	var err error
	if c.mac, err = aes.NewCipher(deriveCodeKey(codeKey, " mac")); err != nil {
		return nil, err
	}
	if c.fpe, err = aes.NewCipher(deriveCodeKey(codeKey, " permutation")); err != nil {
		return nil, err
	}
	// CMAC (RFC 4493) subkey K1: L = AES(0), K1 = L<<1, xor 0x87 if L's top bit was set.
	var l [16]byte
	c.mac.Encrypt(l[:], l[:])
	hi := binary.BigEndian.Uint64(l[:8])
	lo := binary.BigEndian.Uint64(l[8:])
	binary.BigEndian.PutUint64(c.k1[:8], hi<<1|lo>>63)
	binary.BigEndian.PutUint64(c.k1[8:], lo<<1^(hi>>63)*0x87)
	return c, nil
}

func deriveCodeKey(key *[32]byte, label string) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(codeMACLabel + label))
	return m.Sum(nil)[:16]
}

// tag is AES-CMAC(mac key, 0x4b || F as 8 bytes || 0…) mod codeTags: a
// MAC truncated to the room the code leaves.
func (c *CodeCipher) tag(f uint64) uint64 {
	c.in = [16]byte{0: 0x4b}
	binary.LittleEndian.PutUint64(c.in[1:9], f)
	for i := range c.in {
		c.in[i] ^= c.k1[i]
	}
	c.mac.Encrypt(c.out[:], c.in[:])
	return binary.LittleEndian.Uint64(c.out[:8]) % codeTags
}

// round is the Feistel round function: AES(permutation key, 0x50 || i || v) mod 10^5.
func (c *CodeCipher) round(i int, v uint64) uint64 {
	c.in = [16]byte{0: 0x50, 1: byte(i)}
	binary.LittleEndian.PutUint64(c.in[2:10], v)
	c.fpe.Encrypt(c.out[:], c.in[:])
	return binary.LittleEndian.Uint64(c.out[:8]) % codeHalf
}

// Encode returns the digits of code.
func (c *CodeCipher) Encode(code OfflineCode) ([CodeDigits]byte, error) {
	var d [CodeDigits]byte
	g, ok := code.index()
	if !ok {
		return d, invalidf("offline code %+v: a field out of range", code)
	}
	f := uint64(code.Seq) + CodeSeqs*uint64(g)
	x := c.tag(f) + codeTags*f
	l, r := x/codeHalf, x%codeHalf
	for i := 0; i < codeRounds; i++ {
		l, r = r, (l+c.round(i, r))%codeHalf
	}
	x = l*codeHalf + r
	for i := CodeDigits - 1; i >= 0; i-- {
		d[i] = byte('0' + x%10)
		x /= 10
	}
	return d, nil
}

// Decode reads typed digits: ErrCodeFormat if they are not CodeDigits
// digits, ErrCodeInvalid if they are no code of this cipher's lock. It
// allocates nothing.
func (c *CodeCipher) Decode(digits []byte) (OfflineCode, error) {
	if len(digits) != CodeDigits {
		return OfflineCode{}, ErrCodeFormat
	}
	var x uint64
	for _, b := range digits {
		if b < '0' || b > '9' {
			return OfflineCode{}, ErrCodeFormat
		}
		x = x*10 + uint64(b-'0')
	}
	l, r := x/codeHalf, x%codeHalf
	for i := codeRounds - 1; i >= 0; i-- {
		l, r = (r+codeHalf-c.round(i, l))%codeHalf, l
	}
	x = l*codeHalf + r
	f := x / codeTags
	if f >= codeFields || c.tag(f) != x%codeTags {
		return OfflineCode{}, ErrCodeInvalid
	}
	return fromIndex(uint32(f/CodeSeqs), uint8(f%CodeSeqs)), nil
}
