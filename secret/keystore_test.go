package secret_test

import (
	"testing"

	"github.com/keyledger/keyledger/secret"
	"github.com/keyledger/keyledger/secret/secrettest"
)

func TestMemKeystoreConformance(t *testing.T) {
	secrettest.RunKeystore(t, func(*testing.T) secret.Keystore { return secret.NewMemKeystore() })
}
