package ledger

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// unlockLike has the shape of the library's unlock event: five strings,
// a bool, a small set and a counter.
type unlockLike struct {
	Key, Lock, By string
	Door          uint8
	Source        string
	Panel         string `msgpack:",omitempty"`
	Granted       bool
	Uses          uint32
}

// BenchmarkRegistryDecode: one payload decoded into a new value, through
// the type's plan, against msgpack.Unmarshal into a new value; and by a
// Decoder into memory it reuses (a run of 256 values, as the read models'
// catch-up holds).
func BenchmarkRegistryDecode(b *testing.B) {
	reg := NewRegistry()
	if err := reg.Register("unlock", 1, unlockLike{}); err != nil {
		b.Fatal(err)
	}
	name, schema, payload, err := reg.Encode(unlockLike{Key: "b3", Lock: "front", By: "ann", Door: 1, Source: "app", Granted: true, Uses: 12345})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v unlockLike
			if err := msgpack.Unmarshal(payload, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("registry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reg.Decode(name, schema, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder-reused", func(b *testing.B) {
		dec := NewDecoder(reg)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if n++; n%256 == 0 {
				dec.Reset()
			}
			if _, err := dec.Decode(name, schema, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
