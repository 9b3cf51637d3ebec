// Package secrettest is the conformance suite every secret.Keystore must pass,
// and fixed test roots for tests and examples.
//
// RunKeystore checks the keystore alone (copies, permanent deletes,
// concurrency) and then a vault over it: random sequences of seals, opens
// (with the right and the wrong associated data) and shreds must behave like
// a map of live and shredded secrets (a rapid state-machine test).
package secrettest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// Root returns a fixed root secret for tests and examples (never production).
// Different n give unrelated roots.
func Root(n byte) secret.Secret {
	return secret.New(bytes.Repeat([]byte{0xA5 ^ n}, secret.MinRootLen))
}

// RunKeystore checks the Keystore contract on fresh stores made by open.
func RunKeystore(t *testing.T, open func(t *testing.T) secret.Keystore) {
	ctx := context.Background()
	id := func(b byte) secret.KeyID { return secret.KeyID{b, 0xEE} }

	t.Run("PutGet", func(t *testing.T) {
		ks := open(t)
		if _, err := ks.Get(ctx, id(1)); !errors.Is(err, secret.ErrUnknownKey) {
			t.Fatalf("Get of unknown ID: %v, want ErrUnknownKey", err)
		}
		val := []byte("wrapped-1")
		if err := ks.Put(ctx, id(1), val); err != nil {
			t.Fatal(err)
		}
		val[0] = 'X' // Put must copy
		got, err := ks.Get(ctx, id(1))
		if err != nil || string(got) != "wrapped-1" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		got[0] = 'Y' // Get must copy
		if got, _ := ks.Get(ctx, id(1)); string(got) != "wrapped-1" {
			t.Fatalf("stored value changed through a returned slice: %q", got)
		}
		if _, err := ks.Get(ctx, id(2)); !errors.Is(err, secret.ErrUnknownKey) {
			t.Fatalf("Get of another ID: %v", err)
		}
	})
	t.Run("DeleteIsPermanent", func(t *testing.T) {
		ks := open(t)
		if err := ks.Put(ctx, id(1), []byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := ks.Put(ctx, id(2), []byte("b")); err != nil {
			t.Fatal(err)
		}
		for range 2 { // idempotent
			if err := ks.Delete(ctx, id(1)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ks.Get(ctx, id(1)); !errors.Is(err, secret.ErrShredded) {
			t.Fatalf("Get after Delete: %v, want ErrShredded", err)
		}
		if err := ks.Put(ctx, id(1), []byte("again")); err == nil {
			if _, err := ks.Get(ctx, id(1)); !errors.Is(err, secret.ErrShredded) {
				t.Fatalf("Put after Delete brought the key back: %v", err)
			}
		}
		if got, err := ks.Get(ctx, id(2)); err != nil || string(got) != "b" {
			t.Fatalf("other key after Delete: %q, %v", got, err)
		}
		if err := ks.Delete(ctx, id(3)); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.Get(ctx, id(3)); !errors.Is(err, secret.ErrShredded) {
			t.Fatalf("Delete of a never-stored ID must record it: %v", err)
		}
		if p, ok := ks.(secret.Purger); ok {
			if err := p.Purge(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := ks.Get(ctx, id(1)); !errors.Is(err, secret.ErrShredded) {
				t.Fatalf("Get after Purge: %v", err)
			}
			if got, err := ks.Get(ctx, id(2)); err != nil || string(got) != "b" {
				t.Fatalf("Purge lost a live key: %q, %v", got, err)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		ks := open(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					k := secret.KeyID{byte(g), byte(i)}
					if err := ks.Put(ctx, k, []byte{byte(g), byte(i)}); err != nil {
						t.Error(err)
						return
					}
					if got, err := ks.Get(ctx, k); err != nil || !bytes.Equal(got, []byte{byte(g), byte(i)}) {
						t.Errorf("Get = %v, %v", got, err)
						return
					}
					if i%2 == 0 {
						if err := ks.Delete(ctx, k); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Run("SealOpenShred", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) { sealOpenShred(rt, open(t)) })
	})
}

type sealedModel struct {
	sealed   secret.Sealed
	plain    []byte
	aad      []byte
	shredded bool
}

// sealOpenShred drives a vault over ks against a model.
func sealOpenShred(rt *rapid.T, ks secret.Keystore) {
	ctx := context.Background()
	v, err := secret.NewVault(&secret.Options{Root: Root(0), Keystore: ks, Password: secret.TestPasswordParams})
	if err != nil {
		rt.Fatal(err)
	}
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
