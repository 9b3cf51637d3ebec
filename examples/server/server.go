package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/projections"
)

// maxBody bounds a request body; larger ones get 413.
const maxBody = 64 << 10

// Headers the API reads. X-Account stands in for the backend's
// authentication: a real backend takes the account from its session or
// token, never from the client.
const (
	headerAccount     = "X-Account"
	headerIdempotency = "Idempotency-Key" // a UUID; the command ID (retries return the first outcome; another request with it is 422)
)

// server is the HTTP API over one commands.Service and its projections.
type server struct {
	svc  *commands.Service
	proj *projections.Projections
	log  *slog.Logger
	now  func() time.Time // default instant of status queries
	mux  *http.ServeMux
	asof *asof.Index // access as of an instant (access.go); nil: those routes answer 501
}

// option configures newServer.
type option func(*server)

// withLogger sets the request logger (default slog.Default()).
func withLogger(l *slog.Logger) option { return func(s *server) { s.log = l } }

// withClock sets the default instant of status queries; use the service's
// clock (default time.Now).
func withClock(now func() time.Time) option { return func(s *server) { s.now = now } }

// newServer returns the API handler.
func newServer(svc *commands.Service, proj *projections.Projections, opts ...option) http.Handler {
	s := &server{svc: svc, proj: proj, log: slog.Default(), now: time.Now, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	routes := []struct {
		pattern string
		h       func(*http.Request) (int, any, error)
	}{
		{"POST /v1/accounts", s.registerAccount},
		{"POST /v1/locks", s.registerLock},
		{"GET /v1/locks/{lock}/keys", s.lockKeys},
		{"POST /v1/locks/{lock}/keys", s.createKey},
		{"GET /v1/locks/{lock}/history", s.lockHistory},
		{"GET /v1/locks/{lock}/slots", s.lockSlots},
		{"GET /v1/keys/{key}", s.key},
		{"PUT /v1/keys/{key}/settings", s.editKey},
		{"DELETE /v1/keys/{key}", s.keyCommand(actDelete)},
		{"POST /v1/keys/{key}/share", s.shareKey},
		{"POST /v1/keys/{key}/download", s.downloadKey},
		{"POST /v1/downloads", s.downloadKey}, // To Code: the bearer knows only the code
		{"POST /v1/keys/{key}/revoke", s.keyCommand(actRevoke)},
		{"POST /v1/keys/{key}/reset", s.keyCommand(actReset)},
		{"POST /v1/keys/{key}/deactivation", s.keyCommand(actRequestDeactivation)},
		{"POST /v1/keys/{key}/deactivation/confirm", s.keyCommand(actConfirmDeactivation)},
		{"POST /v1/keys/{key}/unlock", s.unlock},
		{"GET /v1/keys/{key}/history", s.keyHistory},
		{"GET /v1/accounts/{account}/keys", s.accountKeys},
		{"GET /v1/accounts/{account}/history", s.accountHistory},
		{"GET /v1/locks/{lock}/access", s.lockAccess},
		{"GET /v1/accounts/{account}/access", s.accountAccess},
	}
	for _, r := range routes {
		s.mux.Handle(r.pattern, s.endpoint(r.h))
	}
	return s
}

// ServeHTTP answers unknown routes and wrong methods in JSON too, and logs
// every request by its route pattern (never its body).
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The limit is set on the server's own writer, so that an oversized body
	// also closes the connection instead of being drained.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	sw := &statusWriter{ResponseWriter: w}
	h, pattern := s.mux.Handler(r)
	switch {
	case pattern != "":
		s.mux.ServeHTTP(sw, r)
	default:
		// The mux's own 404 or 405 (with its Allow header), in JSON.
		probe := &statusWriter{ResponseWriter: discard{h: http.Header{}}}
		h.ServeHTTP(probe, r)
		if allow := probe.Header().Get("Allow"); allow != "" {
			sw.Header().Set("Allow", allow)
		}
		if probe.status == http.StatusMethodNotAllowed {
			writeError(sw, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
				msg: fmt.Sprintf("method %s not allowed here (allowed: %s)", r.Method, sw.Header().Get("Allow"))})
		} else {
			writeError(sw, &apiError{status: http.StatusNotFound, code: "no_route", msg: "no such route"})
		}
		pattern = "(none)"
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method),
		slog.String("route", pattern), slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
}

