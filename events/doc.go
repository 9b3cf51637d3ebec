// Package events is keyledger's vocabulary: the catalogue of event types
// the log holds, the payload of each, and the words both sides of the
// library share — key kinds, credentials, lifecycle states, actions,
// invitation states, operations and notification topics.
//
// The write side (package commands) decides and appends these events; the
// read side (package projections) folds them into what apps show. Both
// import this package and neither imports the other, so adding an event
// means adding its type here and handling it where it matters.
//
// # Persistence
//
// Everything here that reaches the log is persisted: event names and schema
// versions (the catalogue), the numeric values of Kind, Credential, Role,
// Category, Doors, ShareMethod, State, LockSync, InvitationState and
// Operations, and
// the string constants (reasons, topics). The tables are append-only: a
// value is never renumbered, renamed or reused. A payload whose shape
// changes keeps its name, bumps its schema and registers an upcaster for
// the old one on the ledger's registry.
//
// # Usage
//
//	reg := ledger.NewRegistry()
//	if err := events.Register(reg); err != nil { … }
//	l, err := ledger.Open(dir, &ledger.Options{Registry: reg})
//
// Decoded payloads have exactly the registered Go type (a value, not a
// pointer), so a reader switches on ev.Data.(type).
//
// # Streams
//
// "account-<id>" (registration, address book), "lock-<id>" (owner, zone,
// slots and their generations, PIN and card hashes in use, account
// managers, lock-wide blackouts, the lock's admin messages, issuer key
// rotations, the remote opens signed for it and its resets of every key,
// lock.reset), "key-<id>" (a key's lifecycle and suspensions, unlock attempts and the
// notifications they cause), "outbox" (acknowledgements),
// "sharecode-<hash>" (redeeming a code without knowing its key),
// "group-<lock>" (network management, online keys, invitations, members),
// "lockaudit-<lock>" (the lock's uploaded audit records) and
// "keypad-<lock>" (wrong codes and lockouts of the lock's keypads). Every key
// event names its key and lock, so read models need no lookups.
package events
