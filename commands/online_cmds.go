package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/secret"
)

// Associated data binding sealed group secrets to their place. IDs never
// contain NUL, so the encoding is unambiguous.
func networkAAD(lock string) []byte { return []byte("keyledger/group\x00" + lock + "\x00master code") }
func memberAAD(lock, account string) []byte {
	return []byte("keyledger/group\x00" + lock + "\x00member\x00" + account + "\x00password")
}

// shredAfter destroys the data keys that events of a command erased (master
// codes turned off or expired, removed members' password hashes). It runs
// after the append, also when a retried command ID replays the events, so a
// crash between append and shred is repaired by retrying the command (or by
// SweepGroup).
func (s *Service) shredAfter(ctx context.Context, evs []ledger.Event) error {
	var ids []secret.KeyID
	for _, ev := range evs {
		switch e := ev.Data.(type) {
		case events.NetworkManagementOff:
			if e.Shredded != ([16]byte{}) {
				ids = append(ids, secret.KeyID(e.Shredded))
			}
		case events.MemberRemoved:
			if e.Shredded != ([16]byte{}) {
				ids = append(ids, secret.KeyID(e.Shredded))
			}
		case events.MemberPasswordSet:
			if e.Shredded != ([16]byte{}) {
				ids = append(ids, secret.KeyID(e.Shredded))
			}
		}
	}
	if len(ids) == 0 || s.vault == nil {
		return nil
	}
	return vaultErr(s.vault.Shred(ctx, ids...), "")
}

func sealedID(s secret.Sealed) [16]byte {
	id, err := s.KeyID()
	if err != nil {
		return [16]byte{}
	}
	return id
}

// expireNetwork stages the expiry of network management if its operating
// duration is over at the transaction's time; it reports whether it did.
func (t *txn) expireNetwork(lock string, g *GroupState) bool {
	if !g.Network.On || g.Network.ActiveAt(t.now) {
		return false
	}
	t.emit(groupStream(lock), events.NetworkManagementOff{Lock: lock, Reason: access.Expired, Shredded: sealedID(g.Network.MasterCode)})
	return true
}

func checkMasterCode(c secret.Secret) error {
	if c.Len() < 4 || c.Len() > 64 {
		return invalid("master code", "%d bytes, want 4 to 64", c.Len())
	}
	return nil
}

// TurnOnNetwork turns on network management of a lock: the owner's
// master code is stored, sealed, for Duration.
type TurnOnNetwork struct {
	ID         uuid.UUID
	Lock, By   string
	MasterCode secret.Secret
	Duration   time.Duration
}

// NetworkStatus is the state of a lock's network management.
type NetworkStatus struct {
	Lock  string
	On    bool
	Until time.Time // end of the operating duration (when on)
}

// TurnOnNetwork stores the master code for the operating duration. Only the
// lock's owner may; turning it on again replaces (and erases) the old code.
func (s *Service) TurnOnNetwork(ctx context.Context, c TurnOnNetwork) (NetworkStatus, error) {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By), checkMasterCode(c.MasterCode)); err != nil {
		return NetworkStatus{}, err
	}
	if c.Duration <= 0 || c.Duration > MaxNetworkDuration {
		return NetworkStatus{}, invalid("duration", "%v, want more than 0 and at most %v", c.Duration, MaxNetworkDuration)
	}
	if err := s.needVault(); err != nil {
		return NetworkStatus{}, err
	}
	sealed, err := s.vault.Seal(ctx, c.MasterCode, networkAAD(c.Lock))
	if err != nil {
		return NetworkStatus{}, vaultErr(err, "master code")
	}
	same := func(orig []ledger.Event) (string, error) {
		on, ok := firstOf[events.NetworkManagementOn](orig)
		if !ok {
			return otherCommand, nil
		}
		if d := firstDiff(field{"lock", on.Lock == c.Lock}, field{"by", on.By == c.By},
			field{"duration", sameDuration(c.Duration, orig[0], on.Until)}); d != "" {
			return d, nil
		}
		ok, err := s.sameSealed(ctx, on.MasterCode, networkAAD(c.Lock), c.MasterCode)
		return firstDiff(field{"master code", ok}), err
	}
	evs, err := s.executeOn(ctx, c.ID, groupStream(c.Lock), same, func(t *txn) error {
		_, g, err := t.ownedGroup(c.Lock, c.By)
		if err != nil {
			return err
		}
		if !t.expireNetwork(c.Lock, g) && g.Network.On {
			t.emit(groupStream(c.Lock), events.NetworkManagementOff{Lock: c.Lock, By: c.By, Reason: access.Replaced, Shredded: sealedID(g.Network.MasterCode)})
		}
		t.emit(groupStream(c.Lock), events.NetworkManagementOn{Lock: c.Lock, By: c.By, Until: t.now.Add(c.Duration), MasterCode: sealed})
		return nil
	})
	if err != nil || isReplay(evs) {
		// The sealed code is in no event: destroy its key now.
		_ = s.vault.ShredSealed(ctx, sealed)
	}
	if err != nil {
		return NetworkStatus{}, err
	}
	if err := s.shredAfter(ctx, evs); err != nil {
		return NetworkStatus{}, err
	}
	on, _ := firstOf[events.NetworkManagementOn](evs)
	return NetworkStatus{Lock: c.Lock, On: true, Until: on.Until}, nil
}

