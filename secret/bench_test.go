package secret_test

import (
	"context"
	"testing"

	"github.com/keyledger/keyledger/secret"
)

func BenchmarkSealMem(b *testing.B) {
	v := newVault(b, nil)
	s := secret.FromString("831964-master-code")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Seal(context.Background(), s, []byte("lock-7")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenMem(b *testing.B) {
	v := newVault(b, nil)
	sealed, _ := v.Seal(context.Background(), secret.FromString("831964-master-code"), []byte("lock-7"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Open(context.Background(), sealed, []byte("lock-7")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckCode(b *testing.B) {
	v := newVault(b, nil)
	code, _ := v.NewCode()
	h, _ := v.HashCode(code)
	b.ReportAllocs()
	for b.Loop() {
		if !v.CheckCode(code, h) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkHashPIN(b *testing.B) {
	v := newVault(b, nil)
	pin := secret.FromString("471199")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.HashPIN("lock-7", pin); err != nil {
			b.Fatal(err)
		}
	}
}

// argon2id verification at candidate production costs (OWASP minimums).
func BenchmarkVerifyPassword(b *testing.B) {
	for _, c := range []struct {
		name string
		p    secret.PasswordParams
	}{
		{"m=19MiB,t=2,p=1(default)", secret.DefaultPasswordParams},
		{"m=46MiB,t=1,p=1", secret.PasswordParams{Memory: 46 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"m=64KiB,t=1,p=1(test)", secret.TestPasswordParams},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, err := secret.NewVault(&secret.Options{Root: testRoot, Keystore: secret.NewMemKeystore(), Password: c.p})
			if err != nil {
				b.Fatal(err)
			}
			pw := secret.FromString("correct horse battery staple")
			h, err := v.HashPassword(pw)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := v.VerifyPassword(pw, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
