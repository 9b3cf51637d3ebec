package lockproto

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestZoneRulesOffsetAt(t *testing.T) {
	z := ZoneRules{N: 3, ValidUntil: 400}
	z.Transitions[0] = ZoneTransition{From: 100, Offset: 3600}
	z.Transitions[1] = ZoneTransition{From: 200, Offset: 7200}
	z.Transitions[2] = ZoneTransition{From: 300, Offset: -1800}
	for _, c := range []struct {
		at   uint32
		want int
		ok   bool
	}{
		{99, 0, false}, {100, 3600, true}, {199, 3600, true}, {200, 7200, true},
		{299, 7200, true}, {300, -1800, true}, {399, -1800, true}, {400, 0, false},
	} {
		got, ok := z.OffsetAt(c.at)
		if got != c.want || ok != c.ok {
			t.Errorf("OffsetAt(%d) = %d, %v; want %d, %v", c.at, got, ok, c.want, c.ok)
		}
	}
	var empty ZoneRules
	if _, ok := empty.OffsetAt(1000); ok {
		t.Error("empty rules know an offset")
	}
}

func TestIssuerRefusesBadAdmin(t *testing.T) {
	w := newWorld(t)
	bad := []Admin{
		{Type: TypeResetSlot, Lock: testLock, Seq: 0},
		{Type: TypeTimeSync, Lock: testLock, Seq: 1, Time: 5},
		{Type: TypeTimeSync, Lock: testLock},
		{Type: TypeCredential, Lock: testLock, Seq: 1},
		{Type: TypeTimeZone, Lock: testLock, Seq: 1},
		{Type: TypeTimeZone, Lock: testLock, Seq: 1, Zone: ZoneRules{N: 1, Transitions: [8]ZoneTransition{{Offset: 19 * 3600}}}},
		{Type: TypeTimeZone, Lock: testLock, Seq: 1, Zone: ZoneRules{N: 2, Transitions: [8]ZoneTransition{{From: 5}, {From: 5}}}},
		{Type: TypeTimeZone, Lock: testLock, Seq: 1, Zone: ZoneRules{N: 1, ValidUntil: 5, Transitions: [8]ZoneTransition{{From: 5}}}},
	}
	for i, a := range bad {
		if _, err := w.issuer.Admin(a); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d (%v): err = %v, want ErrInvalid", i, a.Type, err)
		}
	}
	if _, err := w.issuer.TimeSync(testLock, [16]byte{}, time.Unix(-5, 0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative time: %v", err)
	}
}

func TestVerifyCredentialAndAdmin(t *testing.T) {
	w := newWorld(t)
	raw, err := w.issuer.IssueCredential(baseCredential(w.key))
	w.must(err)
	c, err := VerifyCredential(raw, w.signer.PublicKey())
	if err != nil || c.HolderKey != w.key.PublicKey() {
		t.Fatalf("VerifyCredential: %v", err)
	}
	other, _ := GenerateEd25519Signer(newDetRand(8))
	if _, err := VerifyCredential(raw, other.PublicKey()); !errors.Is(err, ErrSignature) {
		t.Fatalf("other issuer: %v", err)
	}
	m, _ := w.issuer.ResetSlot(testLock, 1, 2, 3)
	a, err := VerifyAdmin(m, w.signer.PublicKey())
	if err != nil || a.Slot != 2 || a.Generation != 3 || a.Seq != 1 {
		t.Fatalf("VerifyAdmin: %+v %v", a, err)
	}
	if _, err := VerifyAdmin(m, other.PublicKey()); !errors.Is(err, ErrSignature) {
		t.Fatalf("other issuer: %v", err)
	}
}

