package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/vmihailenco/msgpack/v5"
)

// batch applies a run of events: rows read once, changed in memory, and
// written with the checkpoint in one ApplyState.
type batch struct {
	ctx   context.Context
	p     *Projections
	sb    ledger.StateBatch
	keys  map[string]*KeyRow
	full  map[string]bool // keys whose row changed beyond the use count
	locks map[string]*LockRow
	obi   map[[16]byte]uint64 // outbox entries queued in this batch
	hist  map[string]int32    // history rows by entity and day: index in hrows
	hrows []histRow
	hents []histEntry // the history entries of the batch, in order
	hlast [4]histLast // per role (lock, key, account, subject): the row last used
	last  struct {    // the key row b.key returned last
		id  string
		row *KeyRow
	}
	kbuf []byte
	vbuf []byte       // the history rows' values, built at flush
	h    HistoryEntry // scratch
}

func newBatch(ctx context.Context, p *Projections) *batch {
	return &batch{ctx: ctx, p: p, keys: map[string]*KeyRow{}, full: map[string]bool{}, locks: map[string]*LockRow{}, obi: map[[16]byte]uint64{}, hist: map[string]int32{}}
}

// reset empties b for the next run of events, keeping its memory: the
// applying goroutine reuses one batch.
func (b *batch) reset(ctx context.Context) {
	b.ctx = ctx
	b.sb.Reset()
	clear(b.keys)
	clear(b.full)
	clear(b.locks)
	clear(b.obi)
	clear(b.hist)
	b.hrows, b.hents = b.hrows[:0], b.hents[:0]
	b.hlast = [4]histLast{}
	b.last.id, b.last.row = "", nil
}

func getRow[T any](ctx context.Context, store ledger.StateStore, key []byte) (*T, error) {
	v, err := store.GetState(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := new(T)
	if err := msgpack.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrCorrupt, key, err)
	}
	return r, nil
}

func (b *batch) key(id string) (*KeyRow, error) {
	// Runs of events concern one key: the row asked for last is most
	// often the one (a string compare instead of a map lookup).
	if b.last.row != nil && b.last.id == id {
		return b.last.row, nil
	}
	r, err := b.lookupKey(id)
	if r != nil {
		b.last.id, b.last.row = id, r
	}
	return r, err
}

func (b *batch) lookupKey(id string) (*KeyRow, error) {
	if r, ok := b.keys[id]; ok {
		return r, nil
	}
	if r, ok := b.p.rows[id]; ok { // as written by an earlier batch
		b.keys[id] = r
		return r, nil
	}
	r, err := keyRow(b.ctx, b.p.store, id)
	if err != nil || r == nil {
		return nil, err
	}
	b.keys[id] = r
	return r, nil
}

func (b *batch) lock(id string) (*LockRow, error) {
	if r, ok := b.locks[id]; ok {
		return r, nil
	}
	r, err := getRow[LockRow](b.ctx, b.p.store, rowKey("lock", id))
	if err != nil || r == nil {
		return nil, err
	}
	b.locks[id] = r
	return r, nil
}

func (b *batch) set(key []byte, v any) error {
	enc, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	b.sb.Set(key, enc)
	return nil
}

