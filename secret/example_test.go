package secret_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger/secret"
	"github.com/keyledger/keyledger/secret/secrettest"
)

// Seal a lock's master code into an event payload, then crypto-shred it when
// network management is turned off.
func ExampleVault_Shred() {
	ctx := context.Background()
	v, err := secret.NewVault(&secret.Options{
		Root:     secrettest.Root(1),      // production: from the backend's secret manager
		Keystore: secret.NewMemKeystore(), // a keyledger stack: commands.NewLedgerKeystore
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	aad := []byte("lock-7/network-management")
	sealed, _ := v.Seal(ctx, secret.FromString("831964"), aad)

	code, _ := v.Open(ctx, sealed, aad)
	fmt.Println("opened:", string(code.Reveal()) == "831964", "printed as", code)

	id, _ := sealed.KeyID()
	_ = v.Shred(ctx, id)
	_, err = v.Open(ctx, sealed, aad)
	fmt.Println("after shred:", errors.Is(err, secret.ErrShredded))
	// Output:
	// opened: true printed as [REDACTED]
	// after shred: true
}

// A share code is shown to its owner once; the ledger keeps only its hash.
func ExampleVault_HashCode() {
	v, _ := secret.NewVault(&secret.Options{Root: secrettest.Root(1), Keystore: secret.NewMemKeystore()})
	code, _ := v.NewCode() // e.g. 7KQ2-M9XD-E4RT, never chosen by a caller
	stored, _ := v.HashCode(code)

	typed := secret.FromString(string(code.Reveal())) // what the bearer types in
	fmt.Println(v.CheckCode(typed, stored))
	fmt.Println(v.CheckCode(secret.FromString("0000-0000-0000"), stored))
	// Output:
	// true
	// false
}

// Personal passwords: argon2id with the parameters recorded in the hash.
func ExampleVault_VerifyPassword() {
	v, _ := secret.NewVault(&secret.Options{
		Root: secrettest.Root(1), Keystore: secret.NewMemKeystore(),
		Password: secret.TestPasswordParams, // cheap, for the example only
	})
	h, _ := v.HashPassword(secret.FromString("tuesday-10-12"))
	fmt.Println(h) // parameters only; salt and hash stay out of logs
	fmt.Println(v.VerifyPassword(secret.FromString("tuesday-10-12"), h))
	fmt.Println(v.VerifyPassword(secret.FromString("guess"), h))
	fmt.Println(h.NeedsRehash(secret.DefaultPasswordParams))
	// Output:
	// argon2id(m=64,t=1,p=1)
	// <nil>
	// secret: wrong password
	// true
}

// PINs: uniqueness per lock is a lookup by keyed hash, no PIN stored.
func ExampleVault_HashPIN() {
	v, _ := secret.NewVault(&secret.Options{Root: secrettest.Root(1), Keystore: secret.NewMemKeystore()})
	taken := map[secret.PINHash]bool{}
	a, _ := v.HashPIN("lock-7", secret.FromString("4711"))
	taken[a] = true
	b, _ := v.HashPIN("lock-7", secret.FromString("4711"))
	c, _ := v.HashPIN("lock-8", secret.FromString("4711"))
	fmt.Println(taken[b], taken[c])
	// Output: true false
}
