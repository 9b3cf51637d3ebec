package lockproto

import (
	"bytes"
	"maps"
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

// suspend signs and delivers a suspend message under the next sequence
// number; it returns the lock's answer.
func (w *world) suspend(id CredentialID, change uint32, suspended bool) error {
	w.t.Helper()
	w.seq++
	m, err := w.issuer.Suspend(testLock, w.seq, id, change, suspended)
	w.must(err)
	return w.lock.HandleAdmin(m)
}

func (w *world) openRemote(key CredentialID, slot uint8, gen uint32) RemoteDecision {
	w.t.Helper()
	ch := w.challenge()
	ro, err := w.issuer.RemoteOpen(RemoteOpen{Lock: testLock, Nonce: ch.Nonce, Key: key, Slot: slot, Generation: gen, Door: 0,
		Doors: 0b01, NotAfter: uint32(w.serverT.Add(time.Minute).Unix())}, w.serverT)
	w.must(err)
	return w.lock.HandleRemoteOpen(ro)
}

// A suspended key is refused everywhere the lock meets it — credential
// (full and cached), PIN, card, remote open — with KeySuspended, and a
// resume restores it as it was (its uses counted before stay counted).
func TestSuspendRefusesEveryWayInAndResumeRestores(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	c.Policy.UseLimit = 5
	h, _ := w.holder(c)
	if d, _ := w.unlock(h, 0); !d.Granted {
		t.Fatalf("before: %+v", d)
	}
	pin := w.pinEntry(1, "482915")
	w.must(w.setPIN(pin))
	w.must(w.setCard(2, testUID, 0b01))
	card := CredentialID{0xC0, 2}
	remote := CredentialID{0xD0, 1}

	w.must(w.suspend(c.ID, 1, true))
	w.must(w.suspend(pin.ID, 1, true))
	w.must(w.suspend(card, 1, true))
	w.must(w.suspend(remote, 1, true))
	for _, tc := range []struct {
		name string
		got  access.Reason
	}{
		{"credential, full", func() access.Reason { d, _ := w.unlock(h, 0); return d.Reason }()},
		{"credential, cached", func() access.Reason {
			ch := w.challenge()
			req, err := h.UnlockCached(ch, 0)
			w.must(err)
			return w.lock.HandleUnlock(req).Reason
		}()},
		{"PIN", w.lock.EnterCode(0, []byte("482915")).Reason},
		{"card", w.lock.PresentCard(0, testUID).Reason},
		{"remote open", w.openRemote(remote, NoSlot, 0).Reason},
	} {
		if tc.got != access.KeySuspended {
			t.Errorf("%s while suspended: %v, want %v", tc.name, tc.got, access.KeySuspended)
		}
	}
	if rec := w.lock.st.AuditRing[(w.lock.st.AuditSeq-1)%AuditRingSize].Record; rec.Reason != access.KeySuspended || rec.Kind != AuditRemoteOpen {
		t.Errorf("last audit record %+v, want the remote open refused as suspended", rec)
	}

	w.must(w.suspend(c.ID, 2, false))
	w.must(w.suspend(pin.ID, 2, false))
	w.must(w.suspend(card, 2, false))
	w.must(w.suspend(remote, 2, false))
	d, resp := w.unlock(h, 0)
	if !d.Granted || resp.Uses != 2 {
		t.Errorf("credential after resume: %+v uses %d, want granted with its second use", d, resp.Uses)
	}
	if d := w.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Errorf("PIN after resume: %+v", d)
	}
	if d := w.lock.PresentCard(0, testUID); !d.Granted {
		t.Errorf("card after resume: %+v", d)
	}
	if d := w.openRemote(remote, NoSlot, 0); !d.Granted {
		t.Errorf("remote open after resume: %+v", d)
	}
}