// endpoint adapts a handler returning (status, body, error) to http.Handler.
func (s *server) endpoint(h func(*http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(r)
		if err != nil {
			e := classify(err)
			if e.status >= 500 {
				// Library errors name IDs and states, never a code, PIN or
				// password; the client gets no detail at all.
				s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("route", r.Pattern), slog.String("error", err.Error()))
			}
			writeError(w, e)
			return
		}
		writeJSON(w, status, body)
	})
}

// apiError is an error with its HTTP status and a stable code.
type apiError struct {
	status int
	code   string
	msg    string
	field  string
	state  string
}

func (e *apiError) Error() string { return e.msg }

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"` // the input that broke a rule
	State string `json:"state,omitempty"` // the key state that forbids the action
}

// classify maps an error to its HTTP answer with errors.Is and errors.As.
//
//	400 invalid, bad_json, invalid_query   input broke a documented rule
//	401 unauthenticated                    no X-Account
//	403 not_permitted                      not the owner / holder, wrong code
//	404 not_found                          unknown account, lock, key
//	409 forbidden_state, exists, no_free_slot, pin_taken, card_taken,
//	    still_at_lock, group_full, network_off,
//	    conflict                            the current state says no
//	413 too_large, 415 unsupported_media_type
//	422 invalid_policy                     the schedule does not validate
//	422 id_reused                          the Idempotency-Key already named
//	                                       a different request
//	503 busy (Retry-After), unavailable    retry later
//	500 internal                           anything else (logged, no detail)
func classify(err error) *apiError {
	var (
		ae *apiError
		fe *fieldError
		ve *commands.ValidationError
		pe *policy.ValidationError
		se *commands.StateError
		ie *commands.InvitationError
		nf *commands.NotFoundError
		pn *projections.NotFoundError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mb):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("request body larger than %d bytes", mb.Limit)}
	case errors.As(err, &fe):
		return &apiError{status: http.StatusBadRequest, code: "invalid", msg: fe.Error(), field: fe.field}
	case errors.Is(err, commands.ErrIDReused): // names the key and the field that differs, never a value
		return &apiError{status: http.StatusUnprocessableEntity, code: "id_reused", msg: err.Error()}
	case errors.As(err, &pe):
		field := pe.Field
		if errors.As(err, &ve) {
			field = ve.Field
		}
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid_policy", msg: err.Error(), field: field}
	case errors.As(err, &ve):
		return &apiError{status: http.StatusBadRequest, code: "invalid", msg: ve.Error(), field: ve.Field}
	case errors.Is(err, commands.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, code: "invalid", msg: err.Error()}
	case errors.Is(err, projections.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, code: "invalid_query", msg: err.Error()}
	case errors.As(err, &nf):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: nf.Error()}
	case errors.As(err, &pn):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: pn.Error()}
	case errors.Is(err, commands.ErrNotFound): // projections.ErrNotFound wraps it
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: err.Error()}
	case errors.As(err, &se):
		return &apiError{status: http.StatusConflict, code: "forbidden_state", msg: se.Error(), state: se.State.String()}
	case errors.As(err, &ie):
		return &apiError{status: http.StatusConflict, code: "forbidden_state", msg: ie.Error(), state: ie.State.String()}
	case errors.Is(err, commands.ErrNotPermitted):
		return &apiError{status: http.StatusForbidden, code: "not_permitted", msg: err.Error()}
	case errors.Is(err, commands.ErrExists):
		return &apiError{status: http.StatusConflict, code: "exists", msg: err.Error()}
	case errors.Is(err, commands.ErrNoSlot):
		return &apiError{status: http.StatusConflict, code: "no_free_slot", msg: err.Error()}
	case errors.Is(err, commands.ErrPINTaken):
		return &apiError{status: http.StatusConflict, code: "pin_taken", msg: "the PIN is already used on this lock"}
	case errors.Is(err, commands.ErrCardTaken):
		return &apiError{status: http.StatusConflict, code: "card_taken", msg: "the card is already used on this lock"}
	case errors.Is(err, commands.ErrStillAtLock): // before ErrForbidden, which it wraps too
		return &apiError{status: http.StatusConflict, code: "still_at_lock", msg: err.Error()}
	case errors.Is(err, commands.ErrGroupFull):
		return &apiError{status: http.StatusConflict, code: "group_full", msg: err.Error()}
	case errors.Is(err, commands.ErrNetworkOff):
		return &apiError{status: http.StatusConflict, code: "network_off", msg: err.Error()}
	case errors.Is(err, commands.ErrForbidden):
		return &apiError{status: http.StatusConflict, code: "forbidden_state", msg: err.Error()}
	case errors.Is(err, ledger.ErrConflict):
		return &apiError{status: http.StatusConflict, code: "conflict", msg: "concurrent change; retry"}
	case errors.Is(err, commands.ErrBusy):
		return &apiError{status: http.StatusServiceUnavailable, code: "busy", msg: "too many concurrent changes; retry"}
	case errors.Is(err, ledger.ErrClosed), errors.Is(err, ledger.ErrFailed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "service unavailable; retry"}
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal", msg: "internal error"}
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.status, errorBody{Error: e.msg, Code: e.code, Field: e.field, State: e.state})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if body != nil {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(body) // the status is sent; a failed write is the client's loss
	}
}

