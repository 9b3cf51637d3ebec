package lockproto

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/policy"
)

// periodCredential is baseCredential with two dated periods: the first day
// from t0 and the fourth day from t0.
func periodCredential(key *HolderKey) Credential {
	c := baseCredential(key)
	c.Policy.NumPeriods = 2
	c.Policy.Periods[0] = policy.CompactPeriod{From: uint32(t0.Unix()), To: uint32(t0.Add(24 * time.Hour).Unix())}
	c.Policy.Periods[1] = policy.CompactPeriod{From: uint32(t0.Add(72 * time.Hour).Unix()), To: uint32(t0.Add(96 * time.Hour).Unix())}
	return c
}

func TestCredentialPeriodsLayout(t *testing.T) {
	w := newWorld(t)
	c := periodCredential(w.key)
	raw, err := w.issuer.IssueCredential(c)
	w.must(err)
	if len(raw) != credentialFixedSize+2*periodSize || raw[43] != 0x20 {
		t.Fatalf("%d bytes, byte 43 = 0x%02x; want %d, 0x20", len(raw), raw[43], credentialFixedSize+2*periodSize)
	}
	got, err := DecodeCredential(raw)
	if err != nil || got.Policy != c.Policy {
		t.Fatalf("decoded %+v %v, want %+v", got.Policy, err, c.Policy)
	}
	if again, _ := AppendCredential(nil, &got); !bytes.Equal(again, raw) {
		t.Fatal("re-encoding differs")
	}
	bad := func(name string, edit func(*Credential)) {
		x := c
		edit(&x)
		if _, err := AppendCredential(nil, &x); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: encoder accepted it: %v", name, err)
		}
		x = c
		edit(&x)
		b := append(x.appendUnsigned(nil), x.Signature[:]...) // bypasses the encoder's check
		if _, err := DecodeCredential(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decoder accepted it: %v", name, err)
		}
	}
	bad("empty period", func(x *Credential) { x.Policy.Periods[1].To = x.Policy.Periods[1].From })
	bad("overlapping periods", func(x *Credential) { x.Policy.Periods[1].From = x.Policy.Periods[0].To - 1 })
	// Bits 6-7 of byte 43 stay reserved.
	b := bytes.Clone(raw)
	b[43] |= 0x40
	if _, err := DecodeCredential(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bit 6 of byte 43: %v", err)
	}
}

// The lock refuses between two dated periods with OutsidePeriods and
// opens inside either.
func TestLockDatedPeriods(t *testing.T) {
	w := newWorld(t)
	w.syncTime(3600)
	h, _ := w.holder(periodCredential(w.key))
	for _, c := range []struct {
		at   time.Duration // after t0
		want access.Reason
	}{
		{time.Hour, access.Granted},
		{36 * time.Hour, access.OutsidePeriods},
		{80 * time.Hour, access.Granted},
		{100 * time.Hour, access.OutsidePeriods},
	} {
		w.advance(t0.Add(c.at).Sub(w.serverT))
		if d, _ := w.unlock(h, 0); d.Reason != c.want {
			t.Errorf("at t0+%v: %v, want %v", c.at, d.Reason, c.want)
		}
	}
}
