package ledger

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/vmihailenco/msgpack/v5"
)

// textWord is stored by name, as access.Reason is.
type textWord uint8

func (w textWord) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("w%d", w)), nil }

func (w *textWord) UnmarshalText(b []byte) error {
	var n uint8
	if _, err := fmt.Sscanf(string(b), "w%d", &n); err != nil {
		return fmt.Errorf("textWord %q: %w", b, err)
	}
	*w = textWord(n)
	return nil
}

// selfDecoding decodes itself: a struct holding one is planned, the field
// itself is left to msgpack.
type selfDecoding struct{ N int }

func (s *selfDecoding) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeInt()
	s.N = n * 10
	return err
}

func (s selfDecoding) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeInt(int64(s.N / 10)) }

// twoValues decodes itself from two msgpack values, as msgpack's own
// example of a custom decoder does.
type twoValues struct {
	S string
	N int
}

func (v twoValues) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeMulti(v.S, v.N) }

func (v *twoValues) DecodeMsgpack(d *msgpack.Decoder) error { return d.DecodeMulti(&v.S, &v.N) }

// panicText panics in UnmarshalText on "boom".
type panicText string

func (p *panicText) UnmarshalText(b []byte) error {
	if string(b) == "boom" {
		panic("panicText: boom")
	}
	*p = panicText(b)
	return nil
}

// shapeEvery has a field of every kind the plan reads itself and some it
// leaves to msgpack.
type shapeEvery struct {
	S       string
	B       bool
	I8      int8
	I       int
	U16     uint16
	U       uint64
	F32     float32
	F64     float64
	Bytes   []byte
	Tag     [3]byte
	Word    textWord
	At      time.Time
	Tags    []string
	Inner   shapeTwo
	Named   shapeCounter
	Self    selfDecoding
	Two     twoValues
	Panics  panicText
	Renamed string `msgpack:"r,omitempty"`
	Dropped string `msgpack:"-"`
	hidden  string
}

// shapeEmbeds has no plan (an embedded struct): msgpack decodes it alone.
type shapeEmbeds struct {
	shapeTwo
	C int
}

// shapeAlias has no plan (a tag option the plan does not follow).
type shapeAlias struct {
	A string `msgpack:"a,alias:b"`
}

func TestStructPlans(t *testing.T) {
	for _, c := range []struct {
		v       any
		planned bool
	}{
		{testNote{}, true},
		{shapeEvery{}, true},
		{shapeEmpty{}, true},
		{shapeNested{}, true},
		{struct{ A [16]byte }{}, true},
		{shapeEmbeds{}, false},
		{shapeAlias{}, false},
		{selfDecoding{}, false},
		{shapeCounter(0), false},
		{time.Time{}, false},
	} {
		if got := newStructPlan(reflect.TypeOf(c.v)) != nil; got != c.planned {
			t.Errorf("%T: planned %v, want %v", c.v, got, c.planned)
		}
	}
}

