package secret_test

import (
	"testing"

	"github.com/keyledger/keyledger/secret"
	"github.com/keyledger/keyledger/secret/secrettest"
)

// testRoot is a fixed test key; production roots come from a secret manager.
var testRoot = secrettest.Root(0)

func newVault(t testing.TB, ks secret.Keystore) *secret.Vault {
	t.Helper()
	if ks == nil {
		ks = secret.NewMemKeystore()
	}
	v, err := secret.NewVault(&secret.Options{Root: testRoot, Keystore: ks, Password: secret.TestPasswordParams})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
