package ledger

import (
	"reflect"
	"unsafe"
)

// A Decoder decodes payloads as Registry.Decode does, into memory it
// reuses: a reader that holds a bounded number of decoded events at a time
// (a run of events between two batches) keeps one Decoder per run and calls
// Reset when it reuses the run. While the run's mix of types repeats, a
// value costs no allocation, nor does short text already seen; byte slices,
// text of fields decoded by UnmarshalText and what msgpack decodes (slices,
// maps, times) are allocated as Registry.Decode allocates them.
//
// A value Decode returns is valid until the Decoder's next Reset; after it,
// Decode overwrites it. What the value holds is not overwritten: its strings
// are shared, immutable copies (the same text gives the same string, so
// repeated names cost nothing), its byte slices, slices and maps are new. A
// reader that copies a value's fields (a type switch does) may keep them.
//
// Types registered as pointers and types whose payload msgpack decodes
// alone decode as Registry.Decode does (the value is the caller's). A
// payload of an older schema goes through the upcasters first, as there,
// and its value is reused like any other. A Decoder is not safe for
// concurrent use.
type Decoder struct {
	reg   *Registry
	d     payloadDecoder
	strs  strCache
	slots map[*eventType]*typeSlots
	last  *eventType
}

// typeSlots are a Decoder's values of one type: next is the first not in
// use since the last Reset.
type typeSlots struct {
	vals []unsafe.Pointer
	next int
}

// NewDecoder returns a Decoder of the types registered in r.
func NewDecoder(r *Registry) *Decoder {
	return &Decoder{reg: r, slots: map[*eventType]*typeSlots{}}
}

// Decode returns a stored payload as a value of the type registered under
// name, as Registry.Decode does, in memory valid until the next Reset.
func (dc *Decoder) Decode(name string, schema uint16, payload []byte) (any, error) {
	if dc.reg == nil {
		return nil, nil
	}
	et := dc.last
	if et == nil || et.name != name {
		if et = dc.reg.snapshot().byName[name]; et == nil {
			return nil, nil
		}
		dc.last = et
	}
	if et.plan == nil || et.ptr {
		return dc.reg.decode(&dc.d, et, schema, payload)
	}
	payload, err := dc.reg.upcast(et, schema, payload)
	if err != nil {
		return nil, err
	}
	ts := dc.slots[et]
	if ts == nil {
		ts = &typeSlots{}
		dc.slots[et] = ts
	}
	if ts.next == len(ts.vals) {
		ts.vals = append(ts.vals, reflect.New(et.elem).UnsafePointer())
	}
	base := ts.vals[ts.next]
	ts.next++
	if err := et.plan.decodeInto(&dc.d, payload, base, &dc.strs); err != nil {
		return nil, decodeErr(et, err)
	}
	return et.value(base), nil
}

// Reset makes the memory of every value Decode has returned reusable. It
// keeps as many values of each type as were decoded since the previous
// Reset and lets the others go, so what a Decoder holds follows what its
// reader holds, whatever mix of types came before.
func (dc *Decoder) Reset() {
	for et, ts := range dc.slots {
		if ts.next == 0 {
			delete(dc.slots, et)
			continue
		}
		clear(ts.vals[ts.next:])
		ts.vals, ts.next = ts.vals[:ts.next], 0
	}
}

// strCache maps text to a string made once, in a small table indexed by a
// hash of the text: names repeat from event to event (a key, a lock, an
// account), so most lookups find their string.
type strCache struct {
	s [512]string
}

// maxCachedStr bounds the strings kept: longer text is copied each time.
const maxCachedStr = 64

func (c *strCache) get(b []byte) string {
	if len(b) > maxCachedStr {
		return string(b)
	}
	h := uint32(len(b))
	for _, x := range b {
		h = h*31 + uint32(x)
	}
	e := &c.s[(h^h>>9)%uint32(len(c.s))]
	if *e != string(b) {
		*e = string(b)
	}
	return *e
}