// The plan decodes what msgpack decodes, for payloads msgpack's encoder
// writes and for hand-made ones it would never write.
func TestStructPlanDecodesAsMsgpack(t *testing.T) {
	every := shapeEvery{S: "s", B: true, I8: -3, I: -1 << 40, U16: 65535, U: math.MaxUint64, F32: 1.5, F64: -2.25,
		Bytes: []byte{1, 2}, Tag: [3]byte{4, 5, 6}, Word: 7, At: time.Unix(1700000000, 5).UTC(), Tags: []string{"a"}, Inner: shapeTwo{A: 1, B: 2},
		Named: 9, Self: selfDecoding{N: 30}, Two: twoValues{S: "two", N: 2}, Panics: "calm", Renamed: "r", Dropped: "d", hidden: "not encoded"}
	encoded, err := msgpack.Marshal(every)
	if err != nil {
		t.Fatal(err)
	}
	asArray := func(v any) []byte {
		var b bytes.Buffer
		e := msgpack.NewEncoder(&b)
		e.UseArrayEncodedStructs(true)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := map[string][]byte{
		"every field":                   encoded,
		"as an array":                   asArray(every),
		"nil":                           {0xc0},
		"empty map":                     {0x80},
		"empty array":                   {0x90},
		"array of the wrong length":     {0x91, 0xa1, 's'},
		"unknown key skipped":           {0x82, 0xa1, 'x', 0x92, 0x01, 0x02, 0xa1, 'S', 0xa2, 'o', 'k'},
		"key given twice":               {0x82, 0xa1, 'S', 0xa1, 'a', 0xa1, 'S', 0xa1, 'b'},
		"nil key":                       {0x81, 0xc0, 0x01},
		"integer key":                   {0x81, 0x01, 0x01},
		"nil values":                    {0x84, 0xa1, 'S', 0xc0, 0xa1, 'B', 0xc0, 0xa1, 'I', 0xc0, 0xa4, 'W', 'o', 'r', 'd', 0xc0},
		"string from binary":            {0x81, 0xa1, 'S', 0xc4, 0x01, 'z'},
		"bytes from a string":           {0x81, 0xa5, 'B', 'y', 't', 'e', 's', 0xa0},
		"int8 truncated":                {0x81, 0xa2, 'I', '8', 0xcd, 0x01, 0x02},
		"negative into unsigned":        {0x81, 0xa3, 'U', '1', '6', 0xd0, 0x80},
		"integer into a float":          {0x81, 0xa3, 'F', '3', '2', 0x05},
		"double into float32":           {0x81, 0xa3, 'F', '3', '2', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		"float into float64":            {0x81, 0xa3, 'F', '6', '4', 0xca, 0x3f, 0xc0, 0, 0},
		"string into a bool":            {0x81, 0xa1, 'B', 0xa1, 't'},
		"word that does not parse":      {0x81, 0xa4, 'W', 'o', 'r', 'd', 0xa1, 'x'},
		"truncated string":              {0x81, 0xa1, 'S', 0xa5, 'a'},
		"truncated map":                 {0x82, 0xa1, 'S', 0xa1, 'a'},
		"string length past the end":    {0x81, 0xa1, 'S', 0xdb, 0xff, 0xff, 0xff, 0xff},
		"map length past the end":       {0xdf, 0xff, 0xff, 0xff, 0xff},
		"not a map":                     {0xa1, 'S'},
		"a dropped field's key skipped": {0x81, 0xa7, 'D', 'r', 'o', 'p', 'p', 'e', 'd', 0xa1, 'd'},
		"nil time (msgpack panics)":     {0x81, 0xa2, 'A', 't', 0xc0},
		"short byte array":              {0x81, 0xa3, 'T', 'a', 'g', 0xc4, 0x01, 0x09},
		"long byte array":               {0x81, 0xa3, 'T', 'a', 'g', 0xc4, 0x04, 1, 2, 3, 4},
		"byte array given twice":        {0x82, 0xa3, 'T', 'a', 'g', 0xa3, 'a', 'b', 'c', 0xa3, 'T', 'a', 'g', 0xa1, 'z'},
		"nested struct set, then nil":   {0x82, 0xa5, 'I', 'n', 'n', 'e', 'r', 0x81, 0xa1, 'A', 0x05, 0xa5, 'I', 'n', 'n', 'e', 'r', 0xc0},
		"nested struct as an array":     {0x81, 0xa5, 'I', 'n', 'n', 'e', 'r', 0x92, 0x01, 0x02},
		"nested struct, empty array":    {0x82, 0xa5, 'I', 'n', 'n', 'e', 'r', 0x92, 0x01, 0x02, 0xa5, 'I', 'n', 'n', 'e', 'r', 0x90},
		"ext skipped":                   {0x82, 0xa1, 'x', 0xd6, 0x01, 1, 2, 3, 4, 0xa1, 'S', 0xa1, 'k'},
		"ext past the end":              {0x81, 0xa1, 'x', 0xc9, 0x00, 0x00, 0x10, 0x00, 0x01},
		"unknown code":                  {0x81, 0xa1, 'x', 0xc1},
		"a decoder reading two values":  {0x82, 0xa3, 'T', 'w', 'o', 0xa1, 'a', 0x02, 0xa1, 'I', 0x03},
		"UnmarshalText panics":          {0x81, 0xa6, 'P', 'a', 'n', 'i', 'c', 's', 0xa4, 'b', 'o', 'o', 'm'},
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) { assertDecodesAsMsgpack(t, payload) })
	}
}

// everyPlan is shared, as a registered type's is: decodes after the first
// put their text in a block sized by the one before.
var everyPlan = newStructPlan(reflect.TypeFor[shapeEvery]())

// assertDecodesAsMsgpack decodes payload into shapeEvery with its plan and
// with msgpack.Unmarshal: the same value, or an error from both.
func assertDecodesAsMsgpack(t *testing.T, payload []byte) {
	t.Helper()
	var want shapeEvery
	base, err := everyPlan.decode(new(payloadDecoder), payload)
	got := *(*shapeEvery)(base)
	if !wellFormed(payload) {
		if err == nil {
			t.Fatalf("% x: ill-formed, but the plan decoded %#v", payload, got)
		}
		return
	}
	wantErr := guard(func() error { return msgpack.Unmarshal(payload, &want) })
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("% x: plan error %v, msgpack error %v", payload, err, wantErr)
	}
	if err == nil && !sameValue(got, want) {
		t.Fatalf("% x: plan %#v, msgpack %#v", payload, got, want)
	}
}