// TurnOffNetwork turns network management off: the master code's data key
// is shredded, so the sealed code in the log can never be opened again.
type TurnOffNetwork struct {
	ID       uuid.UUID
	Lock, By string
}

// TurnOffNetwork erases the master code. Only the owner may; ErrNetworkOff
// if it is not on.
func (s *Service) TurnOffNetwork(ctx context.Context, c TurnOffNetwork) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.NetworkManagementOff](orig)
		if !ok || len(orig) != 1 || r.By == "" {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"by", r.By == c.By})
	}
	_, err := s.executeGroup(ctx, c.ID, c.Lock, same, func(t *txn) error {
		_, g, err := t.ownedGroup(c.Lock, c.By)
		if err != nil {
			return err
		}
		if !g.Network.On {
			return fmt.Errorf("%w: lock %q", ErrNetworkOff, c.Lock)
		}
		reason := access.TurnedOff
		if !g.Network.ActiveAt(t.now) {
			reason = access.Expired
		}
		t.emit(groupStream(c.Lock), events.NetworkManagementOff{Lock: c.Lock, By: c.By, Reason: reason, Shredded: sealedID(g.Network.MasterCode)})
		return nil
	})
	return err
}

// CheckNetwork records the end of a lock's network management if its
// operating duration is over (and shreds the code). Commands do this on their
// own whenever they meet an expired duration; a backend may also call it on
// a timer so the code does not outlive its duration until the next command.
type CheckNetwork struct {
	ID   uuid.UUID
	Lock string
}

// CheckNetwork returns the network status after recording a due expiry.
func (s *Service) CheckNetwork(ctx context.Context, c CheckNetwork) (NetworkStatus, error) {
	if err := checkID("lock", c.Lock); err != nil {
		return NetworkStatus{}, err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.NetworkManagementOff](orig)
		if !ok || len(orig) != 1 || r.By != "" {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock})
	}
	if _, err := s.executeGroup(ctx, c.ID, c.Lock, same, func(t *txn) error {
		g, err := t.group(c.Lock)
		if err != nil {
			return err
		}
		t.expireNetwork(c.Lock, g)
		return nil
	}); err != nil {
		return NetworkStatus{}, err
	}
	g, err := s.groupState(ctx, c.Lock)
	if err != nil {
		return NetworkStatus{}, err
	}
	now := s.clock()
	return NetworkStatus{Lock: c.Lock, On: g.Network.ActiveAt(now), Until: g.Network.Until}, nil
}

