package access

import (
	"fmt"
	"math/bits"
	"strings"
)

// Door is one door of a lock, by number: 0 is the main door, 1 the inner
// door. Locks have at most MaxDoors. The number is what the wire protocol
// carries.
type Door uint8

// Doors is a set of a lock's doors: bit i is door i. Persisted, and carried
// as is in offline credentials.
type Doors uint8

// The doors the product knows. APPEND ONLY.
const (
	MainDoor  Door = 0
	InnerDoor Door = 1 // "also opens inner door"

	// MaxDoors is how many doors a set can hold.
	MaxDoors = 8
)

// Named door sets.
const (
	Main      Doors = 1 << MainDoor
	Inner     Doors = 1 << InnerDoor
	MainInner       = Main | Inner
	// Known is every door the product knows.
	Known = MainInner
)

// Set is the set holding only d (empty for a number past MaxDoors).
func (d Door) Set() Doors {
	if d >= MaxDoors {
		return 0
	}
	return 1 << d
}

// Has reports whether the set holds door d.
func (s Doors) Has(d Door) bool { return d < MaxDoors && s&(1<<d) != 0 }

// Len is the number of doors in the set.
func (s Doors) Len() int { return bits.OnesCount8(uint8(s)) }

// Single returns the one door of a one-door set.
func (s Doors) Single() (Door, bool) {
	if s.Len() != 1 {
		return 0, false
	}
	return Door(bits.TrailingZeros8(uint8(s))), true
}

func (d Door) String() string {
	switch d {
	case MainDoor:
		return "main"
	case InnerDoor:
		return "inner"
	}
	return fmt.Sprintf("door %d", uint8(d))
}

func (s Doors) String() string {
	if s == 0 {
		return "none"
	}
	var b strings.Builder
	for d := Door(0); d < MaxDoors; d++ {
		if s.Has(d) {
			if b.Len() > 0 {
				b.WriteByte('+')
			}
			b.WriteString(d.String())
		}
	}
	return b.String()
}
