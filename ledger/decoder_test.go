package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// decoderRegistry registers shapes of every kind a Decoder handles: planned
// values, a pointer type and a type msgpack decodes alone (both decoded as
// Registry.Decode does), and a type with an upcaster.
func decoderRegistry(t testing.TB) *Registry {
	t.Helper()
	reg := NewRegistry()
	if err := errors.Join(reg.Register("note", 2, testNote{}), reg.Register("every", 1, shapeEvery{}),
		reg.Register("nested", 1, &shapeNested{}), reg.Register("embeds", 1, shapeEmbeds{}),
		reg.Register("holder", 1, shapeHolder{}), reg.Register("ptr", 1, shapePtr{}),
		reg.RegisterUpcaster("note", 1, func(b []byte) ([]byte, error) {
			var old struct{ Body string }
			if err := msgpack.Unmarshal(b, &old); err != nil {
				return nil, err
			}
			return msgpack.Marshal(testNote{Text: "upcast " + old.Body})
		})); err != nil {
		t.Fatal(err)
	}
	return reg
}

// shapeHolder has strings in a nested struct.
type shapeHolder struct {
	Name string
	In   struct {
		Name string
		Tags []string
	}
}

// A Decoder decodes what Registry.Decode decodes, for every kind of type,
// and fails where it fails; a value's memory reused after Reset holds
// nothing of the value decoded there before.
func TestDecoderDecodesAsRegistry(t *testing.T) {
	reg := decoderRegistry(t)
	payload := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		schema uint16
		b      []byte
	}{
		{"every", 1, payload(shapeEvery{S: "first", Bytes: []byte{1, 2}, Tags: []string{"a", "b"}, Word: 3, I: -7, Inner: shapeTwo{A: 1, B: 2}})},
		{"every", 1, payload(shapeEvery{Renamed: "r"})}, // the first's fields must not show through
		{"every", 1, payload(map[string]any{"S": 1})},   // a wrong kind: an error
		{"note", 2, payload(testNote{Text: "now"})},
		{"note", 1, payload(struct{ Body string }{"then"})},
		{"note", 3, payload(testNote{})}, // newer than registered
		{"nested", 1, payload(&shapeNested{Tags: []string{"x"}})},
		{"holder", 1, payload(map[string]any{"Name": "h", "In": map[string]any{"Name": "inner", "Tags": []string{"t"}}})},
		{"holder", 1, payload(map[string]any{"In": nil})},
		{"ptr", 1, payload(map[string]any{"P": 5})},
		{"ptr", 1, payload(map[string]any{})},
		{"embeds", 1, payload(shapeEmbeds{C: 4})},
		{"unknown", 1, payload(testNote{})},
	}
	dec := NewDecoder(reg)
	for round := range 3 {
		for i, c := range cases {
			dec.Reset() // each value goes where the case before put one
			got, err := dec.Decode(c.name, c.schema, c.b)
			want, wantErr := reg.Decode(c.name, c.schema, c.b)
			if (err != nil) != (wantErr != nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("round %d, case %d (%s): Decoder error %v, Registry error %v", round, i, c.name, err, wantErr)
			}
			if !sameValue(got, want) {
				t.Fatalf("round %d, case %d (%s): Decoder = %#v, Registry = %#v", round, i, c.name, got, want)
			}
		}
	}
}