// wellFormed reports whether payload starts with one whole msgpack value.
// Decoding one that is not fails, and msgpack may first allocate what its
// lengths claim (up to 4 GiB): the fuzz targets compare with msgpack only
// well-formed payloads.
func wellFormed(payload []byte) bool {
	return (&planReader{b: payload}).skip() == nil
}

// sameValue is reflect.DeepEqual, or equal encodings (a NaN is not equal
// to itself).
func sameValue(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ea, errA := msgpack.Marshal(a)
	eb, errB := msgpack.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ea, eb)
}

// FuzzStructPlan: the plan of a struct with every kind of field decodes
// what msgpack.Unmarshal decodes, and fails exactly when it fails.
func FuzzStructPlan(f *testing.F) {
	for _, v := range []any{shapeEvery{S: "x", Word: 2, Bytes: []byte{}, Tags: []string{"t"}, Tag: [3]byte{1}}, shapeEvery{I: -1, F64: math.NaN(), Inner: shapeTwo{B: 3}}} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x91, 0xc0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		assertDecodesAsMsgpack(t, payload)
	})
}

// A planned decode allocates the value and what its fields hold, nothing
// more.
func TestStructPlanAllocations(t *testing.T) {
	reg := NewRegistry()
	if err := reg.Register("note", 1, testNote{}); err != nil {
		t.Fatal(err)
	}
	_, _, payload, err := reg.Encode(testNote{Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := reg.Decode("note", 1, payload); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("decoding a note: %v allocations, want 1 (the note, its text inside)", allocs)
	}
	if _, err := reg.Decode("note", 1, []byte{0x81, 0xa4, 'T', 'e', 'x', 't', 0x01}); err == nil || !strings.Contains(err.Error(), `"note"`) {
		t.Errorf("an integer for a string field: err = %v, want an error naming the type", err)
	}
}

// Every event type of the library's catalogue is decoded by a plan.
func TestCatalogueHasPlans(t *testing.T) {
	for _, c := range events.Types() {
		typ := reflect.TypeOf(c.Prototype)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if newStructPlan(typ) == nil {
			t.Errorf("%s (%v): no plan, msgpack decodes it alone", c.Name, typ)
		}
	}
}

// A value's strings and byte slices share its allocation: what a caller
// keeps of it stays intact through collections, and writing into one byte
// slice changes nothing else.
func TestBlockTextOutlivesItsValue(t *testing.T) {
	plan := newStructPlan(reflect.TypeFor[shapeEvery]())
	var texts []string
	var slices [][]byte
	var holders []*shapeEvery // their Tags are msgpack's, reachable only through the block
	for i := range 2000 {
		payload, err := msgpack.Marshal(shapeEvery{S: fmt.Sprintf("text %d", i), Bytes: []byte(fmt.Sprintf("bytes %d", i)),
			Tags: []string{fmt.Sprintf("tag %d", i)}, Renamed: "r"})
		if err != nil {
			t.Fatal(err)
		}
		base, err := plan.decode(new(payloadDecoder), payload)
		if err != nil {
			t.Fatal(err)
		}
		v := (*shapeEvery)(base)
		texts, slices = append(texts, v.S), append(slices, v.Bytes)
		holders = append(holders, v)
		if cap(v.Bytes) != len(v.Bytes) {
			t.Fatalf("Bytes has room past its end (cap %d, len %d): an append would write over the next field's text", cap(v.Bytes), len(v.Bytes))
		}
	}
	for range 3 {
		runtime.GC()
		_ = make([]byte, 1<<20)
	}
	for i := range slices {
		slices[i][0] = 'B'
	}
	for i := range texts {
		if want := fmt.Sprintf("tag %d", i); len(holders[i].Tags) != 1 || holders[i].Tags[0] != want {
			t.Fatalf("value %d has tags %q after collections, want [%q]", i, holders[i].Tags, want)
		}
		if want := fmt.Sprintf("text %d", i); texts[i] != want {
			t.Fatalf("text %d is %q after collections, want %q", i, texts[i], want)
		}
		if want := fmt.Sprintf("Bytes %d", i); string(slices[i]) != want {
			t.Fatalf("bytes %d are %q, want %q", i, slices[i], want)
		}
	}
}

func TestRoomClasses(t *testing.T) {
	if roomClass(0) != 0 || roomClass(maxBlockText+1) != 0 {
		t.Fatalf("roomClass(0) = %d, roomClass(%d) = %d, want 0 and 0", roomClass(0), maxBlockText+1, roomClass(maxBlockText+1))
	}
	for n := 1; n <= maxBlockText; n++ {
		c := roomClass(n)
		if size := roomSize(c); c < 1 || c > blockClasses || size < n || size >= n+64 {
			t.Fatalf("%d bytes of text: class %d of %d bytes, want a class in 1..%d of %d..%d bytes", n, c, size, blockClasses, n, n+63)
		}
	}
}
