package pgledger

import (
	"testing"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/ledgertest"
)

// The whole suite, with a second instance on the same database standing
// for a second process: its own pool, committer and listener.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, ledgertest.Backend[*Store]{
		Open: func(t *testing.T, reg *ledger.Registry) *Store { return open(t, reg) },
		OpenSecond: func(t *testing.T, first *Store, reg *ledger.Registry) *Store {
			return second(t, first, reg)
		},
	})
}