// SweepGroup shreds again every data key the group's log says was erased
// (idempotent). Run it after a crash that may have fallen between an append
// and its shred.
func (s *Service) SweepGroup(ctx context.Context, lock string) error {
	if err := checkID("lock", lock); err != nil {
		return err
	}
	var evs []ledger.Event
	for ev, err := range s.store.ReadStream(ctx, groupStream(lock), 1) {
		if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	return s.shredAfter(ctx, evs)
}

// RevealMasterCode returns the stored master code to the lock's owner while
// network management is on; ErrNetworkOff otherwise.
func (s *Service) RevealMasterCode(ctx context.Context, lock, by string) (secret.Secret, error) {
	if err := firstErr(checkID("lock", lock), checkID("by", by)); err != nil {
		return secret.Secret{}, err
	}
	if err := s.needVault(); err != nil {
		return secret.Secret{}, err
	}
	l, err := s.lockNow(ctx, lock)
	if err != nil {
		return secret.Secret{}, err
	}
	if err := ownerOf(l, lock, by); err != nil {
		return secret.Secret{}, err
	}
	g, err := s.groupState(ctx, lock)
	if err != nil {
		return secret.Secret{}, err
	}
	if !g.Network.ActiveAt(s.clock()) {
		return secret.Secret{}, fmt.Errorf("%w: lock %q", ErrNetworkOff, lock)
	}
	code, err := s.vault.Open(ctx, g.Network.MasterCode, networkAAD(lock))
	return code, vaultErr(err, "")
}

// groupState reads the folded group stream (fresh: refreshed from the log).
func (s *Service) groupState(ctx context.Context, lock string) (*GroupState, error) {
	s.cache.stale(groupStream(lock))
	e, err := s.cache.get(ctx, s.store, groupStream(lock), func() aggregate { return &GroupState{} })
	if err != nil {
		return nil, err
	}
	return e.state.(*GroupState), nil
}

// executeGroup is executeOn on a lock's group stream, then the shred of the
// data keys its events erased (also when a retried command ID replays them).
func (s *Service) executeGroup(ctx context.Context, cmd uuid.UUID, lock string, same sameFunc, decide func(t *txn) error) ([]ledger.Event, error) {
	evs, err := s.executeOn(ctx, cmd, groupStream(lock), same, decide)
	if err != nil {
		return nil, err
	}
	return evs, s.shredAfter(ctx, evs)
}

// lockGroup loads a registered lock and its group.
func (t *txn) lockGroup(lock string) (*LockState, *GroupState, error) {
	l, err := t.lock(lock)
	if err != nil {
		return nil, nil, err
	}
	if !l.Exists() {
		return nil, nil, &NotFoundError{What: "lock", ID: lock}
	}
	g, err := t.group(lock)
	if err != nil {
		return nil, nil, err
	}
	return l, g, nil
}

// ownedGroup is lockGroup for the lock's owner only.
func (t *txn) ownedGroup(lock, by string) (*LockState, *GroupState, error) {
	l, g, err := t.lockGroup(lock)
	if err == nil {
		err = ownerOf(l, lock, by)
	}
	return l, g, err
}

// managedGroup is lockGroup for the owner or a member with management
// rights; owner reports which.
func (t *txn) managedGroup(lock, by string) (l *LockState, g *GroupState, owner bool, err error) {
	if l, g, err = t.lockGroup(lock); err != nil {
		return nil, nil, false, err
	}
	owner, err = mayManage(l, g, lock, by)
	return l, g, owner, err
}

// networkOn checks, for making an online key, that the lock's network
// management is on. If its operating duration is over it stages the end
// (ended: the command records only that and decides nothing else).
func (t *txn) networkOn(lock string) (ended bool, err error) {
	g, err := t.group(lock)
	if err != nil {
		return false, err
	}
	if t.expireNetwork(lock, g) {
		return true, nil
	}
	if !g.Network.On {
		return false, fmt.Errorf("%w: lock %q: turn it on (with the master code) to make online keys", ErrNetworkOff, lock)
	}
	return false, nil
}

// inGroup stages what action a on key k records on its lock's group stream
// when k is an online key, after the key's own events (event IDs follow
// the order of emission): an edit marks the key; a deletion removes its
// members (their password hashes are shredded after the append), withdraws
// its open invitations and removes the key from the group.
func (t *txn) inGroup(k *KeyState, a events.Action, by string) error {
	if !kindRules[k.Kind].group || (a != events.ActEdit && a != events.ActDelete) {
		return nil
	}
	g, err := t.group(k.Lock)
	if err != nil {
		return err
	}
	stream := groupStream(k.Lock)
	if a == events.ActEdit {
		t.emit(stream, events.OnlineKeyEdited{Lock: k.Lock, Key: k.ID, By: by})
		return nil
	}
	for _, account := range slices.Sorted(maps.Keys(g.Members)) {
		m := g.Members[account]
		if m.Key != k.ID {
			continue
		}
		switch m.StateAt(t.now) {
		case events.InviteAccepted:
			t.emit(stream, events.MemberRemoved{Lock: k.Lock, Key: k.ID, Account: account, By: by, Shredded: sealedID(m.Password)})
		case events.InvitePending:
			t.emit(stream, events.InvitationWithdrawn{Lock: k.Lock, Key: k.ID, Account: account, By: by})
		}
	}
	t.emit(stream, events.OnlineKeyRemoved{Lock: k.Lock, Key: k.ID, By: by})
	return nil
}

// mayManage checks that by is the lock's owner or a member with management
// rights; it returns whether by is the owner.
func mayManage(l *LockState, g *GroupState, lock, by string) (owner bool, err error) {
	if !l.Exists() {
		return false, &NotFoundError{What: "lock", ID: lock}
	}
	if l.Owner == by {
		return true, nil
	}
	if m, ok := g.Members[by]; ok && m.State == events.InviteAccepted && m.Permissions.Ops&events.OpManage != 0 {
		return false, nil
	}
	return false, notPermitted("%q has no management rights in the group of lock %q", by, lock)
}

func validatePermissions(p events.Permissions) error {
	if p.Doors == 0 || p.Doors&^allDoors != 0 {
		return invalid("permissions", "doors %v: want main and/or inner", p.Doors)
	}
	if p.Ops&^allOps != 0 {
		return invalid("permissions", "operations %v unknown", p.Ops)
	}
	return nil
}

// checkGrant checks permissions against the key and who grants them.
func checkGrant(p events.Permissions, k *KeyState, owner bool) error {
	if err := validatePermissions(p); err != nil {
		return err
	}
	if p.Doors&^k.Settings.Doors != 0 {
		return invalid("permissions", "online key %q does not open the %v door", k.ID, p.Doors&^k.Settings.Doors)
	}
	if p.Ops&events.OpManage != 0 && !owner {
		return notPermitted("only the owner grants management rights")
	}
	return nil
}

// InviteMember invites a registered account to use an online key ("Join
// Bill's group"). The owner, or a member with management rights, invites.
type InviteMember struct {
	ID                     uuid.UUID
	Lock, Key, Account, By string
	// Permissions of the member; zero means DefaultPermissions limited to
	// the key's doors.
	Permissions events.Permissions
	// TTL is how long the invitation stays open; 0 means DefaultInvitationTTL.
	TTL time.Duration
}

// InviteMember records the invitation and queues the invitee's notification.
// The 6th account of an online key is refused with a *GroupFullError.
func (s *Service) InviteMember(ctx context.Context, c InviteMember) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("key", c.Key), checkID("account", c.Account), checkID("by", c.By)); err != nil {
		return err
	}
	if c.TTL == 0 {
		c.TTL = DefaultInvitationTTL
	}
	if c.TTL < 0 || c.TTL > 366*24*time.Hour {
		return invalid("ttl", "%v, want up to a year", c.TTL)
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.MemberInvited](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"key", r.Key == c.Key}, field{"account", r.Account == c.Account},
			field{"by", r.By == c.By}, field{"ttl", sameDuration(c.TTL, orig[0], r.Expires)},
			field{"permissions", c.Permissions == (events.Permissions{}) || c.Permissions == r.Permissions})
	}
	_, err := s.executeOn(ctx, c.ID, groupStream(c.Lock), same, func(t *txn) error {
		l, g, owner, err := t.managedGroup(c.Lock, c.By)
		if err != nil {
			return err
		}
		k, err := t.key(c.Key)
		if err != nil {
			return err
		}
		if !g.Keys[c.Key] || k.State == events.StateNone || k.State == events.StateDeleted {
			return &NotFoundError{What: "online key", ID: c.Key}
		}
		a, err := t.account(c.Account)
		if err != nil {
			return err
		}
		if !a.Exists() {
			return &NotFoundError{What: "account", ID: c.Account}
		}
		if c.Account == l.Owner {
			return invalid("account", "%q owns lock %q", c.Account, c.Lock)
		}
		if m, ok := g.Members[c.Account]; ok && m.holdsSeat(t.now) {
			return exists("group member or invitation", c.Account)
		}
		if g.seats(c.Key, t.now) >= MaxOnlineAccounts {
			return &GroupFullError{Key: c.Key, Max: MaxOnlineAccounts}
		}
		p := c.Permissions
		if p == (events.Permissions{}) {
			p = events.Permissions{Doors: events.DefaultPermissions.Doors & k.Settings.Doors, Ops: events.DefaultPermissions.Ops}
			if p.Doors == 0 {
				p.Doors = k.Settings.Doors
			}
		}
		if err := checkGrant(p, k, owner); err != nil {
			return err
		}
		ownerName := l.Owner
		if o, err := t.account(l.Owner); err == nil && o.Name != "" {
			ownerName = o.Name
		}
		t.emit(groupStream(c.Lock),
			events.MemberInvited{Lock: c.Lock, Key: c.Key, Account: c.Account, By: c.By, Expires: t.now.Add(c.TTL), Permissions: p},
			events.NotificationQueued{Topic: events.TopicGroupInvitation, To: c.Account, Email: a.Email, Lock: c.Lock, Key: c.Key,
				Message: fmt.Sprintf("Join %s's group", ownerName)})
		return nil
	})
	return err
}

