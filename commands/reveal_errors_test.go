package commands_test

import (
	"errors"
	"testing"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// Every error RevealNotificationSecret returns matches a commands sentinel,
// so a caller handles it without knowing the vault's own errors.
func TestRevealNotificationSecretErrors(t *testing.T) {
	e := newEnv(t)
	e.given(cat(frontLock(), shareKeyCreated("k1", 1, 0))...)
	if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToCode, Email: "guest@example.com"}); err != nil {
		t.Fatal(err)
	}
	pending, err := e.proj.Pending(bg, 10)
	if err != nil || len(pending) != 1 || len(pending[0].Secret) == 0 {
		t.Fatalf("pending %v %v", pending, err)
	}
	n := pending[0]
	if _, err := e.svc.RevealNotificationSecret(bg, n.Key, n.Secret); err != nil {
		t.Fatal(err)
	}
	altered := append([]byte(nil), n.Secret...)
	altered[len(altered)-1] ^= 1
	unknownKey := append([]byte(nil), n.Secret...)
	unknownKey[1] ^= 0xff // another data key ID
	invalid := func(err error) bool {
		var ve *commands.ValidationError
		return errors.Is(err, commands.ErrInvalid) && errors.As(err, &ve) && ve.Field == "sealed"
	}
	for _, tc := range []struct {
		name   string
		key    string
		sealed []byte
		ok     func(error) bool
	}{
		{"garbage", n.Key, []byte("not sealed at all"), invalid},
		{"empty", n.Key, nil, invalid},
		{"wrong version", n.Key, append([]byte{9}, n.Secret[1:]...), invalid},
		{"altered", n.Key, altered, invalid},
		{"another key's notification", "k2", n.Secret, invalid},
		{"unknown data key", n.Key, unknownKey, func(err error) bool {
			var nf *commands.NotFoundError
			return errors.Is(err, commands.ErrNotFound) && errors.As(err, &nf)
		}},
	} {
		_, err := e.svc.RevealNotificationSecret(bg, tc.key, tc.sealed)
		if !tc.ok(err) {
			t.Errorf("%s: %v (%T)", tc.name, err, err)
		}
	}
	if err := e.svc.AckNotification(bg, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RevealNotificationSecret(bg, n.Key, n.Secret); !errors.Is(err, commands.ErrShredded) {
		t.Fatalf("after ack: %v; want commands.ErrShredded", err)
	}
}

// The vault's other errors that reach callers match commands sentinels too:
// New with a root secret that is too short, and a Secret asked to serialize.
func TestVaultErrorsExported(t *testing.T) {
	e := newEnv(t)
	_, err := commands.New(e.l, &commands.Options{Root: []byte("too short")})
	var ve *commands.ValidationError
	if !errors.Is(err, commands.ErrInvalid) || !errors.As(err, &ve) || ve.Field != "root" {
		t.Fatalf("New with a 9-byte root: %v; want ErrInvalid for root", err)
	}
	if _, err := secret.FromString("123456").MarshalJSON(); !errors.Is(err, commands.ErrNotSerializable) {
		t.Fatalf("marshal a Secret: %v; want commands.ErrNotSerializable", err)
	}
}
