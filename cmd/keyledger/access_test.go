package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/internal/pgtest"
)

// Who could open the front door at noon of the first day: Ann with her
// week key, and the code bearer's phone whose key's deactivation had not
// reached the lock.
func TestAccessWhoCouldOpen(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, errOut := ok(t, "access", "-lock", "front", "-at", "2026-03-02T12:00:00Z", dir)
	if errOut != "" {
		t.Fatalf("stderr %q", errOut)
	}
	wantLines(t, "access -lock front", out,
		"# main door of front at 2026-03-02T12:00:00Z: log position 40 of 47",
		"ACCOUNT      KEY         KIND   SINCE                 SCHEDULE                                                     USES  AT LOCK                            EVENTS",
		"ann          ann-week    share  2026-03-02T09:30:00Z  from 2026-03-02T09:00:00Z until 2026-03-09T09:00:00Z 3 uses  1     -                                  4,6,25,29",
		"guest-phone  guest-code  share  2026-03-02T09:30:00Z  always                                                       0     still open (deactivation pending)  4,10,26,33",
	)
	// Before the downloads nobody could; a week later only the phone's key,
	// still at the lock; the inner door is no door of the garage.
	out, _ = ok(t, "access", "-lock", "front", "-at", "2026-03-02T09:10:00Z", dir)
	if n := len(lines(out)); n != 2 {
		t.Fatalf("before the downloads: %q", out)
	}
	out, _ = ok(t, "access", "-lock", "front", "-at", "2026-03-10T00:00:00Z", "-json", dir)
	var o openingLine
	if err := json.Unmarshal([]byte(out), &o); err != nil || len(lines(out)) != 1 {
		t.Fatalf("a week later: %q (%v)", out, err)
	}
	if o.Key != "guest-code" || !o.StillAtLock || o.Account != "guest-phone" || !slices.Equal(o.Positions, []uint64{4, 10, 26, 33}) {
		t.Fatalf("a week later: %+v", o)
	}
}

// Every door Ann could open over ten days, as intervals.
func TestAccessOfAnAccount(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, _ := ok(t, "access", "-account", "ann", "-since", "2026-03-02T00:00:00Z", "-until", "2026-03-12T00:00:00Z", dir)
	wantLines(t, "access -account ann", out,
		"# ann from 2026-03-02T00:00:00Z until 2026-03-12T00:00:00Z: log position 47 of 47",
		"LOCK    DOOR  KEY       FROM                  UNTIL                 AT LOCK  EVENTS",
		"back    main  ann-back  2026-03-02T12:00:00Z  2026-03-12T00:00:00Z  -        34,35,39",
		"front   main  ann-week  2026-03-02T09:30:00Z  2026-03-09T09:00:00Z  -        4,6,25,29",
		"garage  main  once      2026-03-02T09:30:00Z  2026-03-02T11:00:00Z  -        5,18,27",
	)
	out, _ = ok(t, "access", "-account", "ann", "-since", "2026-03-02T10:00:00Z", "-until", "2026-03-02T10:30:00Z", "-json", dir)
	var got []string
	for _, l := range lines(out) {
		var s spanLine
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Lock+" "+s.Key+" "+s.From+" "+s.Until)
	}
	want := []string{"front ann-week 2026-03-02T10:00:00Z 2026-03-02T10:30:00Z", "garage once 2026-03-02T10:00:00Z 2026-03-02T10:30:00Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("json: %q, want %q", got, want)
	}
}

