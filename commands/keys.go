package commands

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/lockproto"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
)

// CreateKey creates a key for a lock. The lock's owner creates any kind;
// an account manager of the lock (AddAccountManager) creates digital keys.
// An online key (KindOnline) needs the lock's network management on; its
// Settings carry the policy the group's online unlocks are checked against.
type CreateKey struct {
	ID       uuid.UUID
	Key      string // new key ID, chosen by the caller
	Lock, By string
	Kind     events.Kind
	Settings events.Settings
	// Share keys: the slot (1..lock slots); 0 takes the lowest free one.
	Slot int
	// Digital keys: the user it is made for (a registered account), the
	// credential (default app), a PIN for CredentialPIN (zero: the library
	// draws a unique one of PINDigits digits, default 6).
	For        string
	Credential events.Credential
	PIN        secret.Secret
	PINDigits  int
	// Card is the identifier (UID) of the card a CredentialKeycard key
	// is, secret.MinCardUIDLen to MaxCardUIDLen bytes, unique on the
	// lock: only its keyed hash is recorded (CardClaimed). A UID names a
	// card; it proves nothing (it is read and copied from any distance a
	// reader reaches): where cloning matters, the cards answer a
	// challenge, and the UID only says which card a key is.
	Card secret.Secret
	// What the user is e-mailed: two choices, either, both or neither.
	// Email tells them a key was made for them (and how to get the app);
	// EmailPIN shows them the PIN (CredentialPIN only), sealed in the
	// outbox until the backend delivers it. With EmailPIN alone the
	// notification's topic is events.TopicPIN, else TopicKeyShared.
	Email    bool
	EmailPIN bool
}

// CreateResult is what the owner sees once a key is created.
type CreateResult struct {
	Key        string
	Slot       int    // share keys
	Generation uint32 // share keys: the slot generation the key is issued at
	// PIN is the digital key's PIN on the first execution of the command
	// (zero when a retried command ID returns the original result).
	PIN secret.Secret
}

func (c *CreateKey) validate() error {
	if err := firstErr(checkID("key", c.Key), checkID("lock", c.Lock), checkID("by", c.By)); err != nil {
		return err
	}
	if _, ok := kindRules[c.Kind]; !ok {
		return invalid("kind", "%v is not a kind of key this command creates", c.Kind)
	}
	if c.Kind != events.KindShare && c.Slot != 0 {
		return invalid("slot", "only share keys occupy a slot")
	}
	if c.Slot < 0 {
		return invalid("slot", "%d, want 1..slots or 0 for any free one", c.Slot)
	}
	if c.Credential == 0 {
		c.Credential = events.CredentialApp
	}
	switch {
	case c.Credential < events.CredentialApp || c.Credential > events.CredentialKeycard:
		return invalid("credential", "%v unknown", c.Credential)
	case c.Kind != events.KindDigital && c.Credential != events.CredentialApp:
		return invalid("credential", "%v is only for digital keys", c.Credential)
	}
	if c.Kind == events.KindDigital {
		if err := checkID("for", c.For); err != nil {
			return err
		}
	} else if c.For != "" || c.Email || c.EmailPIN {
		return invalid("for", "only digital keys are made for a user on creation; share the key instead")
	}
	if c.Credential != events.CredentialPIN && !c.PIN.IsZero() {
		return invalid("pin", "a PIN is only for the PIN credential")
	}
	if c.Credential != events.CredentialPIN && c.EmailPIN {
		return invalid("email pin", "%v keys have no PIN to e-mail", c.Credential)
	}
	switch {
	case c.Credential == events.CredentialKeycard && c.Card.IsZero():
		return invalid("card", "a keycard key names its card: its identifier (UID) is required")
	case c.Credential != events.CredentialKeycard && !c.Card.IsZero():
		return invalid("card", "a card identifier is only for the keycard credential")
	case c.Credential == events.CredentialKeycard && secret.ValidateCardUID(c.Card) != nil:
		return invalid("card", "identifier (UID) of %d bytes, want %d to %d", c.Card.Len(), secret.MinCardUIDLen, secret.MaxCardUIDLen)
	}
	if !c.PIN.IsZero() {
		if err := secret.ValidatePIN(c.PIN); err != nil {
			return invalid("pin", "must be %d to %d digits", secret.MinPINDigits, secret.MaxPINDigits)
		}
	}
	if c.PINDigits == 0 {
		c.PINDigits = secret.MaxPINDigits
	}
	if c.PINDigits < secret.MinPINDigits || c.PINDigits > secret.MaxPINDigits {
		return invalid("pin digits", "%d, want %d to %d", c.PINDigits, secret.MinPINDigits, secret.MaxPINDigits)
	}
	return validateSettings(&c.Settings, c.Kind)
}

