package ledger

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/tagparser/v2"
)

// A structPlan decodes the msgpack payload of a registered struct type
// straight from the stored bytes, as msgpack's decoder would, with the
// type's fields worked out once at registration (see doc.go, "Event
// types"). Each rule below mirrors msgpack v5's: which codes a kind
// accepts, nil, widths, the map and array forms; FuzzStructPlan holds the
// two side by side.
type structPlan struct {
	typ    reflect.Type
	fields []fieldPlan
	room   atomic.Int32                                // text room class of the next block (roomClass); 0: no block
	blocks [blockClasses + 1]atomic.Pointer[blockType] // by room class
}

type fieldKind uint8

const (
	fieldString fieldKind = iota + 1
	fieldBool
	fieldInt
	fieldUint
	fieldFloat32
	fieldFloat64
	fieldBytes
	fieldByteArray
	fieldStruct // planned itself
	fieldText   // *T is an encoding.TextUnmarshaler
	fieldOther  // msgpack decodes it
)

type fieldPlan struct {
	name string
	kind fieldKind
	size uintptr // of the field, for integers
	off  uintptr
	typ  reflect.Type
	sub  *structPlan // fieldStruct's
}

var (
	customDecoderType   = reflect.TypeFor[msgpack.CustomDecoder]()
	unmarshalerType     = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryUnmarshalType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshalType   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodesItself reports whether msgpack decodes a value of t through a
// method of t (in msgpack's order of preference, the text form last).
func decodesItself(t reflect.Type) bool {
	return t.Implements(customDecoderType) || t.Implements(unmarshalerType) ||
		t.Implements(binaryUnmarshalType) || t.Implements(textUnmarshalType)
}

// newStructPlan returns the plan for t, or nil when msgpack alone must
// decode it.
func newStructPlan(t reflect.Type) *structPlan {
	if t.Kind() != reflect.Struct || decodesItself(t) || decodesItself(reflect.PointerTo(t)) {
		return nil
	}
	p := &structPlan{typ: t}
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := tagparser.Parse(f.Tag.Get("msgpack"))
		if tag.Name == "-" {
			continue
		}
		if f.Name == "_msgpack" || f.Anonymous {
			return nil // struct options, inlined fields
		}
		if !f.IsExported() {
			continue
		}
		for opt := range tag.Options {
			if opt != "omitempty" {
				return nil
			}
		}
		fp := fieldPlan{name: tag.Name, off: f.Offset, typ: f.Type, kind: kindOf(f.Type), size: f.Type.Size()}
		if fp.name == "" {
			fp.name = f.Name
		}
		if fp.kind == fieldStruct {
			if fp.sub = newStructPlan(f.Type); fp.sub == nil {
				fp.kind = fieldOther
			}
		}
		if seen[fp.name] {
			return nil
		}
		seen[fp.name] = true
		p.fields = append(p.fields, fp)
	}
	return p
}

func kindOf(t reflect.Type) fieldKind {
	ptr := reflect.PointerTo(t)
	if decodesItself(t) {
		return fieldOther
	}
	if ptr.Implements(textUnmarshalType) {
		if ptr.Implements(customDecoderType) || ptr.Implements(unmarshalerType) || ptr.Implements(binaryUnmarshalType) {
			return fieldOther
		}
		return fieldText
	}
	if decodesItself(ptr) {
		return fieldOther
	}
	switch t.Kind() {
	case reflect.String:
		return fieldString
	case reflect.Bool:
		return fieldBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fieldInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fieldUint
	case reflect.Float32:
		return fieldFloat32
	case reflect.Float64:
		return fieldFloat64
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return fieldBytes
		}
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return fieldByteArray
		}
	case reflect.Struct:
		return fieldStruct
	}
	return fieldOther
}

