// Command phone-lock walks a phone through the lock wire protocol against the
// reference lock: a phone downloads a credential once, opens the lock
// offline, the owner resets the slot so the next holder's key overwrites the
// old one, and the lock's audit records go back to the backend, verified.
// (The ledger side — recording downloads and ingesting audit records — is
// the commands package's job; here the backend is a few local variables.)
package main

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// backend is what the server keeps per lock (in the ledger, in real life).
type backend struct {
	issuer   *lockproto.Issuer
	pairing  lockproto.Pairing
	lockKey  [32]byte
	adminSeq uint32
	pending  [][]byte // admin messages not yet confirmed by the lock
	cursor   lockproto.AuditCursor
	now      time.Time
}

func (b *backend) nextSeq() uint32 { b.adminSeq++; return b.adminSeq }

// download is the online step: the phone sends its public key, gets its credential.
func (b *backend) download(c lockproto.Credential) ([]byte, error) {
	raw, err := b.issuer.IssueCredential(c)
	if err != nil {
		return nil, err
	}
	return lockproto.AppendDownload(nil, &lockproto.Download{LockKey: b.lockKey, Credential: raw, Admin: b.pending})
}

// phone is a holder's app: its key and what it downloaded.
type phone struct {
	name   string
	holder *lockproto.Holder
	admin  [][]byte
}

func newPhone(name string, key *lockproto.HolderKey, download []byte) (*phone, error) {
	d, err := lockproto.DecodeDownload(download)
	if err != nil {
		return nil, err
	}
	h, err := lockproto.NewHolder(key, d.Credential, d.LockKey)
	if err != nil {
		return nil, err
	}
	fmt.Printf("%s downloaded credential %v (%d bytes) with %d pending admin message(s)\n",
		name, h.Credential().ID, len(d.Credential), len(d.Admin))
	return &phone{name: name, holder: h, admin: d.Admin}, nil
}

// visit is the offline step at the door, over 20-byte BLE writes.
func (p *phone) visit(lock *lockproto.Lock, door uint8) error {
	chb, err := lock.Challenge()
	if err != nil {
		return err
	}
	ch, err := lockproto.DecodeChallenge(chb)
	if err != nil {
		return err
	}
	for _, m := range p.admin { // deliver what the lock has not applied yet
		a, err := lockproto.DecodeAdmin(m)
		if err != nil || a.Seq <= ch.AdminSeq {
			continue
		}
		err = lock.HandleAdmin(m)
		fmt.Printf("  %s delivers %v seq %d: %v\n", p.name, a.Type, a.Seq, errText(err))
	}
	req, err := p.holder.Unlock(ch, door)
	if err != nil {
		return err
	}
	frags, err := lockproto.Fragment(req, lockproto.FragmentMTU)
	if err != nil {
		return err
	}
	var r lockproto.Reassembler
	var got []byte
	for _, f := range frags {
		if got, err = r.Add(f); err != nil {
			return err
		}
	}
	d := lock.HandleUnlock(got)
	resp, err := p.holder.ReadResponse(ch, d.Response)
	if err != nil {
		return err
	}
	fmt.Printf("  %s unlock door %d (%d bytes in %d writes): granted=%v reason=%q authenticated=%v\n",
		p.name, door, len(req), len(frags), resp.Granted, resp.Reason, resp.Authenticated)
	return nil
}

func errText(err error) string {
	if err == nil {
		return "applied"
	}
	var re *lockproto.RefusalError
	if errors.As(err, &re) {
		return "refused: " + re.Reason.String()
	}
	return err.Error()
}