func validateSettings(st *events.Settings, k events.Kind) error {
	if st.Category == 0 {
		st.Category = events.CategoryFriend
	}
	if st.Role == 0 {
		st.Role = events.RoleUser
	}
	if st.Doors == 0 {
		st.Doors = access.Main
	}
	switch {
	case st.Category > events.CategoryEmployee:
		return invalid("category", "%v unknown", st.Category)
	case st.Role > events.RoleAdmin:
		return invalid("role", "%v unknown", st.Role)
	case st.Doors&^allDoors != 0:
		return invalid("doors", "%v unknown", st.Doors)
	}
	return firstErr(checkText("name", st.Name, MaxNameLen), checkText("welcome message", st.Welcome, MaxTextLen))
}

// needsValidity is the intercom product's rule: a key that is not
// unlimited — single use (a use limit) or recurring (weekly windows) — has
// a start and an expiry. It is checked on creation and on every edit, once
// the policy itself validated.
func needsValidity(k events.Kind, p policy.Policy) error {
	if k != events.KindIntercom || !p.Uses.Limited && len(p.Windows) == 0 {
		return nil
	}
	what := "a single-use"
	if len(p.Windows) > 0 {
		what = "a recurring"
	}
	switch {
	case p.Start.IsZero():
		return &ValidationError{Field: "start", Reason: what + " intercom key needs a start", Err: ErrNeedsValidity}
	case p.End.IsZero():
		return &ValidationError{Field: "expiry", Reason: what + " intercom key needs an expiry", Err: ErrNeedsValidity}
	}
	return nil
}

const maxPINDraws = 32

// CreateKey creates a key. Share keys take a slot; digital keys are delivered
// to their user at once (state sharing), with a PIN unique on the lock;
// online keys join their lock's group (ErrNetworkOff while network
// management is off or once its operating duration has ended).
func (s *Service) CreateKey(ctx context.Context, c CreateKey) (CreateResult, error) {
	if err := c.validate(); err != nil {
		return CreateResult{}, err
	}
	serial := "" // an online key's commands queue on its lock's group stream
	if kindRules[c.Kind].group {
		serial = groupStream(c.Lock)
	}
	var cardHash []byte
	if c.Credential == events.CredentialPIN || c.Credential == events.CredentialKeycard {
		if err := s.needVault(); err != nil {
			return CreateResult{}, err
		}
	}
	var atLock lockproto.CodeDigest // the set message's digest (lockcodes.go)
	var sendCode bool
	if c.Credential == events.CredentialKeycard {
		h, err := s.vault.HashCard(c.Lock, c.Card)
		if err != nil {
			return CreateResult{}, invalid("card", "identifier (UID) of %d bytes, want %d to %d", c.Card.Len(), secret.MinCardUIDLen, secret.MaxCardUIDLen)
		}
		cardHash = h[:]
		if !kindRules[c.Kind].group {
			if atLock, sendCode, err = s.codeDigest(ctx, c.Lock, c.Credential, c.Card); err != nil {
				return CreateResult{}, err
			}
		}
	}
	draw := c.Credential == events.CredentialPIN && c.PIN.IsZero()
	for tries := 0; ; tries++ {
		pin := c.PIN
		var hash []byte
		var sealed secret.Sealed
		if c.Credential == events.CredentialPIN {
			if draw {
				var err error
				if pin, err = s.vault.NewPIN(c.PINDigits); err != nil {
					return CreateResult{}, vaultErr(err, "pin digits")
				}
			}
			h, err := s.vault.HashPIN(c.Lock, pin)
			if err != nil {
				return CreateResult{}, invalid("pin", "must be %d to %d digits", secret.MinPINDigits, secret.MaxPINDigits)
			}
			hash = h[:]
			if !kindRules[c.Kind].group {
				if atLock, sendCode, err = s.codeDigest(ctx, c.Lock, c.Credential, pin); err != nil {
					return CreateResult{}, err
				}
			}
			if c.EmailPIN {
				if sealed, err = s.vault.Seal(ctx, pin, notificationAAD(c.Key)); err != nil {
					return CreateResult{}, vaultErr(err, "pin")
				}
			}
		}
		evs, err := s.executeOn(ctx, c.ID, serial, func(orig []ledger.Event) (string, error) { return s.sameCreate(c, orig), nil },
			func(t *txn) error {
				if err := decideCreate(t, c, hash, cardHash, sealed); err != nil || !sendCode {
					return err
				}
				length := c.Card.Len()
				if c.Credential == events.CredentialPIN {
					length = pin.Len()
				}
				return s.codeSet(t, c, atLock, length)
			})
		if errors.Is(err, ErrPINTaken) && draw && tries < maxPINDraws {
			continue
		}
		if err != nil {
			return CreateResult{}, err
		}
		if err := s.shredAfter(ctx, evs); err != nil { // a master code whose duration ended on the way
			return CreateResult{}, err
		}
		kc, ok := firstOf[events.KeyCreated](evs)
		if !ok { // it met the end of network management and recorded only that
			return CreateResult{}, fmt.Errorf("%w: lock %q: its operating duration ended", ErrNetworkOff, c.Lock)
		}
		res := CreateResult{Key: kc.Key, Slot: kc.Slot, Generation: kc.Generation}
		if !isReplay(evs) {
			res.PIN = pin
		}
		return res, nil
	}
}

