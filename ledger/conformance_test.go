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

// handle is a store handle on a shared *Ledger; only the first one closes
// it. Two handles on one ledger stand in for two instances on one storage,
// so the suite's tests of two instances run (and are checked) here too.
type handle struct {
	*ledger.Ledger
	owner bool
}

func (h handle) Close() error {
	if h.owner {
		return h.Ledger.Close()
	}
	return nil
}

func TestConformanceTwoHandles(t *testing.T) {
	ledgertest.Run(t, ledgertest.Backend[handle]{
		Open: func(t *testing.T, reg *ledger.Registry) handle {
			l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			return handle{l, true}
		},
		OpenSecond: func(t *testing.T, first handle, _ *ledger.Registry) handle {
			return handle{first.Ledger, false}
		},
	})
}