// flush writes the batch's rows with the checkpoint last. more says that
// durable events follow it, which the next batch applies at once.
func (b *batch) flush(last uint64, more bool) error {
	for id, r := range b.keys {
		if b.full[id] {
			if err := b.set(rowKey("key", id), r); err != nil {
				return err
			}
		}
		b.sb.Set(rowKey("st", id), appendStatusRow(nil, r))
	}
	for id, r := range b.locks {
		if err := b.set(rowKey("lock", id), r); err != nil {
			return err
		}
	}
	// Each row's entries are laid out in one buffer (StateBatch.Set copies
	// them), in the order they were recorded, in the compact layout
	// (histEntries): each row gets room for its entries at their largest.
	off := 0
	for i := range b.hrows {
		r := &b.hrows[i]
		r.off, off = off, off+1+maxHistEntry*r.n
		r.end, r.pos, r.ns = r.off+1, 0, 0
	}
	b.vbuf = slices.Grow(b.vbuf[:0], off)[:off]
	for i := range b.hrows {
		b.vbuf[b.hrows[i].off] = histCompact
	}
	for _, e := range b.hents {
		r := &b.hrows[e.row]
		r.end = len(appendHistEntry(b.vbuf[:r.end], r.pos, r.ns, e.pos, e.ns)) // in place: within the row's room
		r.pos, r.ns = e.pos, e.ns
	}
	for i := range b.hrows {
		r := &b.hrows[i]
		if (r.end-r.off)%16 == 0 {
			// A row of whole 16-byte entries is what versions before the
			// compact layout read: pad it so they report it corrupt
			// instead of reading wrong entries. It fits: a row's room is
			// odd (1 + maxHistEntry*n) and it is full only at its room.
			b.vbuf[r.end] = histPad
			r.end++
		}
	}
	for k, i := range b.hist {
		r := &b.hrows[i]
		b.kbuf = binary.BigEndian.AppendUint64(append(append(b.kbuf[:0], k...), '/'), r.first)
		b.sb.Set(b.kbuf, b.vbuf[r.off:r.end])
	}
	b.sb.SetCheckpoint(b.p.name, last)
	// Rows and checkpoint are rebuildable from the log, so the batch does
	// not wait for its WAL sync (ledger.StateBatch.SetNoSyncWait): it is
	// atomic and visible when ApplyState returns (WaitApplied still means
	// a query sees it: read-your-writes holds), durable within about one
	// group commit. A crash before that loses whole batches with their
	// checkpoint, never rows without it nor it without them: Open resumes
	// from the older checkpoint and applies those events again. Nothing
	// here must outlive a crash on its own (the secret keystore writes
	// through its own synced ApplyState). While catching up, a batch that
	// more follow asks for no sync at all (ledger.StateBatch.SetNoSync):
	// the sync of the batch at the head of the log covers it, so a rebuild
	// pays one sync, not one per batch; a crash before it loses those
	// batches the same way, whole and in order.
	b.sb.SetNoSyncWait(true)
	b.sb.SetNoSync(more)
	if err := b.p.store.ApplyState(b.ctx, &b.sb); err != nil {
		clear(b.p.rows) // they may hold changes that were not written
		return err
	}
	if len(b.p.rows)+len(b.keys) > maxCachedRows {
		clear(b.p.rows)
	}
	for id, r := range b.keys {
		b.p.rows[id] = r
	}
	return nil
}

// maxCachedRows bounds the key rows the projections keep decoded in memory
// (owned by the applying goroutine) so hot keys are not re-read per batch.
const maxCachedRows = 1 << 14

// history indexes an event under its lock, key and the accounts involved.
// The index holds no copy of the event: a query reads it from the log by
// position. Entries of one batch for one entity and day share one row
// (keyed by the batch's first position there), so a rebuild writes few rows.
func (b *batch) history(h *HistoryEntry) error {
	day := uint32(h.Time.Unix() / 86400)
	ns := h.Time.UnixNano()
	put := func(role int, kind, id string) {
		if id == "" {
			return
		}
		// Runs of events concern the same lock, key and accounts on the
		// same day: the row the role used last is most often the one, and
		// comparing its ID and day costs less than building its key.
		last := &b.hlast[role]
		if last.row == 0 || last.day != day || last.id != id {
			k := append(append(append(append(b.kbuf[:0], prefix...), "h/"...), kind...), '/')
			k = binary.BigEndian.AppendUint32(append(append(k, id...), '/'), day)
			b.kbuf = k
			i, ok := b.hist[string(k)] // no allocation for the lookup
			if !ok {
				i = int32(len(b.hrows))
				b.hrows = append(b.hrows, histRow{first: h.Position})
				b.hist[string(k)] = i
			}
			last.id, last.day, last.row = id, day, i+1
		}
		i := last.row - 1
		b.hrows[i].n++
		b.hents = append(b.hents, histEntry{row: i, pos: h.Position, ns: ns})
	}
	put(0, "l", h.Lock)
	put(1, "k", h.Key)
	put(2, "a", h.Account)
	if h.Subject != h.Account {
		put(3, "a", h.Subject)
	}
	return nil
}

// histLast is the history row a role of the entries (lock, key, account,
// subject) used last in a batch, with its entity's ID and the day.
type histLast struct {
	id  string
	day uint32
	row int32 // index in batch.hrows + 1; 0: none
}

// histRow is one history index row being built: its value is its
// entries' (position, unix ns) pairs in the compact layout (histEntries).
type histRow struct {
	first uint64
	n     int // entries
	// At flush: where its value starts and ends so far in batch.vbuf, and
	// the last entry written.
	off, end int
	pos      uint64
	ns       int64
}

// histEntry is one entry of a history row (batch.hrows[row]); it holds no
// pointer, so appending entries costs the garbage collector nothing.
type histEntry struct {
	row int32
	pos uint64
	ns  int64
}