// msgpack's codes, as far as the plan reads them (msgpcode has them as
// variables, which a switch cannot make a jump table of).
const (
	codeNil      = 0xc0
	codeFalse    = 0xc2
	codeTrue     = 0xc3
	codeBin8     = 0xc4
	codeBin16    = 0xc5
	codeBin32    = 0xc6
	codeExt8     = 0xc7
	codeExt16    = 0xc8
	codeExt32    = 0xc9
	codeFloat    = 0xca
	codeDouble   = 0xcb
	codeUint8    = 0xcc
	codeUint16   = 0xcd
	codeUint32   = 0xce
	codeUint64   = 0xcf
	codeInt8     = 0xd0
	codeInt16    = 0xd1
	codeInt32    = 0xd2
	codeInt64    = 0xd3
	codeFixExt1  = 0xd4
	codeFixExt2  = 0xd5
	codeFixExt4  = 0xd6
	codeFixExt8  = 0xd7
	codeFixExt16 = 0xd8
	codeStr8     = 0xd9
	codeStr16    = 0xda
	codeStr32    = 0xdb
	codeArray16  = 0xdc
	codeArray32  = 0xdd
	codeMap16    = 0xde
	codeMap32    = 0xdf
)

var errArrayStruct = errors.New("msgpack: number of fields in array-encoded struct has changed")

// planReader reads a payload for a plan; msgpack's decoder takes over at
// its position for the fields the plan does not read itself.
type planReader struct {
	b     []byte
	i     int
	d     *payloadDecoder
	dec   bool   // d reads b: reset once per payload
	arena []byte // room left in the value's block for text
	need  int    // text read, in the block or not
	strs  *strCache
}

// str returns b as a string: from the cache of a reusing Decoder, or
// copied as text.
func (r *planReader) str(b []byte) string {
	if r.strs != nil {
		return r.strs.get(b)
	}
	c := r.text(b)
	return unsafe.String(unsafe.SliceData(c), len(c))
}

// text returns a copy of b, in the block's room if it fits.
func (r *planReader) text(b []byte) []byte {
	r.need += len(b)
	if len(b) > len(r.arena) {
		return append(make([]byte, 0, len(b)), b...)
	}
	c := r.arena[:len(b):len(b)]
	copy(c, b)
	r.arena = r.arena[len(b):]
	return c
}

func (r *planReader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.ErrUnexpectedEOF
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *planReader) next(n int) ([]byte, error) {
	if n > len(r.b)-r.i {
		return nil, io.ErrUnexpectedEOF
	}
	s := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return s, nil
}

func (r *planReader) uint(n int) (uint64, error) {
	s, err := r.next(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(s[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(s)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(s)), nil
	}
	return binary.BigEndian.Uint64(s), nil
}

// msgpack runs msgpack's decoder on the value at the current position, and
// moves past it. The value is checked whole first: msgpack allocates what
// a length claims before it finds the payload shorter.
func (r *planReader) msgpack(fn func(*msgpack.Decoder) error) error {
	start := r.i
	if err := r.skip(); err != nil {
		return err
	}
	r.i = start
	r.d.r.Reset(r.b[start:]) // a type's own decoder may read several values
	if !r.dec {
		if r.d.dec == nil {
			r.d.dec = msgpack.NewDecoder(nil)
		}
		r.d.dec.Reset(&r.d.r)
		r.dec = true
	}
	err := guard(func() error { return fn(r.d.dec) })
	r.i = len(r.b) - r.d.r.Len()
	return err
}

// guard turns a panic of msgpack's decoder into an error: it panics on
// some payloads (nil for a time, for one), and a payload is input.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("msgpack: %v", p)
		}
	}()
	return fn()
}