// AcceptInvitation is the invitee joining with a personal password
// (stored only as an argon2id hash, sealed) and their own name for the lock.
type AcceptInvitation struct {
	ID            uuid.UUID
	Lock, Account string
	Password      secret.Secret
	LockName      string // default: the lock's name
}

// expireInvitation stages the expiry of a pending invitation past its end.
func (t *txn) expireInvitation(lock string, m Member) bool {
	if m.State == events.InvitePending && m.StateAt(t.now) == events.InviteExpired {
		t.emit(groupStream(lock), events.InvitationExpired{Lock: lock, Key: m.Key, Account: m.Account})
		return true
	}
	return false
}

// AcceptInvitation makes the invitee a member. Accepting twice, or after
// withdrawal, decline or expiry, is an *InvitationError naming the state.
func (s *Service) AcceptInvitation(ctx context.Context, c AcceptInvitation) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("account", c.Account), checkText("lock name", c.LockName, MaxNameLen)); err != nil {
		return err
	}
	if c.Password.Len() < MinPasswordLen || c.Password.Len() > secret.MaxPasswordLen {
		return invalid("password", "%d bytes, want %d to %d", c.Password.Len(), MinPasswordLen, secret.MaxPasswordLen)
	}
	if err := s.needVault(); err != nil {
		return err
	}
	hash, err := s.vault.HashPassword(c.Password)
	if err != nil {
		return vaultErr(err, "password")
	}
	sealed, err := s.vault.Seal(ctx, secret.FromString(string(hash)), memberAAD(c.Lock, c.Account))
	if err != nil {
		return vaultErr(err, "")
	}
	same := func(orig []ledger.Event) (string, error) {
		switch r := orig[0].Data.(type) {
		case events.InvitationExpired: // it met the end of the invitation and recorded only that
			return differs(field{"lock", r.Lock == c.Lock}, field{"account", r.Account == c.Account})
		case events.InvitationAccepted:
			if d := firstDiff(field{"lock", r.Lock == c.Lock}, field{"account", r.Account == c.Account},
				field{"lock name", c.LockName == "" || c.LockName == r.LockName}); d != "" {
				return d, nil
			}
			v, err := s.samePassword(ctx, r.Password, memberAAD(c.Lock, c.Account), c.Password)
			return firstDiff(field{"password", v != passwordDiffers}), err
		}
		return otherCommand, nil
	}
	var expired *InvitationError
	evs, err := s.executeOn(ctx, c.ID, groupStream(c.Lock), same, func(t *txn) error {
		expired = nil
		l, g, err := t.lockGroup(c.Lock)
		if err != nil {
			return err
		}
		m := g.Members[c.Account]
		if t.expireInvitation(c.Lock, m) {
			expired = &InvitationError{Lock: c.Lock, Account: c.Account, State: events.InviteExpired, Action: "accept"}
			return nil
		}
		if m.State != events.InvitePending {
			return &InvitationError{Lock: c.Lock, Account: c.Account, State: m.State, Action: "accept"}
		}
		name := c.LockName
		if name == "" {
			name = l.Name
		}
		t.emit(groupStream(c.Lock), events.InvitationAccepted{Lock: c.Lock, Key: m.Key, Account: c.Account, LockName: name, Password: sealed})
		return nil
	})
	if acc, ok := firstOf[events.InvitationAccepted](evs); err != nil || !ok || string(acc.Password) != string(sealed) {
		_ = s.vault.ShredSealed(ctx, sealed) // not in the log: destroy it now
	}
	if err != nil {
		return err
	}
	if expired != nil {
		return expired
	}
	if _, ok := firstOf[events.InvitationAccepted](evs); !ok && isReplay(evs) {
		return &InvitationError{Lock: c.Lock, Account: c.Account, State: events.InviteExpired, Action: "accept"}
	}
	return nil
}

