// Command server shows how a backend embeds keyledger: a small net/http JSON
// API over commands (the write side) and projections (the read side) on a
// ledger in a directory — accounts and locks; create, share (To ID or To
// Code), download, edit, revoke, reset, deactivate and delete keys; online
// unlocks; key lists with status per lock and per account; a lock's slots;
// histories.
//
// The handler is newServer (server.go, handlers.go, api.go): request
// validation with JSON error bodies {"error": …, "code": …}, status codes
// mapped from the library's typed errors with errors.Is / errors.As
// (classify), a body size limit, idempotent retries through an
// Idempotency-Key header, and no code, PIN or password in any log line or
// error body. server_test.go drives it end to end with httptest.
//
// Routes (X-Account is the caller; bodies are JSON, and may be left out
// where every field is optional: download by the holder, unlock):
//
//	POST   /v1/accounts                          register an account
//	POST   /v1/locks                             register a lock (owner: the caller)
//	POST   /v1/locks/{lock}/keys                 create a key (share, digital, intercom)
//	GET    /v1/locks/{lock}/keys?at=             key list with status
//	GET    /v1/locks/{lock}/slots                slots and their state
//	GET    /v1/locks/{lock}/history              ?from=&to=&cursor=&limit=&order=time|position
//	GET    /v1/keys/{key}?at=                    one key with status
//	PUT    /v1/keys/{key}/settings               edit the settings sent, keep the rest (share keys: before download)
//	DELETE /v1/keys/{key}                        delete
//	POST   /v1/keys/{key}/share                  To ID or To Code (the code is in the answer, once)
//	POST   /v1/keys/{key}/download               the holder, or a code bearer
//	POST   /v1/downloads                         a code bearer with the code alone
//	POST   /v1/keys/{key}/revoke                 before download
//	POST   /v1/keys/{key}/reset                  after download
//	POST   /v1/keys/{key}/deactivation[/confirm] deactivate at the lock
//	POST   /v1/keys/{key}/unlock                 200 granted or denied, with the reason
//	GET    /v1/keys/{key}/history
//	GET    /v1/accounts/{account}/keys?role=     holder ("my keys") or owner
//	GET    /v1/accounts/{account}/history
//	GET    /v1/locks/{lock}/access?door=&at=     who could open the door then (package asof), on which events
//	GET    /v1/accounts/{account}/access?from=&to= every door the account could open, as intervals
//
// Run it from the module root and try it with curl (7.82 or later for --json):
//
//	go run ./examples/server -addr 127.0.0.1:8080   # -dir DIR keeps the ledger; default: a temp dir
//	curl localhost:8080/v1/accounts --json '{"account":"bill","name":"Bill","email":"bill@example.com"}'
//	curl localhost:8080/v1/locks -H 'X-Account: bill' --json '{"lock":"front","name":"Front door","zone":"Europe/Berlin","slots":3}'
//	curl localhost:8080/v1/locks/front/keys -H 'X-Account: bill' --json '{"key":"k1","kind":"share","policy":{"uses":3}}'
//	curl localhost:8080/v1/keys/k1/share -H 'X-Account: bill' --json '{"method":"code"}'
//	curl localhost:8080/v1/locks/front/keys -H 'X-Account: bill'
//
// With -pg DSN the server runs on the PostgreSQL ledger in that database
// instead of a directory, and any number of servers may share it: each
// reads its own writes and the others' (server_test.go starts two server
// processes on one database), one of them applies the read models at a
// time, and another takes over when it stops:
//
//	go run ./examples/server -addr 127.0.0.1:8080 -pg 'postgres://user@127.0.0.1:5432/locks'
//	go run ./examples/server -addr 127.0.0.1:8081 -pg 'postgres://user@127.0.0.1:5432/locks'
//
// X-Account stands in for authentication (a real backend takes the account
// from its session). The root secret comes from KEYLEDGER_ROOT (at least 32
// bytes); without it the server makes an ephemeral one, and share codes,
// PINs and sealed secrets do not survive a restart. Stop it with Ctrl-C: it
// finishes the requests in flight and closes the ledger.
//
// CI does not `go run` this example (it serves until stopped: see
// .no-ci-run); `go test ./examples/server` covers it.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/ledger/pgledger"
	"github.com/keyledger/keyledger/secret"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "", "ledger directory (default: a temporary directory removed at exit)")
	pg := flag.String("pg", "", "PostgreSQL DSN: run on the ledger in that database (shared by every server given it) instead of a directory")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *dir != "" && *pg != "" {
		log.Error("choose -dir or -pg, not both")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "error", err)
		os.Exit(1)
	}
	if err := serve(ctx, log, ln, storage{dir: *dir, dsn: *pg}); err != nil {
		log.Error("server stopped", "error", err)
		os.Exit(1)
	}
}

// storage is where the ledger is: a directory (a temporary one if both
// are empty) or a PostgreSQL database.
type storage struct{ dir, dsn string }

// open opens the stack on st with the root secret root.
func (st storage) open(ctx context.Context, log *slog.Logger, root []byte) (*keyledger.Stack, error) {
	opts := &keyledger.Options{Root: secret.New(root), Logger: log, AsOf: true}
	if st.dsn == "" {
		return keyledger.Open(st.dir, opts)
	}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		return nil, err
	}
	s, err := pgledger.Open(ctx, st.dsn, &pgledger.Options{Registry: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	opts.Backend = s
	return keyledger.Open("", opts)
}

// serve opens the ledger, serves the API on ln until ctx is done, then
// shuts down gracefully.
func serve(ctx context.Context, log *slog.Logger, ln net.Listener, st storage) (err error) {
	defer ln.Close()
	if st.dir == "" && st.dsn == "" {
		tmp, err := os.MkdirTemp("", "keyledger-server-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		st.dir = tmp
	}
	root := []byte(os.Getenv("KEYLEDGER_ROOT"))
	if len(root) == 0 {
		log.Warn("KEYLEDGER_ROOT is not set: using an ephemeral root secret; codes, PINs and sealed secrets will not survive a restart")
		root = make([]byte, 32)
		if _, err := rand.Read(root); err != nil {
			return err
		}
	}

	stack, err := st.open(ctx, log, root)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stack.Close()) }()

	srv := &http.Server{
		Handler:           newServer(stack.Commands, stack.Projections, withLogger(log), withAsOf(stack.AsOf)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	where := slog.String("dir", st.dir)
	if st.dsn != "" {
		where = slog.String("ledger", "postgres")
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()), where)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