func (b *batch) apply(ev *ledger.Event) error {
	b.h = HistoryEntry{}
	h := &b.h
	describe(ev, h)
	switch e := ev.Data.(type) {
	case events.AccountRegistered:
		if err := b.set(rowKey("acct", e.Account), AccountRow{Account: e.Account, Name: e.Name, Email: e.Email}); err != nil {
			return err
		}
		b.sb.Set(rowKey("email", emailKey(e.Email), e.Account), nil)
	case events.ContactAdded:
		if err := b.set(rowKey("contact", e.Account, e.Contact), Contact{Account: e.Contact, Name: e.Name, Email: e.Email}); err != nil {
			return err
		}
	case events.ContactDeleted:
		b.sb.Delete(rowKey("contact", e.Account, e.Contact))
	case events.LockRegistered:
		b.locks[e.Lock] = &LockRow{Lock: e.Lock, Owner: e.Owner, Name: e.Name, Zone: e.Zone, Slots: e.Slots, Doors: e.Doors}
		b.sb.Set(rowKey("ml", e.Owner, e.Lock), nil)
		for s := 1; s <= e.Slots; s++ {
			if err := b.set(rowKey("slot", e.Lock, u32(uint32(s))), SlotRow{}); err != nil {
				return err
			}
		}
	case events.LockBlackoutsSet:
		l, err := b.lock(e.Lock)
		if err != nil || l == nil {
			return err
		}
		l.Blackouts = e.Blackouts
	case events.PassageSet:
		l, err := b.lock(e.Lock)
		if err != nil || l == nil {
			return err
		}
		l.PassageDoors, l.Passage, l.PassageNarrowed = e.Doors, e.Periods, e.Narrowed
	case events.LockManagerAdded, events.LockManagerRemoved:
		if err := b.manager(ev.Data); err != nil {
			return err
		}
	case events.SlotAssigned:
		return b.set(rowKey("slot", e.Lock, u32(uint32(e.Slot))), SlotRow{Key: e.Key, Generation: e.Generation})
	case events.SlotReleased:
		return b.set(rowKey("slot", e.Lock, u32(uint32(e.Slot))), SlotRow{Generation: e.Generation})
	case events.PINClaimed, events.PINReleased, events.CardClaimed, events.CardReleased:
		return nil // no read model; never in history (hashes are not for display)
	case events.KeyCreated:
		r := &KeyRow{Key: e.Key, Lock: e.Lock, Owner: e.Owner, CreatedBy: e.By, Kind: e.Kind, Credential: e.Credential,
			Settings: e.Settings, State: events.StateCreated, Slot: e.Slot, Generation: e.Generation,
			Created: ev.Time, Updated: ev.Time, SettingsAt: ev.Position}
		if l, err := b.lock(e.Lock); err != nil {
			return err
		} else if l != nil {
			r.LockName, r.Zone = l.Name, l.Zone
		}
		if e.Holder != "" {
			r.State, r.Method, r.Recipient = events.StateSharing, events.ShareToID, e.Holder
			b.sb.Set(rowKey("hk", e.Holder, e.Key), nil)
		}
		b.keys[e.Key], b.full[e.Key] = r, true
		b.last.row = nil // it may have been the row of an earlier key of that ID
		b.sb.Set(rowKey("lk", e.Lock, e.Key), nil)
		if e.Kind != events.KindDigital { // digital keys are listed per lock (DigitalKeys)
			b.sb.Set(rowKey("ok", e.Owner, e.Key), nil)
		}
	case events.KeyShared:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) {
			r.State, r.Method, r.Recipient = events.StateSharing, e.Method, e.Account
			if e.Account != "" {
				b.sb.Set(rowKey("hk", e.Account, e.Key), nil)
			}
		})
	case events.KeyDownloaded:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) {
			r.State, r.Holder, r.Downloaded = events.StateDownloaded, e.Holder, true
			b.sb.Set(rowKey("hk", e.Holder, e.Key), nil)
		})
	case events.KeyEdited:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.Settings, r.SettingsAt = e.Settings, ev.Position })
	case events.KeyRevoked:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.State = events.StateRevoked })
	case events.KeySuspended:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.Suspended = true })
	case events.KeyResumed:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.Suspended = false })
	case events.LockReset:
		return b.history(h) // each key it ended has its own KeyRevoked
	case events.KeyReset:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.State = events.StateReset })
	case events.DeactivationRequested:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.State = events.StateDeactivationPending })
	case events.DeactivationConfirmed:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) { r.State = events.StateDeactivated })
	case events.LockSynced:
		_, err := b.keyUpdate(ev, e.Key, func(*KeyRow) {})
		return err // bookkeeping, not history: the lock's records are
	case events.SuspensionSynced:
		_, err := b.keyUpdate(ev, e.Key, func(*KeyRow) {})
		return err // as LockSynced
	case events.KeyDeleted:
		return b.keyChange(ev, e.Key, h, func(r *KeyRow) {
			r.State = events.StateDeleted
			b.sb.Delete(rowKey("lk", r.Lock, r.Key))
			b.sb.Delete(rowKey("ok", r.Owner, r.Key))
			for _, a := range append([]string{r.Recipient, r.Holder}, r.Members...) {
				if a != "" {
					b.sb.Delete(rowKey("hk", a, r.Key))
				}
			}
		})
	case events.UnlockAttempted:
		r, err := b.key(e.Key)
		if err != nil {
			return err
		}
		if r != nil {
			r.Uses = e.Uses // the status row alone records it
			if e.Granted {
				b.used(r, ev.Time, ev.Position)
			}
		}
		return b.history(h)
	case events.NotificationQueued:
		n := Notification{ID: ev.ID, Position: ev.Position, Time: ev.Time, NotificationQueued: e}
		b.sb.Set(rowKey("obi", string(ev.ID[:])), []byte(u64(ev.Position)))
		b.obi[ev.ID] = ev.Position
		return b.set(rowKey("ob", u64(ev.Position)), n)
	case events.NotificationAcked:
		k := rowKey("obi", string(e.Notification[:]))
		if pos, ok := b.obi[e.Notification]; ok {
			delete(b.obi, e.Notification)
			b.sb.Delete(rowKey("ob", u64(pos)))
			b.sb.Delete(k)
			return nil
		}
		v, err := b.p.store.GetState(b.ctx, k)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil // acked twice, or an unknown ID
		}
		if err != nil {
			return err
		}
		b.sb.Delete(rowKey("ob", string(v)))
		b.sb.Delete(k)
		return nil
	default:
		// Group and lock audit events have their own files; anything else
		// is not the projections' (another package's or a newer type).
		if ok, err := applyGroup(b, ev); ok || err != nil {
			return err
		}
		if ok, err := applyKeypad(b, ev); ok || err != nil {
			return err
		}
		if ok, err := applyOfflineCodes(b, ev); ok || err != nil {
			return err
		}
		_, err := applyAudit(b, ev)
		return err
	}
	return b.history(h)
}