// optionalBody marks a request whose fields are all optional: an empty
// body is the same as {}.
type optionalBody interface{ optionalBody() }

// decode reads exactly one JSON object of at most maxBody bytes into v,
// refusing unknown fields. An empty body is an error unless v is an
// optionalBody. Its messages never quote the body.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msg: "send application/json"}
		}
	}
	dec := json.NewDecoder(r.Body) // limited to maxBody by ServeHTTP
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mb  *http.MaxBytesError
	)
	switch {
	case err == nil:
	case errors.As(err, &mb):
		return err
	case errors.Is(err, io.EOF):
		if _, ok := v.(optionalBody); ok {
			return nil
		}
		return badJSON("empty body: send a JSON object")
	case errors.As(err, &syn):
		return badJSON(fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		return badJSON(fmt.Sprintf("field %q must be %s", typ.Field, typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON("truncated JSON")
	default: // unknown field, or bytes that are not JSON at all
		return badJSON(err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return badJSON("one JSON object only")
	}
	return nil
}

func badJSON(msg string) error {
	return &apiError{status: http.StatusBadRequest, code: "bad_json", msg: msg}
}

// caller is the authenticated account (here: the X-Account header).
// command reads what every command handler needs, in this order: the
// caller, the JSON body into req (unless req is nil) and the command ID.
func command(r *http.Request, req any) (by string, id uuid.UUID, err error) {
	if by, err = caller(r); err != nil {
		return "", uuid.Nil, err
	}
	if req != nil {
		if err = decode(r, req); err != nil {
			return "", uuid.Nil, err
		}
	}
	if id, err = commandID(r); err != nil {
		return "", uuid.Nil, err
	}
	return by, id, nil
}

func caller(r *http.Request) (string, error) {
	a := r.Header.Get(headerAccount)
	if a == "" {
		return "", &apiError{status: http.StatusUnauthorized, code: "unauthenticated", msg: "missing " + headerAccount}
	}
	return a, nil
}

// commandID is the request's Idempotency-Key, or a new UUID.
func commandID(r *http.Request) (uuid.UUID, error) {
	k := r.Header.Get(headerIdempotency)
	if k == "" {
		return commands.NewID(), nil
	}
	id, err := uuid.Parse(k)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, &apiError{status: http.StatusBadRequest, code: "invalid", field: headerIdempotency, msg: headerIdempotency + " must be a UUID"}
	}
	return id, nil
}

// at is the ?at= instant of a status query (RFC 3339), default now.
func (s *server) at(r *http.Request) (time.Time, error) {
	v := r.URL.Query().Get("at")
	if v == "" {
		return s.now(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badField("at", "%q is not an RFC 3339 instant", v)
	}
	return t, nil
}

// historyQuery reads ?from=&to=&cursor=&limit=&order=: order=time (the
// default: offline records at the lock's time) or position (log order
// within each UTC day).
func historyQuery(r *http.Request) (projections.HistoryQuery, error) {
	var q projections.HistoryQuery
	v := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, badField(f.name, "%q is not an RFC 3339 instant", s)
			}
			*f.dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return q, badField("limit", "%q, want 1..1000", s)
		}
		q.Limit = n
	}
	switch o := v.Get("order"); o {
	case "", "time":
	case "position":
		q.ByPosition = true
	default:
		return q, badField("order", "%q, want time or position", o)
	}
	q.Cursor = v.Get("cursor")
	return q, nil
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discard is a ResponseWriter that keeps only headers.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