// The table's rules, message by message.
func TestSuspendMessageRules(t *testing.T) {
	id := CredentialID{0xAB, 1}
	type msg struct {
		change    uint32
		suspended bool
		want      access.Reason
	}
	for _, tc := range []struct {
		name          string
		msgs          []msg
		wantSuspended bool
	}{
		{"suspend", []msg{{1, true, access.Granted}}, true},
		{"suspend then resume", []msg{{1, true, access.Granted}, {2, false, access.Granted}}, false},
		{"resume first, its suspend late", []msg{{2, false, access.Granted}, {1, true, access.Granted}}, false},
		{"suspended again", []msg{{1, true, access.Granted}, {2, false, access.Granted}, {3, true, access.Granted}}, true},
		{"a repeated change changes nothing", []msg{{2, true, access.Granted}, {2, false, access.Granted}}, true},
		{"resume of a key never suspended", []msg{{1, false, access.Granted}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			for i, m := range tc.msgs {
				if r := refusal(w.suspend(id, m.change, m.suspended)); r != m.want {
					t.Fatalf("message %d: %v, want %v", i, r, m.want)
				}
			}
			if got := w.lock.suspended(id); got != tc.wantSuspended {
				t.Fatalf("suspended %v, want %v", got, tc.wantSuspended)
			}
		})
	}
}

// A full table refuses one more suspension (RevocationsFull, the issuer
// then knows the key is not suspended at the lock) but still takes
// resumes, and a resume makes room: a suspension evicts the oldest
// tombstone before it is refused.
func TestSuspensionTableFull(t *testing.T) {
	w := newWorld(t)
	for i := range MaxSuspensions {
		w.must(w.suspend(CredentialID{0xAB, byte(i)}, 1, true))
	}
	if r := refusal(w.suspend(CredentialID{0xEE}, 1, true)); r != access.RevocationsFull {
		t.Fatalf("suspension beyond the table: %v, want %v", r, access.RevocationsFull)
	}
	if r := refusal(w.suspend(CredentialID{0xEF}, 2, false)); r != access.Granted {
		t.Fatalf("resume of an unknown key, table full: %v", r)
	}
	w.must(w.suspend(CredentialID{0xAB, 0}, 2, false))
	if r := refusal(w.suspend(CredentialID{0xEE}, 1, true)); r != access.Granted {
		t.Fatalf("a suspension while the table holds a tombstone: %v, want it to take the tombstone's place", r)
	}
	if !w.lock.suspended(CredentialID{0xEE}) || w.lock.suspended(CredentialID{0xAB, 0}) {
		t.Fatal("wrong table after the tombstone was evicted")
	}
	if r := refusal(w.suspend(CredentialID{0xEF}, 1, true)); r != access.RevocationsFull {
		t.Fatalf("a suspension with every entry suspended: %v, want %v", r, access.RevocationsFull)
	}
}

// A reset of every key: slots' minimums rise, PINs, cards and
// suspensions are gone, offline codes are revoked until its time; older
// messages delivered afterwards change nothing, newer ones (keys made
// after the reset) apply.
func TestResetAll(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	c := baseCredential(w.key)
	h, _ := w.holder(c)
	pin := w.pinEntry(1, "482915")
	w.seq = 10
	oldSet, err := w.issuer.SetPIN(testLock, 9, w.pinEntry(9, "1111"))
	w.must(err)
	oldSuspend, err := w.issuer.Suspend(testLock, 8, CredentialID{0xAB}, 1, true)
	w.must(err)
	w.must(w.setPIN(pin))
	w.must(w.suspend(CredentialID{0xAC}, 1, true))
	var gens [MaxSlots]uint32
	gens[c.Slot] = c.Generation + 1
	w.seq++
	m, err := w.issuer.ResetAll(testLock, w.seq, 1, gens, uint32(t0.Add(48*time.Hour).Unix()))
	w.must(err)
	w.must(w.lock.HandleAdmin(m))

	if d, _ := w.unlock(h, 0); d.Reason != access.Superseded {
		t.Errorf("credential after the reset: %v", d.Reason)
	}
	if d := w.lock.EnterCode(0, []byte("482915")); d.Reason != access.WrongPIN {
		t.Errorf("PIN after the reset: %v", d.Reason)
	}
	if r := refusal(w.lock.HandleAdmin(oldSet)); r != access.Superseded {
		t.Errorf("a set older than the reset: %v", r)
	}
	w.must(w.lock.HandleAdmin(oldSuspend))
	st := w.lock.State()
	if st.Suspended != ([MaxSuspensions]Suspension{}) || st.PINs != ([MaxPINSlots]CodeSlot{}) || st.ResetEpoch != 1 {
		t.Errorf("tables after the reset: suspended %v, PINs empty %v, epoch %d", st.Suspended[0], st.PINs == [MaxPINSlots]CodeSlot{}, st.ResetEpoch)
	}
	for s := range CodeSeqs {
		if e := st.Codes[s]; !e.Revoked || e.Until != uint32(t0.Add(48*time.Hour).Unix()) {
			t.Fatalf("offline code sequence %d after the reset: %+v", s, e)
		}
	}
	// New keys work.
	c2 := c
	c2.ID, c2.Generation = CredentialID{9}, c.Generation+1
	h2, _ := w.holder(c2)
	if d, _ := w.unlock(h2, 0); !d.Granted {
		t.Errorf("a key issued after the reset: %v", d.Reason)
	}
	w.must(w.setPIN(w.pinEntry(2, "7777")))
	if d := w.lock.EnterCode(0, []byte("7777")); !d.Granted {
		t.Errorf("a PIN set after the reset: %v", d.Reason)
	}
}

