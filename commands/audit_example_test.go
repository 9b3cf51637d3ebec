package commands_test

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// A phone downloads a credential, opens the reference lock offline, and
// carries the lock's audit records back: they are recorded once and count
// toward the key's uses.
func ExampleService_IngestAudit() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	reg := ledger.NewRegistry()
	_ = events.Register(reg)
	l, _ := ledger.Open("", &ledger.Options{InMemory: true, Registry: reg, Clock: clock})
	defer l.Close()
	proj, _ := projections.Open(l, nil)
	defer proj.Close()
	signer, _ := lockproto.GenerateEd25519Signer(nil) // the backend's signing key
	issuer := lockproto.NewIssuer(signer)
	svc, _ := commands.New(l, &commands.Options{Clock: clock, Projections: proj, Issuer: issuer,
		Root: []byte("example root secret from your secret manager")})
	n := 0
	id := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "audit-example-%d", n)) }

	// Installation: pair the lock; the ledger keeps its public key and, sealed, its audit key.
	pairing, _ := lockproto.NewPairing(commands.LockUUID("front"), issuer.PublicKey(), nil)
	pub, _ := pairing.LockPublicKey()
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: id(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: id(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "UTC", Slots: 4,
		LockKey: pub, AuditKey: secret.New(pairing.AuditKey[:])})
	var rtc time.Duration
	lock, _ := lockproto.NewLock(pairing, &lockproto.Config{Clock: func() time.Duration { return rtc }})
	chb, _ := lock.Challenge()
	ch, _ := lockproto.DecodeChallenge(chb)
	sync, _ := issuer.TimeSync(commands.LockUUID("front"), ch.Nonce, now)
	_ = lock.HandleAdmin(sync)

	// Ann's phone downloads her key (online), then opens the lock twice offline.
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: id(), Key: "guest", Lock: "front", By: "bill", Kind: events.KindShare})
	_, _ = svc.ShareKey(ctx, commands.ShareKey{ID: id(), Key: "guest", By: "bill", Method: events.ShareToID, Account: "ann"})
	phoneKey, _ := lockproto.GenerateHolderKey(nil)
	dl, _ := svc.DownloadKey(ctx, commands.DownloadKey{ID: id(), Key: "guest", By: "ann", HolderKey: phoneKey.PublicKey()})
	phone, _ := lockproto.NewHolder(phoneKey, dl.Credential, pub)
	for range 2 {
		rtc += time.Minute
		chb, _ := lock.Challenge()
		ch, _ := lockproto.DecodeChallenge(chb)
		req, _ := phone.Unlock(ch, 0)
		fmt.Println("offline unlock granted:", lock.HandleUnlock(req).Granted)
	}

	// Later, online: the phone uploads the lock's audit records, twice.
	batch := lock.DrainAudit()
	for range 2 {
		res, err := svc.IngestAudit(ctx, commands.UploadAudit{Lock: "front", By: "ann", Batch: batch})
		fmt.Println("new:", res.New, "already recorded:", res.Duplicates, err)
	}
	st, _ := proj.KeyStatus(ctx, "guest", now)
	fmt.Println("uses:", st.Uses)
	// Output:
	// offline unlock granted: true
	// offline unlock granted: true
	// new: 4 already recorded: 0 <nil>
	// new: 0 already recorded: 4 <nil>
	// uses: 2
}
