package events

import "errors"

// ErrNotFound means an account, lock, key, contact or notification does not
// exist. The write side (commands) and the read side (projections) both
// return errors that wrap it, so one errors.Is check covers either.
var ErrNotFound = errors.New("keyledger: not found")