// InvitationCommand is a command on one account's invitation or membership.
type InvitationCommand struct {
	ID            uuid.UUID
	Lock, Account string
	By            string // who acts (DeclineInvitation: ignored, the invitee)
}

// DeclineInvitation is the invitee saying no; the owner is notified.
func (s *Service) DeclineInvitation(ctx context.Context, c InvitationCommand) error {
	return s.invitationCommand(ctx, c, "decline", false, func(t *txn, l *LockState, m Member) error {
		o, err := t.account(l.Owner)
		if err != nil {
			return err
		}
		t.emit(groupStream(c.Lock),
			events.InvitationDeclined{Lock: c.Lock, Key: m.Key, Account: c.Account},
			events.NotificationQueued{Topic: events.TopicGroupDeclined, To: l.Owner, Email: o.Email, Lock: c.Lock, Key: m.Key,
				Message: fmt.Sprintf("%s declined to join the group of %s", c.Account, l.Name)})
		return nil
	})
}

// WithdrawInvitation takes a pending invitation back (owner or manager).
func (s *Service) WithdrawInvitation(ctx context.Context, c InvitationCommand) error {
	return s.invitationCommand(ctx, c, "withdraw", true, func(t *txn, l *LockState, m Member) error {
		t.emit(groupStream(c.Lock), events.InvitationWithdrawn{Lock: c.Lock, Key: m.Key, Account: c.Account, By: c.By})
		return nil
	})
}

