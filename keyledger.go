package keyledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/proofs"
	"github.com/keyledger/keyledger/secret"
)

// ErrInvalidOptions means Options failed validation; Open returns every
// problem at once (errors.Join), each wrapping it and naming the field.
var ErrInvalidOptions = errors.New("keyledger: invalid options")

// Options configure Open. nil and the zero value give a durable stack on
// dir with the system clock and no root secret.
type Options struct {
	// InMemory keeps the ledger in memory: nothing survives Close. For tests
	// and demos. Open with dir "" is in memory too; InMemory with a
	// directory is refused.
	InMemory bool
	// Backend is an opened storage backend to run on instead of the
	// embedded ledger, such as the PostgreSQL one (pgledger.Open), with
	// this catalogue registered (events.Register on the registry it was
	// opened with). Open's dir must be "" and InMemory false. The stack
	// owns it from then on: Stack.Close closes it, and so does a failed
	// Open.
	Backend ledger.Backend
	// Clock is the time of every decision and event. Default time.Now.
	Clock func() time.Time

	// Root is the root secret: at least secret.MinRootLen random bytes from
	// the backend's secret manager, never stored. Every key that seals a
	// secret or hashes a share code or PIN derives from it, so it must stay
	// the same across restarts. Without it the stack works, but commands
	// that make or check share codes, PINs, passwords or sealed secrets
	// return commands.ErrInvalid.
	Root secret.Secret
	// Keystore holds the vault's wrapped data keys. Default: the ledger's
	// own state space (commands.LedgerKeystore). Needs Root.
	Keystore secret.Keystore
	// Rand is the source of share codes, PINs, salts and data keys. Default
	// crypto/rand. Demos and tests may pass a deterministic reader. Needs Root.
	Rand io.Reader
	// Password is the argon2id cost of new password hashes. Zero value:
	// secret.DefaultPasswordParams. Needs Root.
	Password secret.PasswordParams

	// Issuer signs offline credentials (a share key downloaded with the
	// phone's public key) and admin messages for locks. Default none: such
	// downloads carry no credential.
	Issuer *lockproto.Issuer
	// BatchSize bounds the events the read models apply per batch while they
	// catch up with the log. Default 1024.
	BatchSize int
	// Logger receives what an operator must see from the ledger, the read
	// models and the commands (never a secret). Default nil: silent.
	Logger *slog.Logger

	// AsOf keeps the as-of index (Stack.AsOf): who could open a door at
	// any instant, every door an account could open during a range. It
	// follows the log in memory, from the first event at every Open.
	AsOf bool
	// Proofs keeps the Merkle tree over the log up to date in the
	// background (Stack.Proofs), so evidence bundles export without a
	// catch-up first. It is an index in the ledger's state space: it
	// resumes where it stopped, and on a backend several processes share
	// only the process holding its lease writes it.
	Proofs bool
}

// validate returns every problem of o (nil is valid), joined.
func (o *Options) validate(dir string) error {
	if o == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if o.InMemory && dir != "" {
		bad("InMemory with the directory %q: choose one", dir)
	}
	if o.Backend != nil && (dir != "" || o.InMemory) {
		bad("Backend with the directory %q or InMemory: choose one", dir)
	}
	if n := o.Root.Len(); n > 0 && n < secret.MinRootLen {
		bad("Root has %d bytes, need at least %d", n, secret.MinRootLen)
	}
	if o.Root.IsZero() {
		if o.Keystore != nil {
			bad("Keystore is set without Root")
		}
		if o.Rand != nil {
			bad("Rand is set without Root")
		}
		if o.Password != (secret.PasswordParams{}) {
			bad("Password is set without Root")
		}
	}
	if o.BatchSize < 0 {
		bad("BatchSize %d < 0", o.BatchSize)
	}
	return errors.Join(errs...)
}

// Stack is a working keyledger: the ledger, the read models following it,
// and the command service writing to it with read-your-writes. Use the
// fields directly; Close releases them in order.
type Stack struct {
	// Ledger is the storage: the embedded *ledger.Ledger (whose Stats,
	// Backup and other methods a type assertion reaches) or Options.Backend.
	Ledger      ledger.Backend
	Projections *projections.Projections
	Commands    *commands.Service
	// AsOf is the as-of index (Options.AsOf), else nil.
	AsOf *asof.Index
	// Proofs is the Merkle tree over the log (Options.Proofs), else nil.
	// It is being kept up to date; Update waits for it to cover the head.
	Proofs *proofs.Tree

	stopProofs context.CancelFunc
	proofsDone chan struct{}
}