// sameCreate compares a validated CreateKey with a recorded key creation. A
// zero Slot matches the slot it took; a drawn PIN is not kept, so neither
// are its digits; a PIN the caller chose is compared by its keyed hash. An
// online key's creation that met the end of network management recorded
// only that end: its lock is all it kept.
func (s *Service) sameCreate(c CreateKey, orig []ledger.Event) string {
	if off, ok := first[events.NetworkManagementOff](orig); ok && len(orig) == 1 && off.By == "" && kindRules[c.Kind].group {
		return firstDiff(field{"lock", off.Lock == c.Lock})
	}
	r, ok := first[events.KeyCreated](orig)
	if !ok {
		return otherCommand
	}
	creator := r.Owner
	if r.By != "" {
		creator = r.By
	}
	if d := firstDiff(field{"key", r.Key == c.Key}, field{"lock", r.Lock == c.Lock}, field{"by", creator == c.By},
		field{"kind", r.Kind == c.Kind}, field{"credential", r.Credential == c.Credential}); d != "" {
		return d
	}
	if d := sameSettings(c.Settings, r.Settings); d != "" {
		return d
	}
	n, noted := firstOf[events.NotificationQueued](orig)
	return firstDiff(field{"slot", c.Slot == 0 || r.Slot == c.Slot}, field{"for", r.Holder == c.For},
		field{"email", c.Email == (noted && n.Topic == events.TopicKeyShared)}, field{"email pin", c.EmailPIN == (noted && len(n.Secret) > 0)},
		field{"pin", c.PIN.IsZero() || (s.vault != nil && len(r.PINHash) == len(secret.PINHash{}) && s.vault.CheckPIN(c.Lock, c.PIN, secret.PINHash(r.PINHash)))},
		field{"card", c.Card.IsZero() || (s.vault != nil && len(r.CardHash) == len(secret.CardHash{}) && s.vault.CheckCard(c.Lock, c.Card, secret.CardHash(r.CardHash)))})
}

func decideCreate(t *txn, c CreateKey, pinHash, cardHash []byte, sealedPIN secret.Sealed) error {
	l, err := t.lock(c.Lock)
	if err != nil {
		return err
	}
	if err := keyManager(l, c.Lock, c.By, c.Kind); err != nil {
		return err
	}
	if c.Settings.Doors&^l.Doors != 0 {
		return invalid("doors", "lock %q has no %v door", c.Lock, c.Settings.Doors&^l.Doors)
	}
	if err := bindPolicy(&c.Settings, l); err != nil {
		return err
	}
	if err := needsValidity(c.Kind, c.Settings.Policy); err != nil {
		return err
	}
	rule := kindRules[c.Kind]
	if rule.group {
		if ended, err := t.networkOn(c.Lock); ended || err != nil {
			return err // ended: the end is recorded alone
		}
	}
	k, err := t.key(c.Key)
	if err != nil {
		return err
	}
	if k.State != events.StateNone {
		return exists("key", c.Key)
	}
	if codes, err := t.offlineCodes(c.Lock); err != nil {
		return err
	} else if _, ok := codes.Codes[c.Key]; ok { // history by key would mix the two
		return exists("offline code with the key's ID", c.Key)
	}
	ev := events.KeyCreated{Key: c.Key, Lock: c.Lock, Owner: l.Owner, Kind: c.Kind, Credential: c.Credential, Settings: c.Settings}
	if c.By != l.Owner {
		ev.By = c.By // an account manager
	}
	var lockEvs []any
	if rule.slot {
		slot := c.Slot
		if slot == 0 {
			slot = l.FreeSlot()
			if slot == 0 {
				return ErrNoSlot
			}
		}
		if slot > len(l.SlotKeys) {
			return invalid("slot", "%d, lock %q has %d slots", slot, c.Lock, len(l.SlotKeys))
		}
		if other := l.SlotKeys[slot-1]; other != "" {
			return invalid("slot", "slot %d of lock %q holds key %q", slot, c.Lock, other)
		}
		ev.Slot, ev.Generation = slot, l.SlotGens[slot-1]
		lockEvs = append(lockEvs, events.SlotAssigned{Lock: c.Lock, Key: c.Key, Slot: slot, Generation: ev.Generation})
	}
	var notes []any
	if c.Kind == events.KindDigital {
		user, err := t.account(c.For)
		if err != nil {
			return err
		}
		if !user.Exists() {
			return &NotFoundError{What: "account", ID: c.For}
		}
		ev.Holder = c.For
		switch {
		case c.Email: // the notice that a key was made, with the PIN if asked
			ev.Email = user.Email
			notes = append(notes, events.NotificationQueued{Topic: events.TopicKeyShared, To: c.For, Email: user.Email,
				Lock: c.Lock, Key: c.Key, Message: c.Settings.Welcome, Secret: sealedPIN})
		case c.EmailPIN: // the PIN alone
			ev.Email = user.Email
			notes = append(notes, events.NotificationQueued{Topic: events.TopicPIN, To: c.For, Email: user.Email,
				Lock: c.Lock, Key: c.Key, Secret: sealedPIN})
		}
	}
	if pinHash != nil {
		if other, taken := l.PINs[[32]byte(pinHash)]; taken {
			_ = other // never name the PIN; the other key is not secret but is not the caller's business
			return ErrPINTaken
		}
		ev.PINHash = pinHash
		lockEvs = append(lockEvs, events.PINClaimed{Lock: c.Lock, Key: c.Key, Hash: pinHash})
	}
	if cardHash != nil {
		if _, taken := l.Cards[[32]byte(cardHash)]; taken {
			return fmt.Errorf("%w: lock %q", ErrCardTaken, c.Lock)
		}
		ev.CardHash = cardHash
		lockEvs = append(lockEvs, events.CardClaimed{Lock: c.Lock, Key: c.Key, Hash: cardHash})
	}
	t.emit(keyStream(c.Key), append([]any{ev}, notes...)...)
	t.emit(lockStream(c.Lock), lockEvs...)
	if rule.group { // after the key's events: event IDs follow this order
		t.emit(groupStream(c.Lock), events.OnlineKeyAdded{Lock: c.Lock, Key: c.Key, By: c.By})
	}
	return nil
}

