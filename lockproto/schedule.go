package lockproto

// schedule is check 12 of HandleUnlock: validity, weekly windows and use
// limit, on the lock's clock and offset.
//
// TEMPORARY: policy.Compact.Allowed, the one schedule evaluator, has not
// landed yet. Until it does this shim fails closed on weekly windows
// (ReasonPolicy: a credential with windows never opens) and applies only
// the field comments of policy.Compact for validity and the use limit. It
// is replaced by a call to Allowed, and nothing else changes.
func (l *Lock) schedule(c *Credential, unix uint32, offset int, used uint32) Reason {
	p := &c.Policy
	switch {
	case p.NotBefore != 0 && unix < p.NotBefore:
		return ReasonNotYetValid
	case p.NotAfter != 0 && unix >= p.NotAfter:
		return ReasonExpired
	case p.UseLimit != 0 && used >= uint32(p.UseLimit):
		return ReasonExhausted
	case p.NumWindows > 0:
		return ReasonPolicy
	}
	return ReasonGranted
}

// schedulePending marks tests that need policy.Compact.Allowed.
const schedulePending = true
