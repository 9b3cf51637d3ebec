package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"pgregory.net/rapid"
)

// model is what the ledger must hold: every acknowledged event, in order.
type model struct {
	events   []modelEvent
	versions map[string]uint64
	appends  []modelAppend // acknowledged appends, for retries
}

type modelEvent struct {
	stream  string
	version uint64
	id      uuid.UUID
	n       int
}

type modelAppend struct {
	req []StreamAppend
	res AppendResult
}

type machine struct {
	t      *rapid.T
	fs     *vfs.MemFS
	reg    *Registry
	l      *Ledger
	m      model
	nextID uint64
	// headsEvery is lowered so the heads are stored every few events, and
	// crashes land before, at and after their writes.
	headsEvery uint64
	// snapMax and snapBudget are lowered so stores switch between
	// snapshots and merges.
	snapMax, snapBudget int
}

var modelStreams = []string{"a", "b", "c", "d"}

func (s *machine) open(fs *vfs.MemFS) {
	l, err := Open("db", &Options{FS: fs, Registry: s.reg})
	if err != nil {
		s.t.Fatalf("open: %v", err)
	}
	// Open replays at most the events since the heads were stored: fewer
	// than headsEvery, plus one append's.
	if l.lastPos-l.headsThrough >= s.headsEvery+9 {
		s.t.Fatalf("open: heads stored through %d of %d (every %d)", l.headsThrough, l.lastPos, s.headsEvery)
	}
	l.headsEvery, l.snapMax, l.snapBudget = s.headsEvery, s.snapMax, s.snapBudget
	s.fs, s.l = fs, l
}

// newEvents draws events with caller IDs or generated ones (a zero ID).
func (s *machine) newEvents(t *rapid.T) []NewEvent {
	n := rapid.IntRange(1, 3).Draw(t, "events")
	evs := make([]NewEvent, n)
	for i := range evs {
		s.nextID++
		evs[i] = tev(s.nextID)
		if rapid.Bool().Draw(t, "generated") {
			evs[i].ID = uuid.UUID{}
		}
	}
	return evs
}

// drawExpect draws a good or a stale expectation for stream.
func (s *machine) drawExpect(t *rapid.T, stream string) Expect {
	cur := s.m.versions[stream]
	switch rapid.IntRange(0, 5).Draw(t, "expect") {
	case 0:
		return ExpectAny
	case 1:
		return ExpectNoStream
	case 2:
		return ExpectExists
	case 3:
		if cur > 0 {
			return ExpectVersion(cur - 1) // stale
		}
		return ExpectVersion(cur + 1)
	default:
		return ExpectVersion(cur)
	}
}

func (s *machine) doAppend(t *rapid.T, req []StreamAppend) {
	res, err := s.l.AppendMulti(bg, req...)
	n := 0
	for _, a := range req {
		n += len(a.Events)
	}
	if n == 0 {
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("append of conditions only %v: %v, want ErrInvalid", req, err)
		}
		return
	}
	var conflict *ConflictError
	var want *ConflictError
	for _, a := range req {
		if cur := s.m.versions[a.Stream]; !a.Expect.check(cur) {
			want = &ConflictError{Stream: a.Stream, Expected: a.Expect, Actual: cur}
			break
		}
	}
	if want != nil {
		if !errors.As(err, &conflict) || *conflict != *want {
			t.Fatalf("append %v: got %v, want conflict %v", req, err, want)
		}
		return
	}
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	first := uint64(len(s.m.events)) + 1
	if res.First != first {
		t.Fatalf("append landed at %d, want %d", res.First, first)
	}
	// Generated IDs are read back: the model keeps them, and a retry of the
	// append repeats them.
	req = slices.Clone(req)
	pos := first
	for i := range req {
		req[i].Events = slices.Clone(req[i].Events)
		for j := range req[i].Events {
			if req[i].Events[j].ID == (uuid.UUID{}) {
				ev, err := s.l.EventAt(bg, pos)
				if err != nil {
					t.Fatalf("EventAt(%d): %v", pos, err)
				}
				req[i].Events[j].ID = ev.ID
			}
			pos++
		}
	}
	for i, a := range req {
		for _, e := range a.Events {
			s.m.versions[a.Stream]++
			s.m.events = append(s.m.events, modelEvent{a.Stream, s.m.versions[a.Stream], e.ID, e.Data.(testOpened).N})
		}
		if res.Versions[i] != s.m.versions[a.Stream] {
			t.Fatalf("stream %s at version %d, model %d", a.Stream, res.Versions[i], s.m.versions[a.Stream])
		}
	}
	if res.Last != uint64(len(s.m.events)) {
		t.Fatalf("append ended at %d, want %d", res.Last, len(s.m.events))
	}
	s.m.appends = append(s.m.appends, modelAppend{req, res})
}

