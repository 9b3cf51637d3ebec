package secret

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/crypto/chacha20poly1305"
)

// MinRootLen is the minimum length of Options.Root in bytes.
const MinRootLen = 32

// MaxSecretLen bounds what Seal accepts.
const MaxSecretLen = 64 << 10

// Options configure NewVault. Root and Keystore are required; the rest has
// working defaults.
type Options struct {
	// Root is the root secret (master key / pepper) supplied by the embedding
	// backend from its secret manager, at least MinRootLen random bytes. Every
	// key of this package is derived from it with HKDF-SHA256. It must never
	// be stored in the ledger; losing it makes every sealed value unopenable
	// and every code, PIN hash unmatchable.
	Root Secret
	// Keystore holds the wrapped data keys (commands.LedgerKeystore in a
	// keyledger stack, NewMemKeystore in tests).
	Keystore Keystore
	// Rand is the source of keys, nonces, salts, codes and PINs. Default
	// crypto/rand.Reader. Tests may pass a deterministic reader.
	Rand io.Reader
	// Password is the argon2id cost for new password hashes. Zero value:
	// DefaultPasswordParams. Tests use TestPasswordParams to stay fast.
	Password PasswordParams
	// MaxConcurrentHashes bounds concurrent argon2id computations (each uses
	// Password.Memory KiB). Default GOMAXPROCS.
	MaxConcurrentHashes int
}

// Vault seals secrets under per-secret data keys (crypto-shredding), hashes
// share codes, PINs and passwords. Safe for concurrent use.
type Vault struct {
	ks      Keystore
	rand    io.Reader
	kek     []byte // wraps data keys
	codeKey []byte // HMAC key for share codes
	pinKey  []byte // HMAC key for PINs
	cardKey []byte // HMAC key for card identifiers
	pw      PasswordParams
	hashSem chan struct{}
}

// NewVault validates opts and derives the sub-keys.
func NewVault(opts *Options) (*Vault, error) {
	if opts == nil {
		opts = &Options{}
	}
	var errs []error
	if opts.Root.Len() < MinRootLen {
		errs = append(errs, fmt.Errorf("%w: Root has %d bytes, need at least %d", ErrConfig, opts.Root.Len(), MinRootLen))
	}
	if opts.Keystore == nil {
		errs = append(errs, fmt.Errorf("%w: Keystore is nil", ErrConfig))
	}
	pw := opts.Password
	if pw == (PasswordParams{}) {
		pw = DefaultPasswordParams
	}
	if err := pw.validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: Password: %w", ErrConfig, err))
	}
	if opts.MaxConcurrentHashes < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxConcurrentHashes %d < 0", ErrConfig, opts.MaxConcurrentHashes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	v := &Vault{ks: opts.Keystore, rand: opts.Rand, pw: pw}
	if v.rand == nil {
		v.rand = rand.Reader
	}
	n := opts.MaxConcurrentHashes
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	v.hashSem = make(chan struct{}, n)
	root := opts.Root.bytes()
	v.kek = derive(root, "data-key wrapping")
	v.codeKey = derive(root, "share code hmac")
	v.pinKey = derive(root, "pin hmac")
	v.cardKey = derive(root, "card hmac")
	return v, nil
}

func derive(root []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, root, nil, "keyledger/secret v1 "+purpose, 32)
	if err != nil { // only for lengths HKDF cannot produce; 32 always works
		panic("secret: hkdf: " + err.Error())
	}
	return k
}

func (v *Vault) random(b []byte) error {
	if _, err := io.ReadFull(v.rand, b); err != nil {
		return fmt.Errorf("secret: random source: %w", err)
	}
	return nil
}

// Sealed is a sealed secret as stored in an event payload:
//
//	version(1) = 1 | key ID(16) | nonce(12) | ChaCha20-Poly1305 ciphertext and tag(16)
//
// The associated data is the 29-byte header followed by the caller's aad.
// Sealed bytes reveal the secret's length and nothing else.
type Sealed []byte

const (
	sealedVersion = 1
	sealedHeader  = 1 + 16 + chacha20poly1305.NonceSize
	sealedMin     = sealedHeader + chacha20poly1305.Overhead
)

// KeyID returns the ID of the data key that opens s.
func (s Sealed) KeyID() (KeyID, error) {
	if err := s.check(); err != nil {
		return KeyID{}, err
	}
	return KeyID(s[1:17]), nil
}

func (s Sealed) check() error {
	if len(s) < sealedMin {
		return fmt.Errorf("%w: sealed value of %d bytes, need at least %d", ErrMalformed, len(s), sealedMin)
	}
	if s[0] != sealedVersion {
		return fmt.Errorf("%w: sealed value version %d", ErrMalformed, s[0])
	}
	return nil
}

// String describes s without its ciphertext.
func (s Sealed) String() string {
	id, err := s.KeyID()
	if err != nil {
		return fmt.Sprintf("secret.Sealed(malformed, %d bytes)", len(s))
	}
	return fmt.Sprintf("secret.Sealed(key %s, %d bytes)", id, len(s))
}

const wrappedVersion = 1

// wrapped data key: version(1) | nonce(12) | ChaCha20-Poly1305(kek, dk) (32+16)
const wrappedLen = 1 + chacha20poly1305.NonceSize + chacha20poly1305.KeySize + chacha20poly1305.Overhead

