package pgledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keyledger/keyledger/ledger"
)

// What can fail talking to the server, and what a caller learns:
//
//   - the caller's context ended: its error (errors.Is ctx.Err()); for an
//     append whose commit may have been sent, also ErrUnknownOutcome;
//   - the server could not be reached, or the connection broke or the
//     server gave up before a write was sent or committed: ErrUnavailable
//     (nothing written; the same call may be retried);
//   - the connection broke or timed out after a commit was sent:
//     ErrUnknownOutcome (retry with the same event IDs);
//   - the server refused a statement for another reason: the *pgconn.PgError,
//     wrapped (a bug, a damaged schema, permissions).

// readErr classifies err from an operation that wrote nothing, or whose
// transaction is known not to have committed.
func readErr(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case classified(err):
		return err
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)):
		return fmt.Errorf("pgledger: %s: %w", op, ctx.Err())
	case connectionLost(err):
		return fmt.Errorf("pgledger: %s: %w: %w", op, ledger.ErrUnavailable, err)
	}
	return fmt.Errorf("pgledger: %s: %w", op, err)
}

// commitErr classifies err from a round trip that carried a COMMIT (or a
// statement of a transaction whose COMMIT was sent with it). atCommit says
// the error is the COMMIT's own result.
func commitErr(ctx context.Context, op string, err error, atCommit bool) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case pgconn.SafeToRetry(err), errors.As(err, new(pgx.ErrPreprocessingBatch)):
		// Nothing reached the server, or only statements to describe
		// (a batch's prepare step, before any of it runs).
		return readErr(ctx, op, err)
	case errors.As(err, &pe) && (!atCommit || !serverGone(pe)):
		// The server answered: a failed statement aborts the transaction,
		// and a COMMIT that failed for a reason of its own did not commit.
		return readErr(ctx, op, err)
	case ctx.Err() != nil:
		return fmt.Errorf("pgledger: %s: %w (%w): %w", op, ledger.ErrUnknownOutcome, ctx.Err(), err)
	}
	return fmt.Errorf("pgledger: %s: %w: %w", op, ledger.ErrUnknownOutcome, err)
}

// classified reports errors this package has already given their meaning.
func classified(err error) bool {
	for _, e := range []error{ledger.ErrClosed, ledger.ErrUnavailable, ledger.ErrUnknownOutcome, ledger.ErrInvalid, ledger.ErrCorrupt, ledger.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// connectionLost reports errors that say the server or the connection is
// gone, busy or shutting down rather than that it refused the statement.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return serverGone(pe)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "conn closed")
}

// serverGone reports server errors of classes 08 (connection exception),
// 53 (insufficient resources), 57 (operator intervention: shutdown, cancel,
// cannot connect now) and 58 (system error).
func serverGone(pe *pgconn.PgError) bool {
	switch {
	case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57"), strings.HasPrefix(pe.Code, "58"):
		return true
	}
	return false
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ledger.ErrInvalid}, args...)...)
}
