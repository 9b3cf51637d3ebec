package ledger

import (
	"fmt"
	"reflect"
	"sync"

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
	mu     sync.RWMutex
	byName map[string]*eventType
	byType map[reflect.Type]*eventType
}

type eventType struct {
	name      string
	schema    uint16
	typ       reflect.Type // as registered: a struct or a pointer to one
	upcasters map[uint16]Upcaster
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*eventType{}, byType: map[reflect.Type]*eventType{}}
}

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
	r.init()
	if _, ok := r.byName[name]; ok {
		return fmt.Errorf("%w: name %q", ErrDuplicateType, name)
	}
	for _, k := range typeKeys(t) {
		if old, ok := r.byType[k]; ok {
			return fmt.Errorf("%w: Go type %v already registered as %q", ErrDuplicateType, t, old.name)
		}
	}
	et := &eventType{name: name, schema: schema, typ: t, upcasters: map[uint16]Upcaster{}}
	r.byName[name] = et
	for _, k := range typeKeys(t) {
		r.byType[k] = et
	}
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
	r.init()
	et, ok := r.byName[name]
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

func (r *Registry) init() {
	if r.byName == nil {
		r.byName = map[string]*eventType{}
		r.byType = map[reflect.Type]*eventType{}
	}
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
	r.mu.RLock()
	et := r.byType[reflect.TypeOf(v)]
	r.mu.RUnlock()
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
	r.mu.RLock()
	et := r.byName[name]
	var ups []Upcaster
	if et != nil && schema < et.schema {
		for s := schema; s < et.schema; s++ {
			up := et.upcasters[s]
			if up == nil {
				r.mu.RUnlock()
				return nil, fmt.Errorf("%w: %q has no upcaster from schema %d", ErrUnknownType, name, s)
			}
			ups = append(ups, up)
		}
	}
	r.mu.RUnlock()
	if et == nil {
		return nil, nil
	}
	if schema > et.schema {
		return nil, fmt.Errorf("%w: %q schema %d is newer than the registered %d", ErrUnknownType, name, schema, et.schema)
	}
	for i, up := range ups {
		var err error
		if payload, err = up(payload); err != nil {
			return nil, fmt.Errorf("ledger: upcast %q from schema %d: %w", name, int(schema)+i, err)
		}
	}
	t := et.typ
	ptr := t.Kind() == reflect.Pointer
	if ptr {
		t = t.Elem()
	}
	v := reflect.New(t)
	if err := msgpack.Unmarshal(payload, v.Interface()); err != nil {
		return nil, fmt.Errorf("ledger: decode %q schema %d: %w", name, et.schema, err)
	}
	if ptr {
		return v.Interface(), nil
	}
	return v.Elem().Interface(), nil
}