// notificationAAD binds a sealed outbox secret to its key.
func notificationAAD(key string) []byte { return []byte("keyledger/outbox key " + key) }

// NotificationAAD is the associated data to open the Secret of a
// NotificationQueued about key with the vault.
func NotificationAAD(key string) []byte { return notificationAAD(key) }

// loadOwned loads a key and its lock and checks that by manages the key:
// the lock's owner, or for a digital key an account manager of the lock.
func loadOwned(t *txn, key, by string) (*KeyState, *LockState, error) {
	k, err := t.key(key)
	if err != nil {
		return nil, nil, err
	}
	if k.State == events.StateNone {
		return nil, nil, &NotFoundError{What: "key", ID: key}
	}
	l, err := t.lock(k.Lock)
	if err != nil {
		return nil, nil, err
	}
	if err := keyManager(l, k.Lock, by, k.Kind); err != nil {
		return nil, nil, err
	}
	return k, l, nil
}

// ShareKey shares a key To ID (a registered account) or To Code.
type ShareKey struct {
	ID      uuid.UUID
	Key, By string
	Method  events.ShareMethod
	Account string // To ID
	// Email, for To Code, is where the owner asks the code to be sent: the
	// outbox then carries it, sealed.
	Email string
}

// ShareResult is what the owner sees after sharing.
type ShareResult struct {
	Key     string
	Method  events.ShareMethod
	Account string
	// Code is the generated share code (To Code), shown to the owner once:
	// only its keyed hash is stored. Zero when a retried command ID returns
	// the original result.
	Code secret.Secret
}

// ShareKey shares a key. To ID notifies the account through the outbox.
func (s *Service) ShareKey(ctx context.Context, c ShareKey) (ShareResult, error) {
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By), checkEmail("email", c.Email, false)); err != nil {
		return ShareResult{}, err
	}
	var code secret.Secret
	var hash []byte
	var sealed secret.Sealed
	switch c.Method {
	case events.ShareToID:
		if err := checkID("account", c.Account); err != nil {
			return ShareResult{}, err
		}
		if c.Email != "" {
			return ShareResult{}, invalid("email", "To ID shares notify the account's own address")
		}
	case events.ShareToCode:
		if c.Account != "" {
			return ShareResult{}, invalid("account", "a To Code share names no account")
		}
		if err := s.needVault(); err != nil {
			return ShareResult{}, err
		}
		var err error
		if code, err = s.vault.NewCode(); err != nil {
			return ShareResult{}, vaultErr(err, "")
		}
		h, err := s.vault.HashCode(code)
		if err != nil {
			return ShareResult{}, vaultErr(err, "")
		}
		hash = h[:]
		if c.Email != "" {
			if sealed, err = s.vault.Seal(ctx, code, notificationAAD(c.Key)); err != nil {
				return ShareResult{}, vaultErr(err, "")
			}
		}
	default:
		return ShareResult{}, invalid("method", "want To ID or To Code")
	}
	evs, err := s.executeOn(ctx, c.ID, keyStream(c.Key), c.same, func(t *txn) error {
		k, _, err := loadOwned(t, c.Key, c.By)
		if err != nil {
			return err
		}
		if err := checkAllowed(c.Key, k.Kind, k.State, events.ActShare); err != nil {
			return err
		}
		rule := kindRules[k.Kind]
		if (c.Method == events.ShareToID && !rule.toID) || (c.Method == events.ShareToCode && !rule.toCode) {
			return invalid("method", "%v keys cannot be shared %v", k.Kind, c.Method)
		}
		ev := events.KeyShared{Key: c.Key, Lock: k.Lock, Owner: c.By, Method: c.Method, Account: c.Account, CodeHash: hash}
		evs := []any{ev}

		if c.Method == events.ShareToID {
			a, err := t.account(c.Account)
			if err != nil {
				return err
			}
			if !a.Exists() {
				return &NotFoundError{What: "account", ID: c.Account}
			}
			evs = append(evs, events.NotificationQueued{Topic: events.TopicKeyShared, To: c.Account, Email: a.Email, Lock: k.Lock, Key: c.Key})
		} else if c.Email != "" {
			evs = append(evs, events.NotificationQueued{Topic: events.TopicKeyShared, Email: c.Email, Lock: k.Lock, Key: c.Key, Secret: sealed})
		}
		t.emit(keyStream(c.Key), evs...)
		if c.Method == events.ShareToCode { // redemption by the code alone
			stream := codeStream(hash)
			if _, err := t.load(stream, func() aggregate { return &codeIndex{} }); err != nil {
				return err
			}
			t.emit(stream, events.ShareCodeIssued{Key: c.Key, Lock: k.Lock})
		}
		return nil
	})
	if err != nil {
		return ShareResult{}, err
	}
	ks, _ := firstOf[events.KeyShared](evs)
	res := ShareResult{Key: ks.Key, Method: ks.Method, Account: ks.Account}
	if !isReplay(evs) && ks.Method == events.ShareToCode {
		res.Code = code
	}
	return res, nil
}

