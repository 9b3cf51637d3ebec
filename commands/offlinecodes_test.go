package commands_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

func (e *lockEnv) enableCodes() {
	e.t.Helper()
	if err := e.svc.EnableOfflineCodes(bg, commands.EnableOfflineCodes{ID: e.id(), Lock: "front", By: "bill", CodeKey: secret.New(e.pairing.CodeKey[:])}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *lockEnv) issueCode(code string, kind lockproto.CodeKind, from, to time.Time) commands.OfflineCodeResult {
	e.t.Helper()
	r, err := e.svc.IssueOfflineCode(bg, commands.IssueOfflineCode{ID: e.id(), Lock: "front", By: "bill", Code: code, Name: "guest " + code,
		Kind: kind, Unit: lockproto.CodeHour, From: from, To: to})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *lockEnv) codeStatus(code string) string {
	e.t.Helper()
	list, err := e.proj.OfflineCodes(bg, "front")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range list {
		if v.Code == code {
			return v.Status()
		}
	}
	e.t.Fatalf("code %q not listed", code)
	return ""
}

// The life of an offline code: issued (digits returned once), typed at a
// lock that never heard of it, its use attributed to it from the audit,
// revoked by a message any phone carries (pending at the lock until the
// audit shows it applied) or by an erase code typed at the keypad.
func TestOfflineCodeLifecycle(t *testing.T) {
	e := newLockEnv(t)
	e.enableCodes()
	cmd := e.id()
	issue := commands.IssueOfflineCode{ID: cmd, Lock: "front", By: "bill", Code: "stay-1", Name: "Ann's guest",
		Kind: lockproto.CodePeriod, Unit: lockproto.CodeHour, From: e.now.Add(-10 * time.Minute), To: e.now.Add(3 * time.Hour)}
	first, err := e.svc.IssueOfflineCode(bg, issue)
	if err != nil {
		t.Fatal(err)
	}
	// Narrowed to whole hours inside the request: 10:00 to 13:00.
	if !first.From.Equal(e.now) || !first.To.Equal(e.now.Add(3*time.Hour)) || first.Digits.Len() != lockproto.CodeDigits {
		t.Fatalf("issued %+v", first)
	}
	again, err := e.svc.IssueOfflineCode(bg, issue)
	if err != nil || !again.Digits.IsZero() || again.Seq != first.Seq {
		t.Fatalf("retry: %+v, %v (want the same code without digits)", again, err)
	}
	digits := first.Digits.Reveal()
	if d := e.lock.EnterCode(0, digits); !d.Granted {
		t.Fatalf("typed at the lock: %+v", d)
	}
	e.upload(e.lock, "front")
	if got := e.codeStatus("stay-1"); got != "used" {
		t.Fatalf("after the upload: %q", got)
	}
	h, err := e.proj.History(bg, projections.HistoryQuery{Key: "stay-1"})
	if err != nil {
		t.Fatal(err)
	}
	var uses int
	for _, en := range h.Entries {
		if en.Offline && en.Granted && en.Source == "lock keypad" {
			uses++
		}
	}
	if uses != 1 {
		t.Fatalf("history of the code: %+v", h.Entries)
	}

	// Revoked: pending until the lock shows it applied the message.
	rev, err := e.svc.RevokeOfflineCode(bg, commands.RevokeOfflineCode{ID: e.id(), Lock: "front", By: "bill", Code: "stay-1"})
	if err != nil || rev.AdminSeq == 0 || rev.EraseCode.IsZero() {
		t.Fatalf("revoke: %+v, %v", rev, err)
	}
	want := "revoked, pending at the lock until " + first.To.Format("2006-01-02 15:04 MST")
	if got := e.codeStatus("stay-1"); got != want {
		t.Fatalf("after the revocation: %q, want %q", got, want)
	}
	e.deliver(e.lock, e.pending("front"))
	if d := e.lock.EnterCode(0, digits); d.Reason != access.CodeRevoked {
		t.Fatalf("after the message: %+v", d)
	}
	e.upload(e.lock, "front")
	if got := e.codeStatus("stay-1"); got != "revoked" {
		t.Fatalf("after the audit: %q", got)
	}
	if _, err := e.svc.RevokeOfflineCode(bg, commands.RevokeOfflineCode{ID: e.id(), Lock: "front", By: "bill", Code: "stay-1"}); !errors.Is(err, commands.ErrExists) {
		t.Fatalf("second revocation: %v", err)
	}

	// A second code takes the next sequence number; an erase code typed at
	// the keypad revokes it with no phone at all.
	second := e.issueCode("stay-2", lockproto.CodeOneTime, e.now, e.now.Add(2*time.Hour))
	if second.Seq == first.Seq {
		t.Fatalf("two live codes share sequence number %d", second.Seq)
	}
	rev2, err := e.svc.RevokeOfflineCode(bg, commands.RevokeOfflineCode{ID: e.id(), Lock: "front", By: "bill", Code: "stay-2"})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.lock.EnterCode(0, rev2.EraseCode.Reveal()); d.Granted || d.Reason != access.Granted || d.Kind != lockproto.CodeErase {
		t.Fatalf("erase code: %+v", d)
	}
	if d := e.lock.EnterCode(0, second.Digits.Reveal()); d.Reason != access.CodeRevoked {
		t.Fatalf("erased code: %+v", d)
	}
	e.upload(e.lock, "front")
	if got := e.codeStatus("stay-2"); got != "revoked" {
		t.Fatalf("after the erase code's upload: %q", got)
	}

	// The read models rebuilt from the log equal the ones kept up to date.
	dump := func() string {
		var b strings.Builder
		for r, err := range projections.Dump(bg, e.l) {
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%q=%q\n", r.Key, r.Value)
		}
		return b.String()
	}
	live := dump()
	if err := e.proj.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(); rebuilt != live || !strings.Contains(live, "oc/front/stay-2") {
		t.Fatalf("rebuilt read models differ from the live ones")
	}

	// No event, anywhere, holds a code's digits.
	for _, ev := range e.eventsSince(0) {
		s := fmt.Sprintf("%+v", ev)
		for _, d := range []string{string(digits), string(second.Digits.Reveal()), string(rev.EraseCode.Reveal())} {
			if strings.Contains(s, d) {
				t.Fatalf("event %T holds digits: %s", ev, s)
			}
		}
	}
}

// Issuing is the owner's or an account manager's; the key must be held
// first; a code ID is used once; a validity that holds no code is refused.
func TestIssueOfflineCodeRefusals(t *testing.T) {
	e := newLockEnv(t)
	c := commands.IssueOfflineCode{Lock: "front", By: "bill", Code: "c1", Kind: lockproto.CodePeriod, Unit: lockproto.CodeHour,
		From: e.now, To: e.now.Add(time.Hour)}
	try := func(mod func(c *commands.IssueOfflineCode)) error {
		x := c
		x.ID = e.id()
		mod(&x)
		_, err := e.svc.IssueOfflineCode(bg, x)
		return err
	}
	if err := try(func(*commands.IssueOfflineCode) {}); !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("before EnableOfflineCodes: %v", err)
	}
	e.enableCodes()
	if err := e.svc.EnableOfflineCodes(bg, commands.EnableOfflineCodes{ID: e.id(), Lock: "front", By: "bill", CodeKey: secret.New(e.pairing.CodeKey[:])}); !errors.Is(err, commands.ErrExists) {
		t.Fatalf("second key: %v", err)
	}
	for name, tc := range map[string]struct {
		mod  func(c *commands.IssueOfflineCode)
		want error
	}{
		"not the owner":    {func(c *commands.IssueOfflineCode) { c.By = "ann" }, commands.ErrNotPermitted},
		"half an hour":     {func(c *commands.IssueOfflineCode) { c.To = c.From.Add(30 * time.Minute) }, commands.ErrInvalid},
		"end before start": {func(c *commands.IssueOfflineCode) { c.To = c.From.Add(-time.Hour) }, commands.ErrInvalid},
		"before the epoch": {func(c *commands.IssueOfflineCode) { c.From = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }, commands.ErrInvalid},
		"no unit":          {func(c *commands.IssueOfflineCode) { c.Unit = 0 }, commands.ErrInvalid},
		"an unknown kind":  {func(c *commands.IssueOfflineCode) { c.Kind = 9 }, commands.ErrInvalid},
		"weekly window 8": {func(c *commands.IssueOfflineCode) {
			c.Kind, c.Window, c.To = lockproto.CodeWeekly, 8, c.From.AddDate(0, 0, 21)
		}, commands.ErrInvalid},
		"an erase code kind": {func(c *commands.IssueOfflineCode) { c.Kind, c.Unit = lockproto.CodeErase, lockproto.CodeDay }, commands.ErrInvalid},
	} {
		if err := try(tc.mod); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare}); err != nil {
		t.Fatal(err)
	}
	if err := try(func(c *commands.IssueOfflineCode) { c.Code = "k1" }); !errors.Is(err, commands.ErrExists) {
		t.Fatalf("a key's ID as the code's: %v", err)
	}
	if err := try(func(*commands.IssueOfflineCode) {}); err != nil {
		t.Fatal(err)
	}
	if err := try(func(*commands.IssueOfflineCode) {}); !errors.Is(err, commands.ErrExists) {
		t.Fatalf("the same code ID again: %v", err)
	}
	if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: c.Code, Lock: "front", By: "bill", Kind: events.KindShare}); !errors.Is(err, commands.ErrExists) {
		t.Fatalf("a key with the offline code's ID: %v", err)
	}
}

