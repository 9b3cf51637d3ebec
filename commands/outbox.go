package commands

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// outboxStream holds acknowledgements (append-only, no version check).
const outboxStream = "outbox"

// AckNotification records that the backend delivered the notification whose
// event ID is id (projections.Notification.ID) and shreds its sealed secret
// (code or PIN): afterwards RevealNotificationSecret fails with
// ErrShredded. Acknowledging twice is a no-op (the command ID derives
// from id); an unknown ID is a NotFoundError.
func (s *Service) AckNotification(ctx context.Context, id uuid.UUID) error {
	ev, err := s.store.EventByID(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return &NotFoundError{What: "notification", ID: id.String()}
	}
	if err != nil {
		return err
	}
	n, ok := ev.Data.(events.NotificationQueued)
	if !ok {
		return &NotFoundError{What: "notification", ID: id.String()}
	}
	// The command ID derives from the notification's: nothing else can reuse it.
	_, err = s.execute(ctx, uuid.NewSHA1(id, []byte("ack")), nil, func(t *txn) error {
		t.emitAny(outboxStream, events.NotificationAcked{Notification: id})
		return nil
	})
	if err != nil || len(n.Secret) == 0 {
		return err
	}
	// Delivered: the sealed code or PIN has done its job. Destroy its data
	// key (crypto-shredding); the log keeps ciphertext nobody can open. This
	// runs on a repeated ack too, so a crash between the append and the shred
	// is repaired by acknowledging again.
	if s.vault == nil {
		return s.needVault()
	}
	return vaultErr(s.vault.ShredSealed(ctx, n.Secret), "")
}

// RevealNotificationSecret opens the sealed code or PIN of a notification
// about key, for the backend to put in the message it sends. Errors:
// ErrShredded once the notification was acknowledged; ErrInvalid
// (*ValidationError, Field "sealed") for bytes that are not a sealed value
// or were not sealed for this key's notification; ErrNotFound
// (*NotFoundError) for a sealed value whose data key this keystore never
// had; otherwise the keystore's storage error (the ledger's).
func (s *Service) RevealNotificationSecret(ctx context.Context, key string, sealed []byte) (secret.Secret, error) {
	if err := s.needVault(); err != nil {
		return secret.Secret{}, err
	}
	sec, err := s.vault.Open(ctx, secret.Sealed(sealed), notificationAAD(key))
	return sec, vaultErr(err, "sealed")
}
