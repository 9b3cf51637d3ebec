package main

import (
	"context"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/secret"
)

// Handlers: decode and check the request, run one command or query, answer.
// Each returns the success status and body, or an error for classify.

func (s *server) registerAccount(r *http.Request) (int, any, error) {
	var req accountRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := commandID(r)
	if err != nil {
		return 0, nil, err
	}
	err = s.svc.RegisterAccount(r.Context(), commands.RegisterAccount{ID: id, Account: req.Account, Name: req.Name, Email: req.Email})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, req, nil
}

func (s *server) registerLock(r *http.Request) (int, any, error) {
	var req lockRequest
	by, id, err := command(r, &req)
	if err != nil {
		return 0, nil, err
	}
	d, err := doors("doors", req.Doors)
	if err != nil {
		return 0, nil, err
	}
	c := commands.RegisterLock{ID: id, Lock: req.Lock, Owner: by, Name: req.Name, Zone: req.Zone, Slots: req.Slots, Doors: d}
	if err := s.svc.RegisterLock(r.Context(), c); err != nil {
		return 0, nil, err
	}
	row, err := s.proj.Lock(r.Context(), req.Lock)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, lockRequest{Lock: row.Lock, Name: row.Name, Zone: row.Zone, Slots: row.Slots, Doors: doorList(row.Doors)}, nil
}

func (s *server) createKey(r *http.Request) (int, any, error) {
	var req createKeyRequest
	by, id, err := command(r, &req)
	if err != nil {
		return 0, nil, err
	}
	c := commands.CreateKey{Key: req.Key, Lock: r.PathValue("lock"), By: by, Slot: req.Slot, For: req.For, Email: req.Email, EmailPIN: req.EmailPIN}
	if req.Kind == "" {
		return 0, nil, badField("kind", "required: share, digital or intercom")
	}
	if c.Kind, err = enum("kind", req.Kind, kinds); err != nil {
		return 0, nil, err
	}
	if c.Credential, err = enum("credential", req.Credential, credentials); err != nil {
		return 0, nil, err
	}
	if req.PIN != "" {
		c.PIN = secret.FromString(req.PIN)
	}
	if req.Card != "" {
		uid, err := hex.DecodeString(req.Card)
		if err != nil {
			return 0, nil, badField("card", "the card's identifier in hex")
		}
		c.Card = secret.New(uid)
	}
	if c.Settings, err = req.settings(); err != nil {
		return 0, nil, err
	}
	c.ID = id
	res, err := s.svc.CreateKey(r.Context(), c)
	if err != nil {
		return 0, nil, err
	}
	out := createKeyResponse{Key: res.Key, Slot: res.Slot, Generation: res.Generation}
	if !res.PIN.IsZero() {
		out.PIN = string(res.PIN.Reveal()) // to the creator, once; never logged
	}
	return http.StatusCreated, out, nil
}

// editKey changes the settings the body names; the others keep their value.
func (s *server) editKey(r *http.Request) (int, any, error) {
	var req settingsEditJSON
	by, id, err := command(r, &req)
	if err != nil {
		return 0, nil, err
	}
	p, err := req.patch()
	if err != nil {
		return 0, nil, err
	}
	key := r.PathValue("key")
	if err := s.svc.EditKey(r.Context(), commands.EditKey{ID: id, Key: key, By: by, Settings: p}); err != nil {
		return 0, nil, err
	}
	return s.keyView(r.Context(), key, s.now())
}

func (s *server) shareKey(r *http.Request) (int, any, error) {
	var req shareRequest
	by, id, err := command(r, &req)
	if err != nil {
		return 0, nil, err
	}
	if req.Method == "" {
		return 0, nil, badField("method", "required: id or code")
	}
	m, err := enum("method", req.Method, methods)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.ShareKey(r.Context(), commands.ShareKey{ID: id, Key: r.PathValue("key"), By: by, Method: m, Account: req.Account, Email: req.Email})
	if err != nil {
		return 0, nil, err
	}
	out := shareResponse{Key: res.Key, Method: req.Method, Account: res.Account}
	if !res.Code.IsZero() {
		out.Code = string(res.Code.Reveal()) // to the owner, once; never logged
	}
	return http.StatusOK, out, nil
}

