package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledger"
	"github.com/vmihailenco/msgpack/v5"
)

// Offline codes in the read models. Each fact is its own row, written
// once by its event, so applying needs no read:
//
//	p/oc/<lock>/<code>   -> events.OfflineCodeIssued
//	p/ocu/<lock>/<code>  -> events.OfflineCodeUsed (first use)
//	p/ocr/<lock>/<code>  -> events.OfflineCodeRevoked
//	p/oca/<lock>/<code>  -> events.OfflineCodeRevocationApplied
//	p/ocid/<code>        -> the lock (history by key finds the code)
//
// A code's ID is its key in history: issue and revocation are history
// entries of the lock and the code, and every use the lock's audit shows
// is the code's (commands attributes it by its sequence number).

// applyOfflineCodes applies an offline-code event; it reports false for
// other events.
func applyOfflineCodes(b *batch, ev *ledger.Event) (bool, error) {
	switch e := ev.Data.(type) {
	case events.OfflineCodesEnabled:
	case events.OfflineCodeIssued:
		b.sb.Set(rowKey("ocid", e.Code), []byte(e.Lock))
		if err := b.set(rowKey("oc", e.Lock, e.Code), e); err != nil {
			return true, err
		}
	case events.OfflineCodeRevoked:
		if e.Code == "" { // every code of the lock (a reset of every key): each live one has its own
			break
		}
		if err := b.set(rowKey("ocr", e.Lock, e.Code), e); err != nil {
			return true, err
		}
	case events.OfflineCodeUsed:
		return true, b.set(rowKey("ocu", e.Lock, e.Code), e)
	case events.OfflineCodeRevocationApplied:
		return true, b.set(rowKey("oca", e.Lock, e.Code), e)
	default:
		return false, nil
	}
	h := &HistoryEntry{}
	describeOfflineCode(ev, h)
	return true, b.history(h)
}

func describeOfflineCode(ev *ledger.Event, h *HistoryEntry) bool {
	h.Position, h.Time, h.Type = ev.Position, ev.Time, ev.Type
	switch e := ev.Data.(type) {
	case events.OfflineCodesEnabled:
		h.Lock, h.Account = e.Lock, e.By
	case events.OfflineCodeIssued:
		h.Lock, h.Key, h.Account, h.Subject = e.Lock, e.Code, e.By, e.Name
	case events.OfflineCodeRevoked:
		h.Lock, h.Key, h.Account = e.Lock, e.Code, e.By
	default:
		return false
	}
	return true
}

// OfflineCodeView is an offline code as the lists show it.
type OfflineCodeView struct {
	events.OfflineCodeIssued
	Used      bool
	UsedAt    time.Time // the lock's time of the first use (zero: it did not know it)
	Revoked   bool
	RevokedBy string
	// Pending: revoked, and the lock's audit has not shown it applied the
	// revocation yet; until PendingUntil (the code's end) it may still open.
	Pending      bool
	PendingUntil time.Time
}

// Status is what the lists show: "issued", "used", "revoked" or
// "revoked, pending at the lock until <end>".
func (v *OfflineCodeView) Status() string {
	switch {
	case v.Pending:
		return "revoked, pending at the lock until " + v.PendingUntil.UTC().Format("2006-01-02 15:04 MST")
	case v.Revoked:
		return "revoked"
	case v.Used:
		return "used"
	}
	return "issued"
}

// OfflineCodes lists a lock's offline codes in issue order (by validity
// start, then ID). A lock with none gives an empty list.
func (p *Projections) OfflineCodes(ctx context.Context, lock string) ([]OfflineCodeView, error) {
	if err := p.lockExists(ctx, lock); err != nil {
		return nil, err
	}
	var out []OfflineCodeView
	at := map[string]int{}
	err := scanCodes(ctx, p, "oc", lock, func(code string, v []byte) error {
		var e events.OfflineCodeIssued
		if err := msgpack.Unmarshal(v, &e); err != nil {
			return err
		}
		at[code] = len(out)
		out = append(out, OfflineCodeView{OfflineCodeIssued: e})
		return nil
	})
	for _, part := range []struct {
		kind string
		set  func(v *OfflineCodeView, b []byte) error
	}{
		{"ocu", func(v *OfflineCodeView, b []byte) error {
			var e events.OfflineCodeUsed
			v.Used = true
			err := msgpack.Unmarshal(b, &e)
			v.UsedAt = e.LockTime
			return err
		}},
		{"ocr", func(v *OfflineCodeView, b []byte) error {
			var e events.OfflineCodeRevoked
			v.Revoked, v.Pending = true, true
			err := msgpack.Unmarshal(b, &e)
			v.RevokedBy, v.PendingUntil = e.By, v.To
			return err
		}},
		{"oca", func(v *OfflineCodeView, b []byte) error { v.Pending = false; return nil }},
	} {
		if err != nil {
			break
		}
		err = scanCodes(ctx, p, part.kind, lock, func(code string, b []byte) error {
			i, ok := at[code]
			if !ok {
				return fmt.Errorf("%s row of unknown code %q", part.kind, code)
			}
			return part.set(&out[i], b)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("%w: offline codes of lock %q: %v", ErrCorrupt, lock, err)
	}
	// "oca" is scanned after "ocr": a revocation applied is not pending.
	slices.SortStableFunc(out, func(a, b OfflineCodeView) int { return a.From.Compare(b.From) })
	return out, nil
}

func scanCodes(ctx context.Context, p *Projections, kind, lock string, f func(code string, v []byte) error) error {
	pre := append(rowKey(kind, lock), '/')
	for e, err := range p.store.ScanState(ctx, pre) {
		if err != nil {
			return err
		}
		if err := f(string(e.Key[len(pre):]), e.Value); err != nil {
			return err
		}
	}
	return nil
}

// isOfflineCode reports whether id is an offline code's ID.
func (p *Projections) isOfflineCode(ctx context.Context, id string) (bool, error) {
	_, err := p.store.GetState(ctx, rowKey("ocid", id))
	if errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
