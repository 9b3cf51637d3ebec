package lockproto

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func TestFragmentRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		msg := rapid.SliceOfN(rapid.Byte(), 1, MaxMessageSize).Draw(t, "msg")
		mtu := rapid.IntRange(FragmentMTU, 200).Draw(t, "mtu")
		frags, err := Fragment(msg, mtu)
		if err != nil {
			if len(msg) > MaxFragments*(mtu-2) {
				return
			}
			t.Fatal(err)
		}
		var r Reassembler
		for i, f := range frags {
			if len(f) > mtu {
				t.Fatalf("fragment %d is %d bytes, mtu %d", i, len(f), mtu)
			}
			got, err := r.Add(f)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != (i == len(frags)-1) {
				t.Fatalf("fragment %d: complete=%v", i, got != nil)
			}
			if got != nil && !bytes.Equal(got, msg) {
				t.Fatal("reassembled frame differs")
			}
		}
	})
}

func TestLargestFramesFitTwentyByteWrites(t *testing.T) {
	for _, n := range []int{MaxUnlockSize, MaxAdminSize, MaxAuditBatchSize} {
		if _, err := Fragment(make([]byte, n), FragmentMTU); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

func TestReassemblyErrors(t *testing.T) {
	frags, _ := Fragment(bytes.Repeat([]byte{7}, 50), FragmentMTU) // 3 fragments of 18, 18, 14
	cases := []struct {
		name string
		seq  [][]byte
	}{
		{"out of order", [][]byte{frags[0], frags[2]}},
		{"no start", [][]byte{frags[1]}},
		{"duplicate", [][]byte{frags[0], frags[1], frags[1]}},
		{"count changes", [][]byte{frags[0], {1, 4, 1, 2}}},
		{"index beyond count", [][]byte{{3, 3, 1}}},
		{"zero count", [][]byte{{0, 0, 1}}},
		{"too many", [][]byte{{0, MaxFragments + 1, 1}}},
		{"too short", [][]byte{{0, 1}}},
		{"short middle", [][]byte{frags[0], frags[1][:10]}},
		{"long last", [][]byte{frags[0], frags[1], append(bytes.Clone(frags[2]), make([]byte, 10)...)}},
		{"over the buffer", [][]byte{append([]byte{0, MaxFragments}, make([]byte, 200)...)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Reassembler
			var err error
			for _, f := range tc.seq {
				if _, err = r.Add(f); err != nil {
					break
				}
			}
			var fe *FragmentError
			if !errors.Is(err, ErrFragment) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FragmentError", err)
			}
			// After an error the reassembler starts over cleanly.
			for i, f := range frags {
				got, err := r.Add(f)
				if err != nil || (i == 2) != (got != nil) {
					t.Fatalf("after error, fragment %d: %v", i, err)
				}
			}
		})
	}
}
