package commands_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/testbackend"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
)

// Which key actions send which admin message to the lock: only keys that
// hold an offline credential (downloaded with a phone key, through a
// service with an issuer) get one, and the sequence number is the lock's
// next.
func TestAdminMessageRules(t *testing.T) {
	cases := []struct {
		name       string
		credential bool // downloaded with a phone key
		noIssuer   bool // the acting service has no issuer
		act        func(s *commands.Service, ctx context.Context, c commands.KeyCommand) error
		want       lockproto.Type // 0: none
	}{
		{"reset", true, false, (*commands.Service).ResetKey, lockproto.TypeResetSlot},
		{"reset, downloaded without a phone key", false, false, (*commands.Service).ResetKey, 0},
		{"reset by a service without issuer", true, true, (*commands.Service).ResetKey, 0},
		{"deactivation request", true, false, (*commands.Service).RequestDeactivation, lockproto.TypeDeactivateSlot},
		{"deactivation request, no credential", false, false, (*commands.Service).RequestDeactivation, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newLockEnv(t)
			if tc.credential {
				e.shareTo("k1", "ann", 2, settings("k1"))
			} else {
				if _, err := e.svc.CreateKey(bg, commands.CreateKey{ID: e.id(), Key: "k1", Lock: "front", By: "bill", Kind: events.KindShare, Settings: settings("k1"), Slot: 2}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.ShareKey(bg, commands.ShareKey{ID: e.id(), Key: "k1", By: "bill", Method: events.ShareToID, Account: "ann"}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.DownloadKey(bg, commands.DownloadKey{ID: e.id(), Key: "k1", By: "ann"}); err != nil {
					t.Fatal(err)
				}
			}
			svc := e.svc
			if tc.noIssuer {
				svc = e.env.svc
			}
			pos := e.l.DurablePosition()
			if err := tc.act(svc, bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
				t.Fatal(err)
			}
			var got []events.AdminIssued
			for _, d := range e.eventsSince(pos) {
				if a, ok := d.(events.AdminIssued); ok {
					got = append(got, a)
				}
			}
			if tc.want == 0 {
				if len(got) != 0 {
					t.Fatalf("issued %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d admin messages", len(got))
			}
			a := got[0]
			m, err := lockproto.VerifyAdmin(a.Message, e.issuer.PublicKey())
			if err != nil || a.Type != tc.want || m.Type != tc.want || a.Seq != 2 || m.Seq != 2 || a.Key != "k1" || a.Slot != 2 ||
				m.Slot != 1 || a.Generation != 1 || m.Generation != 1 || m.Lock != commands.LockUUID("front") {
				t.Fatalf("admin %+v, message %+v, %v", a, m, err)
			}
		})
	}
}

// The names audit records get in history: a refusal both the server and the
// lock make has one name; one only a lock makes is marked as the lock's.
func TestLockReasonNames(t *testing.T) {
	for r, want := range map[access.Reason]string{
		access.Granted:       "",
		access.NotYetValid:   "not_yet_valid",
		access.Expired:       "expired",
		access.OutsideWindow: "outside_window",
		access.Exhausted:     "exhausted",
		access.WrongDoor:     "door_not_permitted",
		access.Revoked:       "revoked",
		access.Superseded:    "superseded",
		access.BadProof:      "lock_bad_proof",
		access.ClockUnknown:  "lock_clock_unknown",
		access.Policy:        "lock_policy",
		access.Reason(200):   "reason_200",
	} {
		if got := r.Name(); got != want {
			t.Errorf("Reason(%d).Name() = %q, want %q", r, got, want)
		}
	}
}

// With the audit events in the log, a rebuild from the log alone equals the
// incrementally applied read models; and the audit key appears in no file of
// the database.
func TestAuditRebuildAndNoPlainKey(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, limited("k1", 2))
	for range 3 {
		e.now = e.now.Add(time.Minute)
		e.visit(e.lock, ann, 0)
	}
	if err := e.svc.RequestDeactivation(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, e.pending("front"))
	e.upload(e.lock, "front")
	before := rows(t, e.env)
	if err := e.proj.Rebuild(bg); err != nil {
		t.Fatal(err)
	}
	after := rows(t, e.env)
	if len(before) != len(after) {
		t.Fatalf("rebuild: %d rows, incremental %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %q differs after rebuild", k)
		}
	}
	if st, _ := e.proj.KeyStatus(bg, "k1", e.now); st.Uses != 2 || st.State != events.StateDeactivated {
		t.Fatalf("after rebuild: %+v", st)
	}
	page, err := e.proj.History(bg, projections.HistoryQuery{Key: "k1"})
	if err != nil || len(page.Entries) == 0 {
		t.Fatal(err)
	}
	if testbackend.Postgres() {
		if err := e.l.Close(); err != nil {
			t.Fatal(err)
		}
		if hits := testbackend.Find(t, e.l, e.pairing.AuditKey[:]); len(hits) > 0 {
			t.Fatalf("tables %v hold the lock's audit key in plaintext", hits)
		}
		return
	}
	if err := e.l.Close(); err != nil { // flush everything to files
		t.Fatal(err)
	}
	names, err := e.fs.List("db")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		f, err := e.fs.Open(e.fs.PathJoin("db", n))
		if err != nil {
			continue
		}
		b, err := io.ReadAll(f)
		_ = f.Close()
		if err == nil && bytes.Contains(b, e.pairing.AuditKey[:]) {
			t.Fatalf("file %s holds the lock's audit key in plaintext", n)
		}
	}
}

func rows(t *testing.T, e *env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for en, err := range projections.Dump(bg, e.l) { // history rows one per entry
		if err != nil {
			t.Fatal(err)
		}
		out[string(en.Key)] = string(en.Value)
	}
	return out
}

// A message signed outside the ledger (here zone rules at sequence 7)
// raises the lock's counter; once the audit shows it, the ledger's next
// message is numbered above it, so the lock does not refuse it as stale.
func TestAdminSeqAboveWhatTheLockSaw(t *testing.T) {
	e := newLockEnv(t)
	ann := e.shareTo("k1", "ann", 1, settings("k1"))
	zr, err := lockproto.ZoneRulesFor(time.UTC, e.now, e.now.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	tz, err := e.issuer.TimeZone(commands.LockUUID("front"), 7, zr)
	if err != nil {
		t.Fatal(err)
	}
	e.deliver(e.lock, [][]byte{tz})
	if res := e.upload(e.lock, "front"); len(res.Applied) != 1 || res.Applied[0] != 7 {
		t.Fatalf("upload %+v", res)
	}
	if err := e.svc.ResetKey(bg, commands.KeyCommand{ID: e.id(), Key: "k1", By: "bill"}); err != nil {
		t.Fatal(err)
	}
	p := e.pending("front")
	if a, _ := lockproto.DecodeAdmin(p[0]); len(p) != 1 || a.Seq != 8 {
		t.Fatalf("next message %+v", a)
	}
	e.deliver(e.lock, p)
	if d := e.visit(e.lock, ann, 0); d.Granted {
		t.Fatal("the reset did not take")
	}
}
