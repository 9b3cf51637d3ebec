package proofs

import (
	"bytes"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// Node keys follow the order in which nodes become complete, without gaps:
// the visitor of compact.Range.Append reports them in that order.
func TestNodeKeysAreCompletionOrder(t *testing.T) {
	r := factory.NewEmptyRange(0)
	var prev []byte
	n := 0
	visit := func(id compact.NodeID, _ []byte) {
		k := nodeKey(id)
		if want := nodeKeyOfSeq(uint64(n)); !bytes.Equal(k, want) {
			t.Fatalf("node %+v: key %x, want %x (the %d-th completed)", id, k, want, n)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Fatalf("node %+v: key %x not above %x", id, k, prev)
		}
		prev, n = k, n+1
	}
	leaf := make([]byte, 32)
	for range 5000 {
		if err := r.Append(leaf, visit); err != nil {
			t.Fatal(err)
		}
	}
}

func nodeKeyOfSeq(seq uint64) []byte {
	return append([]byte(nodePrefix), byte(seq>>56), byte(seq>>48), byte(seq>>40), byte(seq>>32), byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq))
}