// invitationCommand runs an action on a pending invitation.
func (s *Service) invitationCommand(ctx context.Context, c InvitationCommand, action string, manager bool,
	decide func(t *txn, l *LockState, m Member) error) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("account", c.Account)); err != nil {
		return err
	}
	if manager {
		if err := checkID("by", c.By); err != nil {
			return err
		}
	}
	same := func(orig []ledger.Event) (string, error) {
		var lock, account, by string
		switch r := orig[0].Data.(type) {
		case events.InvitationExpired: // it met the end of the invitation and recorded only that
			lock, account, by = r.Lock, r.Account, c.By
		case events.InvitationDeclined:
			lock, account, by = r.Lock, r.Account, c.By
			if action != "decline" {
				return otherCommand, nil
			}
		case events.InvitationWithdrawn:
			lock, account, by = r.Lock, r.Account, r.By
			if action != "withdraw" {
				return otherCommand, nil
			}
		default:
			return otherCommand, nil
		}
		return differs(field{"lock", lock == c.Lock}, field{"account", account == c.Account}, field{"by", !manager || by == c.By})
	}
	var expired *InvitationError
	evs, err := s.executeOn(ctx, c.ID, groupStream(c.Lock), same, func(t *txn) error {
		expired = nil
		l, g, err := t.lockGroup(c.Lock)
		if err != nil {
			return err
		}
		if manager {
			if _, err := mayManage(l, g, c.Lock, c.By); err != nil {
				return err
			}
		}
		m := g.Members[c.Account]
		if t.expireInvitation(c.Lock, m) {
			expired = &InvitationError{Lock: c.Lock, Account: c.Account, State: events.InviteExpired, Action: action}
			return nil
		}
		if m.State != events.InvitePending {
			return &InvitationError{Lock: c.Lock, Account: c.Account, State: m.State, Action: action}
		}
		return decide(t, l, m)
	})
	if err != nil {
		return err
	}
	if expired != nil {
		return expired
	}
	if _, ok := firstOf[events.InvitationExpired](evs); ok {
		return &InvitationError{Lock: c.Lock, Account: c.Account, State: events.InviteExpired, Action: action}
	}
	return nil
}

