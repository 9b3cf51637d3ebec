package commands

// Account stream: "account-<id>".

// Lock stream: "lock-<id>". It holds what rules across keys need: slots and
// their generations, and the PIN hashes in use.

// Key stream: "key-<id>". Every key event names its key and lock so read
// models need no lookups.

// Outbox (N1): what the embedding backend must tell people.