// same compares with a recorded share. The code is drawn by the command,
// not one of its fields; the address it is e-mailed to is.
func (c ShareKey) same(orig []ledger.Event) (string, error) {
	r, ok := first[events.KeyShared](orig)
	if !ok {
		return otherCommand, nil
	}
	email := ""
	if n, ok := firstOf[events.NotificationQueued](orig); ok && r.Method == events.ShareToCode {
		email = n.Email
	}
	return differs(field{"key", r.Key == c.Key}, field{"by", r.Owner == c.By}, field{"method", r.Method == c.Method},
		field{"account", r.Account == c.Account}, field{"email", email == c.Email})
}

// codeStream is the stream that maps a share code's keyed hash to its key.
func codeStream(hash []byte) string { return "sharecode-" + hex.EncodeToString(hash) }

// codeIndex is the fold of a share-code stream.
type codeIndex struct{ key string }

func (c *codeIndex) evolve(ev ledger.Event) {
	if e, ok := ev.Data.(events.ShareCodeIssued); ok {
		c.key = e.Key
	}
}
func (c *codeIndex) clone() aggregate { d := *c; return &d }

// keyForCode finds the key a share code was issued for. A code that was never
// issued is ErrNotPermitted (the same answer as a wrong code for a key).
func (s *Service) keyForCode(ctx context.Context, code secret.Secret) (string, error) {
	if err := s.needVault(); err != nil {
		return "", err
	}
	h, err := s.vault.HashCode(code)
	if err != nil {
		return "", notPermitted("malformed share code")
	}
	for ev, err := range s.store.ReadStream(ctx, codeStream(h[:]), 0) {
		if err != nil {
			return "", err
		}
		if e, ok := ev.Data.(events.ShareCodeIssued); ok {
			return e.Key, nil
		}
	}
	return "", notPermitted("no key was shared with this code")
}

// isReplay reports whether events came back from the log (a retried command
// ID) rather than from this execution: execute leaves Type empty on the
// events it has just appended; the log always stores a type name.
func isReplay(evs []ledger.Event) bool { return len(evs) > 0 && evs[0].Type != "" }

// DownloadKey is the holder (To ID) or code bearer (To Code) fetching the key.
type DownloadKey struct {
	ID  uuid.UUID
	Key string // may be empty when Code is given: the code finds its key
	// By is who downloads: the account shared To ID, or for To Code the
	// bearer's account or device ID; it becomes the key's holder.
	By   string
	Code secret.Secret // To Code
	// HolderKey is the phone's X25519 public key: with Options.Issuer set,
	// a share key's download carries a signed offline credential bound to it.
	HolderKey [32]byte
}

// DownloadResult is what the holder's phone receives.
type DownloadResult struct {
	Key, Lock  string
	Slot       int
	Generation uint32
	Settings   events.Settings
	// Credential is the signed offline credential and Download the
	// lockproto download frame (credential, the lock's public key and the
	// lock's pending admin messages), when issued (see DownloadKey.HolderKey).
	Credential, Download []byte
	// Admin are the lock's pending admin messages in sequence order (also
	// inside Download): the phone delivers them to the lock before it
	// unlocks, whoever's key they concern.
	Admin [][]byte
	// Narrowed is non-nil when the credential grants less than the policy
	// (a *policy.CompactError wrapping policy.ErrLossy naming what was
	// lost, e.g. validity cut at a later absolute blackout): the owner
	// should be told, or the key kept online-only.
	Narrowed error
}