func (s *machine) check(t *rapid.T) {
	if got, want := s.l.DurablePosition(), uint64(len(s.m.events)); got != want {
		t.Fatalf("durable position %d, model has %d events", got, want)
	}
	i := 0
	for e, err := range s.l.ReadAll(bg, 0) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if i >= len(s.m.events) {
			t.Fatalf("extra event at %d", e.Position)
		}
		m := s.m.events[i]
		if e.Position != uint64(i+1) || e.Stream != m.stream || e.Version != m.version || e.ID != m.id || e.Data != (testOpened{m.n}) {
			t.Fatalf("position %d: %+v, model %+v", i+1, e, m)
		}
		i++
	}
	if i != len(s.m.events) {
		t.Fatalf("log has %d events, model %d", i, len(s.m.events))
	}
	d, err := s.l.Verify(bg)
	if err != nil || d.Position != uint64(len(s.m.events)) {
		t.Fatalf("Verify: %v, %v", d, err)
	}
	for i, m := range s.m.events {
		if e, err := s.l.EventByID(bg, m.id); err != nil || e.Position != uint64(i+1) {
			t.Fatalf("EventByID(%s) = position %d, %v; want %d", m.id, e.Position, err, i+1)
		}
	}
	for _, stream := range modelStreams {
		if v, err := s.l.StreamVersion(bg, stream); err != nil || v != s.m.versions[stream] {
			t.Fatalf("StreamVersion(%s) = %d, %v; model %d", stream, v, err, s.m.versions[stream])
		}
	}
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &machine{t: t, reg: testRegistry(t), m: model{versions: map[string]uint64{}}}
		s.headsEvery = rapid.Uint64Range(1, 12).Draw(t, "headsEvery")
		s.snapMax = rapid.SampledFrom([]int{0, 30, 60, maxSnapshot}).Draw(t, "snapMax")
		s.snapBudget = rapid.SampledFrom([]int{100, maxSnapBytes}).Draw(t, "snapBudget")
		s.open(vfs.NewCrashableMem())
		defer func() { _ = s.l.Close() }()
		t.Repeat(map[string]func(*rapid.T){
			"append": func(t *rapid.T) {
				stream := rapid.SampledFrom(modelStreams).Draw(t, "stream")
				s.doAppend(t, []StreamAppend{{Stream: stream, Expect: s.drawExpect(t, stream), Events: s.newEvents(t)}})
			},
			"appendMulti": func(t *rapid.T) {
				streams := rapid.SliceOfNDistinct(rapid.SampledFrom(modelStreams), 2, 3, func(s string) string { return s }).Draw(t, "streams")
				req := make([]StreamAppend, len(streams))
				for i, st := range streams {
					req[i] = StreamAppend{Stream: st, Expect: s.drawExpect(t, st), Events: s.newEvents(t)}
					if rapid.IntRange(0, 3).Draw(t, "conditionOnly") == 0 {
						req[i].Events = nil
					}
				}
				s.doAppend(t, req)
			},
			"retry": func(t *rapid.T) {
				if len(s.m.appends) == 0 {
					t.Skip("nothing to retry")
				}
				a := rapid.SampledFrom(s.m.appends).Draw(t, "append")
				req := slices.Clone(a.req)
				for i := range req {
					req[i].Expect = ExpectVersion(99) // stale now: a retry ignores it
				}
				res, err := s.l.AppendMulti(bg, req...)
				if err != nil || res.First != a.res.First || res.Last != a.res.Last || !slices.Equal(res.Versions, a.res.Versions) {
					t.Fatalf("retry: %+v, %v; original %+v", res, err, a.res)
				}
			},
			"partialRetry": func(t *rapid.T) {
				var multi []modelAppend
				for _, a := range s.m.appends {
					if a.res.Last > a.res.First {
						multi = append(multi, a)
					}
				}
				if len(multi) == 0 {
					t.Skip("no multi-event append")
				}
				a := rapid.SampledFrom(multi).Draw(t, "append")
				s.nextID++
				i := slices.IndexFunc(a.req, func(r StreamAppend) bool { return len(r.Events) > 0 })
				req := []StreamAppend{{Stream: a.req[i].Stream, Expect: ExpectAny, Events: []NewEvent{a.req[i].Events[0], tev(s.nextID)}}}
				if _, err := s.l.AppendMulti(bg, req...); !errors.Is(err, ErrDuplicateID) {
					t.Fatalf("partial retry: %v, want ErrDuplicateID", err)
				}
			},
			"readStream": func(t *rapid.T) {
				stream := rapid.SampledFrom(modelStreams).Draw(t, "stream")
				from := uint64(rapid.IntRange(0, 5).Draw(t, "from"))
				var want []modelEvent
				for _, e := range s.m.events {
					if e.stream == stream && e.version >= from {
						want = append(want, e)
					}
				}
				i := 0
				for e, err := range s.l.ReadStream(bg, stream, from) {
					if err != nil {
						t.Fatal(err)
					}
					if i >= len(want) || e.ID != want[i].id || e.Version != want[i].version {
						t.Fatalf("ReadStream(%s, %d)[%d] = %+v", stream, from, i, e)
					}
					i++
				}
				if i != len(want) {
					t.Fatalf("ReadStream(%s, %d) gave %d events, want %d", stream, from, i, len(want))
				}
			},
			"reopen": func(t *rapid.T) {
				if err := s.l.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				s.open(s.fs)
			},
			"crash": func(t *rapid.T) {
				pct := rapid.IntRange(0, 100).Draw(t, "unsyncedPercent")
				seed := rapid.Uint64().Draw(t, "seed")
				clone := s.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(seed, 1))})
				_ = s.l.Close()
				s.open(clone)
			},
			"": s.check,
		})
	})
}

