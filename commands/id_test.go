package commands_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
)

// NewID gives a usable command ID every time: set (a nil ID is refused),
// never repeated, time-ordered (version 7).
func TestNewID(t *testing.T) {
	seen := map[uuid.UUID]bool{}
	for range 1000 {
		id := commands.NewID()
		if id == uuid.Nil || id.Version() != 7 || seen[id] {
			t.Fatalf("NewID = %v (version %d, seen before %v)", id, id.Version(), seen[id])
		}
		seen[id] = true
	}
}