func wrapAAD(id KeyID) []byte {
	return append([]byte("keyledger/secret v1 data key "), id[:]...)
}

// Seal stores a fresh random data key for this one secret in the keystore
// (wrapped under a key derived from the root) and returns the secret sealed
// under it. aad binds the sealed value to its context (for instance the
// stream and event type); Open must be given the same aad.
//
// The data key is stored before Seal returns, so an event carrying the
// sealed value can be appended afterwards; if that append never happens the
// key is an orphan (harmless; Shred it if its ID is known).
func (v *Vault) Seal(ctx context.Context, s Secret, aad []byte) (Sealed, error) {
	if s.Len() > MaxSecretLen {
		return nil, invalidf("secret of %d bytes exceeds %d", s.Len(), MaxSecretLen)
	}
	var buf [16 + chacha20poly1305.KeySize + chacha20poly1305.NonceSize]byte
	defer clear(buf[:])
	if err := v.random(buf[:]); err != nil {
		return nil, err
	}
	id := KeyID(buf[:16])
	dk := buf[16 : 16+chacha20poly1305.KeySize]
	nonce := buf[16+chacha20poly1305.KeySize:]
	wrapped, err := v.wrap(id, dk)
	if err != nil {
		return nil, err
	}
	if err := v.ks.Put(ctx, id, wrapped); err != nil {
		return nil, &KeyError{Op: "seal", ID: id, Err: err}
	}
	aead, _ := chacha20poly1305.New(dk) // key length is fixed
	out := make([]byte, sealedHeader, sealedMin+s.Len())
	out[0] = sealedVersion
	copy(out[1:17], id[:])
	copy(out[17:sealedHeader], nonce)
	out = aead.Seal(out, nonce, s.bytes(), sealAAD(out[:sealedHeader], aad))
	return Sealed(out), nil
}

func sealAAD(header, aad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}

func (v *Vault) wrap(id KeyID, dk []byte) ([]byte, error) {
	out := make([]byte, 1+chacha20poly1305.NonceSize, wrappedLen)
	out[0] = wrappedVersion
	if err := v.random(out[1:]); err != nil {
		return nil, err
	}
	aead, _ := chacha20poly1305.New(v.kek)
	return aead.Seal(out, out[1:], dk, wrapAAD(id)), nil
}

func (v *Vault) unwrap(id KeyID, w []byte) ([]byte, error) {
	if len(w) != wrappedLen || w[0] != wrappedVersion {
		return nil, fmt.Errorf("%w: wrapped data key of %d bytes", ErrMalformed, len(w))
	}
	aead, _ := chacha20poly1305.New(v.kek)
	dk, err := aead.Open(nil, w[1:1+chacha20poly1305.NonceSize], w[1+chacha20poly1305.NonceSize:], wrapAAD(id))
	if err != nil {
		return nil, fmt.Errorf("%w: data key does not unwrap under this root", ErrAuthentication)
	}
	return dk, nil
}

// Open returns the secret sealed in s. Errors (all *KeyError once the key ID
// is known): ErrMalformed, ErrShredded after Shred, ErrUnknownKey,
// ErrAuthentication if s or aad were altered or the root differs.
func (v *Vault) Open(ctx context.Context, s Sealed, aad []byte) (Secret, error) {
	if err := s.check(); err != nil {
		return Secret{}, err
	}
	id := KeyID(s[1:17])
	w, err := v.ks.Get(ctx, id)
	if err != nil {
		return Secret{}, &KeyError{Op: "open", ID: id, Err: err}
	}
	dk, err := v.unwrap(id, w)
	if err != nil {
		return Secret{}, &KeyError{Op: "open", ID: id, Err: err}
	}
	defer clear(dk)
	aead, _ := chacha20poly1305.New(dk)
	pt, err := aead.Open(nil, s[17:sealedHeader], s[sealedHeader:], sealAAD(s[:sealedHeader], aad))
	if err != nil {
		return Secret{}, &KeyError{Op: "open", ID: id, Err: ErrAuthentication}
	}
	return wrapBytes(pt), nil
}

// Shred destroys the data keys with these IDs: afterwards Open of any value
// sealed under them returns ErrShredded, for ever. If the keystore is a
// Purger, Shred purges once after the deletes, so the wrapped keys leave the
// storage's tables before it returns (see the package documentation for the
// limits). Shredding an unknown or already shredded ID is not an error.
func (v *Vault) Shred(ctx context.Context, ids ...KeyID) error {
	for _, id := range ids {
		if err := v.ks.Delete(ctx, id); err != nil {
			return &KeyError{Op: "shred", ID: id, Err: err}
		}
	}
	if p, ok := v.ks.(Purger); ok && len(ids) > 0 {
		if err := p.Purge(ctx); err != nil {
			return fmt.Errorf("secret: shred: purge: %w", err)
		}
	}
	return nil
}

// ShredSealed shreds the data keys of sealed values (Shred by their KeyID).
func (v *Vault) ShredSealed(ctx context.Context, sealed ...Sealed) error {
	ids := make([]KeyID, 0, len(sealed))
	for _, s := range sealed {
		id, err := s.KeyID()
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	return v.Shred(ctx, ids...)
}