// TestCrashDuringConcurrentAppends crashes the filesystem while appenders are
// in flight: every append acknowledged before the crash survives, no append
// is partly present, positions stay gap-free and the chain verifies.
func TestCrashDuringConcurrentAppends(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			reg := testRegistry(t)
			l, err := Open("db", &Options{FS: fs, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			acked := map[uuid.UUID]bool{}
			sizes := map[uuid.UUID]int{} // first ID of an append -> its event count
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := uint64(0); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						base := uint64(w+1)<<32 | i<<4
						evs := []NewEvent{tev(base), tev(base + 1), tev(base + 2)}[:1+i%3]
						if _, err := l.Append(bg, fmt.Sprintf("w%d", w), ExpectAny, evs...); err != nil {
							return
						}
						mu.Lock()
						acked[evs[0].ID] = true
						sizes[evs[0].ID] = len(evs)
						mu.Unlock()
					}
				})
			}
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 20+round*5 {
					break
				}
				runtimeYield()
			}
			mu.Lock()
			before := maps(acked)
			mu.Unlock()
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: round * 5, RNG: rand.New(rand.NewPCG(uint64(round), 7))})
			close(stop)
			wg.Wait()
			_ = l.Close()

			l2, err := Open("db", &Options{FS: clone, Registry: reg})
			if err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
			defer l2.Close()
			present := map[uuid.UUID]bool{}
			var byAppend = map[uint64]int{} // first-event base -> events found
			for i, e := range readAll(t, l2) {
				if e.Position != uint64(i+1) {
					t.Fatalf("gap: event %d at position %d", i, e.Position)
				}
				present[e.ID] = true
				byAppend[idNum(e.ID)&^0xf]++
			}
			for id := range before {
				if !present[id] {
					t.Fatalf("acknowledged event %s lost in the crash", id)
				}
			}
			mu.Lock()
			for base, n := range byAppend {
				if want, ok := sizes[tid(base)]; ok && n != want {
					t.Fatalf("append %x is partial: %d of %d events", base, n, want)
				}
				if n < 1 || n > 3 {
					t.Fatalf("append %x has %d events", base, n)
				}
			}
			mu.Unlock()
			if _, err := l2.Verify(bg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func idNum(u uuid.UUID) uint64 {
	var n uint64
	for i := 8; i < 16; i++ {
		n = n<<8 | uint64(u[i])
	}
	return n
}

func maps(m map[uuid.UUID]bool) map[uuid.UUID]bool {
	out := make(map[uuid.UUID]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