// manager applies an account manager's arrival or departure to the lock's
// row and the account's index of the locks it manages.
func (b *batch) manager(ev any) error {
	var lock, account string
	add := false
	switch e := ev.(type) {
	case events.LockManagerAdded:
		lock, account, add = e.Lock, e.Account, true
	case events.LockManagerRemoved:
		lock, account = e.Lock, e.Account
	}
	l, err := b.lock(lock)
	if err != nil || l == nil {
		return err
	}
	l.Managers = slices.DeleteFunc(slices.Clone(l.Managers), func(a string) bool { return a == account })
	if add {
		i, _ := slices.BinarySearch(l.Managers, account)
		l.Managers = slices.Insert(l.Managers, i, account)
		b.sb.Set(rowKey("ml", account, lock), nil)
	} else {
		b.sb.Delete(rowKey("ml", account, lock))
	}
	if len(l.Managers) == 0 {
		l.Managers = nil
	}
	return nil
}

// emailKey is the form of an e-mail address its index is keyed by: lower
// case, so a search finds it however it was capitalised.
func emailKey(email string) string { return strings.ToLower(email) }

// keyChange applies f to a key's row and records the history entry.
func (b *batch) keyChange(ev *ledger.Event, key string, h *HistoryEntry, f func(*KeyRow)) error {
	if _, err := b.keyUpdate(ev, key, f); err != nil {
		return err
	}
	return b.history(h)
}

// keyUpdate applies f and the event's move at the lock (events.AtLock) to
// a key's row, and keeps the index of removals the lock has not confirmed.
func (b *batch) keyUpdate(ev *ledger.Event, key string, f func(*KeyRow)) (*KeyRow, error) {
	r, err := b.key(key)
	if err != nil || r == nil {
		return r, err
	}
	was := r.AtLock.RemovalPending(r.State)
	f(r)
	r.AtLock.Apply(ev.Data)
	r.Updated = ev.Time
	b.full[key] = true
	if now := r.AtLock.RemovalPending(r.State); now != was {
		if now {
			b.sb.Set(rowKey("rm", r.Lock, r.Key), nil)
		} else {
			b.sb.Delete(rowKey("rm", r.Lock, r.Key))
		}
	}
	return r, nil
}