// DownloadKey downloads a shared key. A wrong code or account is ErrNotPermitted.
func (s *Service) DownloadKey(ctx context.Context, c DownloadKey) (DownloadResult, error) {
	if c.Key == "" && !c.Code.IsZero() { // the bearer knows only the code
		key, err := s.keyForCode(ctx, c.Code)
		if err != nil {
			return DownloadResult{}, err
		}
		c.Key = key
	}
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By)); err != nil {
		return DownloadResult{}, err
	}
	same := func(orig []ledger.Event) (string, error) { return s.sameDownload(ctx, c, orig) }
	evs, err := s.executeOn(ctx, c.ID, keyStream(c.Key), same, func(t *txn) error {
		k, err := t.key(c.Key)
		if err != nil {
			return err
		}
		if err := checkAllowed(c.Key, k.Kind, k.State, events.ActDownload); err != nil {
			return err
		}
		switch k.Method {
		case events.ShareToID:
			if c.By != k.Recipient {
				return notPermitted("key %q was not shared with %q", c.Key, c.By)
			}
		case events.ShareToCode:
			if s.vault == nil || c.Code.IsZero() || len(k.CodeHash) != len(secret.CodeHash{}) || !s.vault.CheckCode(c.Code, secret.CodeHash(k.CodeHash)) {
				return notPermitted("wrong or missing share code for key %q", c.Key)
			}
		}
		evs := []any{events.KeyDownloaded{Key: c.Key, Lock: k.Lock, Holder: c.By, Method: k.Method, HolderKey: lockKeyBytes(c.HolderKey)}}
		if s.issuer != nil && c.HolderKey != ([32]byte{}) && kindRules[k.Kind].slot {
			l, err := t.lock(k.Lock)
			if err != nil {
				return err
			}
			if len(l.LockKey) != 32 {
				return invalid("holder key", "lock %q was registered without its public key; no credential can be issued", k.Lock)
			}
			compact, _, err := compactOf(k.Settings.Policy, l.Blackouts, t.now)
			if err != nil {
				return err // refused before anything is recorded: no credential could carry the policy
			}
			// The credential issued below is on its way to the lock, open
			// until its own end whatever happens to the key.
			evs = append(evs, events.LockSynced{Key: c.Key, Lock: k.Lock, Sync: events.SyncPending, Until: compactEnd(compact)})
		}
		if k.Settings.Welcome != "" {
			var email string
			if a, err := t.account(c.By); err == nil && a.Exists() {
				email = a.Email
			}
			evs = append(evs, events.NotificationQueued{Topic: events.TopicWelcome, To: c.By, Email: email, Lock: k.Lock, Key: c.Key, Message: k.Settings.Welcome})
		}
		t.emit(keyStream(c.Key), evs...)
		return nil
	})
	if err != nil {
		return DownloadResult{}, err
	}
	return s.downloadResult(ctx, c.Key, evs)
}

// sameDownload compares with a recorded download. The share code is checked
// against the keyed hash of the share the download redeemed: a download
// retried with another code is not the same command (and gets no key).
func (s *Service) sameDownload(ctx context.Context, c DownloadKey, orig []ledger.Event) (string, error) {
	r, ok := first[events.KeyDownloaded](orig)
	if !ok {
		return otherCommand, nil
	}
	if d := firstDiff(field{"key", r.Key == c.Key}, field{"by", r.Holder == c.By},
		field{"holder key", string(r.HolderKey) == string(lockKeyBytes(c.HolderKey))}); d != "" || r.Method != events.ShareToCode {
		return d, nil
	}
	var share events.KeyShared
	for ev, err := range s.store.ReadStream(ctx, keyStream(c.Key), 1) {
		if err != nil {
			return "", err
		}
		if ev.Version >= orig[0].Version {
			break
		}
		if e, ok := ev.Data.(events.KeyShared); ok {
			share = e
		}
	}
	ok = s.vault != nil && !c.Code.IsZero() && len(share.CodeHash) == len(secret.CodeHash{}) && s.vault.CheckCode(c.Code, secret.CodeHash(share.CodeHash))
	return firstDiff(field{"code", ok}), nil
}

func (s *Service) downloadResult(ctx context.Context, key string, evs []ledger.Event) (DownloadResult, error) {
	d, _ := firstOf[events.KeyDownloaded](evs)
	e, err := s.cache.get(ctx, s.store, keyStream(key), func() aggregate { return &KeyState{} })
	if err != nil {
		return DownloadResult{}, err
	}
	k := e.state.(*KeyState)
	l, err := s.lockNow(ctx, k.Lock)
	if err != nil {
		return DownloadResult{}, err
	}
	res := DownloadResult{Key: d.Key, Lock: d.Lock, Slot: k.Slot, Generation: k.Generation, Settings: k.Settings}
	res.Credential, res.Download, res.Admin, res.Narrowed, err = s.issue(ctx, k, l)
	return res, err
}

// EditKey changes some of a key's settings where its kind and
// state allow: the settings Settings sets, the others keep their value.
type EditKey struct {
	ID       uuid.UUID
	Key, By  string
	Settings SettingsPatch
}

