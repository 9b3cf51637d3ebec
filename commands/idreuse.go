package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// A command ID names one command. Sending the same command again with it (a
// retry after a timeout, a lost answer or a crash) changes nothing and
// returns the first outcome; sending a different command with it is refused
// with an *IDReusedError, never answered with the first command's outcome.
//
// How a retry is told from a reuse. The events of a command get IDs derived
// from its command ID (eventID), so one lookup finds what an ID did before
// (replay). Comparing events cannot tell whether that was this command: a
// true retry may decide other events (a share code or PIN drawn anew, a
// value sealed under a new data key, a later clock, state other commands
// changed since), and a different command may decide the same ones. So each
// command compares its own fields with what those events recorded (the
// same function it passes to execute): the kind of command (its event
// types), the IDs it names, and every other field the events keep; a secret
// field through what the log keeps of it (a keyed hash, or a sealed value the
// vault opens), never by storing more of it. Only the ID's own events are
// read, and only when the ledger reports the ID used (or the command
// decides nothing to append), so a first execution pays no extra read.
//
// Storing a digest of each command's fields would need a field in every
// event type or one more event per command (a second record on every
// unlock). The events already name what a command decided; where one does
// not keep a field, the check says so beside the command: a zero
// CreateKey.Slot matches the slot it took and an empty AddContact name the
// name it copied (the same outcome), a drawn PIN's digits are not kept, a
// master code or password erased since cannot be compared (the other fields
// decide), and an online unlock whose decision weighed the password needs
// the same verdict on the password from the member's current hash.

// ErrIDReused means a command ID that already carried out one command was
// sent with a different one (see IDReusedError). Choose a new ID per command;
// reuse an ID only to retry the very same command.
var ErrIDReused = errors.New("commands: command ID reused for a different command")

// IDReusedError reports a command ID sent with a command other than the one
// it carried out: Field is the first field of the new command that differs
// from what the log recorded for the ID ("command" when the ID carried out
// another kind of command). Values are never shown: they may be secrets.
type IDReusedError struct {
	ID       uuid.UUID // the command ID
	Position uint64    // where the first event of the earlier command is
	Event    string    // that event's type, e.g. "account.registered"
	Field    string
}

func (e *IDReusedError) Error() string {
	return fmt.Sprintf("commands: command ID %s already carried out another command (%s at position %d): its %s differs",
		e.ID, e.Event, e.Position, e.Field)
}

// Unwrap makes errors.Is(err, ErrIDReused) true.
func (e *IDReusedError) Unwrap() error { return ErrIDReused }

// sameFunc compares a command with the events its ID appended before: it
// returns "" if they are this command's, else the first field that differs
// ("command" for another kind of command). An error is a failure to compare
// (reading the log, opening a sealed value), not a verdict.
type sameFunc func(orig []ledger.Event) (differs string, err error)

// field is one comparison of a command's field with its recorded value.
type field struct {
	name string
	same bool
}

// firstDiff returns the name of the first field that differs, "" if none.
func firstDiff(fs ...field) string {
	for _, f := range fs {
		if !f.same {
			return f.name
		}
	}
	return ""
}

// differs is firstDiff as a sameFunc result.
func differs(fs ...field) (string, error) { return firstDiff(fs...), nil }

// otherCommand is the sameFunc result for events of another kind of command.
const otherCommand = "command"

// first returns the first original event if it has type T.
func first[T any](orig []ledger.Event) (T, bool) {
	var zero T
	if len(orig) == 0 {
		return zero, false
	}
	d, ok := orig[0].Data.(T)
	return d, ok
}

// checkSame turns a verdict of same on a command ID's earlier events into
// the error execute returns.
func checkSame(cmd uuid.UUID, orig []ledger.Event, same sameFunc) error {
	if same == nil || len(orig) == 0 {
		return nil
	}
	d, err := same(orig)
	if err != nil || d == "" {
		return err
	}
	return &IDReusedError{ID: cmd, Position: orig[0].Position, Event: orig[0].Type, Field: d}
}