func TestDecodeErrorsAreTyped(t *testing.T) {
	w := newWorld(t)
	raw, _ := w.issuer.IssueCredential(baseCredential(w.key))
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"version 0", append([]byte{0}, raw[1:]...), ErrVersion},
		{"version 2", append([]byte{2}, raw[1:]...), ErrVersion},
		{"wrong type", append([]byte{Version, 2}, raw[2:]...), ErrType},
		{"truncated", raw[:len(raw)-1], ErrMalformed},
		{"trailing", append(bytes.Clone(raw), 0), ErrMalformed},
	}
	for _, c := range cases {
		_, err := DecodeCredential(c.b)
		var fe *FrameError
		if !errors.Is(err, c.want) || !errors.As(err, &fe) || fe.Frame != "credential" {
			t.Errorf("%s: %v, want %v as *FrameError", c.name, err, c.want)
		}
	}
	for _, dec := range []func([]byte) error{
		func(b []byte) error { _, err := DecodeChallenge(b); return err },
		func(b []byte) error { _, err := DecodeUnlock(b); return err },
		func(b []byte) error { _, err := DecodeResponse(b); return err },
		func(b []byte) error { _, err := DecodeAdmin(b); return err },
		func(b []byte) error { _, err := DecodeAuditBatch(b); return err },
		func(b []byte) error { _, err := DecodeDownload(b); return err },
		func(b []byte) error { _, err := DecodeAuditAck(b); return err },
	} {
		if err := dec([]byte{1}); !errors.Is(err, ErrMalformed) {
			t.Errorf("one byte: %v", err)
		}
		if err := dec([]byte{0, 1, 2, 3}); !errors.Is(err, ErrVersion) {
			t.Errorf("version 0: %v", err)
		}
	}
}

func TestDownloadRoundTrip(t *testing.T) {
	w := newWorld(t)
	raw, _ := w.issuer.IssueCredential(baseCredential(w.key))
	m1, _ := w.issuer.ResetSlot(testLock, 1, 0, 2)
	m2, _ := w.issuer.DeactivateSlot(testLock, 2, 1, 2)
	b, err := AppendDownload(nil, &Download{LockKey: w.lock.PublicKey(), Credential: raw, Admin: [][]byte{m1, m2}})
	w.must(err)
	d, err := DecodeDownload(b)
	w.must(err)
	if !bytes.Equal(d.Credential, raw) || len(d.Admin) != 2 || !bytes.Equal(d.Admin[1], m2) || d.LockKey != w.lock.PublicKey() {
		t.Fatalf("round trip lost something: %+v", d)
	}
	if _, err := AppendDownload(nil, &Download{Credential: raw[:10]}); err == nil {
		t.Fatal("download with a broken credential encoded")
	}
}

func TestHolderRejectsForeignCredentialAndBadLockKey(t *testing.T) {
	w := newWorld(t)
	raw, _ := w.issuer.IssueCredential(baseCredential(w.key))
	other, _ := GenerateHolderKey(newDetRand(6))
	if _, err := NewHolder(other, raw, w.lock.PublicKey()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other holder key: %v", err)
	}
	if _, err := NewHolder(w.key, raw, [32]byte{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("all-zero (low-order) lock key: %v", err)
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	key := w.pairing.AuditKey
	batch := w.lock.DrainAudit()
	batch[len(batch)-1] ^= 1
	_, _, err := VerifyAudit(key, testLock, AuditCursor{}, batch)
	for _, secret := range [][]byte{key[:], w.pairing.LockKey[:]} {
		for _, form := range []string{string(secret), hexString(secret)} {
			if err != nil && bytes.Contains([]byte(err.Error()), []byte(form)) {
				t.Fatalf("error %q shows a key", err)
			}
		}
	}
	if !errors.Is(err, ErrMAC) {
		t.Fatalf("tampered batch: %v", err)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestZoneRulesFor(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	z, err := ZoneRulesFor(loc, from, from.AddDate(1, 0, 0))
	w := newWorld(t)
	w.must(err)
	if z.N != 3 || z.ValidUntil != uint32(from.AddDate(1, 0, 0).Unix()) {
		t.Fatalf("rules %+v", z)
	}
	for _, at := range []time.Time{from, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)} {
		_, want := at.In(loc).Zone()
		if got, ok := z.OffsetAt(uint32(at.Unix())); !ok || got != want {
			t.Errorf("offset at %v = %d %v, want %d", at, got, ok, want)
		}
	}
	if _, ok := z.OffsetAt(z.ValidUntil); ok {
		t.Error("offset known past ValidUntil")
	}
	if _, err := w.issuer.TimeZone(testLock, 1, z); err != nil {
		t.Fatal(err)
	}
}