// A reset signed again under a new sequence number (the lock could no
// longer apply the first) keeps its mark: a PIN and a suspension set by
// messages issued after the first reset survive it, older ones do not.
func TestResetAllIssuedAgainKeepsItsMark(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.seq = 10
	old := w.pinEntry(1, "1111")
	w.must(w.setPIN(old)) // 11: before the reset
	var gens [MaxSlots]uint32
	first, err := w.issuer.ResetAll(testLock, 12, 1, gens, 0)
	w.must(err)
	w.seq = 12
	w.must(w.setPIN(w.pinEntry(2, "482915")))      // 13: after it
	w.must(w.suspend(CredentialID{0xAC}, 1, true)) // 14
	a, err := DecodeAdmin(first)
	w.must(err)
	a.Seq = 15
	again, err := w.issuer.Admin(a)
	w.must(err)
	w.must(w.lock.HandleAdmin(again))
	if d := w.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Errorf("a PIN set after the first reset, after it was issued again: %v", d.Reason)
	}
	if d := w.lock.EnterCode(0, []byte("1111")); d.Granted {
		t.Error("a PIN set before the reset still opens")
	}
	if !w.lock.suspended(CredentialID{0xAC}) {
		t.Error("a suspension made after the first reset was undone")
	}
	if st := w.lock.State(); st.ResetSeq != 12 {
		t.Errorf("reset mark %d, want 12", st.ResetSeq)
	}
	// The first, delivered too, changes nothing more.
	w.must(w.lock.HandleAdmin(first))
	if d := w.lock.EnterCode(0, []byte("482915")); !d.Granted {
		t.Errorf("after the first too: %v", d.Reason)
	}
}

// The suspension table does not fill up with ended keys: a revocation of
// a suspended credential or a clear of a suspended PIN frees its entry,
// and a suspend arriving after either adds none.
func TestEndedKeysFreeTheirSuspensions(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	w.seq = 10
	var late [][]byte
	for i := range byte(MaxSuspensions) {
		id := CredentialID{0xAB, i}
		if i%2 == 1 {
			id = CredentialID{0xC0, i}
		}
		w.seq++
		m, err := w.issuer.Suspend(testLock, w.seq, id, 1, true)
		w.must(err)
		late = append(late, m)
		w.must(w.lock.HandleAdmin(m))
	}
	full := CredentialID{0xEE}
	if r := refusal(w.suspend(full, 1, true)); r != access.RevocationsFull {
		t.Fatalf("a 17th suspension: %v", r)
	}
	for i := range byte(MaxSuspensions) {
		w.seq++
		var m []byte
		var err error
		if i%2 == 1 {
			m, err = w.issuer.ClearPIN(testLock, w.seq, CredentialID{0xC0, i}, 2)
		} else {
			m, err = w.issuer.RevokeCredential(testLock, w.seq, Credential{ID: CredentialID{0xAB, i}, Slot: i, Generation: 5})
		}
		w.must(err)
		w.must(w.lock.HandleAdmin(m))
	}
	for i := range w.lock.State().Suspended {
		if e := w.lock.State().Suspended[i]; e.InUse && (e.Suspended || e.Change != ^uint32(0)) {
			t.Fatalf("entry of an ended key is not a tombstone: %+v", e)
		}
	}
	w.must(w.suspend(full, 1, true))
	if !w.lock.suspended(full) {
		t.Fatal("a suspension after the ended keys' entries became tombstones did not take")
	}

	// Delivered in the other order: the suspensions after the ends.
	w2 := newWorld(t)
	w2.syncTime(0)
	m, err := w2.issuer.RevokeCredential(testLock, 20, Credential{ID: CredentialID{0xAB, 0}, Slot: 0, Generation: 5})
	w2.must(err)
	w2.must(w2.lock.HandleAdmin(m))
	m, err = w2.issuer.ClearPIN(testLock, 21, CredentialID{0xC0, 1}, 2)
	w2.must(err)
	w2.must(w2.lock.HandleAdmin(m))
	w2.must(w2.lock.HandleAdmin(late[0]))
	w2.must(w2.lock.HandleAdmin(late[1]))
	for i := range w2.lock.State().Suspended {
		if e := w2.lock.State().Suspended[i]; e.InUse && e.Suspended {
			t.Fatalf("a suspend after its key's end took: %+v", e)
		}
	}
}

