package commands_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// Share a key To ID (the account is notified through the outbox) and
// another To Code (the code is shown to the owner once; the log keeps a
// keyed hash of it).
func ExampleService_ShareKey() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	st, _ := keyledger.Open("", &keyledger.Options{Clock: func() time.Time { return now },
		Root: secret.New([]byte("example root secret from your secret manager"))})
	defer st.Close()
	svc := st.Commands
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 2})
	for _, key := range []string{"for-ann", "guest"} {
		_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: key, Lock: "front", By: "bill", Kind: events.KindShare})
	}

	res, err := svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "for-ann", By: "bill", Method: events.ShareToID, Account: "ann"})
	fmt.Println(res.Method, res.Account, err)
	res, err = svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "guest", By: "bill", Method: events.ShareToCode,
		Email: "guest@example.net"}) // the outbox carries the code there, sealed
	fmt.Println(res.Method, res.Code, res.Code.Len(), err) // Reveal() gives the owner the code

	_, err = svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "guest", By: "bill", Method: events.ShareToID, Account: "ann"})
	var se *commands.StateError
	fmt.Println(errors.As(err, &se), se.State)
	// Output:
	// To ID ann <nil>
	// To Code [REDACTED] 14 <nil>
	// true sharing
}

// The holder downloads a key: the account it was shared with To ID, or
// whoever has the code of a key shared To Code, with or without the key's
// ID. A wrong code is ErrNotPermitted.
func ExampleService_DownloadKey() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	st, _ := keyledger.Open("", &keyledger.Options{Clock: func() time.Time { return now },
		Root: secret.New([]byte("example root secret from your secret manager"))})
	defer st.Close()
	svc := st.Commands
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 2})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "guest", Lock: "front", By: "bill", Kind: events.KindShare})
	share, _ := svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "guest", By: "bill", Method: events.ShareToCode})

	_, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: commands.NewID(), Key: "guest", By: "guest-phone", Code: secret.FromString("AAAA-BBBB-CCCC")})
	fmt.Println(errors.Is(err, commands.ErrNotPermitted))
	dl, err := svc.DownloadKey(ctx, commands.DownloadKey{ID: commands.NewID(), By: "guest-phone", Code: share.Code}) // the code finds the key
	fmt.Println(dl.Key, dl.Lock, "slot", dl.Slot, err)

	status, _ := st.Projections.KeyStatus(ctx, "guest", now)
	fmt.Println(status.Sharing, status.State)
	// Output:
	// true
	// guest front slot 1 <nil>
	// shared downloaded
}

// An online unlock is decided by the key's holder, state, doors and
// schedule at the service clock's time, and recorded either way: only an
// unknown key is an error. A granted unlock counts toward the use limit.
func ExampleService_Unlock() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday
	st, _ := keyledger.Open("", &keyledger.Options{Clock: func() time.Time { return now }})
	defer st.Close()
	svc := st.Commands
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "building", Owner: "bill", Name: "Intercom", Zone: "Europe/Berlin"})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "cleaner", Lock: "building", By: "bill", Kind: events.KindIntercom,
		Settings: events.Settings{Policy: policy.Policy{Start: now, End: now.AddDate(0, 1, 0), Uses: policy.UsesN(2),
			Windows: []policy.Window{{Days: policy.Workdays, From: 8 * 60, To: 12 * 60}}}}}) // a month, weekdays 08:00-12:00 Berlin time
	_, _ = svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "cleaner", By: "bill", Method: events.ShareToID, Account: "ann"})
	_, _ = svc.DownloadKey(ctx, commands.DownloadKey{ID: commands.NewID(), Key: "cleaner", By: "ann"})

	for _, u := range []struct {
		by string
		at time.Time
	}{
		{"ann", now}, {"bob", now}, {"ann", now.Add(5 * time.Hour)}, {"ann", now.Add(24 * time.Hour)}, {"ann", now.Add(25 * time.Hour)},
	} {
		now = u.at
		r, err := svc.Unlock(ctx, commands.Unlock{ID: commands.NewID(), Key: "cleaner", By: u.by})
		fmt.Println(u.by, now.Format("Mon 15:04 MST"), r.Granted, r.Reason, "uses", r.Uses, err)
	}
	// Output:
	// ann Mon 09:00 UTC true granted uses 1 <nil>
	// bob Mon 09:00 UTC false not the holder uses 1 <nil>
	// ann Mon 14:00 UTC false outside window uses 1 <nil>
	// ann Tue 09:00 UTC true granted uses 2 <nil>
	// ann Tue 10:00 UTC false exhausted uses 2 <nil>
}