// sameSettings compares requested settings (validated, so defaults are
// filled in) with recorded ones. The policy's zone is the lock's, bound by
// the command, not requested.
func sameSettings(want, got events.Settings) string {
	return firstDiff(field{"name", want.Name == got.Name}, field{"category", want.Category == got.Category},
		field{"role", want.Role == got.Role}, field{"doors", want.Doors == got.Doors},
		field{"policy", samePolicy(want.Policy, got.Policy)}, field{"welcome message", want.Welcome == got.Welcome})
}

// samePolicy compares the rules of two policies, instants by Equal (a
// decoded instant has another location), zones not at all.
func samePolicy(a, b policy.Policy) bool {
	if !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.Uses != b.Uses || a.AfterFirstUse != b.AfterFirstUse ||
		len(a.Windows) != len(b.Windows) || len(a.Blackouts) != len(b.Blackouts) || len(a.Periods) != len(b.Periods) {
		return false
	}
	for i := range a.Periods {
		if !a.Periods[i].Start.Equal(b.Periods[i].Start) || !a.Periods[i].End.Equal(b.Periods[i].End) {
			return false
		}
	}
	for i := range a.Windows {
		x, y := a.Windows[i], b.Windows[i]
		if x.Days != y.Days || x.From != y.From || x.To != y.To {
			return false
		}
	}
	return sameBlackouts(a.Blackouts, b.Blackouts)
}

func sameBlackouts(a, b []policy.Blackout) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Days != y.Days || x.From != y.From || x.To != y.To || !x.Start.Equal(y.Start) || !x.End.Equal(y.End) {
			return false
		}
	}
	return true
}

// sameDuration compares a requested duration with the one an event
// recorded as an instant (until) relative to its own time.
func sameDuration(d time.Duration, ev ledger.Event, until time.Time) bool {
	return until.Sub(ev.Time) == d
}

// sameSealed reports whether a recorded sealed value opens to want (both
// absent is the same too). A value whose data key was shredded since
// cannot be compared: it counts as the same, the other fields decide.
func (s *Service) sameSealed(ctx context.Context, sealed secret.Sealed, aad []byte, want secret.Secret) (bool, error) {
	if len(sealed) == 0 || want.IsZero() {
		return len(sealed) == 0 && want.IsZero(), nil
	}
	if err := s.needVault(); err != nil {
		return false, err
	}
	got, err := s.vault.Open(ctx, sealed, aad)
	if errors.Is(err, secret.ErrShredded) {
		return true, nil
	}
	if err != nil {
		return false, vaultErr(err, "")
	}
	return got.Equal(want), nil
}

// passwordVerdict is what a sealed password hash says of a password.
type passwordVerdict int

const (
	passwordSame passwordVerdict = iota
	passwordDiffers
	passwordUnknown // the hash's data key was shredded (member removed, password changed)
)

// samePassword verifies pw against a recorded sealed argon2id hash (slow:
// only a retried command ID pays it).
func (s *Service) samePassword(ctx context.Context, sealed secret.Sealed, aad []byte, pw secret.Secret) (passwordVerdict, error) {
	if len(sealed) == 0 {
		return passwordUnknown, nil
	}
	if err := s.needVault(); err != nil {
		return 0, err
	}
	h, err := s.vault.Open(ctx, sealed, aad)
	if errors.Is(err, secret.ErrShredded) {
		return passwordUnknown, nil
	}
	if err != nil {
		return 0, vaultErr(err, "")
	}
	err = s.vault.VerifyPassword(pw, secret.PasswordHash(h.Reveal()))
	switch {
	case err == nil:
		return passwordSame, nil
	case errors.Is(err, secret.ErrWrongPassword):
		return passwordDiffers, nil
	}
	return 0, vaultErr(err, "")
}
