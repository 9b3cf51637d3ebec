package lockproto

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

type golden struct {
	name string
	b    []byte
}

// goldenFrames builds one of every frame from fixed keys, nonces and times.
func goldenFrames(t *testing.T) []golden {
	w := newWorld(t)
	w.syncTime(3600)
	var out []golden
	add := func(name string, b []byte) { out = append(out, golden{name, bytes.Clone(b)}) }

	min := baseCredential(w.key)
	rawMin, err := w.issuer.IssueCredential(min)
	w.must(err)
	add("credential-no-windows", rawMin)

	c := baseCredential(w.key)
	c.ID = CredentialID{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}
	c.Doors, c.Role, c.Generation = 0b11, RoleAdmin, 7
	c.Policy.UseLimit = 5
	c.Policy.NumWindows = 4
	c.Policy.Windows = [4]policy.CompactWindow{
		{Days: 0b0111110, From: 8 * 60, To: 18 * 60},
		{Days: 0b1000001, From: 10 * 60, To: 14 * 60},
		{Days: 0b0100000, From: 22 * 60, To: 2 * 60},
		{Days: 0b1111111, From: 0, To: 1440},
	}
	h, raw := w.holder(c)
	add("credential-four-windows", raw)

	chb, err := w.lock.Challenge()
	w.must(err)
	add("challenge", chb)
	ch, _ := DecodeChallenge(chb)
	req, err := h.Unlock(ch, 1)
	w.must(err)
	add("unlock", req)
	d := w.lock.HandleUnlock(req)
	add("unlock-response-granted", d.Response)
	ch2b, _ := w.lock.Challenge()
	ch2, _ := DecodeChallenge(ch2b)
	req2, err := h.UnlockCached(ch2, 0)
	w.must(err)
	add("unlock-cached", req2)
	add("unlock-response-cached", w.lock.HandleUnlock(req2).Response)
	add("unlock-response-unauthenticated", w.lock.HandleUnlock(req2).Response) // nonce used

	m, _ := w.issuer.ResetSlot(testLock, 2, 3, 8)
	add("reset-slot", m)
	m, _ = w.issuer.DeactivateSlot(testLock, 3, 4, 2)
	add("deactivate-slot", m)
	m, _ = w.issuer.RevokeCredential(testLock, 4, c)
	add("revoke", m)
	m, _ = w.issuer.TimeSync(testLock, ch2.Nonce, t0.Add(time.Minute))
	add("time-sync", m)
	z := ZoneRules{ValidUntil: uint32(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), N: 3}
	z.Transitions[0] = ZoneTransition{From: uint32(time.Date(2025, 10, 26, 1, 0, 0, 0, time.UTC).Unix()), Offset: 3600}
	z.Transitions[1] = ZoneTransition{From: uint32(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).Unix()), Offset: 7200}
	z.Transitions[2] = ZoneTransition{From: uint32(time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).Unix()), Offset: 3600}
	m, _ = w.issuer.TimeZone(testLock, 5, z)
	add("time-zone", m)
	add("audit-batch", w.lock.DrainAudit())
	dl, err := AppendDownload(nil, &Download{LockKey: w.lock.PublicKey(), Credential: rawMin, Admin: [][]byte{out[9].b}})
	w.must(err)
	add("download", dl)
	frags, _ := Fragment(req2, FragmentMTU)
	for i, f := range frags {
		add(fmt.Sprintf("unlock-cached-fragment-%d", i), f)
	}

	// Frames of protocol version 2: key rotation, audit acknowledgement,
	// an admin's action, a credential under another issuer key.
	nextSigner, err := NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)))
	w.must(err)
	next, err := NewIssuerKey(nextSigner, 1)
	w.must(err)
	m, _ = w.issuer.RotateKey(testLock, 6, next, t0.Add(30*24*time.Hour))
	add("rotate-key", m)
	recs, cur, err := VerifyAudit(w.pairing.AuditKey, testLock, AuditCursor{}, out[13].b)
	w.must(err)
	if len(recs) == 0 {
		t.Fatal("no audit records in the golden batch")
	}
	ack := NewAuditAck(w.pairing.AuditKey, testLock, cur)
	add("audit-ack", AppendAuditAck(nil, &ack))
	ch3b, _ := w.lock.Challenge()
	ch3, _ := DecodeChallenge(ch3b)
	req3, err := h.Request(ch3, 1, ActionHoldOpen, true)
	w.must(err)
	add("unlock-cached-hold-open", req3)
	rawNext, err := next.IssueCredential(min)
	w.must(err)
	add("credential-key-1", rawNext)

	// PINs, cards and remote opens.
	pin := w.pinEntry(1, "482915")
	pin.Policy.UseLimit, pin.Policy.NumWindows = 3, 1
	pin.Policy.Windows[0] = policy.CompactWindow{Days: 0b0111110, From: 7 * 60, To: 19 * 60}
	m, _ = w.issuer.SetPIN(testLock, 7, pin)
	add("set-pin", m)
	w.must(w.lock.HandleAdmin(m))
	m, _ = w.issuer.ClearPIN(testLock, 8, CredentialID{0xC0, 2}, 4)
	add("clear-pin", m)
	uid, _ := CardDigest(w.pairing.AuditKey, testLock, testUID)
	card := CodeEntry{ID: CredentialID{0xCA, 1}, Generation: 2, Doors: 0b10, Length: uint8(len(testUID)), Mode: CardUID, Digest: uid}
	m, _ = w.issuer.SetCard(testLock, 9, card)
	add("set-card", m)
	w.must(w.lock.HandleAdmin(m))
	m, _ = w.issuer.ClearCard(testLock, 10, CredentialID{0xCA, 2}, 1)
	add("clear-card", m)
	ch4b, _ := w.lock.Challenge()
	ch4, _ := DecodeChallenge(ch4b)
	ro, err := w.issuer.RemoteOpen(RemoteOpen{Lock: testLock, Nonce: ch4.Nonce, Key: CredentialID{0xD0, 1}, Slot: NoSlot, Door: 1,
		Doors: 0b11, NotAfter: uint32(w.serverT.Add(time.Minute).Unix()), Relay: RelayIntercom}, w.serverT)
	w.must(err)
	add("remote-open", ro)
	w.lock.EnterCode(0, []byte("482915"))
	w.lock.PresentCard(1, testUID)
	w.lock.HandleRemoteOpen(ro)
	add("audit-batch-codes", w.lock.AuditFrom(w.lock.State().AuditSeq-2))

	// Dated periods (byte 43 bits 4-5): the largest credential and a
	// set-PIN frame with two periods, signed only (the lock is not changed).
	cp := c
	cp.ID = CredentialID{0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8}
	cp.Policy.NumPeriods = 3
	for i := range 3 {
		s := uint32(t0.Add(time.Duration(i) * 7 * 24 * time.Hour).Unix())
		cp.Policy.Periods[i] = policy.CompactPeriod{From: s, To: s + 2*24*3600}
	}
	rawPeriods, err := w.issuer.IssueCredential(cp)
	w.must(err)
	add("credential-periods", rawPeriods)
	pinP := w.pinEntry(2, "739164")
	pinP.Policy.NumPeriods = 2
	pinP.Policy.Periods[0] = policy.CompactPeriod{From: uint32(t0.Unix()), To: uint32(t0.Add(24 * time.Hour).Unix())}
	pinP.Policy.Periods[1] = policy.CompactPeriod{From: uint32(t0.Add(72 * time.Hour).Unix()), To: uint32(t0.Add(96 * time.Hour).Unix())}
	m, err = w.issuer.SetPIN(testLock, 11, pinP)
	w.must(err)
	add("set-pin-periods", m)
	// Suspending a key and resetting every key of the lock.
	m, _ = w.issuer.Suspend(testLock, 11, CredentialID{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}, 3, true)
	add("suspend", m)
	var gens [MaxSlots]uint32
	gens[0], gens[3], gens[MaxSlots-1] = 2, 9, 1
	m, _ = w.issuer.ResetAll(testLock, 12, 1, gens, uint32(t0.Add(7*24*time.Hour).Unix()))
	add("reset-all", m)
	return out
}

