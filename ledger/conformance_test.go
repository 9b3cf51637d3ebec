package ledger_test

import (
	"testing"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/ledgertest"
)

// The ledger on Pebble has no second instance on one storage: one process
// owns a directory, so OpenSecond is nil.

func TestConformance(t *testing.T) {
	ledgertest.Run(t, ledgertest.Backend[*ledger.Ledger]{
		Open: func(t *testing.T, reg *ledger.Registry) *ledger.Ledger {
			l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
	})
}

func TestConformanceOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("on-disk run skipped in -short")
	}
	ledgertest.Run(t, ledgertest.Backend[*ledger.Ledger]{
		Open: func(t *testing.T, reg *ledger.Registry) *ledger.Ledger {
			l, err := ledger.Open(t.TempDir(), &ledger.Options{Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
	})
}