// downloadKey serves POST /v1/keys/{key}/download (the holder, or a code
// bearer who knows the key) and POST /v1/downloads (the code alone).
func (s *server) downloadKey(r *http.Request) (int, any, error) {
	var req downloadRequest
	by, id, err := command(r, &req)
	if err != nil {
		return 0, nil, err
	}
	key := r.PathValue("key")
	if key == "" && req.Code == "" {
		return 0, nil, badField("code", "required when no key is named")
	}
	c := commands.DownloadKey{ID: id, Key: key, By: by}
	if req.Code != "" {
		c.Code = secret.FromString(req.Code)
	}
	res, err := s.svc.DownloadKey(r.Context(), c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, downloadResponse{Key: res.Key, Lock: res.Lock, Slot: res.Slot, Generation: res.Generation,
		Settings: settingsOut(res.Settings)}, nil
}

// Key commands without a body.
const (
	actRevoke = iota
	actReset
	actRequestDeactivation
	actConfirmDeactivation
	actDelete
)

func (s *server) keyCommand(act int) func(*http.Request) (int, any, error) {
	return func(r *http.Request) (int, any, error) {
		by, id, err := command(r, nil)
		if err != nil {
			return 0, nil, err
		}
		key := r.PathValue("key")
		c := commands.KeyCommand{ID: id, Key: key, By: by}
		switch act {
		case actRevoke:
			err = s.svc.RevokeKey(r.Context(), c)
		case actReset:
			err = s.svc.ResetKey(r.Context(), c)
		case actRequestDeactivation:
			err = s.svc.RequestDeactivation(r.Context(), c)
		case actConfirmDeactivation:
			err = s.svc.ConfirmDeactivation(r.Context(), c)
		case actDelete:
			err = s.svc.DeleteKey(r.Context(), c)
		}
		if err != nil {
			return 0, nil, err
		}
		if act == actDelete {
			return http.StatusNoContent, nil, nil
		}
		return s.keyView(r.Context(), key, s.now())
	}
}

// unlock answers 200 whether granted or not: a refusal is a recorded
// decision with its reason, not an error.
func (s *server) unlock(r *http.Request) (int, any, error) {
	var req unlockRequest
	by, id, err := command(r, &req)
	if err != nil {
		return 0, nil, err
	}
	door, err := enum("door", req.Door, unlockDoors)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.Unlock(r.Context(), commands.Unlock{ID: id, Key: r.PathValue("key"), By: by, Door: door, Source: req.Source})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, unlockResponse{Key: res.Key, Granted: res.Granted, Reason: res.Reason.Name(), Uses: res.Uses}, nil
}

// Reads. The library answers every query; who may see what is the
// backend's rule: a lock's lists and history to its owner, a key to its
// owner and holder, an account's to the account.

func (s *server) ownLock(r *http.Request) (string, error) {
	by, err := caller(r)
	if err != nil {
		return "", err
	}
	lock := r.PathValue("lock")
	// The row is read for its owner; an unknown lock is projections'
	// *NotFoundError here (404), as KeyList, Slots and History report it.
	row, err := s.proj.Lock(r.Context(), lock)
	if err != nil {
		return "", err
	}
	if row.Owner != by {
		return "", &apiError{status: http.StatusForbidden, code: "not_permitted", msg: "only the lock's owner sees its keys and history"}
	}
	return lock, nil
}

func (s *server) ownKey(r *http.Request) (projections.KeyRow, error) {
	by, err := caller(r)
	if err != nil {
		return projections.KeyRow{}, err
	}
	row, err := s.proj.Key(r.Context(), r.PathValue("key"))
	if err != nil {
		return projections.KeyRow{}, err
	}
	if by != row.Owner && by != row.Holder && by != row.Recipient {
		return projections.KeyRow{}, &apiError{status: http.StatusForbidden, code: "not_permitted", msg: "only the key's owner and holder see it"}
	}
	return row, nil
}

func (s *server) ownAccount(r *http.Request) (string, error) {
	by, err := caller(r)
	if err != nil {
		return "", err
	}
	if a := r.PathValue("account"); a != by {
		return "", &apiError{status: http.StatusForbidden, code: "not_permitted", msg: "an account sees only its own keys and history"}
	}
	return by, nil
}

func (s *server) keyView(ctx context.Context, key string, at time.Time) (int, any, error) {
	row, err := s.proj.Key(ctx, key)
	if err != nil {
		return 0, nil, err
	}
	st, err := s.proj.KeyStatus(ctx, key, at)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyOut(row, st), nil
}

func (s *server) key(r *http.Request) (int, any, error) {
	row, err := s.ownKey(r)
	if err != nil {
		return 0, nil, err
	}
	at, err := s.at(r)
	if err != nil {
		return 0, nil, err
	}
	return s.keyView(r.Context(), row.Key, at)
}

func keyList(at time.Time, views []projections.KeyView) keysResponse {
	out := keysResponse{At: at, Keys: []keyJSON{}}
	for _, v := range views {
		out.Keys = append(out.Keys, keyOut(v.KeyRow, v.Status))
	}
	return out
}

// lockKeys is the lock's key list with status.
func (s *server) lockKeys(r *http.Request) (int, any, error) {
	lock, err := s.ownLock(r)
	if err != nil {
		return 0, nil, err
	}
	at, err := s.at(r)
	if err != nil {
		return 0, nil, err
	}
	views, err := s.proj.KeyList(r.Context(), lock, at)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyList(at, views), nil
}

// lockSlots is "Share Key Management": every slot with its state.
func (s *server) lockSlots(r *http.Request) (int, any, error) {
	lock, err := s.ownLock(r)
	if err != nil {
		return 0, nil, err
	}
	slots, err := s.proj.Slots(r.Context(), lock)
	if err != nil {
		return 0, nil, err
	}
	out := slotsResponse{Slots: []slotJSON{}}
	for _, v := range slots {
		out.Slots = append(out.Slots, slotJSON{Slot: v.Slot, State: string(v.State), Generation: v.Generation, Key: v.Key})
	}
	return http.StatusOK, out, nil
}

// accountKeys is "my keys" (?role=holder, the default) or the keys the
// account made across its locks (?role=owner, "Share key list").
func (s *server) accountKeys(r *http.Request) (int, any, error) {
	account, err := s.ownAccount(r)
	if err != nil {
		return 0, nil, err
	}
	at, err := s.at(r)
	if err != nil {
		return 0, nil, err
	}
	list := s.proj.HolderKeys
	switch role := r.URL.Query().Get("role"); role {
	case "", "holder":
	case "owner":
		list = s.proj.ShareKeyList
	default:
		return 0, nil, badField("role", "%q, want holder or owner", role)
	}
	views, err := list(r.Context(), account, at)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyList(at, views), nil
}

func (s *server) history(r *http.Request, set func(*projections.HistoryQuery)) (int, any, error) {
	q, err := historyQuery(r)
	if err != nil {
		return 0, nil, err
	}
	set(&q)
	page, err := s.proj.History(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, historyOut(page), nil
}

func (s *server) lockHistory(r *http.Request) (int, any, error) {
	lock, err := s.ownLock(r)
	if err != nil {
		return 0, nil, err
	}
	return s.history(r, func(q *projections.HistoryQuery) { q.Lock = lock })
}

func (s *server) keyHistory(r *http.Request) (int, any, error) {
	row, err := s.ownKey(r)
	if err != nil {
		return 0, nil, err
	}
	return s.history(r, func(q *projections.HistoryQuery) { q.Key = row.Key })
}

func (s *server) accountHistory(r *http.Request) (int, any, error) {
	account, err := s.ownAccount(r)
	if err != nil {
		return 0, nil, err
	}
	return s.history(r, func(q *projections.HistoryQuery) { q.Account = account })
}