func TestAccessErrors(t *testing.T) {
	dir := fixture(t, projCurrent)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-lock", "nowhere"}, exitFailed, `keyledger access: unknown lock "nowhere"`},
		{[]string{"-lock", "garage", "-door", "inner"}, exitFailed, `keyledger access: lock "garage" has no inner door`},
		{[]string{"-lock", "front", "-door", "attic"}, exitUsage, `keyledger access: -door "attic": want main, inner or a door number below 8 (see 'keyledger help access')`},
		{[]string{"-account", "zed", "-since", "2026-03-02T00:00:00Z"}, exitFailed, `keyledger access: unknown account "zed"`},
		{[]string{"-account", "ann", "-since", "2026-03-02T00:00:00Z", "-until", "2026-03-01T00:00:00Z"}, exitUsage,
			"keyledger access: asof: range ends at 2026-03-01T00:00:00Z, before it starts at 2026-03-02T00:00:00Z (see 'keyledger help access')"},
		{[]string{"-account", "ann"}, exitUsage, "keyledger access: -account needs -since (see 'keyledger help access')"},
		{[]string{"-lock", "front", "-account", "ann"}, exitUsage, ""},
	} {
		_, errOut, code := cli(t, append(append([]string{"access"}, c.args...), dir)...)
		if code != c.code || c.msg != "" && strings.TrimSpace(errOut) != c.msg {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}

// keys -as-of shows the keys as the read models had them then.
func TestKeysAsOf(t *testing.T) {
	dir := fixture(t, projCurrent)
	out, errOut := ok(t, "keys", "-lock", "front", "-as-of", "2026-03-02T09:40:00Z", dir)
	wantLines(t, "keys -as-of a time", out,
		"KEY         LOCK   KIND   NAME            STATE       SHARING  STATUS    USES  HOLDER       FROM                  UNTIL                 NEXT OPEN",
		"ann-week    front  share  Ann's week      downloaded  shared   ACTIVE    0/3   ann          2026-03-02T09:00:00Z  2026-03-09T09:00:00Z  2026-03-02T09:40:00Z",
		"bob-later   front  share  Bob next month  sharing     sharing  UPCOMING  0     bob          2026-04-01T09:00:00Z  -                     2026-04-01T09:00:00Z",
		"guest-code  front  share  Guest           downloaded  shared   ACTIVE    0     guest-phone  -                     -                     2026-03-02T09:40:00Z",
	)
	if want := "keyledger: note: read models as of log position 27 of 47, rebuilt in memory (nothing written)\n"; errOut != want {
		t.Fatalf("stderr %q, want %q", errOut, want)
	}
	// At position 6 only Ann's key exists, not yet shared.
	out, _ = ok(t, "keys", "-lock", "front", "-as-of", "6", dir)
	if l := lines(out); len(l) != 2 || !strings.HasPrefix(l[1], "ann-week ") || !strings.Contains(l[1], " created ") {
		t.Fatalf("keys -as-of 6: %q", out)
	}
	for _, c := range []struct{ asOf, msg string }{
		{"48", "keyledger keys: -as-of 48: the log head is 47"},
		{"yesterday", `keyledger keys: -as-of "yesterday": want a log position or an RFC 3339 time, like 2026-03-02T09:00:00Z (see 'keyledger help keys')`},
		{"3", `keyledger keys: as of position 3: unknown lock "front"`},
	} {
		if _, errOut, code := cli(t, "keys", "-lock", "front", "-as-of", c.asOf, dir); code == 0 || strings.TrimSpace(errOut) != c.msg {
			t.Errorf("-as-of %s: exit %d, stderr %q, want %q", c.asOf, code, errOut, c.msg)
		}
	}
}

// access and keys -as-of answer on a PostgreSQL ledger as on disk.
func TestAccessOnPostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	pgFixture(t, dsn)
	dir := fixture(t, projCurrent)
	for _, args := range [][]string{
		{"access", "-lock", "front", "-at", "2026-03-02T12:00:00Z"},
		{"access", "-account", "ann", "-since", "2026-03-02T00:00:00Z", "-until", "2026-03-12T00:00:00Z", "-json"},
		{"keys", "-lock", "front", "-as-of", "2026-03-02T09:40:00Z"},
		{"keys", "-holder", "ann", "-as-of", "30"},
	} {
		onDisk, _ := ok(t, append(args, dir)...)
		onPG, _ := ok(t, append(args, dsn)...)
		if onPG != onDisk {
			t.Errorf("%s: on PostgreSQL\n%s\non disk\n%s", strings.Join(args, " "), onPG, onDisk)
		}
	}
}
