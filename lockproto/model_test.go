package lockproto

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger/access"
	"pgregory.net/rapid"
)

// A random mix of issues, resets, deactivations, revocations, restarts and
// unlocks, checked against a model of slots and revocations: a credential
// opens exactly when it is not revoked and its generation is at least the
// slot's minimum, which only rises (by admin messages or by a newer
// credential opening).
func TestLockMatchesSlotModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t)
		w.syncTime(0)
		type cred struct {
			h *Holder
			c Credential
		}
		var creds []cred
		minGen := map[uint8]uint32{}
		revoked := map[CredentialID]bool{}
		nextID := uint16(0)
		seq := w.seq
		rt.Repeat(map[string]func(*rapid.T){
			"issue": func(rt *rapid.T) {
				c := baseCredential(w.key)
				c.ID = CredentialID{byte(nextID), byte(nextID >> 8), 0x5e}
				nextID++
				c.Slot = uint8(rapid.IntRange(0, 3).Draw(rt, "slot"))
				c.Generation = uint32(rapid.IntRange(0, 5).Draw(rt, "gen"))
				h, _ := w.holder(c)
				creds = append(creds, cred{h: h, c: c})
			},
			"reset": func(rt *rapid.T) {
				slot := uint8(rapid.IntRange(0, 3).Draw(rt, "slot"))
				gen := uint32(rapid.IntRange(0, 6).Draw(rt, "gen"))
				seq++
				var m []byte
				if rapid.Bool().Draw(rt, "deactivate") {
					m, _ = w.issuer.DeactivateSlot(testLock, seq, slot, gen)
				} else {
					m, _ = w.issuer.ResetSlot(testLock, seq, slot, gen)
				}
				w.must(w.lock.HandleAdmin(m))
				minGen[slot] = max(minGen[slot], gen)
			},
			"revoke": func(rt *rapid.T) {
				if len(creds) == 0 {
					rt.Skip()
				}
				c := creds[rapid.IntRange(0, len(creds)-1).Draw(rt, "which")].c
				seq++
				m, _ := w.issuer.RevokeCredential(testLock, seq, c)
				w.must(w.lock.HandleAdmin(m))
				revoked[c.ID] = true
			},
			"restart": func(rt *rapid.T) {
				l, err := RestoreLock(w.lock.State(), &Config{Clock: w.clock.now, Rand: newDetRand(byte(seq))})
				w.must(err)
				w.lock = l
				w.resync() // a restarted lock does not know the time
			},
			"unlock": func(rt *rapid.T) {
				if len(creds) == 0 {
					rt.Skip()
				}
				c := creds[rapid.IntRange(0, len(creds)-1).Draw(rt, "which")]
				w.advance(time.Second)
				if st := w.lock.State(); st.AuditSeq-st.AuditAcked > AuditRingSize/2 {
					w.upload()
				}
				cached := rapid.Bool().Draw(rt, "cached")
				ch := w.challenge()
				var req []byte
				if cached {
					req, _ = c.h.UnlockCached(ch, 0)
				} else {
					req, _ = c.h.Unlock(ch, 0)
				}
				d := w.lock.HandleUnlock(req)
				superseded := c.c.Generation < minGen[c.c.Slot]
				want := access.Granted
				switch {
				case revoked[c.c.ID]:
					want = access.Revoked
				case superseded:
					want = access.Superseded
				}
				if cached && d.Reason == access.NotCached {
					return // the cache is volatile and bounded; the phone retries in full
				}
				// A revocation made moot by a reset may be dropped from the
				// bounded list; the credential still loses, as superseded.
				if revoked[c.c.ID] && superseded && d.Reason == access.Superseded {
					return
				}
				if d.Reason != want {
					rt.Fatalf("credential %v slot %d gen %d (min %d, revoked %v), cached %v: %v, want %v",
						c.c.ID, c.c.Slot, c.c.Generation, minGen[c.c.Slot], revoked[c.c.ID], cached, d.Reason, want)
				}
				if d.Granted {
					minGen[c.c.Slot] = max(minGen[c.c.Slot], c.c.Generation)
				}
			},
		})
	})
}