func run() error {
	lockID := uuid.MustParse("6f1c2a4e-5b7d-4c3e-9a8b-1d2e3f405162")
	signer, err := lockproto.GenerateEd25519Signer(nil)
	if err != nil {
		return err
	}
	be := &backend{issuer: lockproto.NewIssuer(signer), now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}

	// Installation: pair the lock; the backend keeps its public key and audit key.
	if be.pairing, err = lockproto.NewPairing(lockID, be.issuer.PublicKey(), nil); err != nil {
		return err
	}
	var rtc time.Duration
	lock, err := lockproto.NewLock(be.pairing, &lockproto.Config{Clock: func() time.Duration { return rtc }})
	if err != nil {
		return err
	}
	be.lockKey = lock.PublicKey()
	advance := func(d time.Duration) { rtc += d; be.now = be.now.Add(d) }

	// The owner's phone, online at installation, sets the lock's clock: the
	// backend signs the time for the lock's nonce.
	chb, _ := lock.Challenge()
	ch, _ := lockproto.DecodeChallenge(chb)
	sync, err := be.issuer.TimeSync(lockID, ch.Nonce, be.now)
	if err != nil {
		return err
	}
	fmt.Println("installation: time sync", errText(lock.HandleAdmin(sync)))
	// Time-zone rules (Europe/Paris around now) ride along with the next download.
	z := lockproto.ZoneRules{N: 2, ValidUntil: uint32(time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).Unix())}
	z.Transitions[0] = lockproto.ZoneTransition{From: uint32(time.Date(2025, 10, 26, 1, 0, 0, 0, time.UTC).Unix()), Offset: 3600}
	z.Transitions[1] = lockproto.ZoneTransition{From: uint32(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).Unix()), Offset: 7200}
	tz, err := be.issuer.TimeZone(lockID, be.nextSeq(), z)
	if err != nil {
		return err
	}
	be.pending = append(be.pending, tz)

	// Alice's key: slot 0, generation 1, weekdays 08:00-18:00 local, 10 uses.
	aliceKey, err := lockproto.GenerateHolderKey(nil)
	if err != nil {
		return err
	}
	alicePolicy := policy.Compact{NotAfter: uint32(be.now.AddDate(0, 1, 0).Unix()), UseLimit: 10, NumWindows: 1}
	alicePolicy.Windows[0] = policy.CompactWindow{Days: 0b0111110, From: 8 * 60, To: 18 * 60}
	aliceCred := lockproto.Credential{Lock: lockID, ID: lockproto.CredentialID{0xa1}, Slot: 0, Generation: 1,
		Doors: 0b01, HolderKey: aliceKey.PublicKey(), Policy: alicePolicy}
	dl, err := be.download(aliceCred)
	if err != nil {
		return err
	}
	alice, err := newPhone("alice", aliceKey, dl)
	if err != nil {
		return err
	}

	fmt.Println("Monday 10:00 local, offline:")
	if err := alice.visit(lock, 0); err != nil {
		return err
	}
	advance(time.Minute)
	if err := alice.visit(lock, 1); err != nil { // a door she may not open
		return err
	}
	advance(10 * time.Hour) // 20:01 local, outside her window
	fmt.Println("Monday 20:01 local:")
	if err := alice.visit(lock, 0); err != nil {
		return err
	}

	// The owner resets slot 0 (K5) and shares it with Bob. The reset rides
	// with Bob's download; Bob's phone delivers it.
	advance(14 * time.Hour)
	reset, err := be.issuer.ResetSlot(lockID, be.nextSeq(), 0, 2)
	if err != nil {
		return err
	}
	be.pending = append(be.pending, reset)
	bobKey, err := lockproto.GenerateHolderKey(nil)
	if err != nil {
		return err
	}
	bobCred := lockproto.Credential{Lock: lockID, ID: lockproto.CredentialID{0xb0}, Slot: 0, Generation: 2,
		Doors: 0b11, HolderKey: bobKey.PublicKey(), Policy: policy.Compact{NotAfter: uint32(be.now.AddDate(0, 1, 0).Unix())}}
	dl, err = be.download(bobCred)
	if err != nil {
		return err
	}
	bob, err := newPhone("bob", bobKey, dl)
	if err != nil {
		return err
	}
	fmt.Println("Tuesday 10:01 local, after the reset:")
	if err := bob.visit(lock, 1); err != nil {
		return err
	}
	if err := alice.visit(lock, 0); err != nil {
		return err
	}

	// A phone carries the lock's audit records back; the backend verifies them.
	fmt.Println("audit upload:")
	for {
		batch := lock.DrainAudit()
		if batch == nil {
			break
		}
		recs, next, err := lockproto.VerifyAudit(be.pairing.AuditKey, lockID, be.cursor, batch)
		if err != nil {
			return err
		}
		be.cursor = next
		for _, r := range recs {
			what, outcome := fmt.Sprintf("unlock credential %v door %d", r.Credential, r.Door), r.Reason.String()
			if r.Kind == lockproto.AuditAdmin {
				what = fmt.Sprintf("admin %v seq %d", r.AdminType, r.Value)
				if r.Granted {
					outcome = "applied" // the confirmation the backend waits for (K6)
					be.pending = confirm(be.pending, r.Value)
				}
			}
			fmt.Printf("  #%d %s %s: %s\n", r.Seq, time.Unix(int64(r.LockTime), 0).UTC().Format("Mon 15:04Z"), what, outcome)
		}
	}
	fmt.Printf("backend: verified up to record %d; %d admin message(s) still pending\n", be.cursor.Seq, len(be.pending))
	return nil
}

// confirm drops the pending admin message with sequence number seq.
func confirm(pending [][]byte, seq uint32) [][]byte {
	out := pending[:0]
	for _, m := range pending {
		if a, err := lockproto.DecodeAdmin(m); err == nil && a.Seq == seq {
			continue
		}
		out = append(out, m)
	}
	return out
}
