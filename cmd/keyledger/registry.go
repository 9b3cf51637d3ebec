package main

import "github.com/keyledger/keyledger/ledger"

// newRegistry is the registry the CLI reads with. Payloads are shown as
// stored (see toJSON), so no event type needs to be known here.
func newRegistry() *ledger.Registry { return ledger.NewRegistry() }