// SetMemberPermissions sets which doors and operations a member (or
// invitee) has. Owner or manager; only the owner grants OpManage.
type SetMemberPermissions struct {
	ID                uuid.UUID
	Lock, Account, By string
	Permissions       events.Permissions
}

// SetMemberPermissions records the new permissions.
func (s *Service) SetMemberPermissions(ctx context.Context, c SetMemberPermissions) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("account", c.Account), checkID("by", c.By), validatePermissions(c.Permissions)); err != nil {
		return err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.MemberPermissionsSet](orig)
		if !ok {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"account", r.Account == c.Account}, field{"by", r.By == c.By},
			field{"permissions", r.Permissions == c.Permissions})
	}
	_, err := s.executeOn(ctx, c.ID, groupStream(c.Lock), same, func(t *txn) error {
		_, g, owner, err := t.managedGroup(c.Lock, c.By)
		if err != nil {
			return err
		}
		m, ok := g.Members[c.Account]
		if !ok || !m.holdsSeat(t.now) {
			return &NotFoundError{What: "group member", ID: c.Account}
		}
		k, err := t.key(m.Key)
		if err != nil {
			return err
		}
		if err := checkGrant(c.Permissions, k, owner); err != nil {
			return err
		}
		if !owner && m.Permissions.Ops&events.OpManage != 0 {
			return notPermitted("only the owner changes a manager's permissions")
		}
		t.emit(groupStream(c.Lock), events.MemberPermissionsSet{Lock: c.Lock, Account: c.Account, By: c.By, Permissions: c.Permissions})
		return nil
	})
	return err
}

// RemoveMember removes a member (owner, manager, or the member leaving);
// the member's password hash is shredded.
func (s *Service) RemoveMember(ctx context.Context, c InvitationCommand) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("account", c.Account), checkID("by", c.By)); err != nil {
		return err
	}
	same := func(orig []ledger.Event) (string, error) {
		r, ok := first[events.MemberRemoved](orig)
		if !ok || len(orig) != 1 {
			return otherCommand, nil
		}
		return differs(field{"lock", r.Lock == c.Lock}, field{"account", r.Account == c.Account}, field{"by", r.By == c.By})
	}
	_, err := s.executeGroup(ctx, c.ID, c.Lock, same, func(t *txn) error {
		l, g, err := t.lockGroup(c.Lock)
		if err != nil {
			return err
		}
		if c.By != c.Account {
			owner, err := mayManage(l, g, c.Lock, c.By)
			if err != nil {
				return err
			}
			if !owner && g.Members[c.Account].Permissions.Ops&events.OpManage != 0 {
				return notPermitted("only the owner removes a manager")
			}
		}
		m := g.Members[c.Account]
		if m.State != events.InviteAccepted {
			return &InvitationError{Lock: c.Lock, Account: c.Account, State: m.StateAt(t.now), Action: "remove"}
		}
		t.emit(groupStream(c.Lock), events.MemberRemoved{Lock: c.Lock, Key: m.Key, Account: c.Account, By: c.By, Shredded: sealedID(m.Password)})
		return nil
	})
	return err
}

// lockOfKey returns the lock of a key (it never changes), to serialise an
// online unlock on the lock's group stream.
func (s *Service) lockOfKey(ctx context.Context, key string) (string, error) {
	e, err := s.cache.get(ctx, s.store, keyStream(key), func() aggregate { return &KeyState{} })
	if err != nil {
		return "", err
	}
	k := e.state.(*KeyState)
	if k.State == events.StateNone {
		s.cache.stale(keyStream(key)) // maybe created meanwhile by another writer
		if e, err = s.cache.get(ctx, s.store, keyStream(key), func() aggregate { return &KeyState{} }); err != nil {
			return "", err
		}
		k = e.state.(*KeyState)
	}
	if k.State == events.StateNone {
		return "", &NotFoundError{What: "key", ID: key}
	}
	return k.Lock, nil
}

