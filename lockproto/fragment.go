package lockproto

import "fmt"

// Fragmentation carries a frame over links whose writes are smaller
// than it, down to the 20-byte payload of a default BLE ATT MTU. Each
// fragment is [index][count][payload]: index 0..count-1, count 1..MaxFragments,
// every payload but the last as long as the first.
const (
	// FragmentMTU is the smallest link payload the protocol assumes.
	FragmentMTU      = 20
	fragmentHeader   = 2
	MaxFragments     = 64
	MaxMessageSize   = 1024 // largest reassembled frame; an audit batch is at most MaxAuditBatchSize
	minFragmentWrite = fragmentHeader + 1
)

// Fragment splits msg into writes of at most mtu bytes.
func Fragment(msg []byte, mtu int) ([][]byte, error) {
	if mtu < minFragmentWrite || mtu > fragmentHeader+255 {
		return nil, invalidf("mtu %d, want %d..%d", mtu, minFragmentWrite, fragmentHeader+255)
	}
	if len(msg) == 0 || len(msg) > MaxMessageSize {
		return nil, invalidf("message of %d bytes, want 1..%d", len(msg), MaxMessageSize)
	}
	per := mtu - fragmentHeader
	count := (len(msg) + per - 1) / per
	if count > MaxFragments {
		return nil, invalidf("message of %d bytes needs %d fragments at mtu %d, at most %d", len(msg), count, mtu, MaxFragments)
	}
	out := make([][]byte, 0, count)
	for i := 0; i < count; i++ {
		part := msg[i*per : min((i+1)*per, len(msg))]
		f := make([]byte, 0, fragmentHeader+len(part))
		f = append(f, byte(i), byte(count))
		out = append(out, append(f, part...))
	}
	return out, nil
}

// Reassembler rebuilds one frame at a time from in-order fragments in a
// fixed buffer. Fragment index 0 always starts a new frame, dropping any
// partial one. The zero value is ready.
type Reassembler struct {
	buf   [MaxMessageSize]byte
	n     int // bytes so far
	next  int // expected index
	count int // 0 = idle
	per   int // payload size of the first fragment
}

// Reset drops a partial frame.
func (r *Reassembler) Reset() { r.n, r.next, r.count, r.per = 0, 0, 0, 0 }

// Add takes one fragment. It returns the frame when the last fragment
// arrives; the slice aliases the reassembler's buffer and is valid until the
// next Add. Errors are *FragmentError; after one the partial frame is gone.
func (r *Reassembler) Add(frag []byte) ([]byte, error) {
	if len(frag) < minFragmentWrite {
		r.Reset()
		return nil, &FragmentError{Index: -1, Count: -1, Detail: fmt.Sprintf("%d bytes, at least %d", len(frag), minFragmentWrite)}
	}
	idx, count, payload := int(frag[0]), int(frag[1]), frag[fragmentHeader:]
	fail := func(detail string) ([]byte, error) {
		r.Reset()
		return nil, &FragmentError{Index: idx, Count: count, Detail: detail}
	}
	if count == 0 || count > MaxFragments {
		return fail(fmt.Sprintf("count %d, want 1..%d", count, MaxFragments))
	}
	if idx >= count {
		return fail("index beyond count")
	}
	if idx == 0 {
		r.Reset()
		r.count, r.per = count, len(payload)
		if count*r.per < r.per || (count-1)*r.per+1 > MaxMessageSize {
			return fail(fmt.Sprintf("frame of up to %d bytes, at most %d", count*r.per, MaxMessageSize))
		}
	} else {
		switch {
		case r.count == 0:
			return fail("no frame started")
		case count != r.count:
			return fail(fmt.Sprintf("count changed from %d", r.count))
		case idx != r.next:
			return fail(fmt.Sprintf("expected fragment %d", r.next))
		}
	}
	last := idx == count-1
	if (!last && len(payload) != r.per) || (last && len(payload) > r.per) {
		return fail(fmt.Sprintf("payload of %d bytes, first was %d", len(payload), r.per))
	}
	if r.n+len(payload) > MaxMessageSize {
		return fail(fmt.Sprintf("frame over %d bytes", MaxMessageSize))
	}
	r.n += copy(r.buf[r.n:], payload)
	r.next = idx + 1
	if !last {
		return nil, nil
	}
	msg := r.buf[:r.n]
	r.n, r.next, r.count, r.per = 0, 0, 0, 0
	return msg, nil
}
