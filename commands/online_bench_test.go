package commands_test

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// An online unlock with the production argon2id cost (m=19 MiB, t=2, p=1):
// open the sealed hash, verify the password, decide, append durably (on disk)
// and wait for the projections.
func BenchmarkUnlockOnline(b *testing.B) {
	for _, c := range []struct {
		name string
		pw   secret.PasswordParams
	}{
		{"argon2id=default", secret.DefaultPasswordParams},
		{"argon2id=test", secret.TestPasswordParams},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newOnlineEnvParams(b, b.TempDir(), c.pw)
			e.setUpGarage()
			_, err := e.svc.TurnOnNetwork(bg, commands.TurnOnNetwork{ID: e.id(), Lock: "garage", By: "bill", MasterCode: secret.FromString(masterCode), Duration: 24 * time.Hour})
			e.must(err)
			e.must(e.createOnline("client", events.Settings{Name: "Client", Doors: access.Main}))
			e.must(e.svc.InviteMember(bg, commands.InviteMember{ID: e.id(), Lock: "garage", Key: "client", Account: "ann", By: "bill"}))
			e.must(e.svc.AcceptInvitation(bg, commands.AcceptInvitation{ID: e.id(), Lock: "garage", Account: "ann", Password: secret.FromString("ann-pass-2026")}))
			pw := secret.FromString("ann-pass-2026")
			var n atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var u uuid.UUID // e.id is not safe for concurrent use
					binary.BigEndian.PutUint64(u[8:], n.Add(1))
					u[0] = 0xbe
					r, err := e.svc.UnlockOnline(bg, commands.UnlockOnline{ID: u, Key: "client", By: "ann", Password: pw})
					if err != nil || !r.Granted {
						b.Fatalf("%+v %v", r, err)
					}
				}
			})
		})
	}
}