// ChangePassword is a member setting a new personal password; the old one
// must be given. The old hash is shredded.
type ChangePassword struct {
	ID            uuid.UUID
	Lock, Account string
	Old, New      secret.Secret
}

// ChangePassword verifies the old password (a wrong one counts toward the
// lockout like a wrong unlock) and stores the new one. ErrNotPermitted for a
// wrong or locked-out old password.
func (s *Service) ChangePassword(ctx context.Context, c ChangePassword) error {
	if err := firstErr(checkID("lock", c.Lock), checkID("account", c.Account)); err != nil {
		return err
	}
	if c.New.Len() < MinPasswordLen || c.New.Len() > secret.MaxPasswordLen {
		return invalid("password", "%d bytes, want %d to %d", c.New.Len(), MinPasswordLen, secret.MaxPasswordLen)
	}
	if err := s.needVault(); err != nil {
		return err
	}
	g, err := s.groupState(ctx, c.Lock)
	if err != nil {
		return err
	}
	pw, err := s.verifySealed(ctx, c.Lock, c.Account, g.Members[c.Account].Password, c.Old)
	if err != nil {
		return err
	}
	hash, err := s.vault.HashPassword(c.New)
	if err != nil {
		return vaultErr(err, "new password")
	}
	sealed, err := s.vault.Seal(ctx, secret.FromString(string(hash)), memberAAD(c.Lock, c.Account))
	if err != nil {
		return vaultErr(err, "")
	}
	// The old password is checked when the command runs; no event keeps it.
	same := func(orig []ledger.Event) (string, error) {
		switch r := orig[0].Data.(type) {
		case events.PasswordRejected:
			if len(orig) != 1 { // an online unlock's
				return otherCommand, nil
			}
			return differs(field{"lock", r.Lock == c.Lock}, field{"account", r.Account == c.Account})
		case events.MemberPasswordSet:
			if r.Rehash { // an online unlock's
				return otherCommand, nil
			}
			if d := firstDiff(field{"lock", r.Lock == c.Lock}, field{"account", r.Account == c.Account}); d != "" {
				return d, nil
			}
			v, err := s.samePassword(ctx, r.Password, memberAAD(c.Lock, c.Account), c.New)
			return firstDiff(field{"new password", v != passwordDiffers}), err
		}
		return otherCommand, nil
	}
	evs, err := s.executeOn(ctx, c.ID, groupStream(c.Lock), same, func(t *txn) error {
		g, err := t.group(c.Lock)
		if err != nil {
			return err
		}
		m := g.Members[c.Account]
		switch {
		case m.State != events.InviteAccepted:
			return &InvitationError{Lock: c.Lock, Account: c.Account, State: m.StateAt(t.now), Action: "change the password of"}
		case t.now.Before(m.LockedUntil):
			return notPermitted("%q is locked out after wrong passwords", c.Account)
		case string(pw.sealed) != string(m.Password):
			return errReverify
		case pw.err != nil: // the current hash does not open: no verdict, nothing recorded
			return pw.err
		case !pw.ok:
			rej := events.PasswordRejected{Lock: c.Lock, Account: c.Account, Failures: m.Failures + 1}
			if rej.Failures >= MaxPasswordFailures {
				rej.LockedUntil = t.now.Add(LockoutDuration)
			}
			t.emit(groupStream(c.Lock), rej)
			return nil
		}
		t.emit(groupStream(c.Lock), events.MemberPasswordSet{Lock: c.Lock, Account: c.Account, Password: sealed, Shredded: sealedID(m.Password)})
		return nil
	})
	if set, ok := firstOf[events.MemberPasswordSet](evs); err != nil || !ok || string(set.Password) != string(sealed) {
		_ = s.vault.ShredSealed(ctx, sealed)
	}
	if errors.Is(err, errReverify) {
		return fmt.Errorf("%w (the password changed meanwhile)", ErrBusy)
	}
	if err != nil {
		return err
	}
	// The events answer, fresh or replayed: a retry answers as the first run did.
	if _, ok := firstOf[events.PasswordRejected](evs); ok {
		return notPermitted("wrong password for %q", c.Account)
	}
	return s.shredAfter(ctx, evs)
}

var errReverify = errors.New("commands: internal: password changed; verify again")
