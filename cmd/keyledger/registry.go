package main

import (
	"fmt"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// newRegistry is the registry history, keys and rebuild read with: the real
// event catalogue (commands.Register), so payloads decode to the types the
// projections apply. An event type this build does not know (a log written
// by a newer program) still reads back, with Data nil; the projections skip it.
func newRegistry() (*ledger.Registry, error) {
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		return nil, fmt.Errorf("event catalogue: %w", err)
	}
	return reg, nil
}

// rawRegistry is the registry of verify and events: empty, so every event
// reads back with its stored payload (Raw) and nothing is decoded or
// upcast. They then work on any log, whatever its types and schemas.
func rawRegistry() *ledger.Registry { return ledger.NewRegistry() }
