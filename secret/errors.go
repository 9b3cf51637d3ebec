package secret

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; KeyError adds the key ID.
// No message built here ever contains a secret: only key IDs, lengths and
// parameter values.
var (
	// ErrShredded means the data key of a sealed value was destroyed by Shred:
	// the value can never be opened again.
	ErrShredded = errors.New("secret: data key shredded")
	// ErrUnknownKey means the keystore has no data key and no shred record for
	// the ID (wrong keystore, or the key was never stored).
	ErrUnknownKey = errors.New("secret: data key not in keystore")
	// ErrMalformed means bytes are not a sealed value, wrapped key or password
	// hash of a known layout.
	ErrMalformed = errors.New("secret: malformed encoding")
	// ErrAuthentication means sealed bytes did not authenticate: altered, sealed
	// with other associated data, or wrapped under another root secret.
	ErrAuthentication = errors.New("secret: authentication failed")
	// ErrWrongPassword means a password did not match its hash.
	ErrWrongPassword = errors.New("secret: wrong password")
	// ErrInvalid means an argument broke a documented rule (empty password,
	// PIN that is not 4–6 digits, share code not in the alphabet, …).
	ErrInvalid = errors.New("secret: invalid argument")
	// ErrConfig means Options failed validation.
	ErrConfig = errors.New("secret: invalid options")
	// ErrNotSerializable is returned by every marshaling method of Secret: a
	// secret must be sealed before it is stored or sent.
	ErrNotSerializable = errors.New("secret: a Secret cannot be serialized; seal it")
)

// KeyError reports a failure about one data key. ID is not secret.
type KeyError struct {
	Op  string // "seal", "open", "shred"
	ID  KeyID
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("secret: %s key %s: %v", e.Op, e.ID, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
