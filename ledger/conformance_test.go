package ledger_test

import (
	"testing"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/ledgertest"
)

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T, reg *ledger.Registry) ledger.Store {
		l, err := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestConformanceOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("on-disk run skipped in -short")
	}
	ledgertest.Run(t, func(t *testing.T, reg *ledger.Registry) ledger.Store {
		l, err := ledger.Open(t.TempDir(), &ledger.Options{Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}
