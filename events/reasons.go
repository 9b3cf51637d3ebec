package events

// Schedule reasons recorded in UnlockAttempted (policy.Reason names).
// Persisted: never change a value.
const (
	ReasonNotYetValid   = "not_yet_valid"
	ReasonExpired       = "expired"
	ReasonExhausted     = "exhausted"
	ReasonOutsideWindow = "outside_window"
	ReasonBlackout      = "blackout"
	ReasonBadPolicy     = "invalid_policy"
)

// Denial reasons recorded in UnlockAttempted. Persisted: never change a value.
const (
	ReasonNotHolder     = "not_holder"
	ReasonNotDownloaded = "not_downloaded"
	ReasonRevoked       = "revoked"
	ReasonReset         = "reset"
	ReasonDeactivated   = "deactivated"
	ReasonDeleted       = "deleted"
	ReasonDoor          = "door_not_permitted"
	ReasonLockBlackout  = "lock_blackout"
	// ReasonUsesAtLock refuses an online unlock of a use-limited key that
	// holds an offline credential: the lock counts its uses (uploaded in its
	// audit), and counting them in two places could grant more than the limit.
	ReasonUsesAtLock = "uses_at_lock"
	// Schedule reasons come from the policy: see policyReason.
)