// normalized is the lock state the admin messages decide, with table
// entries keyed by ID (which index an entry takes depends on arrival).
type normalized struct {
	MinGen               [MaxSlots]uint32
	Suspended            map[CredentialID]Suspension
	PINs                 map[CredentialID]CodeSlot
	Revoked              map[CredentialID]Revocation
	Codes                [CodeSeqs]CodeSeqState
	ResetSeq, ResetEpoch uint32
}

func normalize(st State) normalized {
	n := normalized{MinGen: st.MinGen, Codes: st.Codes, ResetSeq: st.ResetSeq, ResetEpoch: st.ResetEpoch,
		Suspended: map[CredentialID]Suspension{}, PINs: map[CredentialID]CodeSlot{}, Revoked: map[CredentialID]Revocation{}}
	for _, e := range st.Revoked {
		if e.InUse {
			n.Revoked[e.Credential] = e
		}
	}
	for _, e := range st.Suspended {
		if e.InUse {
			n.Suspended[e.ID] = e
		}
	}
	for _, e := range st.PINs {
		if e.Live || e.MinGen > 0 {
			n.PINs[e.ID] = e
		}
	}
	return n
}

// Order does not matter: whatever order phones deliver suspend, resume,
// set-PIN, clear-PIN, revoke and reset-every-key messages in (a reset also
// signed again under a later sequence number with its mark), the lock ends
// in the same state as when they arrive in sequence order. The messages
// are what an issuer sends: a key is revoked or its PIN cleared after its
// last suspend or set.
func TestSuspendAndResetCommute(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t)
		var msgs [][]byte
		changes := map[CredentialID]uint32{}
		ended := map[CredentialID]bool{}
		codeGen := map[byte]uint32{}
		epoch := uint32(0)
		var resets []Admin
		for range rapid.IntRange(1, 24).Draw(rt, "messages") {
			w.seq++
			var m []byte
			var err error
			switch rapid.IntRange(0, 11).Draw(rt, "kind") {
			case 0, 1, 2, 3, 4:
				k := byte(rapid.IntRange(0, 3).Draw(rt, "key"))
				id := CredentialID{0xAB, k}
				if rapid.Bool().Draw(rt, "a PIN's entry") {
					id = CredentialID{0xC0, k % 3}
				}
				if ended[id] {
					w.seq--
					continue
				}
				changes[id]++
				m, err = w.issuer.Suspend(testLock, w.seq, id, changes[id], rapid.Bool().Draw(rt, "suspended"))
			case 5, 6:
				k := byte(rapid.IntRange(0, 2).Draw(rt, "pin"))
				if ended[CredentialID{0xC0, k}] {
					w.seq--
					continue
				}
				codeGen[k]++
				e := w.pinEntry(k, []string{"1111", "2222", "3333"}[k])
				e.Generation = codeGen[k]
				m, err = w.issuer.SetPIN(testLock, w.seq, e)
			case 7:
				k := byte(rapid.IntRange(0, 2).Draw(rt, "pin"))
				ended[CredentialID{0xC0, k}] = true
				codeGen[k]++
				m, err = w.issuer.ClearPIN(testLock, w.seq, CredentialID{0xC0, k}, codeGen[k])
			case 8:
				k := byte(rapid.IntRange(0, 3).Draw(rt, "key"))
				ended[CredentialID{0xAB, k}] = true
				// A generation no reset here raises a slot past.
				m, err = w.issuer.RevokeCredential(testLock, w.seq, Credential{ID: CredentialID{0xAB, k}, Slot: k, Generation: 1 << 20})
			case 9:
				if len(resets) == 0 {
					w.seq--
					continue
				}
				a := resets[rapid.IntRange(0, len(resets)-1).Draw(rt, "reset issued again")]
				a.Seq = w.seq
				m, err = w.issuer.Admin(a)
			default:
				epoch++
				var gens [MaxSlots]uint32
				gens[rapid.IntRange(0, MaxSlots-1).Draw(rt, "slot")] = epoch
				m, err = w.issuer.ResetAll(testLock, w.seq, epoch, gens, uint32(t0.Unix())+epoch)
				if err == nil {
					a, derr := DecodeAdmin(m)
					if derr != nil {
						rt.Fatal(derr)
					}
					resets = append(resets, a)
				}
			}
			if err != nil {
				rt.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		deliver := func(order []int) normalized {
			l, err := NewLock(w.pairing, &Config{Clock: w.clock.now, Rand: newDetRand(2)})
			if err != nil {
				rt.Fatal(err)
			}
			for _, i := range order {
				_ = l.HandleAdmin(msgs[i]) // refusals (a stale set) are part of the outcome
			}
			return normalize(l.State())
		}
		inOrder := make([]int, len(msgs))
		for i := range inOrder {
			inOrder[i] = i
		}
		want := deliver(inOrder)
		got := deliver(rapid.Permutation(inOrder).Draw(rt, "order"))
		if want.MinGen != got.MinGen || want.Codes != got.Codes || want.ResetSeq != got.ResetSeq || want.ResetEpoch != got.ResetEpoch ||
			!maps.Equal(want.Suspended, got.Suspended) || !maps.EqualFunc(want.PINs, got.PINs, sameCode) || !maps.Equal(want.Revoked, got.Revoked) {
			rt.Fatalf("delivery order changed the lock's state:\nin order %+v\npermuted %+v", want, got)
		}
	})
}

