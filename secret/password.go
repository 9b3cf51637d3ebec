package secret

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams is an argon2id cost. It is recorded in every hash (PHC string
// format), so it can be raised later: NeedsRehash tells when a stored hash is
// below the current parameters, and the next successful login rehashes.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams is OWASP's first argon2id minimum: 19 MiB, 2 passes,
// 1 thread; 16-byte salt, 32-byte hash. Cost per verification on the 2-core
// development VM: see BENCHMARKS.md (repository root).
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestPasswordParams is a cheap cost for tests only (64 KiB, 1 pass). Never
// use it in production.
var TestPasswordParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, also applied when parsing a stored hash so a damaged
// or hostile hash cannot make verification allocate gigabytes.
const (
	MaxPasswordLen  = 1024
	maxMemoryKiB    = 1 << 20 // 1 GiB
	maxTime         = 64
	minSalt, maxKey = 8, 64
	minKey          = 16
	maxSalt         = 64
)

func (p PasswordParams) validate() error {
	switch {
	case p.Threads == 0:
		return invalidf("argon2id threads 0")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return invalidf("argon2id memory %d KiB outside [%d, %d]", p.Memory, 8*uint32(p.Threads), maxMemoryKiB)
	case p.Time < 1 || p.Time > maxTime:
		return invalidf("argon2id time %d outside [1, %d]", p.Time, maxTime)
	case p.SaltLen < minSalt || p.SaltLen > maxSalt:
		return invalidf("salt length %d outside [%d, %d]", p.SaltLen, minSalt, maxSalt)
	case p.KeyLen < minKey || p.KeyLen > maxKey:
		return invalidf("hash length %d outside [%d, %d]", p.KeyLen, minKey, maxKey)
	}
	return nil
}

// PasswordHash is an argon2id hash in PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt, base64 unpadded>$<hash, base64 unpadded>
//
// It is not the password, but it allows offline guessing at the recorded cost:
// keep it out of logs and seal it in events (so removing a member can shred it).
type PasswordHash string

// String redacts the salt and hash, keeping the parameters.
func (h PasswordHash) String() string {
	p, _, _, err := parsePasswordHash(string(h))
	if err != nil {
		return "argon2id(malformed)"
	}
	return fmt.Sprintf("argon2id(m=%d,t=%d,p=%d)", p.Memory, p.Time, p.Threads)
}

// Params returns the parameters recorded in h.
func (h PasswordHash) Params() (PasswordParams, error) {
	p, _, _, err := parsePasswordHash(string(h))
	return p, err
}

func checkPassword(pw Secret) error {
	if pw.IsZero() {
		return invalidf("empty password")
	}
	if pw.Len() > MaxPasswordLen {
		return invalidf("password of %d bytes exceeds %d", pw.Len(), MaxPasswordLen)
	}
	return nil
}

// HashPassword hashes pw with argon2id under p and a fresh random salt from r.
func HashPassword(r io.Reader, pw Secret, p PasswordParams) (PasswordHash, error) {
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("secret: random source: %w", err)
	}
	key := argon2.IDKey(pw.bytes(), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return PasswordHash(encodePasswordHash(p, salt, key)), nil
}

func encodePasswordHash(p PasswordParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword checks pw against h: nil on a match, ErrWrongPassword
// otherwise, ErrMalformed if h is not a hash this package understands.
// The comparison is constant-time; the argon2id cost is paid even for a
// wrong password.
func VerifyPassword(pw Secret, h PasswordHash) error {
	p, salt, want, err := parsePasswordHash(string(h))
	if err != nil {
		return err
	}
	if err := checkPassword(pw); err != nil {
		return ErrWrongPassword
	}
	got := argon2.IDKey(pw.bytes(), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrWrongPassword
	}
	return nil
}

// NeedsRehash reports whether h was made with parameters other than p (or is
// malformed): after a successful VerifyPassword, hash the password again.
func (h PasswordHash) NeedsRehash(p PasswordParams) bool {
	got, _, _, err := parsePasswordHash(string(h))
	return err != nil || got != p
}

func parsePasswordHash(s string) (p PasswordParams, salt, key []byte, err error) {
	bad := func(what string) error { return fmt.Errorf("%w: password hash: %s", ErrMalformed, what) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, bad("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, bad("unsupported version")
	}
	var m, t, th uint64
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, bad("parameters")
	}
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], want)
		if !ok {
			return p, nil, nil, bad("parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return p, nil, nil, bad("parameters")
		}
		switch i {
		case 0:
			m = n
		case 1:
			t = n
		case 2:
			th = n
		}
	}
	if th == 0 || th > 255 {
		return p, nil, nil, bad("parameters")
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return p, nil, nil, bad("base64")
	}
	p = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(th), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.validate(); err != nil {
		return PasswordParams{}, nil, nil, bad(err.Error())
	}
	return p, salt, key, nil
}

// HashPassword hashes pw under the vault's parameters.
func (v *Vault) HashPassword(pw Secret) (PasswordHash, error) {
	v.hashSem <- struct{}{}
	defer func() { <-v.hashSem }()
	return HashPassword(v.rand, pw, v.pw)
}

// VerifyPassword is VerifyPassword with the vault's concurrency bound.
func (v *Vault) VerifyPassword(pw Secret, h PasswordHash) error {
	v.hashSem <- struct{}{}
	defer func() { <-v.hashSem }()
	return VerifyPassword(pw, h)
}

// NeedsRehash reports whether h differs from the vault's current parameters.
func (v *Vault) NeedsRehash(h PasswordHash) bool { return h.NeedsRehash(v.pw) }

// PasswordParams returns the vault's parameters for new hashes.
func (v *Vault) PasswordParams() PasswordParams { return v.pw }
