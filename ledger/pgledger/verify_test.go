package pgledger

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/keyledger/keyledger/ledger"
)

// Verify names the first event someone with write access to the table
// changed or removed; CheckDigest against a digest from before finds it
// too, and also events cut from the end.
func TestVerifyFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
		pos  uint64 // of the *CorruptionError; 0: Verify finds a consistent shorter log
	}{
		{"payload", "UPDATE keyledger.events SET payload = '\\x81a154a3626164'::bytea WHERE position = 3", 3},
		{"time", "UPDATE keyledger.events SET time = time + 1 WHERE position = 2", 2},
		{"stream", "UPDATE keyledger.events SET stream = 'c' WHERE position = 3", 3},
		{"deleted event", "DELETE FROM keyledger.events WHERE position = 5", 5},
		{"back-pointer", "UPDATE keyledger.events SET prev_pos = 1 WHERE position = 4", 4},
		{"hash", "UPDATE keyledger.events SET hash = decode(repeat('11', 32), 'hex') WHERE position = 6", 6},
		{"append bounds", "UPDATE keyledger.events SET append_last = 1 WHERE position = 2", 2},
		{"tail cut", "DELETE FROM keyledger.events WHERE position = 6", 0},
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
			d, err := s.Verify(bg)
			var ce *ledger.CorruptionError
			switch {
			case tc.pos == 0:
				if err != nil || d.Position != good.Position-1 {
					t.Fatalf("Verify of a log cut short: %v, %v; want a consistent log of %d events", d, err, good.Position-1)
				}
			case !errors.Is(err, ledger.ErrCorrupt):
				t.Fatalf("Verify after %s: %v, want ErrCorrupt", tc.sql, err)
			case !errors.As(err, &ce) || ce.Position != tc.pos:
				t.Fatalf("Verify: %v, want a CorruptionError at %d", err, tc.pos)
			}
			if err := s.CheckDigest(bg, good); !errors.Is(err, ledger.ErrCorrupt) {
				t.Fatalf("CheckDigest of the digest from before: %v, want ErrCorrupt", err)
			}
		})
	}
}