// sameCode compares two entries but for Seq, which records the message
// that last changed it (a clear after a set, or a set after a clear, leave
// different ones in a different order while deciding the same).
func sameCode(a, b CodeSlot) bool {
	a.Seq, b.Seq = 0, 0
	return a == b
}

func TestSuspendAndResetAllFramesRoundTrip(t *testing.T) {
	w := newWorld(t)
	for _, a := range []Admin{
		{Type: TypeSuspend, Lock: testLock, Seq: 7, Credential: CredentialID{1, 2}, Change: 3, Suspended: true},
		{Type: TypeSuspend, Lock: testLock, Seq: 8, Credential: CredentialID{1, 2}, Change: 4},
		{Type: TypeResetAll, Lock: testLock, Seq: 9, Epoch: 2, Mark: 9, MinGens: [MaxSlots]uint32{0: 4, 31: 1<<32 - 1}, NotAfter: 12345},
		{Type: TypeResetAll, Lock: testLock, Seq: 90, Epoch: 2, Mark: 9}, // issued again
	} {
		raw, err := w.issuer.Admin(a)
		w.must(err)
		if a.Type == TypeSuspend && len(raw) != SuspendSize || a.Type == TypeResetAll && len(raw) != ResetAllSize || len(raw) > 255 {
			t.Fatalf("%v: %d bytes", a.Type, len(raw))
		}
		got, err := VerifyAdmin(raw, w.signer.PublicKey())
		w.must(err)
		got.Signature = [64]byte{}
		if got != a {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
		}
	}
	for _, bad := range []Admin{
		{Type: TypeSuspend, Lock: testLock, Seq: 1, Change: 1},                      // no key
		{Type: TypeSuspend, Lock: testLock, Seq: 1, Credential: CredentialID{1}},    // change 0
		{Type: TypeResetAll, Lock: testLock, Seq: 1, Mark: 1},                       // epoch 0
		{Type: TypeResetAll, Lock: testLock, Seq: 1, Epoch: 1},                      // mark 0
		{Type: TypeResetAll, Lock: testLock, Seq: 5, Epoch: 1, Mark: 6},             // mark above its sequence number
		{Type: TypeSuspend, Lock: testLock, Credential: CredentialID{1}, Change: 1}, // seq 0
	} {
		if _, err := w.issuer.Admin(bad); err == nil {
			t.Errorf("%+v signed", bad)
		}
	}
	raw, err := w.issuer.Suspend(testLock, 1, CredentialID{1}, 1, true)
	w.must(err)
	raw = bytes.Clone(raw)
	raw[SuspendSize-signatureSize-1] = 2
	if _, err := DecodeAdmin(raw); err == nil {
		t.Fatal("a suspended byte of 2 decoded")
	}
}

