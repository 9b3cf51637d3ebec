package secret_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// A random sequence of seals, opens (right and wrong context), shreds and
// reopens of the keystore behaves like a map of live and shredded secrets.
func TestRapidSealShred(t *testing.T) {
	for _, backend := range []string{"mem", "ledger"} {
		t.Run(backend, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) { rapidSealShred(rt, t, backend) })
		})
	}
}

type sealedModel struct {
	sealed   secret.Sealed
	plain    []byte
	aad      []byte
	shredded bool
}

func rapidSealShred(rt *rapid.T, t *testing.T, backend string) {
	ctx := context.Background()
	var ks secret.Keystore = secret.NewMemKeystore()
	if backend == "ledger" {
		ks = secret.NewLedgerKeystore(openLedger(t, ""))
	}
	v := newVault(t, ks)
	var model []*sealedModel
	pick := func(rt *rapid.T) *sealedModel {
		return model[rapid.IntRange(0, len(model)-1).Draw(rt, "i")]
	}
	rt.Repeat(map[string]func(*rapid.T){
		"seal": func(rt *rapid.T) {
			m := &sealedModel{
				plain: rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(rt, "plain"),
				aad:   rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(rt, "aad"),
			}
			s, err := v.Seal(ctx, secret.New(m.plain), m.aad)
			if err != nil {
				rt.Fatal(err)
			}
			m.sealed = s
			model = append(model, m)
		},
		"open": func(rt *rapid.T) {
			if len(model) == 0 {
				rt.Skip()
			}
			m := pick(rt)
			got, err := v.Open(ctx, m.sealed, m.aad)
			switch {
			case m.shredded && !errors.Is(err, secret.ErrShredded):
				rt.Fatalf("open of shredded: %v", err)
			case !m.shredded && err != nil:
				rt.Fatalf("open: %v", err)
			case !m.shredded && string(got.Reveal()) != string(m.plain):
				rt.Fatal("open returned other bytes")
			}
		},
		"openWrongAAD": func(rt *rapid.T) {
			if len(model) == 0 {
				rt.Skip()
			}
			m := pick(rt)
			_, err := v.Open(ctx, m.sealed, append(append([]byte(nil), m.aad...), 'x'))
			want := secret.ErrAuthentication
			if m.shredded {
				want = secret.ErrShredded
			}
			if !errors.Is(err, want) {
				rt.Fatalf("open with wrong aad: %v, want %v", err, want)
			}
		},
		"shred": func(rt *rapid.T) {
			if len(model) == 0 {
				rt.Skip()
			}
			m := pick(rt)
			if err := v.ShredSealed(ctx, m.sealed); err != nil {
				rt.Fatal(err)
			}
			m.shredded = true
		},
	})
}
