package projections

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/vmihailenco/msgpack/v5"
)

// ErrNotFound means no row exists for the ID asked about (a key, or a lock
// for the per-lock queries). It wraps events.ErrNotFound, so
// errors.Is(err, events.ErrNotFound) matches a missing ID whichever
// package reported it; errors.Is(err, ErrNotFound) matches only the read
// side's. The typed error is *NotFoundError.
var ErrNotFound error = &sentinel{"projections: not found", events.ErrNotFound}

// sentinel is a sentinel error that wraps another package's.
type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.parent }

// NotFoundError names what a query asked about that the read models do not
// hold: What is "key", "lock" or "account".
type NotFoundError struct {
	What, ID string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("projections: %s %q not found", e.What, e.ID)
}

// Unwrap makes errors.Is(err, ErrNotFound) and errors.Is(err,
// events.ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// ErrInvalid means a query broke a documented rule.
var ErrInvalid = errors.New("projections: invalid query")

// ErrCorrupt means a stored row does not decode (Rebuild repairs it).
var ErrCorrupt = errors.New("projections: corrupt row")

func notFound(what, id string) error { return &NotFoundError{What: what, ID: id} }

// lockExists reports notFound unless the lock is registered.
func (p *Projections) lockExists(ctx context.Context, lock string) error {
	_, err := p.store.GetState(ctx, rowKey("lock", lock))
	if errors.Is(err, ledger.ErrNotFound) {
		return notFound("lock", lock)
	}
	return err
}

// Key returns a key's row (deleted keys included).
func (p *Projections) Key(ctx context.Context, key string) (KeyRow, error) {
	r, err := keyRow(ctx, p.store, key)
	if err != nil {
		return KeyRow{}, err
	}
	if r == nil {
		return KeyRow{}, notFound("key", key)
	}
	return *r, nil
}

// Lock returns a lock's row.
func (p *Projections) Lock(ctx context.Context, lock string) (LockRow, error) {
	r, err := getRow[LockRow](ctx, p.store, rowKey("lock", lock))
	if err != nil {
		return LockRow{}, err
	}
	if r == nil {
		return LockRow{}, notFound("lock", lock)
	}
	return *r, nil
}

// KeyView is a key in a list with its status at the query's instant.
type KeyView struct {
	KeyRow
	Status KeyStatus
}

