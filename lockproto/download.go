package lockproto

import "fmt"

// MaxPendingAdmin bounds the admin messages one download carries.
const MaxPendingAdmin = 32

// Download is what a phone receives from the backend for one credential:
// the credential, the lock's X25519 public key, and the admin messages not
// yet confirmed by the lock, in sequence order, for the phone to deliver.
type Download struct {
	LockKey    [32]byte
	Credential []byte
	Admin      [][]byte
}

// AppendDownload appends the encoded download; every part must decode.
func AppendDownload(dst []byte, d *Download) ([]byte, error) {
	if _, err := DecodeCredential(d.Credential); err != nil {
		return dst, err
	}
	if len(d.Admin) > MaxPendingAdmin {
		return dst, invalidf("%d pending admin messages, at most %d", len(d.Admin), MaxPendingAdmin)
	}
	dst = appendHeader(dst, TypeDownload)
	dst = append(dst, d.LockKey[:]...)
	dst = append(dst, byte(len(d.Credential)))
	dst = append(dst, d.Credential...)
	dst = append(dst, byte(len(d.Admin)))
	for i, a := range d.Admin {
		if _, err := DecodeAdmin(a); err != nil {
			return dst, fmt.Errorf("admin message %d: %w", i, err)
		}
		dst = append(dst, byte(len(a)))
		dst = append(dst, a...)
	}
	return dst, nil
}

// DecodeDownload decodes a download; its slices alias b. Every part is
// checked with its own decoder; signatures are checked where they are used.
func DecodeDownload(b []byte) (Download, error) {
	var d Download
	r := reader{b: b, name: "download"}
	if err := r.header(TypeDownload); err != nil {
		return d, err
	}
	r.copy(d.LockKey[:])
	n := int(r.u8())
	d.Credential = r.take(n)
	if r.bad {
		return d, r.end()
	}
	if _, err := DecodeCredential(d.Credential); err != nil {
		return d, r.fail(ErrMalformed, err.Error())
	}
	at := r.off
	count := int(r.u8())
	if count > MaxPendingAdmin {
		return d, r.failAt(at, ErrMalformed, fmt.Sprintf("%d admin messages, at most %d", count, MaxPendingAdmin))
	}
	if count > 0 && !r.bad {
		d.Admin = make([][]byte, 0, count)
	}
	for i := 0; i < count && !r.bad; i++ {
		a := r.take(int(r.u8()))
		if r.bad {
			break
		}
		if _, err := DecodeAdmin(a); err != nil {
			return d, r.fail(ErrMalformed, fmt.Sprintf("admin message %d: %v", i, err))
		}
		d.Admin = append(d.Admin, a)
	}
	if err := r.end(); err != nil {
		return Download{}, err
	}
	return d, nil
}
