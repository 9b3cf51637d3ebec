package commands_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
)

// A single-use key downloaded as an offline credential opens once: at the
// lock, or nowhere — never once at the lock and once more through the app.
func TestCredentialUsesCountedOnce(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, limited("k1", 1))
	online := func(step string) {
		t.Helper()
		u, err := e.svc.Unlock(bg, commands.Unlock{ID: e.id(), Key: "k1", By: "ann"})
		if err != nil || u.Granted || u.Reason != access.UsesAtLock {
			t.Fatalf("%s: online unlock of a single-use credential: %+v %v", step, u, err)
		}
	}
	online("before the lock saw it")
	e.now = e.now.Add(time.Minute)
	if d := e.visit(e.lock, ann, 0); !d.Granted {
		t.Fatalf("first use at the lock refused: %v", d.Reason)
	}
	online("after the use at the lock")
	e.now = e.now.Add(time.Minute)
	if d := e.visit(e.lock, ann, 0); d.Granted || d.Reason != access.Exhausted {
		t.Fatalf("second use at the lock: %+v", d)
	}
}

// A credential's validity starts at its download: an absolute blackout that
// is over by then neither narrows nor voids it.
func TestCredentialStartsAtDownload(t *testing.T) {
	e := newLockEnv(t)
	st := settings("k1")
	st.Policy.Start, st.Policy.End = e.now.Add(-48*time.Hour), e.now.Add(30*24*time.Hour)
	st.Policy.Blackouts = []policy.Blackout{{Start: e.now.Add(-40 * time.Hour), End: e.now.Add(-39 * time.Hour)}}
	ann := e.shareTo("k1", "ann", 1, st)
	if ann.res.Narrowed != nil {
		t.Fatalf("a blackout over before the download narrowed the credential: %v", ann.res.Narrowed)
	}
	c, err := lockproto.VerifyCredential(ann.res.Credential, e.issuer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.NotAfter != uint32(st.Policy.End.Unix()) || c.Policy.NotBefore != uint32(e.now.Truncate(time.Second).Unix()) {
		t.Fatalf("credential validity [%d, %d), want [download %d, end %d)", c.Policy.NotBefore, c.Policy.NotAfter, e.now.Unix(), st.Policy.End.Unix())
	}
	e.now = e.now.Add(time.Hour)
	if d := e.visit(e.lock, ann, 0); !d.Granted {
		t.Fatalf("unlock an hour after the download: %v", d.Reason)
	}

	// A blackout still ahead cuts the credential's validity at its start,
	// and the download says so.
	st2 := settings("k2")
	st2.Policy.End = e.now.Add(30 * 24 * time.Hour)
	st2.Policy.Blackouts = []policy.Blackout{{Start: e.now.Add(48 * time.Hour), End: e.now.Add(49 * time.Hour)}}
	bob := e.shareTo("k2", "bob", 2, st2)
	if bob.res.Narrowed == nil {
		t.Fatal("a later absolute blackout cut the credential without DownloadResult.Narrowed saying so")
	}
}
