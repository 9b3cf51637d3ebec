package main

import (
	"errors"
	"strings"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/secret"
)

// The front door is lockproto's reference lock (the executable
// specification of lock firmware): phones download signed credentials, carry
// signed admin messages to it and bring its audit records back.

// install starts the front door (lockproto's reference lock, the executable
// specification of the firmware): Bill's phone sets its clock with a signed
// time sync bound to the lock's nonce, and the ledger issues the lock's
// time-zone rules, which ride with the next download.
func (t *tour) install(p lockproto.Pairing) error {
	start := t.clock.Now()
	var err error
	t.door, err = lockproto.NewLock(p, &lockproto.Config{Clock: func() time.Duration { return t.clock.Now().Sub(start) }, Rand: newSeeded("lock")})
	if err != nil {
		return err
	}
	ch, err := challenge(t.door)
	if err != nil {
		return err
	}
	sync, err := t.issuer.TimeSync(commands.LockUUID(front), ch.Nonce, t.clock.Now())
	if err != nil {
		return err
	}
	if err := t.door.HandleAdmin(sync); err != nil {
		return err
	}
	_, err = t.svc.SendZoneRules(t.ctx, commands.SendZoneRules{ID: t.id(), Lock: front, By: "bill", From: start, Until: start.AddDate(0, 6, 0)})
	if err != nil {
		return err
	}
	t.say("\n  The front door is paired; Bill's phone sets its clock. Its time-zone rules wait for the next download.")
	return nil
}

// phone is a holder's app: the key it downloaded, its credential and the
// admin messages it carries to the lock.
type phone struct {
	name, key string
	holder    *lockproto.Holder
	admin     [][]byte
}

// download is a phone fetching a share key (by key or by code alone) with
// its public key: the answer is a signed offline credential.
func (t *tour) download(key, by string, code secret.Secret) error {
	hk, err := lockproto.GenerateHolderKey(newSeeded("phone of " + by))
	if err != nil {
		return err
	}
	res, err := t.svc.DownloadKey(t.ctx, commands.DownloadKey{ID: t.id(), Key: key, By: by, Code: code, HolderKey: hk.PublicKey()})
	if err != nil {
		return err
	}
	dl, err := lockproto.DecodeDownload(res.Download)
	if err != nil {
		return err
	}
	h, err := lockproto.NewHolder(hk, dl.Credential, dl.LockKey)
	if err != nil {
		return err
	}
	if t.phones == nil {
		t.phones = map[string]*phone{}
	}
	t.phones[by] = &phone{name: by, key: res.Key, holder: h, admin: dl.Admin}
	how := "To ID"
	if !code.IsZero() {
		how = "with the code alone"
	}
	t.say("  ✓ %s's phone downloads %s %s: a signed credential of %d bytes, %d admin message(s) for the lock", by, res.Key, how, len(dl.Credential), len(dl.Admin))
	return nil
}

// visit is a phone at the front door, offline: it delivers the admin
// messages the lock lacks, then unlocks (challenge, proof of its key, the
// lock's decision).
func (t *tour) visit(name string, door uint8) error {
	p := t.phones[name]
	ch, err := challenge(t.door)
	if err != nil {
		return err
	}
	if err := t.deliver(name, ch, p.admin); err != nil {
		return err
	}
	req, err := p.holder.Unlock(ch, door)
	if err != nil {
		return err
	}
	resp, err := p.holder.ReadResponse(ch, t.door.HandleUnlock(req).Response)
	if err != nil {
		return err
	}
	verdict, mark := "granted", "✓"
	if !resp.Granted {
		verdict, mark = "refused: "+resp.Reason.String(), "✗"
	}
	d := access.Main
	if door == lockDoorInner {
		d = access.Inner
	}
	t.say("  %s %s  %-11s %-10s %-5v door at the lock → %s (offline)", mark, t.when(t.clock.Now()), name, p.key, d, verdict)
	return nil
}

// deliver hands the lock the admin messages newer than it has applied.
func (t *tour) deliver(who string, ch lockproto.Challenge, msgs [][]byte) error {
	for _, m := range msgs {
		a, err := lockproto.DecodeAdmin(m)
		if err != nil {
			return err
		}
		if a.Seq <= ch.AdminSeq { // the challenge says what the lock has
			continue
		}
		t.say("    %s's phone delivers %v seq %d: %s", who, a.Type, a.Seq, outcome(t.door.HandleAdmin(m)))
	}
	return nil
}

// pendingAdmin prints how many signed admin messages wait for the lock.
func (t *tour) pendingAdmin() error {
	p, err := t.svc.PendingAdmin(t.ctx, front)
	if err != nil {
		return err
	}
	if len(p) == 0 {
		t.say("    no admin message waits for the lock any more")
		return nil
	}
	t.say("    %d signed admin message(s) wait for the lock; every download carries them", len(p))
	return nil
}

// atTheLock is Bill's phone connected to the lock: it delivers the pending
// admin messages (here the deactivation).
func (t *tour) atTheLock() error {
	t.say("  ✓ Bill's phone connects to the lock")
	msgs, err := t.svc.PendingAdmin(t.ctx, front)
	if err != nil {
		return err
	}
	ch, err := challenge(t.door)
	if err != nil {
		return err
	}
	return t.deliver("bill", ch, msgs)
}

// uploadAudit carries the lock's audit records to the ledger: they are
// verified, recorded once each, count offline uses, and confirm the
// deactivation the lock applied.
func (t *tour) uploadAudit() error {
	for b := t.door.DrainAudit(); b != nil; b = t.door.DrainAudit() {
		res, err := t.svc.IngestAudit(t.ctx, commands.UploadAudit{Lock: front, By: "bill", Batch: b})
		if err != nil {
			return err
		}
		confirmed := ""
		if len(res.Confirmed) > 0 {
			confirmed = "; deactivation confirmed by the lock: " + strings.Join(res.Confirmed, ", ")
		}
		t.say("  ✓ Bill's phone uploads the lock's audit: %d new record(s) up to #%d%s", res.New, res.Cursor, confirmed)
	}
	return t.pendingAdmin()
}

func challenge(l *lockproto.Lock) (lockproto.Challenge, error) {
	b, err := l.Challenge()
	if err != nil {
		return lockproto.Challenge{}, err
	}
	return lockproto.DecodeChallenge(b)
}

func outcome(err error) string {
	var re *lockproto.RefusalError
	switch {
	case err == nil:
		return "applied"
	case errors.As(err, &re):
		return "refused: " + re.Reason.String()
	}
	return "error: " + err.Error()
}