// Open opens (or creates) the ledger in dir — in memory if dir is "" or
// opts.InMemory, or opts.Backend if set — and returns the whole stack over it: the event catalogue
// registered, the read models caught up from their checkpoint and following
// the log, and a command service that waits for them before a command
// returns, with a vault over the root secret if opts.Root is set.
//
// Errors: ErrInvalidOptions (all problems, joined) before anything is
// opened; the ledger's errors from ledger.Open (ledger.ErrCorrupt,
// ledger.ErrFailed, …) with the directory named; secret.ErrConfig for
// Password parameters the vault refuses. On error nothing stays open,
// opts.Backend included.
func Open(dir string, opts *Options) (*Stack, error) {
	if err := opts.validate(dir); err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Backend != nil {
		if err := checkCatalogue(o.Backend.Registry()); err != nil {
			return nil, errors.Join(err, o.Backend.Close())
		}
		s, err := wire(o.Backend, &o)
		if err != nil {
			return nil, errors.Join(err, o.Backend.Close())
		}
		return s, nil
	}
	reg := ledger.NewRegistry()
	if err := events.Register(reg); err != nil {
		return nil, err
	}
	l, err := ledger.Open(dir, &ledger.Options{InMemory: dir == "", Registry: reg, Clock: o.Clock, Logger: o.Logger})
	if err != nil {
		if dir == "" {
			return nil, fmt.Errorf("keyledger: open in-memory ledger: %w", err)
		}
		return nil, fmt.Errorf("keyledger: open ledger in %s: %w", dir, err)
	}
	s, err := wire(l, &o)
	if err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return s, nil
}

// wire builds the vault, the read models and the service over l.
func wire(l ledger.Backend, o *Options) (*Stack, error) {
	var vault *secret.Vault
	if !o.Root.IsZero() {
		ks := o.Keystore
		if ks == nil {
			ks = commands.NewLedgerKeystore(l)
		}
		v, err := secret.NewVault(&secret.Options{Root: o.Root, Keystore: ks, Rand: o.Rand, Password: o.Password})
		if err != nil {
			return nil, fmt.Errorf("keyledger: vault: %w", err)
		}
		vault = v
	}
	proj, err := projections.Open(l, &projections.Options{BatchSize: o.BatchSize, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("keyledger: open read models: %w", err)
	}
	svc, err := commands.New(l, &commands.Options{Clock: o.Clock, Vault: vault, Projections: proj, Issuer: o.Issuer, Logger: o.Logger})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("keyledger: command service: %w", err), proj.Close())
	}
	s := &Stack{Ledger: l, Projections: proj, Commands: svc}
	if o.AsOf {
		x, err := asof.Open(l)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("keyledger: as-of index: %w", err), proj.Close())
		}
		s.AsOf = x
	}
	if o.Proofs {
		s.runProofs(o.Logger)
	}
	return s, nil
}

// runProofs follows the log with the Merkle tree until Close. An error
// Run cannot retry (a damaged index, a corrupt log) is logged and ends
// the following; Stack.Proofs still answers for what it covers, and
// Update reports the error.
func (s *Stack) runProofs(log *slog.Logger) {
	s.Proofs = proofs.New(s.Ledger, nil)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopProofs, s.proofsDone = cancel, make(chan struct{})
	go func() {
		defer close(s.proofsDone)
		if err := s.Proofs.Run(ctx); err != nil && ctx.Err() == nil && log != nil {
			log.Error("keyledger: the Merkle tree stopped following the log", "err", err)
		}
	}()
}

// Close stops the Merkle tree and the as-of index (if kept) and the read
// models, then closes the ledger (which stores what it
// keeps for a fast reopen). Call it after the last command has returned: a
// command still running fails, and may have been recorded without its read
// models applied (they catch up at the next Open). A second Close returns
// ledger.ErrClosed.
func (s *Stack) Close() error {
	if s.stopProofs != nil {
		s.stopProofs()
		<-s.proofsDone
		s.stopProofs = nil
	}
	var x error
	if s.AsOf != nil {
		x = s.AsOf.Close()
	}
	return errors.Join(x, s.Projections.Close(), s.Ledger.Close())
}

// checkCatalogue reports the catalogue's event types reg lacks or registers
// under another name or schema: the stack could not record them.
func checkCatalogue(reg *ledger.Registry) error {
	if reg == nil {
		return fmt.Errorf("%w: Backend has no registry", ErrInvalidOptions)
	}
	var errs []error
	for _, t := range events.Types() {
		name, schema, ok := reg.Lookup(t.Prototype)
		if !ok || name != t.Name || schema != t.Schema {
			errs = append(errs, fmt.Errorf("%w: Backend's registry lacks event type %q schema %d (register events on it before opening the backend)", ErrInvalidOptions, t.Name, t.Schema))
		}
	}
	return errors.Join(errs...)
}