// skip passes over one value as msgpack's Skip does, but without
// allocating for lengths the payload does not hold, and without recursion.
func (r *planReader) skip() error {
	for pending := uint64(1); pending > 0; pending-- {
		c, err := r.byte()
		if err != nil {
			return err
		}
		var n, items uint64 // bytes to pass over, values that follow
		switch {
		case c <= 0x7f || c >= 0xe0, c == codeNil, c == codeFalse, c == codeTrue:
		case c >= 0x80 && c <= 0x8f:
			items = 2 * uint64(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			items = uint64(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			n = uint64(c & 0x1f)
		default:
			switch c {
			case codeUint8, codeInt8:
				n = 1
			case codeUint16, codeInt16:
				n = 2
			case codeUint32, codeInt32, codeFloat:
				n = 4
			case codeUint64, codeInt64, codeDouble:
				n = 8
			case codeBin8, codeStr8:
				n, err = r.uint(1)
			case codeBin16, codeStr16:
				n, err = r.uint(2)
			case codeBin32, codeStr32:
				n, err = r.uint(4)
			case codeArray16:
				items, err = r.uint(2)
			case codeArray32:
				items, err = r.uint(4)
			case codeMap16:
				items, err = r.uint(2)
				items *= 2
			case codeMap32:
				items, err = r.uint(4)
				items *= 2
			case codeFixExt1, codeFixExt2, codeFixExt4, codeFixExt8, codeFixExt16:
				n = 1 + 1<<(c-codeFixExt1) // the type, then the data
			case codeExt8:
				n, err = r.uint(1)
				n++
			case codeExt16:
				n, err = r.uint(2)
				n++
			case codeExt32:
				n, err = r.uint(4)
				n++
			default:
				return fmt.Errorf("msgpack: unknown code %x", c)
			}
		}
		if err != nil {
			return err
		}
		if n > uint64(len(r.b)-r.i) {
			return io.ErrUnexpectedEOF
		}
		r.i += int(n)
		pending += items
	}
	return nil
}

// length reads the length after a string or binary code c, -1 for nil.
func (r *planReader) length(c byte) (int, error) {
	switch {
	case c == codeNil:
		return -1, nil
	case c >= 0xa0 && c <= 0xbf:
		return int(c & 0x1f), nil
	case c == codeStr8 || c == codeBin8:
		n, err := r.uint(1)
		return int(n), err
	case c == codeStr16 || c == codeBin16:
		n, err := r.uint(2)
		return int(n), err
	case c == codeStr32 || c == codeBin32:
		n, err := r.uint(4)
		return int(n), err
	}
	return 0, fmt.Errorf("msgpack: invalid code=%x decoding string/bytes length", c)
}

// bytes reads a string or binary value; nil is (nil, nil).
func (r *planReader) bytes() ([]byte, error) {
	c, err := r.byte()
	if err != nil {
		return nil, err
	}
	n, err := r.length(c)
	if err != nil || n < 0 {
		return nil, err
	}
	return r.next(n)
}

// integer reads any msgpack integer as msgpack's DecodeInt64 and
// DecodeUint64 do (the two give the same bits; nil is 0).
func (r *planReader) integer(c byte, what string) (uint64, error) {
	if c <= 0x7f || c >= 0xe0 {
		return uint64(int64(int8(c))), nil
	}
	switch c {
	case codeNil:
		return 0, nil
	case codeUint8:
		return r.uint(1)
	case codeUint16:
		return r.uint(2)
	case codeUint32:
		return r.uint(4)
	case codeUint64, codeInt64:
		return r.uint(8)
	case codeInt8:
		n, err := r.uint(1)
		return uint64(int64(int8(n))), err
	case codeInt16:
		n, err := r.uint(2)
		return uint64(int64(int16(n))), err
	case codeInt32:
		n, err := r.uint(4)
		return uint64(int64(int32(n))), err
	}
	return 0, fmt.Errorf("msgpack: invalid code=%x decoding %s", c, what)
}

// decode decodes payload into a new value of the plan's type and returns
// its address. The strings and byte slices the plan reads share one
// allocation with the value when they fit its block (see block), whose
// room is what the type's previous payload needed.
func (p *structPlan) decode(d *payloadDecoder, payload []byte) (unsafe.Pointer, error) {
	r := planReader{b: payload, d: d}
	var base unsafe.Pointer
	class := int(p.room.Load())
	if class > 0 {
		base, r.arena = p.block(class)
	} else {
		base = reflect.New(p.typ).UnsafePointer()
	}
	err := p.decodeFrom(&r, base)
	if r.dec {
		d.r.Reset(nil) // a pooled decoder keeps no payload
	}
	if want := roomClass(r.need); want != class {
		p.room.Store(int32(want))
	}
	return base, err
}

// decodeInto decodes payload into the value at base, zeroed first (so
// msgpack makes new slices and maps instead of filling those of the value
// decoded there before; the zeroing is typed, so the collector sees the
// pointers it overwrites). Strings come from strs; byte slices are new.
func (p *structPlan) decodeInto(d *payloadDecoder, payload []byte, base unsafe.Pointer, strs *strCache) error {
	p.zero(base)
	r := planReader{b: payload, d: d, strs: strs}
	err := p.decodeFrom(&r, base)
	if r.dec {
		d.r.Reset(nil)
	}
	return err
}

// structHeader reads a struct's header: its number of entries (-1 for
// nil), and whether they are the array form, every field in order.
func (r *planReader) structHeader() (n int64, array bool, err error) {
	c, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	var u uint64
	switch {
	case c == codeNil:
		return -1, false, nil
	case c >= 0x80 && c <= 0x8f:
		return int64(c & 0x0f), false, nil
	case c >= 0x90 && c <= 0x9f:
		return int64(c & 0x0f), true, nil
	case c == codeMap16, c == codeArray16:
		u, err = r.uint(2)
	case c == codeMap32, c == codeArray32:
		u, err = r.uint(4)
	default:
		return 0, false, fmt.Errorf("msgpack: unexpected code=%x decoding map length", c)
	}
	return int64(u), c == codeArray16 || c == codeArray32, err
}

func (p *structPlan) decodeFrom(r *planReader, base unsafe.Pointer) error {
	n, array, err := r.structHeader()
	if err != nil {
		return err
	}
	if n < 0 || array && n == 0 {
		p.zero(base)
		return nil
	}
	if array {
		if n != int64(len(p.fields)) {
			return errArrayStruct
		}
		for i := range p.fields {
			if err := p.fields[i].decode(r, base); err != nil {
				return err
			}
		}
		return nil
	}
	for k := range n {
		name, err := r.bytes()
		if err != nil {
			return err
		}
		f := p.field(name, int(k))
		if f == nil {
			if err := r.skip(); err != nil {
				return err
			}
			continue
		}
		if err := f.decode(r, base); err != nil {
			return err
		}
	}
	return nil
}

// Text rooms come in classes: multiples of 16 bytes up to 256, then of 64
// up to maxBlockText, so a room is at most 63 bytes larger than the text
// the type's previous payload needed, and a plan makes at most
// blockClasses block types.
const (
	maxBlockText = 1 << 10
	blockClasses = 256/16 + (maxBlockText-256)/64
)

// roomClass returns the class of the room for n bytes of text, 0 for none.
func roomClass(n int) int {
	switch {
	case n <= 0 || n > maxBlockText:
		return 0
	case n <= 256:
		return (n + 15) / 16
	}
	return 256/16 + (n-256+63)/64
}

// roomSize is the size of a room of class c.
func roomSize(c int) int {
	if c <= 256/16 {
		return 16 * c
	}
	return 256 + 64*(c-256/16)
}

// A block is one allocation holding a value of the plan's type and, after
// it, room for its strings and byte slices: decoding an event whose
// fields are text is then one allocation, not one per field. The block's
// type is a struct of the two, made once per room class, so the collector
// sees the value's pointers. The room is what the type's previous payload
// needed, rounded up (events of one type are alike); text that does not
// fit is allocated on its own, and past maxBlockText all of it is. A
// string or slice points inside the block and keeps all of it alive: the
// value and its room, at most maxBlockText more than its own text.
type blockType struct {
	typ reflect.Type
	off uintptr // of the text room
}

// block allocates a block with a room of class c and returns the value's
// address and the room.
func (p *structPlan) block(c int) (unsafe.Pointer, []byte) {
	bt := p.blocks[c].Load()
	if bt == nil {
		t := reflect.StructOf([]reflect.StructField{
			{Name: "Value", Type: p.typ},
			{Name: "Text", Type: reflect.ArrayOf(roomSize(c), reflect.TypeFor[byte]())},
		})
		bt = &blockType{typ: t, off: t.Field(1).Offset}
		p.blocks[c].Store(bt)
	}
	base := reflect.New(bt.typ).UnsafePointer()
	return base, unsafe.Slice((*byte)(unsafe.Add(base, bt.off)), roomSize(c))
}

// field returns the field named name; encoders write the fields in order,
// so the k-th is tried first.
func (p *structPlan) field(name []byte, k int) *fieldPlan {
	if k < len(p.fields) && p.fields[k].name == string(name) {
		return &p.fields[k]
	}
	for i := range p.fields {
		if p.fields[i].name == string(name) {
			return &p.fields[i]
		}
	}
	return nil
}

// zero sets the struct at base to its zero value, as msgpack does for nil
// or an empty array (a key given twice may have set it).
func (p *structPlan) zero(base unsafe.Pointer) {
	reflect.NewAt(p.typ, base).Elem().SetZero()
}

func (f *fieldPlan) decode(r *planReader, base unsafe.Pointer) error {
	at := unsafe.Add(base, f.off)
	switch f.kind {
	case fieldOther:
		return r.msgpack(func(d *msgpack.Decoder) error { return d.DecodeValue(reflect.NewAt(f.typ, at).Elem()) })
	case fieldStruct:
		return f.sub.decodeFrom(r, at)
	}
	c, err := r.byte()
	if err != nil {
		return err
	}
	switch f.kind {
	case fieldString:
		n, err := r.length(c)
		if err != nil {
			return err
		}
		s := ""
		if n > 0 {
			b, err := r.next(n)
			if err != nil {
				return err
			}
			s = r.str(b)
		}
		*(*string)(at) = s
	case fieldBytes, fieldText:
		if f.kind == fieldText && c == codeNil {
			reflect.NewAt(f.typ, at).Elem().SetZero()
			return nil
		}
		n, err := r.length(c)
		if err != nil {
			return err
		}
		var b []byte
		if n >= 0 {
			s, err := r.next(n)
			if err != nil {
				return err
			}
			if f.kind == fieldText || n == 0 {
				b = append(make([]byte, 0, n), s...) // an unmarshaler may keep it
			} else {
				b = r.text(s)
			}
		}
		if f.kind == fieldText {
			u := reflect.NewAt(f.typ, at).Interface().(encoding.TextUnmarshaler)
			return guard(func() error { return u.UnmarshalText(b) })
		}
		*(*[]byte)(at) = b
	case fieldByteArray:
		n, err := r.length(c)
		if err != nil || n < 0 {
			return err // nil leaves the array as it is
		}
		if uintptr(n) > f.size {
			return fmt.Errorf("msgpack: %s len is %d, but msgpack has %d elements", f.typ, f.size, n)
		}
		b, err := r.next(n)
		if err != nil {
			return err
		}
		copy(unsafe.Slice((*byte)(at), n), b)
	case fieldBool:
		switch c {
		case codeNil, codeFalse:
			*(*bool)(at) = false
		case codeTrue:
			*(*bool)(at) = true
		default:
			return fmt.Errorf("msgpack: invalid code=%x decoding bool", c)
		}
	case fieldInt, fieldUint:
		what := "int64"
		if f.kind == fieldUint {
			what = "uint64"
		}
		v, err := r.integer(c, what)
		if err != nil {
			return err
		}
		switch f.size {
		case 1:
			*(*uint8)(at) = uint8(v)
		case 2:
			*(*uint16)(at) = uint16(v)
		case 4:
			*(*uint32)(at) = uint32(v)
		default:
			*(*uint64)(at) = v
		}
	case fieldFloat32, fieldFloat64:
		v, err := r.float(c, f.kind == fieldFloat64)
		if err != nil {
			return err
		}
		if f.kind == fieldFloat32 {
			*(*float32)(at) = float32(v)
		} else {
			*(*float64)(at) = v
		}
	}
	return nil
}

// float reads a float as msgpack's DecodeFloat32 (or, with double,
// DecodeFloat64) does: integers are converted, a double is only read into
// a float64.
func (r *planReader) float(c byte, double bool) (float64, error) {
	switch {
	case c == codeFloat:
		n, err := r.uint(4)
		return float64(math.Float32frombits(uint32(n))), err
	case c == codeDouble && double:
		n, err := r.uint(8)
		return math.Float64frombits(n), err
	}
	n, err := r.integer(c, "float")
	if err != nil {
		return 0, fmt.Errorf("msgpack: invalid code=%x decoding float32", c)
	}
	if double {
		return float64(int64(n)), nil
	}
	return float64(float32(int64(n))), nil
}
