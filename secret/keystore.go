package secret

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
)

// KeyID names one data key. IDs are random (128 bits), never reused, and not
// secret: they appear in sealed values, errors and logs.
type KeyID [16]byte

// String is the ID in lower-case hex.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ParseKeyID parses the String form.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: key ID of %d characters, want %d", ErrMalformed, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return KeyID{}, fmt.Errorf("%w: key ID %q is not hex", ErrMalformed, s)
	}
	return id, nil
}

// Keystore holds wrapped data keys by ID. It is mutable storage kept outside
// the append-only log; the Vault wraps every data key under a key derived from
// the root secret before Put, so a keystore never sees a usable key.
//
// Implementations must be safe for concurrent use and satisfy:
//   - Get returns what Put stored, ErrShredded after Delete, ErrUnknownKey for
//     an ID never stored (errors.Is);
//   - Delete is idempotent and permanent: a later Put of the same ID must not
//     bring the key back (IDs are random, so Put never sees a used one in
//     practice);
//   - Delete of an ID never stored still records it as shredded.
type Keystore interface {
	Get(ctx context.Context, id KeyID) ([]byte, error)
	Put(ctx context.Context, id KeyID, wrapped []byte) error
	Delete(ctx context.Context, id KeyID) error
}

// Purger is implemented by keystores whose Delete leaves the old bytes on
// storage until some later step (an LSM tombstone). Vault.Shred calls Purge
// after deleting, so Shred returns only once the bytes are physically gone
// as far as the keystore can make them.
type Purger interface {
	Purge(ctx context.Context) error
}

// MemKeystore is an in-memory Keystore for tests. The zero value is ready.
// A keyledger stack keeps its data keys in the ledger (commands.LedgerKeystore).
type MemKeystore struct {
	mu       sync.Mutex
	keys     map[KeyID][]byte
	shredded map[KeyID]bool
}

// NewMemKeystore returns an empty in-memory keystore.
func NewMemKeystore() *MemKeystore { return &MemKeystore{} }

// Get implements Keystore.
func (m *MemKeystore) Get(_ context.Context, id KeyID) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shredded[id] {
		return nil, ErrShredded
	}
	v, ok := m.keys[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	return append([]byte(nil), v...), nil
}

// Put implements Keystore.
func (m *MemKeystore) Put(_ context.Context, id KeyID, wrapped []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shredded[id] {
		return ErrShredded
	}
	if m.keys == nil {
		m.keys = map[KeyID][]byte{}
	}
	m.keys[id] = append([]byte(nil), wrapped...)
	return nil
}

// Delete implements Keystore.
func (m *MemKeystore) Delete(_ context.Context, id KeyID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shredded == nil {
		m.shredded = map[KeyID]bool{}
	}
	if v, ok := m.keys[id]; ok {
		clear(v)
		delete(m.keys, id)
	}
	m.shredded[id] = true
	return nil
}

// Len is the number of live (not shredded) keys.
func (m *MemKeystore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}
