package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/internal/pgtest"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
)

// The inspection commands take a PostgreSQL DSN in place of the directory
// and answer as they do for the same history on disk; a database without a
// ledger is refused and left without one.
func TestInspectAPostgresLedger(t *testing.T) {
	dsn := pgtest.Database(t)
	if _, errOut, code := cli(t, "verify", dsn); code == 0 || !strings.Contains(errOut, "no ledger in that database") {
		t.Fatalf("verify of an empty database: exit %d, %q", code, errOut)
	}
	if ok, err := pgledger.Exists(context.Background(), dsn, pgledger.DefaultSchema); err != nil || ok {
		t.Fatalf("after inspecting an empty database it holds a ledger (%v, %v): the command wrote", ok, err)
	}
	pgFixture(t, dsn)
	dir := fixture(t, projCurrent)

	out, errOut := ok(t, "verify", dsn)
	if !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %q %q", out, errOut)
	}
	for _, args := range [][]string{
		{"keys", "-lock", "front", "-at", "2026-03-03T09:00:00Z"},
		{"keys", "-holder", "ann", "-at", "2026-03-01T00:00:00Z"},
		{"history", "-lock", "front"},
		{"history", "-key", "ann-back", "-json"},
	} {
		onDisk, _ := ok(t, append(args, dir)...)
		onPG, errOut := ok(t, append(args, dsn)...)
		if onPG != onDisk {
			t.Errorf("%s: on PostgreSQL\n%s\non disk\n%s", strings.Join(args, " "), onPG, onDisk)
		}
		if errOut != "" {
			t.Errorf("%s on PostgreSQL: stderr %q", strings.Join(args, " "), errOut)
		}
	}
	out, _ = ok(t, "rebuild", dsn)
	if !strings.Contains(out, "agree") {
		t.Fatalf("rebuild on PostgreSQL: %q", out)
	}
}

// pgFixture builds the CLI fixture's ledger (with current read models) in
// the PostgreSQL database at dsn.
func pgFixture(t *testing.T, dsn string) {
	t.Helper()
	err := buildFixtureOn(func(o *keyledger.Options) (*keyledger.Stack, error) {
		reg := ledger.NewRegistry()
		if err := events.Register(reg); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := pgledger.Open(ctx, dsn, &pgledger.Options{Registry: reg, Clock: o.Clock})
		if err != nil {
			return nil, err
		}
		o.Backend = s
		return keyledger.Open("", o)
	}, projCurrent)
	if err != nil {
		t.Fatal(err)
	}
}