// index lists the keys under an index prefix, with their status at at.
func (p *Projections) index(ctx context.Context, kind, id string, at time.Time, filter func(*KeyRow) bool) ([]KeyView, error) {
	pre := append(rowKey(kind, id), '/')
	var out []KeyView
	network := map[string]bool{}
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		key := string(e.Key[len(pre):])
		r, err := keyRow(ctx, p.store, key)
		if err != nil {
			return nil, err
		}
		if r == nil || (filter != nil && !filter(r)) {
			continue
		}
		v := KeyView{KeyRow: *r}
		if err := p.statusOf(ctx, r, at, &v.Status, network); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// KeyList lists the keys of a lock with their status at at ("Key list");
// *NotFoundError if the lock is not registered.
func (p *Projections) KeyList(ctx context.Context, lock string, at time.Time) ([]KeyView, error) {
	if err := p.lockExists(ctx, lock); err != nil {
		return nil, err
	}
	return p.index(ctx, "lk", lock, at, nil)
}

// The per-account lists (ShareKeyList, HolderKeys, DigitalKeys) are empty
// for an account they hold nothing of: accounts have no row here to tell an
// unknown one apart.

// ShareKeyList lists the keys an owner made, across all their locks ("Share
// key list"); digital keys are in DigitalKeys.
func (p *Projections) ShareKeyList(ctx context.Context, owner string, at time.Time) ([]KeyView, error) {
	return p.index(ctx, "ok", owner, at, nil)
}

// HolderKeys lists the keys shared with or downloaded by an account, and
// the online keys it is an accepted member of ("my keys"), by key ID.
func (p *Projections) HolderKeys(ctx context.Context, holder string, at time.Time) ([]KeyView, error) {
	return p.index(ctx, "hk", holder, at, func(r *KeyRow) bool {
		return r.Recipient == holder || r.Holder == holder || slices.Contains(r.Members, holder)
	})
}

// DigitalKeys is the digital-keys table of an account: the digital keys
// of every lock it owns or manages (ManagedLocks), whoever of them made
// each, by key ID, with ACTIVE, UPCOMING or EXPIRED (or EXHAUSTED,
// REVOKED) at at.
func (p *Projections) DigitalKeys(ctx context.Context, account string, at time.Time) ([]KeyView, error) {
	var out []KeyView
	for lock, err := range p.managedLocks(ctx, account) {
		if err != nil {
			return nil, err
		}
		keys, err := p.index(ctx, "lk", lock, at, func(r *KeyRow) bool { return r.Kind == events.KindDigital })
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
	}
	slices.SortFunc(out, func(a, b KeyView) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// managedLocks yields the IDs of the locks an account owns or manages.
func (p *Projections) managedLocks(ctx context.Context, account string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		pre := append(rowKey("ml", account), '/')
		for e, err := range p.store.ScanState(ctx, pre) {
			if err != nil {
				yield("", err)
				return
			}
			if !yield(string(e.Key[len(pre):]), nil) {
				return
			}
		}
	}
}

// ManagedLocks lists the locks an account owns or is an account manager
// of, by lock ID: the locks it may make digital keys for.
func (p *Projections) ManagedLocks(ctx context.Context, account string) ([]LockRow, error) {
	var out []LockRow
	for lock, err := range p.managedLocks(ctx, account) {
		if err != nil {
			return nil, err
		}
		l, err := p.Lock(ctx, lock)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Account returns a registered account; *NotFoundError (What "account")
// if there is none.
func (p *Projections) Account(ctx context.Context, account string) (AccountRow, error) {
	r, err := getRow[AccountRow](ctx, p.store, rowKey("acct", account))
	if err != nil {
		return AccountRow{}, err
	}
	if r == nil {
		return AccountRow{}, notFound("account", account)
	}
	return *r, nil
}

// AccountsByEmail finds the registered accounts with an e-mail address,
// compared without regard to case, by account ID: how a manager finds the
// user a key is for. Registration does not make addresses unique, so
// there may be several; none is an empty list.
func (p *Projections) AccountsByEmail(ctx context.Context, email string) ([]AccountRow, error) {
	if email == "" {
		return nil, fmt.Errorf("%w: empty e-mail address", ErrInvalid)
	}
	pre := append(rowKey("email", emailKey(email)), '/')
	var out []AccountRow
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		id := string(e.Key[len(pre):])
		if strings.Contains(id, "/") { // another address that continues this one ("a/b@…" after "a")
			continue
		}
		a, err := p.Account(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Accounts lists up to limit registered accounts (default 100, at most
// 1000) by ID, from the first ID after after ("" from the start): the users
// a manager picks from.
func (p *Projections) Accounts(ctx context.Context, after string, limit int) ([]AccountRow, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	pre := append(rowKey("acct"), '/')
	var out []AccountRow
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		if string(e.Key[len(pre):]) <= after {
			continue
		}
		var a AccountRow
		if err := msgpack.Unmarshal(e.Value, &a); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrCorrupt, e.Key, err)
		}
		out = append(out, a)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// PendingRemovals lists the keys of a lock ("" for every lock) that were
// taken away — reset, revoked, deactivated or deleted — whose removal has
// not reached the lock (the lock has not confirmed it, or refused it) and
// whose credential has not ended by at: they may still open the lock. Each
// view's Status says until when (OpenUntil). By lock, then key ID;
// *NotFoundError if the lock is not registered.
func (p *Projections) PendingRemovals(ctx context.Context, lock string, at time.Time) ([]KeyView, error) {
	still := func(r *KeyRow) bool { return r.AtLock.StillOpen(r.State, at) }
	if lock != "" {
		if err := p.lockExists(ctx, lock); err != nil {
			return nil, err
		}
		return p.index(ctx, "rm", lock, at, still)
	}
	pre := append(rowKey("rm"), '/')
	var out []KeyView
	network := map[string]bool{}
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		_, key, ok := strings.Cut(string(e.Key[len(pre):]), "/")
		if !ok {
			return nil, fmt.Errorf("%w: removal row %q", ErrCorrupt, e.Key)
		}
		r, err := keyRow(ctx, p.store, key)
		if err != nil {
			return nil, err
		}
		if r == nil || !still(r) {
			continue
		}
		v := KeyView{KeyRow: *r}
		if err := p.statusOf(ctx, r, at, &v.Status, network); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// PendingDeactivations lists a lock's keys whose deactivation was
// requested but not yet confirmed by the lock: those of PendingRemovals
// that wait for a deactivation, whatever their credential's end.
// *NotFoundError if the lock is not registered.
func (p *Projections) PendingDeactivations(ctx context.Context, lock string, at time.Time) ([]KeyView, error) {
	if err := p.lockExists(ctx, lock); err != nil {
		return nil, err
	}
	return p.index(ctx, "rm", lock, at, func(r *KeyRow) bool { return r.State == events.StateDeactivationPending })
}

// SlotState is what a slot shows ("Not Shared location").
type SlotState string

const (
	SlotNotShared           SlotState = "Not Shared"
	SlotSharing             SlotState = "Sharing"
	SlotShared              SlotState = "Shared"
	SlotDeactivationPending SlotState = "Deactivation pending"
	// SlotRemoving: the slot is free to share again, but a key that was
	// in it (reset or revoked) has not been removed at the lock yet and
	// may still open it (SlotView.Removing).
	SlotRemoving SlotState = "Removing"
)

// SlotView is one slot of a lock.
type SlotView struct {
	Slot       int
	Generation uint32
	Key        string // "" when free
	State      SlotState
	// Removing are the keys once in the slot (not Key) whose removal the
	// lock has not confirmed (events.AtLock.RemovalPending), by key ID:
	// their credentials may still open the lock. A free slot with some is
	// SlotRemoving.
	Removing []string
}

// Slots lists every slot of a lock with its state; *NotFoundError if
// the lock is not registered.
func (p *Projections) Slots(ctx context.Context, lock string) ([]SlotView, error) {
	l, err := p.Lock(ctx, lock)
	if err != nil {
		return nil, err
	}
	removing, err := p.removingBySlot(ctx, lock)
	if err != nil {
		return nil, err
	}
	pre := append(rowKey("slot", lock), '/')
	out := make([]SlotView, 0, l.Slots)
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		var s SlotRow
		if err := msgpack.Unmarshal(e.Value, &s); err != nil || len(e.Key) != len(pre)+4 {
			return nil, fmt.Errorf("%w: slot row %q", ErrCorrupt, e.Key)
		}
		v := SlotView{Slot: int(binary.BigEndian.Uint32(e.Key[len(pre):])), Generation: s.Generation, Key: s.Key, State: SlotNotShared}
		if s.Key != "" {
			r, err := keyRow(ctx, p.store, s.Key)
			if err != nil {
				return nil, err
			}
			if r != nil {
				switch r.State {
				case events.StateSharing:
					v.State = SlotSharing
				case events.StateDownloaded:
					v.State = SlotShared
				case events.StateDeactivationPending:
					v.State = SlotDeactivationPending
				}
			}
		}
		v.Removing = slices.DeleteFunc(removing[v.Slot], func(k string) bool { return k == v.Key })
		if len(v.Removing) == 0 {
			v.Removing = nil
		} else if v.Key == "" {
			v.State = SlotRemoving
		}
		out = append(out, v)
	}
	return out, nil
}

// removingBySlot maps each slot of a lock to the keys once in it whose
// removal the lock has not confirmed, by key ID.
func (p *Projections) removingBySlot(ctx context.Context, lock string) (map[int][]string, error) {
	pre := append(rowKey("rm", lock), '/')
	var out map[int][]string
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		r, err := keyRow(ctx, p.store, string(e.Key[len(pre):]))
		if err != nil {
			return nil, err
		}
		if r == nil || r.Slot == 0 {
			continue
		}
		if out == nil {
			out = map[int][]string{}
		}
		out[r.Slot] = append(out[r.Slot], r.Key)
	}
	return out, nil
}

// Contacts lists an account's address book, by contact ID.
func (p *Projections) Contacts(ctx context.Context, account string) ([]Contact, error) {
	pre := append(rowKey("contact", account), '/')
	var out []Contact
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return nil, err
		}
		var c Contact
		if err := msgpack.Unmarshal(e.Value, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Pending returns up to limit undelivered notifications, oldest first.
// Deliver each, then acknowledge it with commands.Service.AckNotification;
// delivery is at least once.
func (p *Projections) Pending(ctx context.Context, limit int) ([]Notification, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []Notification
	for e, err := range p.store.ScanState(ctx, append(rowKey("ob"), '/')) {
		if err != nil {
			return nil, err
		}
		var n Notification
		if err := msgpack.Unmarshal(e.Value, &n); err != nil {
			return nil, err
		}
		out = append(out, n)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// HistoryQuery selects one history: exactly one of Lock, Key, Account. An
// unknown lock or key is *NotFoundError; accounts have no row in the read
// models, so an account nothing concerns has an empty history.
type HistoryQuery struct {
	Lock, Key, Account string
	From, To           time.Time // [From, To) of event time; zero = open
	Cursor             string    // Next of the previous page; "" = first page
	Limit              int       // default 50, at most 1000
	// ByPosition orders entries by UTC day of their time, then log
	// position, instead of by time: within a day, the records of an upload
	// follow what was recorded online before it. The default (false) is
	// time order: records a lock made offline and uploaded later merge
	// in at the lock's time; ties by position. A cursor belongs to the order
	// it was made in (another order's cursor is ErrInvalid).
	ByPosition bool
}

// HistoryPage is one page of a history, oldest first: by time (the lock's
// time for offline records, the event time otherwise), ties by log
// position; with HistoryQuery.ByPosition by UTC day, then log position.
type HistoryPage struct {
	Entries []HistoryEntry
	Next    string // cursor of the next page; "" when there is none
}

// History returns actions and unlock attempts (granted or denied, with reason,
// source and door) of a lock, key or account in a time range, paginated.
// Each entry is read from the log by position (point reads).
func (p *Projections) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	var kind, id string
	n := 0
	for _, c := range []struct{ k, v string }{{"l", q.Lock}, {"k", q.Key}, {"a", q.Account}} {
		if c.v != "" {
			kind, id = c.k, c.v
			n++
		}
	}
	if n != 1 {
		return HistoryPage{}, fmt.Errorf("%w: name exactly one of lock, key, account", ErrInvalid)
	}
	switch {
	case q.Lock != "":
		if err := p.lockExists(ctx, q.Lock); err != nil {
			return HistoryPage{}, err
		}
	case q.Key != "":
		if _, err := p.store.GetState(ctx, rowKey("st", q.Key)); errors.Is(err, ledger.ErrNotFound) {
			if code, err := p.isOfflineCode(ctx, q.Key); err != nil {
				return HistoryPage{}, err
			} else if !code { // an offline code's ID is its key in history
				return HistoryPage{}, notFound("key", q.Key)
			}
		} else if err != nil {
			return HistoryPage{}, err
		}
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Limit > 1000 {
		q.Limit = 1000
	}
	var after [histCursorLen]byte
	order := byte(cursorByTime)
	if q.ByPosition {
		order = cursorByPosition
	}
	if q.Cursor != "" {
		c, err := hex.DecodeString(q.Cursor)
		if err != nil || len(c) != len(after) || (c[0] != cursorByTime && c[0] != cursorByPosition) {
			return HistoryPage{}, fmt.Errorf("%w: malformed cursor", ErrInvalid)
		}
		if c[0] != order {
			return HistoryPage{}, fmt.Errorf("%w: the cursor belongs to the other order (HistoryQuery.ByPosition)", ErrInvalid)
		}
		copy(after[:], c)
	}
	lastDay := uint32(1<<32 - 1)
	if !q.To.IsZero() {
		lastDay = uint32(q.To.Unix() / 86400)
	}
	pre := append(rowKey("h", kind, id), '/')
	var page HistoryPage
	holders := holderMemo{}
	// Entries of one UTC day are collected from its rows and ordered by
	// time, then position (the day is the time's, so this is time order
	// across days too), or with ByPosition by position.
	var day, ents []histRef // ents: the entries of one row
	dayOf := uint32(0)
	flush := func() (bool, error) {
		slices.SortFunc(day, func(a, b histRef) int {
			return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.pos, b.pos))
		})
		for _, r := range day {
			cur := r.cursor(order, dayOf)
			if q.Cursor != "" && bytes.Compare(cur[:], after[:]) <= 0 {
				continue
			}
			if (!q.From.IsZero() && r.ns < q.From.UnixNano()) || (!q.To.IsZero() && r.ns >= q.To.UnixNano()) {
				continue
			}
			if len(page.Entries) == q.Limit {
				page.Next = hex.EncodeToString(after[:])
				return true, nil
			}
			ev, err := p.store.EventAt(ctx, r.pos)
			if err != nil {
				return false, err
			}
			var h HistoryEntry
			describe(&ev, &h)
			if h.Offline && h.Key != "" && h.Account == "" {
				if h.Account, err = holders.of(ctx, p.store, h.Key); err != nil {
					return false, err
				}
			}
			page.Entries = append(page.Entries, h)
			after = cur
		}
		day = day[:0]
		return false, nil
	}
	for e, err := range p.scanHistory(ctx, pre, q.From, q.To) {
		if err != nil {
			return HistoryPage{}, err
		}
		var ok bool
		if ents, ok = histEntries(ents[:0], e.Value); !ok || len(e.Key) < len(pre)+4 {
			return HistoryPage{}, fmt.Errorf("%w: history row %q", ErrCorrupt, e.Key)
		}
		d := binary.BigEndian.Uint32(e.Key[len(pre):])
		if d != dayOf && len(day) > 0 {
			if full, err := flush(); full || err != nil {
				return page, err
			}
		}
		if d > lastDay {
			break
		}
		dayOf = d
		for _, r := range ents {
			r.key = uint64(r.ns) ^ 1<<63 // sign flipped: orders as the number
			if q.ByPosition {
				r.key = r.pos
			}
			day = append(day, r)
		}
	}
	if _, err := flush(); err != nil {
		return HistoryPage{}, err
	}
	return page, nil
}

// histRef is one history index entry: the event's position and time, and
// its sort key within its day (the time, or with ByPosition the position).
type histRef struct {
	pos uint64
	ns  int64
	key uint64
}

// histCursorLen: a page cursor is the order (1: cursorByTime or
// cursorByPosition), then the last entry's day (4), sort key (8) and
// position (8), big-endian; compared as bytes.
const histCursorLen = 21

const (
	cursorByTime     = 't'
	cursorByPosition = 'p'
)

func (r histRef) cursor(order byte, day uint32) (c [histCursorLen]byte) {
	c[0] = order
	binary.BigEndian.PutUint32(c[1:5], day)
	binary.BigEndian.PutUint64(c[5:13], r.key)
	binary.BigEndian.PutUint64(c[13:], r.pos)
	return c
}

// scanHistory scans an entity's history rows from the day of from: one
// prefix per day while the range is short, else the whole entity prefix.
func (p *Projections) scanHistory(ctx context.Context, pre []byte, from, to time.Time) func(func(ledger.StateEntry, error) bool) {
	return func(yield func(ledger.StateEntry, error) bool) {
		if from.IsZero() || to.IsZero() || to.Sub(from) > 62*24*time.Hour {
			for e, err := range p.store.ScanState(ctx, pre) {
				if !yield(e, err) || err != nil {
					return
				}
			}
			return
		}
		for d := from.Unix() / 86400; d <= to.Unix()/86400; d++ {
			for e, err := range p.store.ScanState(ctx, binary.BigEndian.AppendUint32(append([]byte{}, pre...), uint32(d))) {
				if !yield(e, err) || err != nil {
					return
				}
			}
		}
	}
}

// holderMemo finds the holder of the keys offline records name (the
// account they are indexed under), reading each key's row once per page.
type holderMemo map[string]string

func (m holderMemo) of(ctx context.Context, store ledger.StateStore, key string) (string, error) {
	if h, ok := m[key]; ok {
		return h, nil
	}
	r, err := keyRow(ctx, store, key)
	if err != nil || r == nil {
		return "", err
	}
	m[key] = r.Holder
	return r.Holder, nil
}