// Suspend and reset-every-key frames: what decodes re-encodes to the same
// bytes, and a lock given one nobody signed changes none of the tables
// the two messages write.
func FuzzSuspendAndResetAll(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := DecodeAdmin(exact(b)); err == nil && (a.Type == TypeSuspend || a.Type == TypeResetAll) {
			out, err := AppendAdmin(nil, &a)
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("accepted %v does not re-encode: %v\n in %x\nout %x", a.Type, err, b, out)
			}
		}
		w, _ := fuzzLock(t)
		before := w.lock.State()
		err := w.lock.HandleAdmin(exact(b))
		if a, verr := VerifyAdmin(b, w.signer.PublicKey()); verr == nil && a.Lock == testLock {
			return
		}
		after := w.lock.State()
		if err == nil || after.Suspended != before.Suspended || after.ResetSeq != before.ResetSeq || after.ResetEpoch != before.ResetEpoch ||
			after.MinGen != before.MinGen || after.Codes != before.Codes || after.PINs != before.PINs || after.Cards != before.Cards {
			t.Fatalf("an admin message nobody signed changed the lock (err %v): %x", err, b)
		}
	})
}

// The unlock decision with a full suspension table (other keys suspended)
// costs what it does with an empty one, and allocates nothing either way.
func BenchmarkUnlockCachedSuspensions(b *testing.B) {
	full := func(st *State) {
		for i := range st.Suspended {
			st.Suspended[i] = Suspension{InUse: true, ID: CredentialID{0xEE, byte(i)}, Change: 1, Suspended: true, Seq: uint32(i + 1)}
		}
	}
	b.Run("empty", func(b *testing.B) { benchUnlock(b, 1, true) })
	b.Run("full", func(b *testing.B) { benchUnlock(b, 1, true, full) })
	b.Run("empty-again", func(b *testing.B) { benchUnlock(b, 1, true) })
	b.Run("full-again", func(b *testing.B) { benchUnlock(b, 1, true, full) })
}

// What ending a suspended slot key queues — suspend, slot reset, revoke —
// delivered with the suspend last: the revoke is moot (the slot's minimum
// rose first), yet it leaves a tombstone, so the late suspend takes no
// place; and once the window passes, the table is empty again.
func TestLateSuspendAfterAMootRevokeLeavesNoEntry(t *testing.T) {
	w := newWorld(t)
	w.syncTime(0)
	id := CredentialID{0xAB, 1}
	sus, err := w.issuer.Suspend(testLock, 10, id, 1, true)
	w.must(err)
	rs, err := w.issuer.ResetSlot(testLock, 11, 1, 6)
	w.must(err)
	rv, err := w.issuer.RevokeCredential(testLock, 12, Credential{ID: id, Slot: 1, Generation: 5})
	w.must(err)
	for _, m := range [][]byte{rs, rv, sus} {
		w.must(w.lock.HandleAdmin(m))
	}
	if w.lock.suspended(id) {
		t.Fatal("the late suspend of an ended key took")
	}
	for s := uint32(100); s < 300; s += 50 { // far past the admin window
		m, err := w.issuer.ResetSlot(testLock, s, 2, s)
		w.must(err)
		w.must(w.lock.HandleAdmin(m))
	}
	w.seq = 300
	w.must(w.suspend(CredentialID{0xEE}, 1, true))
	n := 0
	for _, e := range w.lock.State().Suspended {
		if e.InUse {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d entries in use, want only the new suspension", n)
	}
}
