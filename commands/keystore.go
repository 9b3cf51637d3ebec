package commands

import (
	"context"
	"errors"

	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// KeystorePrefix is the state-space prefix under which LedgerKeystore keeps
// wrapped data keys and shred records. Persisted: never change it. Code that
// clears state (a projection Rebuild) must never delete under it: that would
// shred every secret at once.
const KeystorePrefix = "secret/"

const (
	keystoreKeys     = KeystorePrefix + "dk/"       // + id(16) -> wrapped data key
	keystoreShredded = KeystorePrefix + "shredded/" // + id(16) -> empty (shred record)
)

// LedgerState is the part of a ledger a LedgerKeystore uses: its state space,
// outside the hash chain. *ledger.Ledger implements it.
type LedgerState interface {
	GetState(ctx context.Context, key []byte) ([]byte, error)
	ApplyState(ctx context.Context, b *ledger.StateBatch) error
	CompactState(ctx context.Context, prefix []byte) error
}

// LedgerKeystore is the secret.Keystore of a keyledger stack: wrapped data
// keys in the ledger's state space (the same Pebble database as the log,
// outside the hash chain), under KeystorePrefix. It lives here, beside the
// write side that seals with it, so that package secret imports no storage.
// Every write is synced (ApplyState). Safe for concurrent use.
//
// What "destroyed" means on Pebble: Delete writes a tombstone; until a
// compaction drops the old value it remains in an sstable (and in the
// memtable and write-ahead log). The vault's Shred therefore calls Purge,
// which flushes and compacts the data-key range (ledger CompactState), after
// which no sstable holds the value (TestLedgerKeystoreShredOnDisk scans the
// files). What remains, precisely:
//
//   - The WAL segment that recorded the Put. After the flush Pebble deletes it
//     or, more often, recycles it: renames it to a new log number and
//     overwrites it gradually, so the old bytes survive in its unwritten tail
//     (Pebble keeps up to MemTableStopWritesThreshold+1 recyclable logs and
//     has no option to turn recycling off). Pebble never reads them back, but
//     they are on disk.
//   - Obsolete sstables are deleted asynchronously, a few milliseconds after
//     the compaction that made them obsolete.
//   - Copies outside Pebble's control: filesystem journals, SSD block
//     remapping, backups and snapshots of the directory.
//   - A Pebble snapshot or open iterator pins old values; the ledger keeps none
//     between calls.
//
// A leftover is a wrapped key, useless without the root secret, which is
// never stored in the database (see package secret).
type LedgerKeystore struct {
	s LedgerState
}

// NewLedgerKeystore returns a keystore over s (a *ledger.Ledger).
func NewLedgerKeystore(s LedgerState) *LedgerKeystore { return &LedgerKeystore{s: s} }

func keystoreKey(prefix string, id secret.KeyID) []byte {
	return append([]byte(prefix), id[:]...)
}

// Get implements secret.Keystore.
func (k *LedgerKeystore) Get(ctx context.Context, id secret.KeyID) ([]byte, error) {
	v, err := k.s.GetState(ctx, keystoreKey(keystoreKeys, id))
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	if _, err := k.s.GetState(ctx, keystoreKey(keystoreShredded, id)); err == nil {
		return nil, secret.ErrShredded
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	return nil, secret.ErrUnknownKey
}

// Put implements secret.Keystore. It refuses an ID that was shredded.
func (k *LedgerKeystore) Put(ctx context.Context, id secret.KeyID, wrapped []byte) error {
	if _, err := k.s.GetState(ctx, keystoreKey(keystoreShredded, id)); err == nil {
		return secret.ErrShredded
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	var b ledger.StateBatch
	b.Set(keystoreKey(keystoreKeys, id), wrapped)
	return k.s.ApplyState(ctx, &b)
}

// Delete implements secret.Keystore: it deletes the key and records the
// shred in one synced batch. The old value stays in Pebble's tables until
// Purge.
func (k *LedgerKeystore) Delete(ctx context.Context, id secret.KeyID) error {
	var b ledger.StateBatch
	b.Delete(keystoreKey(keystoreKeys, id))
	b.Set(keystoreKey(keystoreShredded, id), nil)
	return k.s.ApplyState(ctx, &b)
}

// Purge implements secret.Purger: flush and compact the data-key range.
func (k *LedgerKeystore) Purge(ctx context.Context) error {
	return k.s.CompactState(ctx, []byte(keystoreKeys))
}