// A downloaded share key can no longer be revoked; resetting it frees its
// slot at a new generation, and the next key in that slot overwrites it at
// the lock.
func ExampleService_ResetKey() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	st, _ := keyledger.Open("", &keyledger.Options{Clock: func() time.Time { return now }})
	defer st.Close()
	svc := st.Commands
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 1})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "ann-week", Lock: "front", By: "bill", Kind: events.KindShare})
	_, _ = svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "ann-week", By: "bill", Method: events.ShareToID, Account: "ann"})
	_, _ = svc.DownloadKey(ctx, commands.DownloadKey{ID: commands.NewID(), Key: "ann-week", By: "ann"})

	err := svc.RevokeKey(ctx, commands.KeyCommand{ID: commands.NewID(), Key: "ann-week", By: "bill"})
	fmt.Println(errors.Is(err, commands.ErrForbidden))
	err = svc.ResetKey(ctx, commands.KeyCommand{ID: commands.NewID(), Key: "ann-week", By: "bill"})
	fmt.Println("reset:", err)

	next, _ := svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "bob-week", Lock: "front", By: "bill", Kind: events.KindShare})
	fmt.Println("next key: slot", next.Slot, "generation", next.Generation)
	r, _ := svc.Unlock(ctx, commands.Unlock{ID: commands.NewID(), Key: "ann-week", By: "ann"})
	fmt.Println("ann:", r.Granted, r.Reason)
	// Output:
	// true
	// reset: <nil>
	// next key: slot 1 generation 1
	// ann: false reset
}

// A key's history: every action and unlock attempt, granted or denied
// with its reason, oldest first, from the read models
// (projections.Projections.History; Lock or Account instead of Key give a
// lock's or an account's).
func Example_history() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	st, _ := keyledger.Open("", &keyledger.Options{Clock: func() time.Time { return now }})
	defer st.Close()
	svc := st.Commands
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "bill", Name: "Bill", Email: "bill@example.com"})
	_ = svc.RegisterAccount(ctx, commands.RegisterAccount{ID: commands.NewID(), Account: "ann", Name: "Ann", Email: "ann@example.com"})
	_ = svc.RegisterLock(ctx, commands.RegisterLock{ID: commands.NewID(), Lock: "front", Owner: "bill", Name: "Front door", Zone: "Europe/Berlin", Slots: 1})
	_, _ = svc.CreateKey(ctx, commands.CreateKey{ID: commands.NewID(), Key: "guest", Lock: "front", By: "bill", Kind: events.KindShare})
	_, _ = svc.ShareKey(ctx, commands.ShareKey{ID: commands.NewID(), Key: "guest", By: "bill", Method: events.ShareToID, Account: "ann"})
	now = now.Add(time.Hour)
	_, _ = svc.DownloadKey(ctx, commands.DownloadKey{ID: commands.NewID(), Key: "guest", By: "ann"})
	_, _ = svc.Unlock(ctx, commands.Unlock{ID: commands.NewID(), Key: "guest", By: "bob"})
	_, _ = svc.Unlock(ctx, commands.Unlock{ID: commands.NewID(), Key: "guest", By: "ann"})

	page, err := st.Projections.History(ctx, projections.HistoryQuery{Key: "guest", Limit: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range page.Entries {
		line := fmt.Sprintf("%s %-22s by %s", h.Time.Format("15:04"), h.Type, h.Account)
		if h.Subject != "" {
			line += ", for " + h.Subject
		}
		if h.Source != "" { // an unlock attempt, from the app or a keypad, intercom…
			line += fmt.Sprintf(", %s: %v", h.Source, h.Reason)
		}
		fmt.Println(line)
	}
	fmt.Printf("next page: %q\n", page.Next)
	// Output:
	// 09:00 key.created            by bill
	// 09:00 key.shared             by bill, for ann
	// 10:00 key.downloaded         by ann
	// 10:00 key.unlock_attempted   by bob, app: not the holder
	// 10:00 key.unlock_attempted   by ann, app: granted
	// next page: ""
}