// fuzzSeeds names the golden frames each fuzz target's corpus in
// testdata/fuzz starts from (each whole and cut in half); -update rewrites them.
var fuzzSeeds = map[string][]string{
	"FuzzDecodeAdmin":        {"revoke", "time-zone", "rotate-key", "set-pin", "clear-pin", "set-card", "set-pin-periods"},
	"FuzzDecodeRemoteOpen":   {"remote-open"},
	"FuzzLockHandleRemote":   {"remote-open"},
	"FuzzDecodeAuditBatch":   {"audit-batch"},
	"FuzzDecodeAuditAck":     {"audit-ack"},
	"FuzzDecodeChallenge":    {"challenge"},
	"FuzzDecodeCredential":   {"credential-four-windows", "credential-key-1", "credential-periods"},
	"FuzzDecodeDownload":     {"download"},
	"FuzzDecodeResponse":     {"unlock-response-granted"},
	"FuzzDecodeUnlock":       {"unlock", "unlock-cached", "unlock-cached-hold-open"},
	"FuzzLockHandleAdmin":    {"reset-slot", "rotate-key"},
	"FuzzLockHandleAuditAck": {"audit-ack"},
	"FuzzLockHandleUnlock":   {"unlock"},
	"FuzzSuspendAndResetAll": {"suspend", "reset-all"},
}

