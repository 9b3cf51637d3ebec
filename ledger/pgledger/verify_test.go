package pgledger

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// Verify names what someone with write access to the tables changed: an
// event (the chain), the head row, or a stored stream head.
func TestVerifyFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    string
		pos    uint64 // of the *CorruptionError, or 0
		index  string // of the *IndexError, or ""
		stream string
	}{
		{"payload", "UPDATE keyledger.events SET payload = '\\x81a154a3626164'::bytea WHERE position = 3", 3, "", ""},
		{"time", "UPDATE keyledger.events SET time = time + 1 WHERE position = 2", 2, "", ""},
		{"stream", "UPDATE keyledger.events SET stream = 'c' WHERE position = 3", 3, "", ""},
		{"deleted event", "DELETE FROM keyledger.events WHERE position = 5", 5, "", ""},
		{"back-pointer", "UPDATE keyledger.events SET prev_pos = 1 WHERE position = 4", 4, "", ""},
		{"head row hash", "UPDATE keyledger.head SET hash = decode(repeat('11', 32), 'hex')", 0, "log head", ""},
		{"head row behind", "UPDATE keyledger.head SET position = 5", 0, "log head", ""},
		{"stale stream head", "UPDATE keyledger.streams SET version = 1, last_pos = 1 WHERE stream = 'a'", 0, "head", "a"},
		{"missing stream head", "DELETE FROM keyledger.streams WHERE stream = 'b'", 0, "head", "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, testRegistry(t))
			for i := range 3 {
				if _, err := s.Append(bg, "a", ledger.ExpectAny, ledger.NewEvent{ID: tid(uint64(2*i + 1)), Data: testNote{Text: "x"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Append(bg, "b", ledger.ExpectAny, ledger.NewEvent{ID: tid(uint64(2*i + 2)), Data: testCount{N: i}}); err != nil {
					t.Fatal(err)
				}
			}
			good, err := s.Verify(bg)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(bg, mustDSN(t, s))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(bg)
			if _, err := conn.Exec(bg, tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err = s.Verify(bg)
			var ce *ledger.CorruptionError
			var ie *ledger.IndexError
			switch {
			case !errors.Is(err, ledger.ErrCorrupt):
				t.Fatalf("Verify after %s: %v, want ErrCorrupt", tc.sql, err)
			case tc.pos != 0 && (!errors.As(err, &ce) || ce.Position != tc.pos):
				t.Fatalf("Verify: %v, want a CorruptionError at %d", err, tc.pos)
			case tc.index != "" && (!errors.As(err, &ie) || ie.Index != tc.index || ie.Stream != tc.stream):
				t.Fatalf("Verify: %v, want an IndexError of %q on stream %q", err, tc.index, tc.stream)
			}
			if tc.pos != 0 {
				if err := s.CheckDigest(bg, good); !errors.Is(err, ledger.ErrCorrupt) {
					t.Fatalf("CheckDigest of the digest from before: %v, want ErrCorrupt", err)
				}
			}
		})
	}
}
