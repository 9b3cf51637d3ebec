package lockproto_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// Issue a credential on the backend, and open the lock with it offline.
func Example() {
	// Backend: the issuer key (an HSM or KMS in production) and a paired lock.
	signer, _ := lockproto.NewEd25519Signer(ed25519.NewKeyFromSeed(make([]byte, 32)))
	issuer := lockproto.NewIssuer(signer)
	lockID := uuid.MustParse("6f1c2a4e-5b7d-4c3e-9a8b-1d2e3f405162")
	pairing, _ := lockproto.NewPairing(lockID, issuer.PublicKey(), nil)

	// The lock, with a fake real-time clock.
	var rtc time.Duration
	lock, _ := lockproto.NewLock(pairing, &lockproto.Config{Clock: func() time.Duration { return rtc }})

	// Phone: a holder key; the backend issues a credential for it.
	key, _ := lockproto.GenerateHolderKey(nil)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday
	cred := lockproto.Credential{
		Lock: lockID, ID: lockproto.CredentialID{1}, Slot: 0, Generation: 1, Doors: 1,
		HolderKey: key.PublicKey(),
		Policy: policy.Compact{
			NotAfter: uint32(now.Add(7 * 24 * time.Hour).Unix()), UseLimit: 2, NumWindows: 1,
			Windows: [policy.MaxCompactWindows]policy.CompactWindow{{Days: 0b0111110, From: 8 * 60, To: 18 * 60}},
		},
	}
	raw, _ := issuer.IssueCredential(cred)
	fmt.Println("credential bytes:", len(raw))

	// At the door: the lock learns the time (signed, bound to its nonce) and its zone.
	chb, _ := lock.Challenge()
	ch, _ := lockproto.DecodeChallenge(chb)
	sync, _ := issuer.TimeSync(lockID, ch.Nonce, now)
	zone := lockproto.ZoneRules{N: 1, Transitions: [lockproto.MaxZoneTransitions]lockproto.ZoneTransition{{From: 0, Offset: 3600}}}
	tz, _ := issuer.TimeZone(lockID, 1, zone)
	fmt.Println("time sync:", lock.HandleAdmin(sync), "zone:", lock.HandleAdmin(tz))

	holder, _ := lockproto.NewHolder(key, raw, lock.PublicKey())
	for range 3 {
		chb, _ := lock.Challenge()
		ch, _ := lockproto.DecodeChallenge(chb)
		req, _ := holder.Unlock(ch, 0)
		d := lock.HandleUnlock(req)
		resp, err := holder.ReadResponse(ch, d.Response)
		fmt.Printf("request %d bytes: granted=%v reason=%q uses=%d authenticated=%v err=%v\n",
			len(req), resp.Granted, resp.Reason, resp.Uses, resp.Authenticated, err)
		rtc += time.Minute
	}
	// Output:
	// credential bytes: 145
	// time sync: <nil> zone: <nil>
	// request 166 bytes: granted=true reason="granted" uses=1 authenticated=true err=<nil>
	// request 166 bytes: granted=true reason="granted" uses=2 authenticated=true err=<nil>
	// request 166 bytes: granted=false reason="exhausted" uses=2 authenticated=true err=<nil>
}