// corpusEntry is a fuzz corpus file holding b, every byte escaped.
func corpusEntry(b []byte) []byte {
	out := []byte("go test fuzz v1\n[]byte(\"")
	for _, c := range b {
		out = fmt.Appendf(out, "\\x%02x", c)
	}
	return append(out, "\")\n"...)
}

func writeFuzzCorpus(t *testing.T, frames map[string][]byte) {
	for target, names := range fuzzSeeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			b, ok := frames[name]
			if !ok {
				t.Fatalf("no golden frame %q", name)
			}
			for file, in := range map[string][]byte{name: b, name + "-truncated": b[:len(b)/2]} {
				if err := os.WriteFile(filepath.Join(dir, file), corpusEntry(in), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestGoldenVectors(t *testing.T) {
	got := goldenFrames(t)
	path := filepath.Join("testdata", "golden.txt")
	if *update {
		var b strings.Builder
		b.WriteString("# Golden frames: name, size, hex. Regenerate with go test -run TestGoldenVectors -update.\n")
		b.WriteString("# Keys: issuer Ed25519 seed = 32 zero bytes; lock/holder keys and nonces from ChaCha8 seeds in helpers_test.go.\n")
		for _, g := range got {
			fmt.Fprintf(&b, "%s %d %s\n", g.name, len(g.b), hex.EncodeToString(g.b))
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		frames := map[string][]byte{}
		for _, g := range got {
			frames[g.name] = g.b
		}
		writeFuzzCorpus(t, frames)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		b, err := hex.DecodeString(fields[2])
		if err != nil || fmt.Sprint(len(b)) != fields[1] {
			t.Fatalf("bad golden line %q", line)
		}
		want[fields[0]] = b
	}
	if len(want) != len(got) {
		t.Fatalf("golden file has %d frames, generated %d", len(want), len(got))
	}
	for _, g := range got {
		if !bytes.Equal(want[g.name], g.b) {
			t.Errorf("%s changed:\n got %x\nwant %x", g.name, g.b, want[g.name])
		}
	}
	// Every golden frame decodes and re-encodes to the same bytes.
	for name, b := range want {
		if strings.Contains(name, "fragment") {
			continue
		}
		if re := reencode(t, b); re != nil && !bytes.Equal(re, b) {
			t.Errorf("%s does not re-encode to itself:\n got %x\nwant %x", name, re, b)
		}
	}
}

// reencode decodes b by its type and encodes it again (nil for fragments).
func reencode(t *testing.T, b []byte) []byte {
	t.Helper()
	typ, err := PeekType(b)
	if err != nil {
		return nil // a fragment: its first byte is an index
	}
	var out []byte
	switch {
	case typ == TypeCredential:
		c, err := DecodeCredential(b)
		if err == nil {
			out, err = AppendCredential(nil, &c)
		}
		checkErr(t, err)
	case typ == TypeChallenge:
		c, err := DecodeChallenge(b)
		checkErr(t, err)
		out = AppendChallenge(nil, &c)
	case typ == TypeUnlock || typ == TypeUnlockCached:
		u, err := DecodeUnlock(b)
		checkErr(t, err)
		out = appendHeader(nil, u.Type)
		out = le.AppendUint16(out, u.Challenge)
		out = append(out, doorByte(u.Door, u.Action))
		if u.Type == TypeUnlock {
			out = append(out, u.Credential...)
		} else {
			out = append(out, u.CredentialID[:]...)
		}
		out = append(out, u.Proof[:]...)
	case typ == TypeUnlockResponse:
		p, err := DecodeResponse(b)
		checkErr(t, err)
		out = AppendResponse(nil, &p)
	case typ.IsAdmin():
		a, err := DecodeAdmin(b)
		if err == nil {
			out, err = AppendAdmin(nil, &a)
		}
		checkErr(t, err)
	case typ == TypeAuditAck:
		a, err := DecodeAuditAck(b)
		checkErr(t, err)
		out = AppendAuditAck(nil, &a)
	case typ == TypeAuditBatch:
		a, err := DecodeAuditBatch(b)
		if err == nil {
			out, err = AppendAuditBatch(nil, &a)
		}
		checkErr(t, err)
	case typ == TypeRemoteOpen:
		o, err := DecodeRemoteOpen(b)
		if err == nil {
			out, err = AppendRemoteOpen(nil, &o)
		}
		checkErr(t, err)
	case typ == TypeDownload:
		d, err := DecodeDownload(b)
		if err == nil {
			out, err = AppendDownload(nil, &d)
		}
		checkErr(t, err)
	default:
		return nil
	}
	return out
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The sizes PROTOCOL.md states.
func TestFrameSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"credential, no windows", credentialFixedSize, 140},
		{"credential, 4 windows", credentialFixedSize + 4*windowSize, 160},
		{"credential, 4 windows, 3 dated periods", MaxCredentialSize, 184},
		{"challenge", ChallengeSize, 41},
		{"unlock, largest", MaxUnlockSize, 205},
		{"unlock, cached", UnlockCachedSize, 29},
		{"response", ResponseSize, 34},
		{"admin, largest", MaxAdminSize, 226},
		{"passage, largest", maxPassageSize, 212},
		{"set PIN, largest", SetCodeFixedSize + policy.MaxCompactWindows*windowSize + policy.MaxCompactPeriods*periodSize, 172},
		{"time-zone rules, largest", adminFixedSize + 5 + MaxZoneTransitions*8, 155},
		{"rotate key", adminFixedSize + rotateBodySize, 123},
		{"audit acknowledgement", AuditAckSize, 54},
		{"audit batch, largest", MaxAuditBatchSize, 707},
		{"set PIN or card, no windows", SetCodeFixedSize, 128},
		{"set PIN or card, 4 windows", SetCodeFixedSize + 4*windowSize, 148},
		{"set PIN or card, 4 windows, 3 dated periods", SetCodeFixedSize + 4*windowSize + 3*periodSize, 172},
		{"clear PIN or card", ClearCodeSize, 98},
		{"remote open", RemoteOpenSize, 118},
		{"suspend", SuspendSize, 99},
		{"reset every key", ResetAllSize, 226},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, documented %d", c.name, c.got, c.want)
		}
	}
	// Without dated periods a full unlock request is one BLE write at MTU
	// 185; with them it is fragmented (only the first request of a
	// credential carries it: later ones are cached, 29 bytes).
	if n := unlockFixedSize + credentialFixedSize + 4*windowSize; n > 182 {
		t.Errorf("largest unlock request without dated periods %d bytes does not fit one BLE write at MTU 185", n)
	}
}