// Sequence numbers: at most lockproto.CodeSeqs codes live at once; a
// number is free again for a code that starts after the earlier one ended.
func TestOfflineCodeSequenceNumbers(t *testing.T) {
	e := newLockEnv(t)
	e.enableCodes()
	for i := 0; i < lockproto.CodeSeqs; i++ {
		r := e.issueCode(fmt.Sprint("c", i), lockproto.CodePeriod, e.now, e.now.Add(2*time.Hour))
		if int(r.Seq) != i {
			t.Fatalf("code %d got sequence number %d", i, r.Seq)
		}
	}
	_, err := e.svc.IssueOfflineCode(bg, commands.IssueOfflineCode{ID: e.id(), Lock: "front", By: "bill", Code: "one-too-many",
		Kind: lockproto.CodePeriod, Unit: lockproto.CodeHour, From: e.now, To: e.now.Add(time.Hour)})
	if !errors.Is(err, commands.ErrInvalid) {
		t.Fatalf("a 33rd live code: %v", err)
	}
	later := e.issueCode("later", lockproto.CodePeriod, e.now.Add(2*time.Hour), e.now.Add(3*time.Hour))
	if later.Seq != 0 {
		t.Fatalf("a code after the others ended got %d, want 0", later.Seq)
	}
}

// Codes issued at once by racing callers never share a sequence number:
// each decision appends with the exact version of the lock's code stream.
func TestConcurrentIssuesTakeDistinctSequenceNumbers(t *testing.T) {
	e := newLockEnv(t)
	e.enableCodes()
	const n = 8
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = e.id()
	}
	seqs := make(chan uint8, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := e.svc.IssueOfflineCode(bg, commands.IssueOfflineCode{ID: ids[i], Lock: "front", By: "bill", Code: fmt.Sprint("race-", i),
				Kind: lockproto.CodePeriod, Unit: lockproto.CodeHour, From: e.now, To: e.now.Add(time.Hour)})
			if err != nil {
				t.Error(err)
				return
			}
			seqs <- r.Seq
		}(i)
	}
	wg.Wait()
	close(seqs)
	seen := map[uint8]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("sequence number %d issued twice", s)
		}
		seen[s] = true
	}
	if len(seen) != n {
		t.Fatalf("%d codes issued, want %d", len(seen), n)
	}
}
