package ledger

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// An Upcaster turns the msgpack payload of schema n into the payload of schema n+1.
type Upcaster func(payload []byte) ([]byte, error)

// Registry maps Go types to stable event type names and schema versions.
// It belongs to a ledger (Options.Registry), never to the package: two ledgers
// in one process may register different types. Safe for concurrent use.
//
// Register each type once at its current schema; register an Upcaster for every
// older schema still present in the log. Names are persisted: never rename or
// reuse one.
type Registry struct {
	mu    sync.RWMutex // serialises registrations; upcasters are read under it
	types atomic.Pointer[registryTypes]
}

// registryTypes is a snapshot of the registered types: never changed once
// published (Register publishes a copy), so every append and read looks a
// type up without a lock.
type registryTypes struct {
	byName map[string]*eventType
	byType map[reflect.Type]*eventType
}

func (r *Registry) snapshot() *registryTypes {
	if t := r.types.Load(); t != nil {
		return t
	}
	return &registryTypes{}
}

type eventType struct {
	name      string
	schema    uint16
	typ       reflect.Type        // as registered: a struct or a pointer to one
	upcasters map[uint16]Upcaster // under Registry.mu; the fields above never change

	elem   reflect.Type   // the type decoded into: typ, or what typ points to
	ptr    bool           // typ is a pointer: Data is the pointer decoded into
	direct bool           // a value of typ is held in an interface word itself
	rtype  unsafe.Pointer // typ's type word in an interface (see box)
	plan   *structPlan    // decodes elem without msgpack's type lookups; nil: msgpack decodes
}

// newEventType describes t for decoding. Values are decoded into memory of
// their own (reflect.New) and handed out in an interface without a copy:
// an interface holding a value that is not pointer-shaped points at a heap
// copy of it, and the memory just decoded into is exactly such a copy, owned
// by nobody else. Whether t is pointer-shaped (held in the interface word
// itself) is read off a boxed zero value: its data word is then the nil
// pointer, while a boxed copy is never at address nil.
func newEventType(name string, schema uint16, t reflect.Type) *eventType {
	et := &eventType{name: name, schema: schema, typ: t, upcasters: map[uint16]Upcaster{}, elem: t}
	if t.Kind() == reflect.Pointer {
		et.ptr, et.elem = true, t.Elem()
	}
	et.plan = newStructPlan(et.elem)
	zero := reflect.Zero(t).Interface()
	w := (*eface)(unsafe.Pointer(&zero))
	et.rtype, et.direct = w.typ, w.data == nil
	return et
}

// eface is the layout of an interface value with no methods (any).
type eface struct{ typ, data unsafe.Pointer }

// decode decodes a payload of the registered (current) schema into a new
// value of et's type, with one allocation for the value itself (and those
// msgpack makes for what it holds: strings, slices, maps).
func (et *eventType) decode(d *payloadDecoder, payload []byte) (any, error) {
	var p reflect.Value
	var err error
	if et.plan != nil {
		var base unsafe.Pointer
		base, err = et.plan.decode(d, payload)
		p = reflect.NewAt(et.elem, base)
	} else {
		p = reflect.New(et.elem)
		err = d.decode(payload, p.Interface())
	}
	pi := p.Interface() // a pointer: boxed without an allocation
	if err != nil {
		return nil, decodeErr(et, err)
	}
	if et.ptr {
		return pi, nil
	}
	return et.value(p.UnsafePointer()), nil
}

// value boxes the value of et's (non-pointer) type at base without copying
// it: a pointer-shaped value is held in the interface word itself, any
// other is pointed at.
func (et *eventType) value(base unsafe.Pointer) any {
	if et.direct {
		return reflect.NewAt(et.elem, base).Elem().Interface()
	}
	var v any
	w := (*eface)(unsafe.Pointer(&v))
	w.typ, w.data = et.rtype, base
	return v
}

func decodeErr(et *eventType, err error) error {
	return fmt.Errorf("ledger: decode %q schema %d: %w", et.name, et.schema, err)
}

// payloadDecoder is a msgpack decoder with its reader, reused from payload
// to payload. decode resets both, so a decode behaves as msgpack.Unmarshal.
type payloadDecoder struct {
	dec *msgpack.Decoder
	r   bytes.Reader
}

func (d *payloadDecoder) decode(payload []byte, v any) error {
	if err := (&planReader{b: payload}).skip(); err != nil {
		return err // msgpack would first allocate what its lengths claim
	}
	if d.dec == nil {
		d.dec = msgpack.NewDecoder(nil)
	}
	d.r.Reset(payload)
	d.dec.Reset(&d.r)
	err := guard(func() error { return d.dec.Decode(v) })
	d.r.Reset(nil)
	return err
}

