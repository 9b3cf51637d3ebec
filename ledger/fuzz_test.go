package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []record{
		{pos: 1, version: 1, id: tid(1), time: 1, schema: 1, stream: "s", typ: "t", data: []byte{0x80}},
		{pos: 1 << 40, version: 7, prev: 1<<40 - 3, id: tid(9), time: -5, schema: 3, stream: "lock/ü", typ: "key.granted", data: bytes.Repeat([]byte{0xa1, 'x'}, 40)},
		{format: recordFormatV1, pos: 9, version: 2, id: tid(2), time: 7, schema: 1, stream: "s", typ: "t", data: []byte{0xc0}},
	} {
		body := appendRecordBody(nil, &r)
		h := ChainHash([32]byte{}, body)
		f.Add(append(body, h[:]...))
	}
	f.Add([]byte{})
	f.Add([]byte{recordFormat})
	f.Add([]byte{recordFormatV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes: the layout is canonical.
		again := append(appendRecordBody(nil, &r), r.hash[:]...)
		if !bytes.Equal(again, b) {
			t.Fatalf("decode/encode changed the record:\n in  %x\n out %x", b, again)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("0:0000000000000000000000000000000000000000000000000000000000000000")
	f.Add("12:zz")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		if d2, err := ParseDigest(d.String()); err != nil || d2 != d {
			t.Fatalf("round trip of %q: %v, %v", s, d2, err)
		}
	})
}

// FuzzRegistryDecode: Registry.Decode gives what msgpack.Unmarshal gives
// for a new value of the registered type, and an error exactly when it does;
// a Decoder reusing its values' memory gives the same.
func FuzzRegistryDecode(f *testing.F) {
	reg := NewRegistry()
	if err := errors.Join(reg.Register("note", 1, testNote{}), reg.Register("nested", 1, &shapeNested{}),
		reg.Register("map", 1, shapeMap{}), reg.Register("every", 1, shapeEvery{}), reg.Register("embeds", 1, shapeEmbeds{})); err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{testNote{Text: "hi"}, &shapeNested{Tags: []string{"a"}, Bytes: []byte{1}}, shapeMap{M: map[string]int{"k": 1}}} {
		_, _, b, err := reg.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xc0})
	f.Add([]byte{0x81, 0xa2, 'A', 't', 0xc0})
	dec := NewDecoder(reg) // reused from input to input, as a run's decoder is
	f.Fuzz(func(t *testing.T, payload []byte) {
		dec.Reset()
		for _, c := range []struct {
			name string
			want func() (any, error)
		}{
			{"note", func() (any, error) { var v testNote; err := msgpack.Unmarshal(payload, &v); return v, err }},
			{"nested", func() (any, error) { v := new(shapeNested); err := msgpack.Unmarshal(payload, v); return v, err }},
			{"map", func() (any, error) { var v shapeMap; err := msgpack.Unmarshal(payload, &v); return v, err }},
			{"every", func() (any, error) {
				var v shapeEvery
				err := guard(func() error { return msgpack.Unmarshal(payload, &v) })
				return v, err
			}},
			{"embeds", func() (any, error) {
				var v shapeEmbeds
				err := guard(func() error { return msgpack.Unmarshal(payload, &v) })
				return v, err
			}},
		} {
			got, err := reg.Decode(c.name, 1, payload)
			dgot, derr := dec.Decode(c.name, 1, payload)
			if (err != nil) != (derr != nil) || err == nil && !sameValue(got, dgot) {
				t.Fatalf("%s: Decoder gave %#v (%v), Registry.Decode %#v (%v)", c.name, dgot, derr, got, err)
			}
			if !wellFormed(payload) {
				if err == nil {
					t.Fatalf("%s: % x is ill-formed, but Decode gave %#v", c.name, payload, got)
				}
				continue
			}
			want, wantErr := c.want()
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%s: Decode error %v, msgpack.Unmarshal error %v", c.name, err, wantErr)
			}
			if err == nil && !sameValue(got, want) {
				t.Fatalf("%s: Decode = %#v, msgpack.Unmarshal = %#v", c.name, got, want)
			}
		}
	})
}

// A heads snapshot read back from the store never panics the decoder, and
// what it decodes (the last head named per stream wins, as at Open) is what
// the encoder writes again.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(snapValue(0, map[string]streamHead{"s": {1, 1}}))
	f.Add(snapValue(1<<40, map[string]streamHead{"lock/ü": {7, 1<<40 + 9}, "b": {2, 3}}))
	f.Add([]byte{})
	f.Add(putU64(5))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &Ledger{heads: map[string]headEntry{}, snapMax: 1 << 30}
		merged, err := decodeSnapshot(b, func(s string, h streamHead) error {
			if _, ok := l.heads[s]; !ok {
				l.dirty = append(l.dirty, s)
			}
			l.heads[s] = headEntry{streamHead: h, dirty: true}
			return nil
		})
		if err != nil {
			return
		}
		l.mergedThrough = merged
		snap, ok := l.encodeSnapshot()
		if !ok {
			t.Fatal("encodeSnapshot refused")
		}
		got := map[string]streamHead{}
		again, err := decodeSnapshot(snap, func(s string, h streamHead) error {
			if _, ok := got[s]; ok {
				return fmt.Errorf("%q twice", s)
			}
			got[s] = h
			return nil
		})
		if err != nil || again != merged || len(got) != len(l.heads) {
			t.Fatalf("re-encoded snapshot: %v, merged %d (want %d), %d heads (want %d)", err, again, merged, len(got), len(l.heads))
		}
		for s, e := range l.heads {
			if got[s] != e.streamHead {
				t.Fatalf("%q: %v, want %v", s, got[s], e.streamHead)
			}
		}
	})
}
