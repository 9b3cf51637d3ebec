package ledger

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// Shapes a registered type can have. Some are held in an interface word
// itself (a pointer, a struct or array of one pointer), the others in memory
// the interface points at; Decode hands out both kinds without copying.
type (
	shapeMap     struct{ M map[string]int }
	shapePtr     struct{ P *int }
	shapeEmpty   struct{}
	shapeTwo     struct{ A, B int64 }
	shapeByPtr   struct{ A, B int64 }
	shapeCounter int
	shapeArray   [1]*string
	shapeNested  struct {
		Inner shapeTwo
		Tags  []string
		Bytes []byte
	}
)

func TestDecodeEveryShape(t *testing.T) {
	n, s := 7, "seven"
	cases := []struct {
		name  string
		value any
		eq    bool // comparable with ==: no pointers inside
	}{
		{"struct", testNote{Text: "hello"}, true},
		{"pointer to struct", &shapeByPtr{A: 1, B: -2}, false},
		{"struct of one map", shapeMap{M: map[string]int{"a": 1}}, false},
		{"struct of one pointer", shapePtr{P: &n}, false},
		{"struct of one nil pointer", shapeMap{}, false},
		{"empty struct", shapeEmpty{}, true},
		{"two fields", shapeTwo{A: 1 << 40, B: -5}, true},
		{"named int", shapeCounter(42), true},
		{"array of one pointer", shapeArray{&s}, false},
		{"nested", shapeNested{Inner: shapeTwo{A: 3}, Tags: []string{"x", "y"}, Bytes: []byte{1, 2}}, false},
	}
	reg := NewRegistry()
	for i, c := range cases {
		if _, _, ok := reg.Lookup(c.value); ok {
			continue // a second value of a type
		}
		if err := reg.Register(fmt.Sprintf("shape.%d", i), 1, c.value); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	l, err := Open("", &Options{InMemory: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name, schema, payload, err := reg.Encode(c.value)
			if err != nil {
				t.Fatal(err)
			}
			first, err := reg.Decode(name, schema, payload)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.TypeOf(first) != reflect.TypeOf(c.value) || !reflect.DeepEqual(first, c.value) {
				t.Fatalf("Decode = %#v (%T), want %#v", first, first, c.value)
			}
			if c.eq && first != c.value { // the interface's equality reads the decoded memory
				t.Fatalf("Decode = %#v, not == %#v", first, c.value)
			}
			second, _ := reg.Decode(name, schema, payload)
			if p, ok := second.(*shapeByPtr); ok {
				p.A++ // each decode is a value of its own
				if first.(*shapeByPtr).A == p.A {
					t.Fatal("two decodes share memory")
				}
			}
			res, err := l.Append(bg, "shapes", ExpectAny, NewEvent{Data: c.value})
			if err != nil {
				t.Fatal(err)
			}
			for ev, err := range l.ReadAll(bg, res.First) {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(ev.Data, c.value) || !bytes.Equal(ev.Raw, payload) {
					t.Fatalf("ReadAll: %#v %x, want %#v %x", ev.Data, ev.Raw, c.value, payload)
				}
			}
		})
	}
}

// Registering while others encode and decode is safe (run with -race):
// lookups read a published snapshot of the types.
func TestRegistryConcurrentUse(t *testing.T) {
	reg := testRegistry(t)
	name, schema, payload, err := reg.Encode(testNote{Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 {
					_ = reg.Register(fmt.Sprintf("late.%d", i), 1, reflect.New(reflect.StructOf([]reflect.StructField{
						{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeOf(0)}})).Elem().Interface())
					continue
				}
				if v, err := reg.Decode(name, schema, payload); err != nil || v != (testNote{Text: "x"}) {
					t.Errorf("Decode = %v, %v", v, err)
					return
				}
				if _, _, _, err := reg.Encode(testNote{Text: "y"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, _, ok := reg.Lookup(reflect.New(reflect.StructOf([]reflect.StructField{{Name: "F199", Type: reflect.TypeOf(0)}})).Elem().Interface()); !ok {
		t.Fatal("a type registered concurrently is not found")
	}
}