// EditKey edits a key. Share keys: only before download. An online key's
// edit is marked on its lock's group stream too (OnlineKeyEdited). An edit
// that sets no setting is a *ValidationError for "settings".
func (s *Service) EditKey(ctx context.Context, c EditKey) error {
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By), checkPatch(c.Settings)); err != nil {
		return err
	}
	_, err := s.executeOn(ctx, c.ID, s.serialStream(ctx, c.Key), c.same, func(t *txn) error {
		k, l, err := loadOwned(t, c.Key, c.By)
		if err != nil {
			return err
		}
		if err := checkAllowed(c.Key, k.Kind, k.State, events.ActEdit); err != nil {
			return err
		}
		st, err := c.Settings.edit(k, l)
		if err != nil {
			return err
		}
		t.emit(keyStream(c.Key), events.KeyEdited{Key: c.Key, Lock: k.Lock, By: c.By, Settings: st})
		if err := s.codeEdit(t, k, l, st); err != nil {
			return err
		}
		return t.inGroup(k, events.ActEdit, c.By)
	})
	return err
}

// same compares with a recorded edit.
func (c EditKey) same(orig []ledger.Event) (string, error) {
	r, ok := first[events.KeyEdited](orig)
	if !ok {
		return otherCommand, nil
	}
	if d := firstDiff(field{"key", r.Key == c.Key}, field{"by", r.By == c.By}); d != "" {
		return d, nil
	}
	return c.Settings.same(r.Settings), nil
}

// KeyCommand is a command on one key by its lock's owner (or, for a
// digital key, an account manager of the lock): RevokeKey, ResetKey,
// RequestDeactivation, ConfirmDeactivation, DeleteKey.
type KeyCommand struct {
	ID      uuid.UUID
	Key, By string
}

// RevokeKey cancels a share before download (intercom and digital keys at any time).
func (s *Service) RevokeKey(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActRevoke, func(k *KeyState, l *LockState) ([]any, []any, error) {
		kev, lev, err := s.withAdmin(k, l, lockproto.TypeRevoke, []any{events.KeyRevoked{Key: c.Key, Lock: k.Lock, By: c.By}}, releaseAll(k, l, false))
		return s.withCodeClear(k, l, kev, lev, err)
	})
}

// ResetKey gives a downloaded share key's slot a new generation: the
// slot is free to share again and the next holder's key overwrites this one.
func (s *Service) ResetKey(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActReset, func(k *KeyState, l *LockState) ([]any, []any, error) {
		return s.withSuspendedRevoke(k, l)(s.withAdmin(k, l, lockproto.TypeResetSlot,
			[]any{events.KeyReset{Key: c.Key, Lock: k.Lock, By: c.By, Slot: k.Slot, Generation: k.Generation + 1}}, releaseAll(k, l, true)))
	})
}

// RequestDeactivation records that the owner asked the lock to deactivate a
// downloaded key's slot. The key is listed as pending until confirmed.
func (s *Service) RequestDeactivation(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActRequestDeactivation, func(k *KeyState, l *LockState) ([]any, []any, error) {
		return s.withSuspendedRevoke(k, l)(s.withAdmin(k, l, lockproto.TypeDeactivateSlot, []any{events.DeactivationRequested{Key: c.Key, Lock: k.Lock, By: c.By, Slot: k.Slot}}, nil))
	})
}

// ConfirmDeactivation records the lock's confirmation; the slot is free
// again at a new generation.
func (s *Service) ConfirmDeactivation(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActConfirmDeactivation, func(k *KeyState, l *LockState) ([]any, []any, error) {
		return []any{events.DeactivationConfirmed{Key: c.Key, Lock: k.Lock, By: c.By, Slot: k.Slot, Generation: k.Generation + 1}}, releaseAll(k, l, true), nil
	})
}

// DeleteKey deletes a key where allowed (a downloaded share key must be
// reset or deactivated first). A key taken away whose removal has not
// reached its lock, so that its credential may still open it, is not
// deleted until the lock confirms the removal or the credential ends on
// its own: *AtLockError (ErrStillAtLock, ErrForbidden). Deleting an online
// key also removes its members (their password hashes are shredded) and
// withdraws its open invitations.
func (s *Service) DeleteKey(ctx context.Context, c KeyCommand) error {
	return s.keyCommand(ctx, c, events.ActDelete, func(k *KeyState, l *LockState) ([]any, []any, error) {
		return s.withCodeClear(k, l, []any{events.KeyDeleted{Key: c.Key, Lock: k.Lock, By: c.By}}, releaseAll(k, l, false), nil)
	})
}

// releaseAll returns the lock events that free what the key still holds: its
// slot (at a new generation if bump), its PIN and its card.
func releaseAll(k *KeyState, l *LockState, bump bool) []any {
	var out []any
	if k.Slot > 0 && k.Slot <= len(l.SlotKeys) && l.SlotKeys[k.Slot-1] == k.ID {
		gen := l.SlotGens[k.Slot-1]
		if bump {
			gen++
		}
		out = append(out, events.SlotReleased{Lock: k.Lock, Key: k.ID, Slot: k.Slot, Generation: gen})
	}
	if len(k.PINHash) == 32 && l.PINs[[32]byte(k.PINHash)] == k.ID {
		out = append(out, events.PINReleased{Lock: k.Lock, Key: k.ID, Hash: k.PINHash})
	}
	if len(k.CardHash) == 32 && l.Cards[[32]byte(k.CardHash)] == k.ID {
		out = append(out, events.CardReleased{Lock: k.Lock, Key: k.ID, Hash: k.CardHash})
	}
	return out
}