// What a reader copies out of a value stays intact once the Decoder reuses
// the value's memory: strings, byte slices and slices are not overwritten.
func TestDecoderValuesOutliveReset(t *testing.T) {
	reg := decoderRegistry(t)
	dec := NewDecoder(reg)
	var kept []shapeEvery
	var holders []shapeHolder
	for i := range 300 {
		if i%10 == 0 {
			dec.Reset()
		}
		b, err := msgpack.Marshal(shapeEvery{S: fmt.Sprintf("text %d", i%7), Bytes: []byte(fmt.Sprintf("bytes %d", i)),
			Tags: []string{fmt.Sprintf("tag %d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		v, err := dec.Decode("every", 1, b)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, v.(shapeEvery))
		var h shapeHolder
		h.Name, h.In.Name, h.In.Tags = fmt.Sprintf("holder %d", i), fmt.Sprintf("inner %d", i%3), []string{fmt.Sprint(i)}
		if b, err = msgpack.Marshal(h); err != nil {
			t.Fatal(err)
		}
		if v, err = dec.Decode("holder", 1, b); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, v.(shapeHolder))
	}
	for i, v := range kept {
		if v.S != fmt.Sprintf("text %d", i%7) || string(v.Bytes) != fmt.Sprintf("bytes %d", i) ||
			len(v.Tags) != 1 || v.Tags[0] != fmt.Sprintf("tag %d", i) {
			t.Fatalf("value %d changed after its memory was reused: %+v", i, v)
		}
		h := holders[i]
		if h.Name != fmt.Sprintf("holder %d", i) || h.In.Name != fmt.Sprintf("inner %d", i%3) || len(h.In.Tags) != 1 || h.In.Tags[0] != fmt.Sprint(i) {
			t.Fatalf("holder %d changed after its memory was reused: %+v", i, h)
		}
	}
}

// Decoding into reused memory allocates nothing for a value of repeated
// strings.
func TestDecoderAllocations(t *testing.T) {
	reg := decoderRegistry(t)
	dec := NewDecoder(reg)
	_, _, payload, err := reg.Encode(testNote{Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		dec.Reset()
		if _, err := dec.Decode("note", 2, payload); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding a note into reused memory: %v allocations, want 0", allocs)
	}
}

// A Decoder holds as many values as its reader held between its last two
// Resets, not the most it ever held of each type.
func TestDecoderResetLetsGo(t *testing.T) {
	reg := decoderRegistry(t)
	dec := NewDecoder(reg)
	note, err := msgpack.Marshal(testNote{Text: "n"})
	if err != nil {
		t.Fatal(err)
	}
	holder, err := msgpack.Marshal(shapeHolder{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	held := func() (n int) {
		for _, ts := range dec.slots {
			n += len(ts.vals)
		}
		return n
	}
	for range 256 {
		if _, err := dec.Decode("note", 2, note); err != nil {
			t.Fatal(err)
		}
	}
	dec.Reset()
	if _, err := dec.Decode("holder", 1, holder); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 257 {
		t.Fatalf("before the second Reset: %d values held, want 257", n)
	}
	dec.Reset()
	if n := held(); n != 1 {
		t.Fatalf("after a round of one value: %d values held, want 1", n)
	}
}

// FollowRaw delivers what Follow delivers, with Data left to the reader.
func TestFollowRaw(t *testing.T) {
	l := openMem(t)
	fill(t, l, readChunk+10)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	want := map[uint64]Event{}
	for e, err := range l.ReadAll(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		e.Raw = slices.Clone(e.Raw) // valid until the loop body returns
		want[e.Position] = e
	}
	dec := NewDecoder(l.Registry())
	n := 0
	for e, err := range l.FollowRaw(ctx, 1) {
		if err != nil {
			t.Fatal(err)
		}
		w := want[e.Position]
		if e.Data != nil || string(e.Raw) != string(w.Raw) || e.Stream != w.Stream || e.Version != w.Version || e.ID != w.ID || e.Type != w.Type || !e.Time.Equal(w.Time) {
			t.Fatalf("position %d: FollowRaw gave %+v, ReadAll %+v", e.Position, e, w)
		}
		v, err := dec.Decode(e.Type, e.Schema, e.Raw)
		if err != nil || !sameValue(v, w.Data) {
			t.Fatalf("position %d: decoded %#v (%v), want %#v", e.Position, v, err, w.Data)
		}
		if n++; n == len(want) {
			break
		}
	}
}

// gcShape holds a byte slice: a pointer the zeroing of a reused value
// overwrites.
type gcShape struct {
	Bytes []byte
	N     int
}

// A byte slice copied out of a value and held only on the reader's stack
// stays alive when the Decoder zeroes the value for reuse during a
// collection: the zeroing goes through the collector's write barrier. The
// check runs in a child process with GODEBUG=gccheckmark=1, under which the
// collector verifies it marked everything reachable (a miss is fatal).
func TestDecoderReuseIsCollectorSafe(t *testing.T) {
	if os.Getenv("KEYLEDGER_DECODER_GC_CHILD") == "1" {
		decoderGCStress(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestDecoderReuseIsCollectorSafe$", "-test.count=1")
	// Two processors at least, so the collector marks while values are reused.
	cmd.Env = append(os.Environ(), "KEYLEDGER_DECODER_GC_CHILD=1", "GODEBUG=gccheckmark=1", "GOMAXPROCS=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reusing values during collections: %v\n%s", err, out)
	}
}

func decoderGCStress(t *testing.T) {
	reg := NewRegistry()
	if err := reg.Register("gc", 1, gcShape{}); err != nil {
		t.Fatal(err)
	}
	const n = 2048
	payloads := make([][]byte, n)
	for i := range payloads {
		b, err := msgpack.Marshal(gcShape{Bytes: []byte(fmt.Sprintf("bytes of value %d", i)), N: i})
		if err != nil {
			t.Fatal(err)
		}
		payloads[i] = b
	}
	// A large heap of pointers makes each collection mark for a while.
	ballast := make([]*[8]int, 1<<20)
	for i := range ballast {
		ballast[i] = new([8]int)
	}
	dec := NewDecoder(reg)
	for round := range 10 {
		var vals [n]any
		for i := range vals {
			v, err := dec.Decode("gc", 1, payloads[i])
			if err != nil {
				t.Fatal(err)
			}
			vals[i] = v
		}
		// While the collector marks, the slices move from the values to
		// the stack (scanned already, perhaps) and the values are zeroed.
		done := make(chan struct{})
		go func() { runtime.GC(); close(done) }()
		time.Sleep(time.Millisecond) // this stack is scanned meanwhile
		var kept [n][]byte           // on the stack only
		for i := range kept {
			kept[i], vals[i] = vals[i].(gcShape).Bytes, nil
		}
		dec.Reset()
		for i := range kept {
			if _, err := dec.Decode("gc", 1, payloads[(i+1)%n]); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		runtime.GC()
		for i := range kept {
			if !bytes.Equal(kept[i], []byte(fmt.Sprintf("bytes of value %d", i))) {
				t.Fatalf("round %d: value %d's bytes changed after its value was reused", round, i)
			}
		}
		dec.Reset()
	}
	runtime.KeepAlive(ballast)
}
