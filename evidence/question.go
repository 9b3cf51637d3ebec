package evidence

import (
	"crypto/ed25519"
	"encoding/binary"
	"slices"
)

// Question is what a bundle answers (format version 2): a question asked
// of the log, the answer the exporter gave, and the log positions that
// answer cites, each an event of the bundle. The log key signs it with the
// head it was answered under, so a question or answer altered after
// export, or moved to another bundle, is refused. The signature says that
// the log's operator gave this answer from that log; it does not make the
// answer right: a verifier without the exporter's rules checks that every
// cited event is in the signed log, and a reader judges the answer from
// the events.
type Question struct {
	// Ask is the question in words, with its parameters (as -lock, -door,
	// -at or -account, -since, -until said them).
	Ask string `json:"ask"`
	// Answer is the answer, one line per opening or interval.
	Answer []string `json:"answer"`
	// Positions are the positions the answer cites, ascending, unique.
	Positions []uint64 `json:"positions"`
	// Signature is the log key's Ed25519 signature over Message.
	Signature []byte `json:"signature"`
}

// questionContext starts a question's signed message; it differs from a
// head's, so neither signature can stand for the other.
const questionContext = "keyledger/question v1\n"

// Message is the byte string a question's signature covers: the context
// line, the head's size and time (Unix nanoseconds) and root as in
// Head.Message, then Ask, the count of Answer lines and each line (every
// string as its byte length, 4 bytes big-endian, and its bytes), then the
// count of Positions and each position, 8 bytes big-endian.
func (q *Question) Message(h Head) []byte {
	n := len(questionContext) + 8 + 8 + 32 + 4 + len(q.Ask) + 4 + 4 + 8*len(q.Positions)
	for _, l := range q.Answer {
		n += 4 + len(l)
	}
	b := make([]byte, 0, n)
	b = append(b, questionContext...)
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time.UnixNano()))
	b = append(b, h.Root[:]...)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str(q.Ask)
	b = binary.BigEndian.AppendUint32(b, uint32(len(q.Answer)))
	for _, l := range q.Answer {
		str(l)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(q.Positions)))
	for _, p := range q.Positions {
		b = binary.BigEndian.AppendUint64(b, p)
	}
	return b
}

// SignQuestion returns q with its positions sorted and unique, signed with
// key under the head h (the bundle's head, signed with the same key).
func SignQuestion(q Question, h Head, key ed25519.PrivateKey) *Question {
	q.Positions = slices.Compact(slices.Sorted(slices.Values(q.Positions)))
	q.Answer = slices.Clone(q.Answer)
	q.Signature = ed25519.Sign(key, q.Message(h))
	return &q
}

// check verifies the question's signature under pub and the head h.
func (q *Question) check(pub ed25519.PublicKey, h Head) error {
	if !ed25519.Verify(pub, q.Message(h), q.Signature) {
		return fail(ErrQuestion, 0, "%q under the head of size %d", q.Ask, h.Size)
	}
	return nil
}
