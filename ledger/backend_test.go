package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// The exported canonical bytes are byte for byte what the ledger stores
// before each hash, and the chain over them is the stored one: another
// backend built on AppendCanonical and ChainHash has the same digests.
func TestAppendCanonicalIsTheStoredRecord(t *testing.T) {
	l := openMem(t)
	at := time.Date(2026, 2, 3, 4, 5, 6, 789, time.UTC)
	for i := range anchorEvery + 20 {
		n := uint64(i + 1)
		var err error
		switch i % 4 {
		case 0:
			_, err = l.Append(bg, "long", ExpectAny, tev(n))
		case 1: // a generated ID and the clock's time
			_, err = l.Append(bg, "long", ExpectAny, NewEvent{Data: testNote{Text: strings.Repeat("é", i)}})
		case 2:
			_, err = l.AppendMulti(bg,
				StreamAppend{Stream: fmt.Sprintf("s%d", i%7), Expect: ExpectAny, Events: []NewEvent{{ID: tid(n), Data: &testOpened{N: -i}, Time: at}}},
				StreamAppend{Stream: "long", Expect: ExpectExists})
		default:
			_, err = l.AppendMulti(bg, StreamAppend{Stream: "guard", Expect: ExpectNoStream},
				StreamAppend{Stream: "long", Expect: ExpectAny, Events: []NewEvent{tev(n), tev(n + 1<<20)}})
		}
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	var hash [32]byte
	prev := map[string]uint64{}
	var body []byte
	for _, ev := range readAll(t, l) {
		raw := rawRecord(t, l, ev.Position)
		var err error
		if body, err = AppendCanonical(body[:0], &ev, prev[ev.Stream]); err != nil {
			t.Fatalf("position %d: %v", ev.Position, err)
		}
		if !bytes.Equal(body, recordBody(raw)) {
			t.Fatalf("position %d: canonical bytes\n%x\nstored\n%x", ev.Position, body, recordBody(raw))
		}
		hash = ChainHash(hash, body)
		if !bytes.Equal(hash[:], raw[len(raw)-32:]) {
			t.Fatalf("position %d: chain hash differs from the stored one", ev.Position)
		}
		prev[ev.Stream] = ev.Position
	}
	if head, err := l.Head(bg); err != nil || head.Hash != hash || head.Position != l.DurablePosition() {
		t.Fatalf("Head = %v, %v; chain %x", head, err, hash)
	}
}

func TestAppendCanonicalRefuses(t *testing.T) {
	good := Event{Position: 5, Stream: "s", Version: 2, Type: "t", Raw: []byte{0x80}, Time: time.Unix(1, 0)}
	if _, err := AppendCanonical(nil, &good, 3); err != nil {
		t.Fatalf("a valid event: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(e *Event, prev *uint64)
	}{
		{"position 0", func(e *Event, _ *uint64) { e.Position = 0 }},
		{"version 0", func(e *Event, _ *uint64) { e.Version = 0 }},
		{"version 1 with a previous event", func(e *Event, _ *uint64) { e.Version = 1 }},
		{"no previous event after version 1", func(_ *Event, p *uint64) { *p = 0 }},
		{"previous event at its position", func(_ *Event, p *uint64) { *p = 5 }},
		{"previous event after it", func(_ *Event, p *uint64) { *p = 9 }},
		{"empty stream", func(e *Event, _ *uint64) { e.Stream = "" }},
		{"long stream", func(e *Event, _ *uint64) { e.Stream = strings.Repeat("s", maxStreamLen+1) }},
		{"NUL in stream", func(e *Event, _ *uint64) { e.Stream = "a\x00" }},
		{"empty type", func(e *Event, _ *uint64) { e.Type = "" }},
		{"long type", func(e *Event, _ *uint64) { e.Type = strings.Repeat("t", maxTypeLen+1) }},
		{"type not UTF-8", func(e *Event, _ *uint64) { e.Type = "\xff" }},
		{"payload over the limit", func(e *Event, _ *uint64) { e.Raw = make([]byte, maxPayloadLen+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, prev := good, uint64(3)
			tc.edit(&e, &prev)
			dst := []byte("kept")
			got, err := AppendCanonical(dst, &e, prev)
			if !errors.Is(err, ErrInvalid) || string(got) != "kept" {
				t.Fatalf("got %q, %v; want dst unchanged and ErrInvalid", got, err)
			}
		})
	}
}

// Every valid event's canonical bytes parse back (with a hash appended) to
// the same fields, as the ledger reads a stored record.
func TestAppendCanonicalParses(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pos := rapid.Uint64Range(1, 1<<62).Draw(t, "pos")
		ver := rapid.Uint64Range(1, 1<<62).Draw(t, "ver")
		var prev uint64
		if ver > 1 {
			prev = rapid.Uint64Range(1, pos).Draw(t, "prev")
			if prev == pos {
				pos++
			}
		}
		e := Event{
			Position: pos, Version: ver,
			ID:     uuid.UUID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id")),
			Stream: rapid.StringMatching(`[a-z/ü-]{1,40}`).Draw(t, "stream"),
			Type:   rapid.StringMatching(`[a-z.]{1,40}`).Draw(t, "type"),
			Schema: rapid.Uint16().Draw(t, "schema"),
			Time:   time.Unix(0, rapid.Int64().Draw(t, "time")),
			Raw:    rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "raw"),
		}
		body, err := AppendCanonical(nil, &e, prev)
		if err != nil {
			t.Fatal(err)
		}
		h := ChainHash([32]byte{}, body)
		r, err := decodeRecord(append(body, h[:]...))
		if err != nil {
			t.Fatalf("stored form does not parse: %v", err)
		}
		if r.format != recordFormat || r.pos != e.Position || r.version != e.Version || r.prev != prev || r.id != e.ID ||
			r.time != e.Time.UnixNano() || r.schema != e.Schema || r.stream != e.Stream || r.typ != e.Type || !bytes.Equal(r.data, e.Raw) || r.hash != h {
			t.Fatalf("parsed %+v from %+v (previous %d)", r, e, prev)
		}
		if !bytes.Equal(appendRecordBody(nil, &r), body) {
			t.Fatal("the test encoder and AppendCanonical differ")
		}
	})
}

