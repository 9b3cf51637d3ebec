package commands

import (
	"context"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
)

// Input limits (bytes). IDs appear in stream names.
const (
	MaxIDLen   = 128
	MaxNameLen = 256
	MaxTextLen = 2048 // welcome messages, descriptions
)

func checkID(field, id string) error {
	switch {
	case id == "":
		return invalid(field, "empty")
	case len(id) > MaxIDLen:
		return invalid(field, "%d bytes, at most %d", len(id), MaxIDLen)
	case !utf8.ValidString(id) || strings.ContainsAny(id, "\x00/"):
		return invalid(field, "%q must be UTF-8 without NUL or '/'", id)
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid(field, "%d bytes, at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not UTF-8")
	}
	return nil
}

func checkEmail(field, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if err := checkText(field, s, MaxNameLen); err != nil {
		return err
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return invalid(field, "%q is not an e-mail address", s)
	}
	return nil
}

// RegisterAccount registers a user ID with a name and e-mail address.
type RegisterAccount struct {
	ID                   uuid.UUID // command ID, chosen by the caller
	Account, Name, Email string
}

func (c RegisterAccount) validate() error {
	if err := checkID("account", c.Account); err != nil {
		return err
	}
	if err := checkText("name", c.Name, MaxNameLen); err != nil {
		return err
	}
	return checkEmail("email", c.Email, true)
}

// RegisterAccount registers an account. ErrExists if the ID is taken.
func (s *Service) RegisterAccount(ctx context.Context, c RegisterAccount) error {
	if err := c.validate(); err != nil {
		return err
	}
	_, err := s.execute(ctx, c.ID, c.same, func(t *txn) error {
		a, err := t.account(c.Account)
		if err != nil {
			return err
		}
		if a.Exists() {
			return exists("account", c.Account)
		}
		t.emit(accountStream(c.Account), events.AccountRegistered{Account: c.Account, Name: c.Name, Email: c.Email})
		return nil
	})
	return err
}

// same reports whether an account registration recorded this command.
func (c RegisterAccount) same(orig []ledger.Event) (string, error) {
	r, ok := first[events.AccountRegistered](orig)
	if !ok {
		return otherCommand, nil
	}
	return differs(field{"account", r.Account == c.Account}, field{"name", r.Name == c.Name}, field{"email", r.Email == c.Email})
}

// AddContact adds (or updates) an address-book entry. The contact must be a
// registered account ("This ID account must have been registered").
type AddContact struct {
	ID                            uuid.UUID
	Account, Contact, Name, Email string
}

// AddContact adds a contact to an account's address book.
func (s *Service) AddContact(ctx context.Context, c AddContact) error {
	if err := firstErr(checkID("account", c.Account), checkID("contact", c.Contact),
		checkText("name", c.Name, MaxNameLen), checkEmail("email", c.Email, false)); err != nil {
		return err
	}
	_, err := s.execute(ctx, c.ID, c.same, func(t *txn) error {
		a, err := t.account(c.Account)
		if err != nil {
			return err
		}
		if !a.Exists() {
			return &NotFoundError{What: "account", ID: c.Account}
		}
		other, err := t.account(c.Contact)
		if err != nil {
			return err
		}
		if !other.Exists() {
			return &NotFoundError{What: "account", ID: c.Contact}
		}
		name, email := c.Name, c.Email
		if name == "" {
			name = other.Name
		}
		if email == "" {
			email = other.Email
		}
		t.emit(accountStream(c.Account), events.ContactAdded{Account: c.Account, Contact: c.Contact, Name: name, Email: email})
		return nil
	})
	return err
}

// same compares with a recorded contact. An empty name or e-mail address
// took the contact's own, which the event keeps in its place.
func (c AddContact) same(orig []ledger.Event) (string, error) {
	r, ok := first[events.ContactAdded](orig)
	if !ok {
		return otherCommand, nil
	}
	return differs(field{"account", r.Account == c.Account}, field{"contact", r.Contact == c.Contact},
		field{"name", c.Name == "" || r.Name == c.Name}, field{"email", c.Email == "" || r.Email == c.Email})
}

// DeleteContact removes an address-book entry.
type DeleteContact struct {
	ID               uuid.UUID
	Account, Contact string
}

// DeleteContact removes a contact; NotFoundError if it is not in the book.
func (s *Service) DeleteContact(ctx context.Context, c DeleteContact) error {
	if err := firstErr(checkID("account", c.Account), checkID("contact", c.Contact)); err != nil {
		return err
	}
	_, err := s.execute(ctx, c.ID, c.same, func(t *txn) error {
		a, err := t.account(c.Account)
		if err != nil {
			return err
		}
		if !a.Exists() {
			return &NotFoundError{What: "account", ID: c.Account}
		}
		if _, ok := a.Contacts[c.Contact]; !ok {
			return &NotFoundError{What: "contact", ID: c.Contact}
		}
		t.emit(accountStream(c.Account), events.ContactDeleted{Account: c.Account, Contact: c.Contact})
		return nil
	})
	return err
}

func (c DeleteContact) same(orig []ledger.Event) (string, error) {
	r, ok := first[events.ContactDeleted](orig)
	if !ok {
		return otherCommand, nil
	}
	return differs(field{"account", r.Account == c.Account}, field{"contact", r.Contact == c.Contact})
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
