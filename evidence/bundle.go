package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Bundle format identification. A decoder refuses any other name, and any
// version above the one it knows; versions are only ever added. Version 2
// adds Question; Encode writes a bundle without one as version 1, which a
// verifier of version 1 still reads.
const (
	FormatName = "keyledger/evidence"
	Version    = 2
)

// MaxBundleSize bounds what Decode reads.
const MaxBundleSize = 256 << 20

// Bundle is an evidence bundle (see the package documentation for the
// format): events of one log, each with its inclusion proof under one
// signed tree head, and consistency proofs from earlier heads.
type Bundle struct {
	Format  string     `json:"format"`
	Version int        `json:"version"`
	Head    SignedHead `json:"head"`
	// Consistency holds proofs that Head extends earlier heads, one per
	// earlier size; Verify uses the one from the head it trusts.
	Consistency []Consistency `json:"consistency,omitempty"`
	Events      []Event       `json:"events"`
	// Question, from version 2, is the question the bundle answers; its
	// positions are events of the bundle.
	Question *Question `json:"question,omitempty"`
}

// Consistency is a proof that the tree of the first FromSize events, of
// root FromRoot, extends into the bundle's head. (No time: the proof is
// about the tree, and the verifier holds the earlier head itself.)
type Consistency struct {
	FromSize uint64 `json:"from_size"`
	FromRoot Hash   `json:"from_root"`
	Proof    []Hash `json:"proof"`
}

// Event is one event's evidence.
type Event struct {
	Position uint64 `json:"position"`
	// Record is the event's canonical record bytes (base64 in JSON): what
	// the leaf hashes.
	Record  []byte  `json:"record"`
	Summary Summary `json:"summary"`
	// Data is the exporter's JSON rendering of the decoded payload, for a
	// reader. It is not covered by any hash: Verify does not check it
	// (the payload's digest in Summary is checked).
	Data json.RawMessage `json:"data,omitempty"`
	// Proof is the inclusion proof of the record under the bundle's head.
	Proof []Hash `json:"proof"`
	// ConfirmedBy lists the positions of events in this bundle that
	// confirm this one: the lock's own audit records as the ledger
	// recorded them (see the package documentation).
	ConfirmedBy []uint64 `json:"confirmed_by,omitempty"`
	// Note says, for a reader, why the event is in the bundle (a
	// confirming audit record, say). Not covered by any hash.
	Note string `json:"note,omitempty"`
}

// Encode writes b as indented JSON, with Format and Version set: version 2
// with a Question, else 1.
func (b *Bundle) Encode(w io.Writer) error {
	b.Format, b.Version = FormatName, 1
	if b.Question != nil {
		b.Version = 2
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(b)
}

// Decode reads a bundle. It checks the form only (the format name and
// version, hash lengths, proof lengths, that every position referred to
// is in the bundle once); Verify checks what the bundle claims. Any error
// is an *Error matching ErrFormat.
func Decode(r io.Reader) (*Bundle, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBundleSize+1))
	if err != nil {
		return nil, fail(ErrFormat, 0, "read: %v", err)
	}
	if len(data) > MaxBundleSize {
		return nil, fail(ErrFormat, 0, "over %d bytes", MaxBundleSize)
	}
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fail(ErrFormat, 0, "not JSON: %v", err)
	}
	if head.Format != FormatName {
		return nil, fail(ErrFormat, 0, "format %q, want %q", head.Format, FormatName)
	}
	if head.Version < 1 || head.Version > Version {
		return nil, fail(ErrFormat, 0, "version %d; this verifier reads versions 1..%d", head.Version, Version)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, fail(ErrFormat, 0, "%v", err)
	}
	if dec.More() {
		return nil, fail(ErrFormat, 0, "data after the bundle")
	}
	return &b, b.check()
}

func (b *Bundle) check() error {
	seen := make(map[uint64]bool, len(b.Events))
	for i := range b.Events {
		e := &b.Events[i]
		switch {
		case e.Position == 0:
			return fail(ErrFormat, 0, "event %d has position 0", i)
		case seen[e.Position]:
			return fail(ErrFormat, e.Position, "listed twice")
		case len(e.Proof) > maxProof:
			return fail(ErrFormat, e.Position, "inclusion proof of %d hashes", len(e.Proof))
		}
		seen[e.Position] = true
	}
	for _, e := range b.Events {
		for _, p := range e.ConfirmedBy {
			if !seen[p] || p == e.Position {
				return fail(ErrFormat, e.Position, "confirmed by position %d, which is not another event of the bundle", p)
			}
		}
	}
	if q := b.Question; q != nil {
		if b.Version < 2 {
			return fail(ErrFormat, 0, "a question in a version %d bundle (questions are version 2)", b.Version)
		}
		for i, p := range q.Positions {
			if !seen[p] {
				return fail(ErrFormat, 0, "the question cites position %d, which is not an event of the bundle", p)
			}
			if i > 0 && p <= q.Positions[i-1] {
				return fail(ErrFormat, 0, "the question's positions are not ascending and unique at %d", p)
			}
		}
	}
	for _, c := range b.Consistency {
		if len(c.Proof) > maxProof {
			return fail(ErrFormat, 0, "consistency proof from size %d of %d hashes", c.FromSize, len(c.Proof))
		}
	}
	return nil
}