func TestStateBatchOps(t *testing.T) {
	var b StateBatch
	key := []byte("k")
	b.Set(key, []byte("v"))
	key[0] = 'x' // the batch holds a copy
	b.Delete([]byte("d"))
	b.DeletePrefix(nil)
	b.SetCheckpoint("sub", 7)
	b.SetNoSyncWait(true)
	want := []StateOp{
		{Kind: OpSet, Key: []byte("k"), Value: []byte("v")},
		{Kind: OpDelete, Key: []byte("d")},
		{Kind: OpDeletePrefix, Key: []byte{}},
		{Kind: OpSetCheckpoint, Name: "sub", Position: 7},
	}
	got := slices.Collect(b.Ops())
	if len(got) != len(want) {
		t.Fatalf("Ops yielded %d operations, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || g.Name != w.Name || g.Position != w.Position {
			t.Errorf("op %d = %+v (%v), want %+v", i, g, g.Kind, w)
		}
	}
	for range b.Ops() {
		break // stopping early is allowed
	}
	if !b.NoSyncWait() || b.Validate() != nil {
		t.Fatalf("NoSyncWait %v, Validate %v", b.NoSyncWait(), b.Validate())
	}
	b.Reset()
	if b.Len() != 0 || !b.NoSyncWait() {
		t.Fatalf("after Reset: %d operations, NoSyncWait %v (kept)", b.Len(), b.NoSyncWait())
	}
	b.SetCheckpoint("", 1)
	if err := b.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate of an empty checkpoint name: %v", err)
	}
	if s := StateOpKind(9).String(); s != "StateOpKind(9)" {
		t.Fatalf("unknown kind prints %q", s)
	}
}

// Encode gives the payload Append stores; Decode upcasts a stored payload
// as reads do.
func TestRegistryEncodeDecode(t *testing.T) {
	old := NewRegistry()
	if err := old.Register("account.created", 1, accountV1{}); err != nil {
		t.Fatal(err)
	}
	name, schema, payload, err := old.Encode(&accountV1{Name: "Ada Lovelace"})
	if err != nil || name != "account.created" || schema != 1 {
		t.Fatalf("Encode = %q, %d, %v", name, schema, err)
	}
	l, err := Open("", &Options{InMemory: true, Registry: old})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(bg, "acc", ExpectAny, NewEvent{Data: accountV1{Name: "Ada Lovelace"}}); err != nil {
		t.Fatal(err)
	}
	if e, err := l.EventAt(bg, 1); err != nil || !bytes.Equal(e.Raw, payload) {
		t.Fatalf("stored payload %x, %v; Encode gave %x", e.Raw, err, payload)
	}

	cur := NewRegistry()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cur.Register("account.created", 3, &accountV3{}))
	must(cur.RegisterUpcaster("account.created", 1, func(b []byte) ([]byte, error) {
		var v1 accountV1
		if err := msgpack.Unmarshal(b, &v1); err != nil {
			return nil, err
		}
		first, last, _ := strings.Cut(v1.Name, " ")
		return msgpack.Marshal(map[string]string{"First": first, "Last": last})
	}))
	must(cur.RegisterUpcaster("account.created", 2, func(b []byte) ([]byte, error) {
		if len(b) == 0 {
			return nil, errors.New("empty")
		}
		var m map[string]string
		if err := msgpack.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		m["Email"] = "unknown"
		return msgpack.Marshal(m)
	}))
	v, err := cur.Decode("account.created", 1, payload)
	if got, ok := v.(*accountV3); err != nil || !ok || *got != (accountV3{First: "Ada", Last: "Lovelace", Email: "unknown"}) {
		t.Fatalf("Decode with upcasters = %#v, %v", v, err)
	}
	if v, err := cur.Decode("other", 1, payload); v != nil || err != nil {
		t.Fatalf("Decode of an unregistered name = %#v, %v; want nil, nil", v, err)
	}
	for _, tc := range []struct {
		name   string
		schema uint16
		data   []byte
		want   error
	}{
		{"newer schema", 4, payload, ErrUnknownType},
		{"failing upcaster", 2, nil, nil},
		{"undecodable payload", 3, []byte{0xc1}, nil},
	} {
		_, err := cur.Decode("account.created", tc.schema, tc.data)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), "account.created") {
			t.Errorf("%s: Decode error %v, want one naming the type (and %v)", tc.name, err, tc.want)
		}
	}
	if _, _, _, err := cur.Encode(accountV1{}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Encode of an unregistered type: %v", err)
	}
	type withChan struct{ C chan int }
	must(cur.Register("bad", 1, withChan{}))
	if _, _, _, err := cur.Encode(withChan{C: make(chan int)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Encode of an unencodable value: %v", err)
	}
	var none *Registry
	if _, _, _, err := none.Encode(accountV1{}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Encode on a nil registry: %v", err)
	}
}
