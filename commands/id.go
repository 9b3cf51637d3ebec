package commands

import "github.com/google/uuid"

// NewID returns a fresh command ID (a UUIDv7: time-ordered, random in the
// rest). Every command carries an ID its caller makes, because the ID is what
// makes a retry idempotent: make one per user request, keep it with the
// request, and send the same ID when the request is retried — executing it
// again returns the first outcome and appends nothing. A new ID is a new
// command. NewID panics only if the operating system's random source fails,
// as uuid.New does.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }
