package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/asof"
	"github.com/keyledger/keyledger/evidence"
	"github.com/keyledger/keyledger/ledger"
	"github.com/keyledger/keyledger/proofs"
	"github.com/vmihailenco/msgpack/v5"
)

const evidenceHelp = `Exports events with proofs a third party checks offline, and checks them.

  keyledger evidence keygen FILE
      write a new Ed25519 log key (its seed, hex) to FILE, mode 0600, and
      print its public key: publish that, keep FILE to sign tree heads
  keyledger evidence export -key FILE (-positions P,Q,… | -stream NAME |
      -since T [-until T] | -lock ID [-door D] [-at T] |
      -account ID -since T1 [-until T2]) [-trusted BUNDLE] [-o OUT] [-write] DIR
      write an evidence bundle: the events, each with its inclusion proof
      under a tree head signed with the log key, and the lock's audit
      records that confirm them; with -lock or -account, the events an
      as-of answer cites ('keyledger access'), and the question and answer
      signed with the head
  keyledger evidence verify -key PUBHEX [-trusted BUNDLE] BUNDLE
      check a bundle without the ledger: the head's signature, every
      event's inclusion, and consistency with a bundle trusted before

Run 'keyledger evidence export -h' (or verify, keygen) for their flags.`

func runEvidence(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("name a subcommand: keygen, export or verify")
	}
	sub := map[string]command{
		"keygen": {name: "evidence keygen", args: "FILE", summary: "write a new Ed25519 log key and print its public key", help: keygenHelp, run: runKeygen},
		"export": {name: "evidence export", args: "-key FILE (-positions P,Q,… | -stream NAME | -since T [-until T] | -lock ID [-door D] [-at T] | -account ID -since T1 [-until T2]) [-trusted BUNDLE] [-o OUT] [-write] DIR",
			summary: "write an evidence bundle of events, or of an as-of answer", help: exportHelp, run: runExport},
		"verify": {name: "evidence verify", args: "-key PUBHEX [-trusted BUNDLE] BUNDLE", summary: "check an evidence bundle offline", help: evidenceVerifyHelp, run: runEvidenceVerify},
	}
	c, ok := sub[args[0]]
	if !ok {
		if _, err := parse(fs, args); errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("unknown subcommand %q: want keygen, export or verify", args[0])
	}
	return c.run(ctx, flagSet(c, stdout), args[1:], stdout, stderr)
}

const keygenHelp = `Writes a new Ed25519 log key to FILE (its 32-byte seed as hex, mode 0600;
an existing file is not overwritten) and prints the public key as hex.
The log key signs tree heads only: give the public key to whoever checks
bundles, and keep FILE where 'evidence export' runs.`

func runKeygen(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	file, err := parseOne(fs, args, "key file")
	if err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(priv.Seed())); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, hex.EncodeToString(pub))
	return nil
}

const exportHelp = `Writes an evidence bundle (JSON, format keyledger/evidence version 1) of
the events at the given positions, of one stream, or stamped in a time
range [since, until): each with its canonical record bytes, a summary, its
payload as JSON, and its inclusion proof in the Merkle tree over the log,
under a tree head signed now with the log key. An event a lock's audit
record confirms (an admin message applied, offline unlocks counted) brings
that audit record along, with its own proof. -trusted adds a proof that
the head extends the head of a bundle exported before.

-lock ID [-door D] [-at T] asks who could open the door (default main) of
the lock at instant T (default now), -account ID -since T1 [-until T2]
every door the account could open during [T1, T2) (T2 default now), as
'keyledger access' answers them; the bundle holds every event the answer
cites, and the question with the answer's lines (format version 2),
signed with the head, so 'evidence verify' refuses them altered. With
-account, -since and -until bound the question's range, not the events.

The tree is an index kept in the ledger's state (package proofs). Without
-write the part the stored index lacks is built in memory and the ledger
is left as it was; -write stores it, so later exports read only O(log n)
hashes per event.`

// exportArgs is what export's flags ask for.
type exportArgs struct {
	dir, stream, out string
	positions        []uint64
	since, until     time.Time
	key              ed25519.PrivateKey
	trusted          []evidence.Head
	write, byTime    bool
	lock, account    string // an as-of question instead of a selection
	door             access.Door
	at               time.Time
}

func parseExport(fs *flags, args []string) (*exportArgs, error) {
	keyFile := fs.String("key", "", "file holding the log key's seed (hex), as keygen writes it")
	positions := fs.String("positions", "", "comma-separated log positions to export")
	stream := fs.String("stream", "", "export every event of this stream")
	since := fs.String("since", "", "export the events stamped at or after this time (RFC 3339)")
	until := fs.String("until", "", "with -since: only those stamped before this time")
	trusted := fs.String("trusted", "", "a bundle exported before: prove this head extends its head")
	out := fs.String("o", "", "write the bundle to this file (default: standard output)")
	write := fs.Bool("write", false, "store the tree index's new part in the ledger")
	lock := fs.String("lock", "", "export the answer to who could open a door of this lock")
	door := fs.String("door", "", "with -lock: the door, main, inner or its number (default main)")
	at := fs.String("at", "", "with -lock: the instant, RFC 3339 (default now)")
	account := fs.String("account", "", "export the answer to every door this account could open in [-since, -until)")
	dir, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	a := &exportArgs{dir: dir, stream: *stream, out: *out, write: *write, byTime: *since != "" && *account == "" && *lock == "",
		lock: *lock, account: *account}
	if *keyFile == "" {
		return nil, usageErr("-key is required: the log key that signs the head")
	}
	n := 0
	for _, s := range []string{*positions, *stream, *lock, *account} {
		if s != "" {
			n++
		}
	}
	if a.byTime {
		n++
	}
	if n != 1 {
		return nil, usageErr("name exactly one of -positions, -stream, -since, -lock, -account (got %d)", n)
	}
	switch {
	case (*door != "" || *at != "") && *lock == "":
		return nil, usageErr("-door and -at go with -lock")
	case *lock != "" && (*since != "" || *until != ""):
		return nil, usageErr("-since and -until go with -account, not -lock")
	case *account != "" && *since == "":
		return nil, usageErr("-account needs -since")
	case *until != "" && *since == "":
		return nil, usageErr("-until needs -since")
	}
	if *lock != "" {
		if a.door, err = doorFlag(cmp.Or(*door, "main")); err != nil {
			return nil, err
		}
		if a.at, err = instantFlag("-at", *at); err != nil {
			return nil, err
		}
	}
	if a.since, err = parseTime("-since", *since); err != nil {
		return nil, err
	}
	if *account != "" {
		a.until, err = instantFlag("-until", *until)
	} else {
		a.until, err = parseTime("-until", *until)
	}
	if err != nil {
		return nil, err
	}
	if a.positions, err = parsePositions(*positions); err != nil {
		return nil, err
	}
	if a.key, err = readKey(*keyFile); err != nil {
		return nil, err
	}
	if *trusted != "" {
		h, err := readHead(*trusted)
		if err != nil {
			return nil, err
		}
		a.trusted = append(a.trusted, h.Head)
	}
	return a, nil
}

func runExport(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	a, err := parseExport(fs, args)
	if err != nil {
		return err
	}
	reg := rawRegistry()
	if a.lock != "" || a.account != "" {
		if reg, err = newRegistry(); err != nil { // the as-of index decodes events
			return err
		}
	}
	l, err := open(a.dir, reg, !a.write)
	if err != nil {
		return err
	}
	defer l.Close()
	var store proofs.Store = l
	if !a.write {
		store = &overlay{Backend: l, rows: map[string][]byte{}, cps: map[string]uint64{}}
	}
	tr := proofs.New(store, nil)
	if _, err := tr.Update(ctx); err != nil {
		return err
	}
	pos := a.positions
	var q *evidence.Question
	switch {
	case a.stream != "":
		pos, err = proofs.StreamPositions(ctx, l, a.stream)
	case a.byTime:
		pos, err = proofs.TimePositions(ctx, l, a.since, a.until)
	case a.lock != "" || a.account != "":
		q, err = askAsOf(ctx, l, a)
		if q != nil && len(q.Positions) == 0 {
			return fmt.Errorf("%s: the answer cites no event: nothing to export", q.Ask)
		}
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 && q == nil {
		return errors.New("no event matches: nothing to export")
	}
	b, err := proofs.Export(ctx, tr, proofs.Request{
		Positions: pos, Key: a.key, Since: a.trusted, Question: q,
		Render:  func(ev ledger.Event) (json.RawMessage, error) { return json.Marshal(toJSON(ev).Data) },
		Confirm: func(ctx context.Context, ev ledger.Event) ([]uint64, error) { return auditConfirmations(ctx, l, ev) },
	})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		return err
	}
	if a.out == "" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(a.out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d events under the head of size %d, root %s\n", a.out, len(b.Events), b.Head.Size, b.Head.Root)
	return nil
}

// askAsOf answers export's question from the as-of index, as 'keyledger
// access' does: the question in words, the answer's table (times in UTC)
// as its lines, and the positions the answer cites.
func askAsOf(ctx context.Context, l ledger.Backend, a *exportArgs) (*evidence.Question, error) {
	x, err := asof.Open(l)
	if err != nil {
		return nil, err
	}
	defer x.Close()
	var (
		q   evidence.Question
		buf bytes.Buffer
	)
	if a.lock != "" {
		q.Ask = fmt.Sprintf("who could open the %s door of lock %s at %s", a.door, a.lock, rfc3339(a.at))
		ans, err := x.WhoCouldOpen(ctx, a.lock, a.door, a.at)
		if err != nil {
			return nil, accessErr(err)
		}
		if err := printOpenings(&buf, ans, false, time.UTC); err != nil {
			return nil, err
		}
		q.Positions = ans.Positions
	} else {
		q.Ask = fmt.Sprintf("which doors could account %s open from %s until %s", a.account, rfc3339(a.since), rfc3339(a.until))
		ans, err := x.CouldOpen(ctx, a.account, a.since, a.until)
		if err != nil {
			return nil, accessErr(err)
		}
		if err := printSpans(&buf, ans, false, time.UTC); err != nil {
			return nil, err
		}
		q.Positions = ans.Positions
	}
	for line := range strings.Lines(buf.String()) {
		q.Answer = append(q.Answer, strings.TrimRight(line, " \n"))
	}
	return &q, nil
}

// auditConfirmations finds the audit record an event cites: an event whose
// payload names a Lock and an AuditSeq (an admin message the lock applied,
// offline unlocks it counted: the last record counted) is confirmed by the
// lock's record of that sequence number in its audit stream.
func auditConfirmations(ctx context.Context, log ledger.Log, ev ledger.Event) ([]uint64, error) {
	var p struct {
		Lock     string
		AuditSeq uint32
	}
	if msgpack.Unmarshal(ev.Raw, &p) != nil || p.Lock == "" || p.AuditSeq == 0 {
		return nil, nil
	}
	for r, err := range log.ReadStream(ctx, evidence.AuditStreamPrefix+p.Lock, 1) {
		if err != nil {
			return nil, err
		}
		var rec struct{ Seq uint32 }
		if r.Type == evidence.AuditRecordType && msgpack.Unmarshal(r.Raw, &rec) == nil && rec.Seq == p.AuditSeq {
			return []uint64{r.Position}, nil
		}
	}
	return nil, nil
}

const evidenceVerifyHelp = `Checks an evidence bundle offline, without the ledger: the head's
signature under the log key given with -key (never the key the bundle
names), every event's record against its summary and its inclusion proof
under the head, each event's data against its record's payload, and with
-trusted that the head is or extends the head of a bundle checked before.
A bundle of an as-of answer (export -lock or -account) also holds the
question and the answer's lines, signed with the head: an altered question,
answer or citation is refused. Prints the head, the question and answer if
any, and one line per event; exits 1 naming the first thing that fails.`

func runEvidenceVerify(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error {
	pubHex := fs.String("key", "", "the log's public key (64 hex digits), from its operator")
	trusted := fs.String("trusted", "", "a bundle (or head) trusted before: the head must extend it")
	file, err := parseOne(fs, args, "bundle file")
	if err != nil {
		return err
	}
	pub, err := hex.DecodeString(strings.TrimSpace(*pubHex))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return usageErr("-key %q: want the log's Ed25519 public key as 64 hex digits", *pubHex)
	}
	opts := evidence.Options{Key: ed25519.PublicKey(pub)}
	if *trusted != "" {
		h, err := readHead(*trusted)
		if err != nil {
			return err
		}
		opts.Trusted = &h
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := evidence.Decode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	rep, err := evidence.Verify(b, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := checkData(b); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	fmt.Fprintf(stdout, "ok: %d events included in the log of size %d, root %s, signed %s\n",
		rep.Events, rep.Head.Size, rep.Head.Root, rep.Head.Time.UTC().Format(time.RFC3339))
	if rep.ExtendsTrusted {
		fmt.Fprintf(stdout, "the head extends the trusted head of size %d\n", opts.Trusted.Size)
	}
	if q := b.Question; q != nil {
		fmt.Fprintf(stdout, "question (signed with the head, citing %s): %s\n", positions(q.Positions), q.Ask)
		for _, line := range q.Answer {
			fmt.Fprintln(stdout, "  "+line)
		}
	}
	for _, e := range b.Events {
		s := e.Summary
		line := fmt.Sprintf("%d %s %s v%d %s", s.Position, s.Time, s.Stream, s.Version, s.Type)
		if len(e.ConfirmedBy) > 0 {
			line += fmt.Sprintf(" (confirmed by %v)", e.ConfirmedBy)
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// errData means a bundle's rendering of a payload is not the payload's.
var errData = errors.New("evidence: data does not render the record's payload")

// checkData checks each event's data (which no hash covers, and which the
// standalone verifier cannot decode) against its record's msgpack payload,
// rendered as export renders it.
func checkData(b *evidence.Bundle) error {
	for _, e := range b.Events {
		if e.Data == nil {
			continue
		}
		r, err := evidence.ParseRecord(e.Record)
		if err != nil {
			return err
		}
		want, err := json.Marshal(toJSON(ledger.Event{Raw: r.Payload}).Data)
		if err != nil {
			return err
		}
		var x, y any
		if json.Unmarshal(e.Data, &x) != nil || json.Unmarshal(want, &y) != nil || !reflect.DeepEqual(x, y) {
			return fmt.Errorf("%w: event at position %d", errData, e.Position)
		}
	}
	return nil
}

// parseOne parses flags and returns the one file argument.
func parseOne(fs *flags, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
			return "", err
		}
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return "", usageErr("want one %s, got %d arguments %q (flags go first)", what, fs.NArg(), fs.Args())
	}
	return fs.Arg(0), nil
}

func parsePositions(s string) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || p == 0 {
			return nil, usageErr("-positions: %q is not a log position (1, 2, …)", f)
		}
		out = append(out, p)
	}
	return out, nil
}

func readKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key file %s: want an Ed25519 seed as 64 hex digits (keygen writes one)", file)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// readHead reads the signed head of a bundle file, or a file holding a
// signed head alone.
func readHead(file string) (evidence.SignedHead, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return evidence.SignedHead{}, err
	}
	if b, err := evidence.Decode(bytes.NewReader(data)); err == nil {
		return b.Head, nil
	}
	var h evidence.SignedHead
	if err := json.Unmarshal(data, &h); err != nil || h.Size == 0 || len(h.Signature) == 0 {
		return evidence.SignedHead{}, fmt.Errorf("%s: neither an evidence bundle nor a signed tree head", file)
	}
	return h, nil
}

// overlay is a ledger whose state writes stay in memory: export builds the
// part of the tree index the ledger lacks without writing to it.
type overlay struct {
	ledger.Backend
	rows map[string][]byte
	cps  map[string]uint64
}

func (o *overlay) GetState(ctx context.Context, key []byte) ([]byte, error) {
	if v, ok := o.rows[string(key)]; ok {
		return v, nil
	}
	return o.Backend.GetState(ctx, key)
}

func (o *overlay) Checkpoint(ctx context.Context, name string) (uint64, error) {
	if p, ok := o.cps[name]; ok {
		return p, nil
	}
	return o.Backend.Checkpoint(ctx, name)
}

func (o *overlay) ApplyState(ctx context.Context, b *ledger.StateBatch) error {
	for op := range b.Ops() {
		switch op.Kind {
		case ledger.OpSet:
			o.rows[string(op.Key)] = bytes.Clone(op.Value) // the batch reuses its buffer after Reset
		case ledger.OpSetCheckpoint:
			o.cps[op.Name] = op.Position
		default:
			return fmt.Errorf("state operation %v: not supported in memory", op.Kind)
		}
	}
	return nil
}
