package commands

// Account stream: "account-<id>".

// Lock stream: "lock-<id>". It holds what rules across keys need: slots and
// their generations, and the PIN hashes in use.

// Key stream: "key-<id>". Every key event names its key and lock so read
// models need no lookups.

// Outbox: what the embedding backend must tell people (the library sends
// no e-mail or push itself).