var decoders = sync.Pool{New: func() any { return new(payloadDecoder) }}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register binds name and schema (>= 1) to the Go type of prototype. Decoded
// events carry a value of exactly that type (a pointer if prototype is one).
// Appending accepts the type or a pointer to it. A name or type registered
// twice returns ErrDuplicateType.
func (r *Registry) Register(name string, schema uint16, prototype any) error {
	if name == "" || len(name) > maxTypeLen || !validName([]byte(name)) {
		return invalidf("event type name %q must be 1..%d bytes of UTF-8 without NUL", name, maxTypeLen)
	}
	if schema == 0 {
		return invalidf("event type %q: schema must be >= 1", name)
	}
	if prototype == nil {
		return invalidf("event type %q: nil prototype", name)
	}
	t := reflect.TypeOf(prototype)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snapshot()
	if _, ok := old.byName[name]; ok {
		return fmt.Errorf("%w: name %q", ErrDuplicateType, name)
	}
	for _, k := range typeKeys(t) {
		if old, ok := old.byType[k]; ok {
			return fmt.Errorf("%w: Go type %v already registered as %q", ErrDuplicateType, t, old.name)
		}
	}
	et := newEventType(name, schema, t)
	next := &registryTypes{byName: make(map[string]*eventType, len(old.byName)+1), byType: make(map[reflect.Type]*eventType, len(old.byType)+2)}
	for k, v := range old.byName {
		next.byName[k] = v
	}
	for k, v := range old.byType {
		next.byType[k] = v
	}
	next.byName[name] = et
	for _, k := range typeKeys(t) {
		next.byType[k] = et
	}
	r.types.Store(next)
	return nil
}

// RegisterUpcaster registers up to turn payloads of schema from into schema from+1
// for the registered type name. from must be below the registered schema.
func (r *Registry) RegisterUpcaster(name string, from uint16, up Upcaster) error {
	if up == nil {
		return invalidf("nil upcaster for %q", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	et, ok := r.snapshot().byName[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, name)
	}
	if from == 0 || from >= et.schema {
		return invalidf("upcaster for %q from schema %d: must be in 1..%d", name, from, et.schema-1)
	}
	if _, ok := et.upcasters[from]; ok {
		return fmt.Errorf("%w: upcaster for %q from schema %d", ErrDuplicateType, name, from)
	}
	et.upcasters[from] = up
	return nil
}

// Lookup returns the registered name and schema for a value's Go type.
func (r *Registry) Lookup(v any) (name string, schema uint16, ok bool) {
	et := r.forValue(v)
	if et == nil {
		return "", 0, false
	}
	return et.name, et.schema, true
}

// typeKeys returns the types under which t is found: the type and its pointer/elem.
func typeKeys(t reflect.Type) []reflect.Type {
	if t.Kind() == reflect.Pointer {
		return []reflect.Type{t, t.Elem()}
	}
	return []reflect.Type{t, reflect.PointerTo(t)}
}

func (r *Registry) forValue(v any) *eventType {
	if r == nil || v == nil {
		return nil
	}
	et := r.snapshot().byType[reflect.TypeOf(v)]
	return et
}

// Encode returns the registered type name and schema of v and its msgpack
// payload: exactly the bytes Append stores (and the hash chain covers) for an
// event with Data v. An unregistered Go type is ErrUnknownType; a payload
// that cannot be encoded or is over 1 MiB is ErrInvalid.
func (r *Registry) Encode(v any) (name string, schema uint16, payload []byte, err error) {
	et := r.forValue(v)
	if et == nil {
		return "", 0, nil, fmt.Errorf("%w: Go type %T is not registered", ErrUnknownType, v)
	}
	b, err := msgpack.Marshal(v)
	if err != nil {
		return "", 0, nil, invalidf("encode %s: %v", et.name, err)
	}
	if len(b) > maxPayloadLen {
		return "", 0, nil, invalidf("%s payload is %d bytes, over the %d limit", et.name, len(b), maxPayloadLen)
	}
	return et.name, et.schema, b, nil
}

// Decode returns a stored payload as a value of the type registered under
// name, running the registered upcasters from schema up to the current one,
// as reads fill Event.Data. An unregistered name gives (nil, nil): readers
// pass over types they do not know (events written by a newer program stay
// readable as Raw). A schema newer than the registered one, or a missing
// upcaster, is ErrUnknownType; a failing upcaster or a payload that does not
// decode is an error naming the type.
func (r *Registry) Decode(name string, schema uint16, payload []byte) (any, error) {
	if r == nil {
		return nil, nil
	}
	et := r.snapshot().byName[name]
	if et == nil {
		return nil, nil
	}
	d := decoders.Get().(*payloadDecoder)
	v, err := r.decode(d, et, schema, payload)
	decoders.Put(d)
	return v, err
}

// decode is Decode of a registered type with the caller's decoder.
func (r *Registry) decode(d *payloadDecoder, et *eventType, schema uint16, payload []byte) (any, error) {
	payload, err := r.upcast(et, schema, payload)
	if err != nil {
		return nil, err
	}
	return et.decode(d, payload)
}

// upcast runs et's upcasters on a payload of an older schema.
func (r *Registry) upcast(et *eventType, schema uint16, payload []byte) ([]byte, error) {
	if schema == et.schema {
		return payload, nil
	}
	if schema > et.schema {
		return nil, fmt.Errorf("%w: %q schema %d is newer than the registered %d", ErrUnknownType, et.name, schema, et.schema)
	}
	var ups []Upcaster
	r.mu.RLock()
	for s := schema; s < et.schema; s++ {
		up := et.upcasters[s]
		if up == nil {
			r.mu.RUnlock()
			return nil, fmt.Errorf("%w: %q has no upcaster from schema %d", ErrUnknownType, et.name, s)
		}
		ups = append(ups, up)
	}
	r.mu.RUnlock()
	for i, up := range ups {
		var err error
		if payload, err = up(payload); err != nil {
			return nil, fmt.Errorf("ledger: upcast %q from schema %d: %w", et.name, int(schema)+i, err)
		}
	}
	return payload, nil
}

// byNameBytes returns the type registered under name, or nil.
func (r *Registry) byNameBytes(name []byte) *eventType {
	if r == nil {
		return nil
	}
	et := r.snapshot().byName[string(name)]
	return et
}