// withAdmin adds to a key action's lock events the admin message it sends
// to the lock, if the key holds an offline credential (lockadmin.go).
func (s *Service) withAdmin(k *KeyState, l *LockState, typ lockproto.Type, keyEvs, lockEvs []any) ([]any, []any, error) {
	a, ok, err := s.adminOf(k, l, typ)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		lockEvs = append(withReplacement(lockEvs, a), a)
	}
	return keyEvs, lockEvs, nil
}

// withSuspendedRevoke adds to the slot reset or deactivation of a
// suspended key (what withAdmin returned) a revocation of its credential:
// the lock frees a key's suspension entry only for a revoke naming it (a
// slot's new generation names no credential), and a table full of ended
// keys' entries would refuse every later suspension. Nothing when the
// revocation list is full (the slot's new generation refuses the key all
// the same).
func (s *Service) withSuspendedRevoke(k *KeyState, l *LockState) func(keyEvs, lockEvs []any, err error) ([]any, []any, error) {
	return func(keyEvs, lockEvs []any, err error) ([]any, []any, error) {
		if err != nil || !k.Suspended || l.revocationsFull() {
			return keyEvs, lockEvs, err
		}
		next := *l // the revocation takes the sequence number after the message above
		for _, ev := range lockEvs {
			if a, ok := ev.(events.AdminIssued); ok {
				next.AdminSeq = max(next.AdminSeq, a.Seq)
			}
		}
		a, ok, err := s.adminOf(k, &next, lockproto.TypeRevoke)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			lockEvs = append(lockEvs, a)
		}
		return keyEvs, lockEvs, nil
	}
}

func (s *Service) keyCommand(ctx context.Context, c KeyCommand, a events.Action, decide func(*KeyState, *LockState) (keyEvs, lockEvs []any, err error)) error {
	if err := firstErr(checkID("key", c.Key), checkID("by", c.By)); err != nil {
		return err
	}
	same := func(orig []ledger.Event) (string, error) {
		act, key, by := keyActionOf(orig[0].Data)
		if act != a {
			return otherCommand, nil
		}
		return differs(field{"key", key == c.Key}, field{"by", by == c.By})
	}
	evs, err := s.executeOn(ctx, c.ID, s.serialStream(ctx, c.Key), same, func(t *txn) error {
		k, l, err := loadOwned(t, c.Key, c.By)
		if err != nil {
			return err
		}
		if err := checkAllowed(c.Key, k.Kind, k.State, a); err != nil {
			return err
		}
		if a == events.ActDelete && k.AtLock.StillOpen(k.State, t.now) {
			return &AtLockError{Key: c.Key, Lock: k.Lock, Sync: k.AtLock.Sync, Until: k.AtLock.Until}
		}
		kev, lev, err := decide(k, l)
		if err != nil {
			return err
		}
		t.emit(keyStream(c.Key), kev...)
		t.emit(lockStream(k.Lock), lev...)
		return t.inGroup(k, a, c.By)
	})
	if err != nil {
		return err
	}
	return s.shredAfter(ctx, evs) // an online key's removed members (a retry shreds again)
}

// serialStream is the stream a command on an existing key queues on in this
// process: an online key's lock group (all its commands append there), else
// the key's own stream. A key created by another writer since this service
// last read it queues on its own stream; the expected versions keep the
// decision exact either way.
func (s *Service) serialStream(ctx context.Context, key string) string {
	stream := keyStream(key)
	if e, err := s.cache.get(ctx, s.store, stream, func() aggregate { return &KeyState{} }); err == nil {
		if k := e.state.(*KeyState); kindRules[k.Kind].group {
			return groupStream(k.Lock)
		}
	}
	return stream
}

// keyActionOf returns the action a KeyCommand's first event records, with
// its key and who acted (0 for other events).
func keyActionOf(d any) (events.Action, string, string) {
	switch e := d.(type) {
	case events.KeyRevoked:
		return events.ActRevoke, e.Key, e.By
	case events.KeyReset:
		return events.ActReset, e.Key, e.By
	case events.DeactivationRequested:
		return events.ActRequestDeactivation, e.Key, e.By
	case events.DeactivationConfirmed:
		return events.ActConfirmDeactivation, e.Key, e.By
	case events.KeyDeleted:
		return events.ActDelete, e.Key, e.By
	case events.KeySuspended:
		return events.ActSuspend, e.Key, e.By
	case events.KeyResumed:
		return events.ActResume, e.Key, e.By
	}
	return 0, "", ""
}
