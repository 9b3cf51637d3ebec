package keyledgertest

import (
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
	"github.com/keyledger/keyledger/secret"
	"pgregory.net/rapid"
)

// id draws IDs commands accept (1 to commands.MaxIDLen bytes of UTF-8
// without NUL or '/'): half short lower-case ones, which often collide or
// prefix one another ("k", "k1"), half any runes.
func id() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.StringMatching(`[a-z][a-z0-9]{0,2}`),
		rapid.StringOfN(rapid.Rune().Filter(func(r rune) bool { return r != 0 && r != '/' }), 1, -1, commands.MaxIDLen),
	)
}

// AccountID draws account IDs commands accept.
func AccountID() *rapid.Generator[string] { return id() }

// LockID draws lock IDs commands accept.
func LockID() *rapid.Generator[string] { return id() }

// KeyID draws key IDs commands accept.
func KeyID() *rapid.Generator[string] { return id() }

// zones have whole-hour, half-hour and 45-minute offsets, with and without
// daylight saving time, on both hemispheres.
var zones = []string{"UTC", "Europe/Berlin", "America/New_York", "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu",
	"Australia/Lord_Howe", "Pacific/Chatham"}

// Zone draws an IANA zone a lock may have.
func Zone() *rapid.Generator[string] { return rapid.SampledFrom(zones) }

// Policy draws valid schedules in zone (Validate returns nil): validity
// open or dated within three days of around, lasting an hour to ten days;
// unlimited or 1 to 5 uses; half the time one or two weekly windows (some
// across midnight, some to 24:00); sometimes a weekly and an absolute
// blackout.
// Instants are whole minutes.
func Policy(zone string, around time.Time) *rapid.Generator[policy.Policy] {
	base := around.Truncate(time.Minute)
	return rapid.Custom(func(t *rapid.T) policy.Policy {
		minutes := func(label string, lo, hi int) time.Duration {
			return time.Duration(rapid.IntRange(lo, hi).Draw(t, label)) * time.Minute
		}
		p := policy.Policy{Zone: zone}
		start := base.Add(minutes("start", -72*60, 72*60))
		if rapid.Bool().Draw(t, "from") {
			p.Start = start
		}
		if rapid.Bool().Draw(t, "until") {
			p.End = start.Add(minutes("length", 60, 10*24*60))
		}
		if rapid.Bool().Draw(t, "limited") {
			p.Uses = policy.UsesN(uint32(rapid.IntRange(1, 5).Draw(t, "uses")))
		}
		for range max(0, rapid.IntRange(0, 3).Draw(t, "windows")-1) { // none half the time
			days, from, to := weekly(t)
			p.Windows = append(p.Windows, policy.Window{Days: days, From: from, To: to})
		}
		if rapid.IntRange(0, 3).Draw(t, "weekly blackout") == 3 {
			days, from, to := weekly(t)
			p.Blackouts = append(p.Blackouts, policy.Blackout{Days: days, From: from, To: to})
		}
		if rapid.IntRange(0, 3).Draw(t, "absolute blackout") == 3 {
			s := base.Add(minutes("blackout start", -72*60, 72*60))
			p.Blackouts = append(p.Blackouts, policy.Blackout{Start: s, End: s.Add(minutes("blackout length", 1, 48*60))})
		}
		return p
	})
}

// weekly draws a weekly range: some days, From in 0..1439, To in 1..1440,
// From != To; To < From crosses midnight.
func weekly(t *rapid.T) (policy.Weekdays, uint16, uint16) {
	days := policy.Weekdays(rapid.IntRange(1, int(policy.EveryDay)).Draw(t, "days"))
	from := rapid.IntRange(0, policy.MinutesPerDay-1).Draw(t, "from minute")
	to := from + rapid.IntRange(1, policy.MinutesPerDay-1).Draw(t, "minutes")
	if to > policy.MinutesPerDay {
		to -= policy.MinutesPerDay
	}
	return days, uint16(from), uint16(to)
}

// doorSets are the door sets a key of w's lock may have (zero: the default).
func (w World) doorSets() []access.Doors {
	if w.Doors&access.Inner != 0 {
		return []access.Doors{0, access.Main, access.Inner, access.Main | access.Inner}
	}
	return []access.Doors{0, access.Main}
}

// Settings draws key settings valid on w's lock: any name, category and
// role (zero ones mean the defaults), doors the lock has, sometimes a
// welcome message, and a Policy in w.Zone near around.
func Settings(w World, around time.Time) *rapid.Generator[events.Settings] {
	return rapid.Custom(func(t *rapid.T) events.Settings {
		return events.Settings{
			Name:     rapid.StringN(0, 12, commands.MaxNameLen).Draw(t, "name"),
			Category: events.Category(rapid.IntRange(0, int(events.CategoryEmployee)).Draw(t, "category")),
			Role:     events.Role(rapid.IntRange(0, int(events.RoleAdmin)).Draw(t, "role")),
			Doors:    rapid.SampledFrom(w.doorSets()).Draw(t, "doors"),
			Welcome:  rapid.SampledFrom([]string{"", "Welcome!", "Second door on the left."}).Draw(t, "welcome"),
			Policy:   Policy(w.Zone, around).Draw(t, "policy"),
		}
	})
}

// Patch draws edits valid on w's lock: each setting of a Settings draw
// set or left out, at least one set.
func Patch(w World, around time.Time) *rapid.Generator[commands.SettingsPatch] {
	return rapid.Custom(func(t *rapid.T) commands.SettingsPatch {
		st := Settings(w, around).Draw(t, "settings")
		set := rapid.IntRange(1, 1<<6-1).Draw(t, "set")
		var p commands.SettingsPatch
		if set&1 != 0 {
			p.Name = &st.Name
		}
		if set&2 != 0 {
			p.Category = &st.Category
		}
		if set&4 != 0 {
			p.Role = &st.Role
		}
		if set&8 != 0 {
			p.Doors = &st.Doors
		}
		if set&16 != 0 {
			p.Policy = &st.Policy
		}
		if set&32 != 0 {
			p.Welcome = &st.Welcome
		}
		return p
	})
}

// Worlds draws worlds with IDs from AccountID, LockID and KeyID: an owner,
// two or three other accounts, a device, a lock in a Zone with 0 to 3
// slots and one or two doors, and 2 to 5 keys.
func Worlds() *rapid.Generator[World] {
	return rapid.Custom(func(t *rapid.T) World {
		people := rapid.SliceOfNDistinct(AccountID(), 4, 5, rapid.ID[string]).Draw(t, "people")
		return World{
			Owner: people[0], Device: people[1], Accounts: people[2:],
			Lock:  LockID().Draw(t, "lock"),
			Zone:  Zone().Draw(t, "zone"),
			Slots: rapid.IntRange(0, 3).Draw(t, "slots"),
			Doors: rapid.SampledFrom([]access.Doors{access.Main, access.Main | access.Inner}).Draw(t, "lock doors"),
			Keys:  rapid.SliceOfNDistinct(KeyID(), 2, 5, rapid.ID[string]).Draw(t, "keys"),
		}
	})
}

// Cards are the card identifiers keycard keys are drawn with: few, so that
// two keys meet on one card and the second is refused (ErrCardTaken); 7
// bytes, as an ISO/IEC 14443 UID, never found in a ledger by chance.
var Cards = [][]byte{
	{0x04, 0x1c, 0x7e, 0x92, 0xd3, 0x5a, 0x80},
	{0x04, 0x6b, 0x0f, 0x3a, 0xe1, 0x29, 0x81},
	{0x04, 0xd8, 0x44, 0xc6, 0x17, 0xb0, 0x82},
}

// StepOf draws steps of op in w, with schedules near now: a key from
// w.Keys; the kinds of w.Kinds; accounts, the device and doors of w.
func StepOf(op Op, w World, now time.Time) *rapid.Generator[Step] {
	return rapid.Custom(func(t *rapid.T) Step {
		s := Step{Op: op}
		if op != OpWait {
			s.Key = rapid.SampledFrom(w.Keys).Draw(t, "key")
		}
		switch op {
		case OpCreate:
			s.Kind = rapid.SampledFrom(w.kinds()).Draw(t, "kind")
			s.Settings = Settings(w, now).Draw(t, "settings")
			if s.Kind == events.KindDigital {
				s.For = rapid.SampledFrom(w.Accounts).Draw(t, "for")
				s.Credential = rapid.SampledFrom([]events.Credential{0, events.CredentialPIN, events.CredentialKeycard}).Draw(t, "credential")
				s.Email = rapid.Bool().Draw(t, "email")
				s.EmailPIN = s.Credential == events.CredentialPIN && rapid.Bool().Draw(t, "email PIN")
				if s.Credential == events.CredentialKeycard {
					s.Card = secret.New(rapid.SampledFrom(Cards).Draw(t, "card"))
				}
			}
		case OpEdit:
			s.Patch = Patch(w, now).Draw(t, "patch")
		case OpShare:
			s.Method = rapid.SampledFrom([]events.ShareMethod{events.ShareToID, events.ShareToCode}).Draw(t, "method")
			if s.Method == events.ShareToID {
				s.Account = rapid.SampledFrom(w.Accounts).Draw(t, "to")
			} else {
				s.Email = rapid.Bool().Draw(t, "email")
			}
		case OpDownload:
			s.Right = rapid.Bool().Draw(t, "right")
			s.CodeOnly = rapid.IntRange(0, 3).Draw(t, "code only") == 3
			s.Account = rapid.SampledFrom(w.people()).Draw(t, "by")
		case OpUnlock:
			s.Right = rapid.Bool().Draw(t, "right")
			s.Account = rapid.SampledFrom(w.people()).Draw(t, "by")
			s.Door = access.MainDoor
			if w.Doors&access.Inner != 0 && rapid.Bool().Draw(t, "inner") {
				s.Door = access.InnerDoor
			}
		case OpWait: // minutes, hours or days: windows and validity both get crossed
			unit := rapid.SampledFrom([]time.Duration{time.Minute, time.Hour, 24 * time.Hour}).Draw(t, "unit")
			s.Wait = time.Duration(rapid.IntRange(1, 59).Draw(t, "units")) * unit
			s.Wait = min(s.Wait, 3*24*time.Hour)
		}
		return s
	})
}

// AnyStep draws a step of any Op (StepOf).
func AnyStep(w World, now time.Time) *rapid.Generator[Step] {
	return rapid.Custom(func(t *rapid.T) Step {
		return StepOf(rapid.SampledFrom(Ops).Draw(t, "op"), w, now).Draw(t, "step")
	})
}

// Lifecycle draws the life of one key of w: its creation, then up to 20
// steps of any other Op on it, clock moves among them.
func Lifecycle(w World, now time.Time) *rapid.Generator[[]Step] {
	return rapid.Custom(func(t *rapid.T) []Step {
		key := rapid.SampledFrom(w.Keys).Draw(t, "key")
		steps := []Step{StepOf(OpCreate, w, now).Draw(t, "create")}
		for range rapid.IntRange(0, 20).Draw(t, "steps") {
			steps = append(steps, StepOf(rapid.SampledFrom(Ops[1:]).Draw(t, "op"), w, now).Draw(t, "step"))
		}
		for i := range steps {
			if steps[i].Op != OpWait {
				steps[i].Key = key
			}
		}
		return steps
	})
}

// Step draws a step of op for the model's next move: like StepOf, but
// three times in four on a key the rules let take op now (for OpCreate a
// key not created yet), asking for the right downloader or holder three
// times in four, so that runs get past creation and sharing to downloads,
// unlocks and the lock's side of a key's life. The rest of the time, and
// when no key may take op, it is StepOf's draw: mostly a refusal to check.
func (m *Model) Step(op Op) *rapid.Generator[Step] {
	return rapid.Custom(func(t *rapid.T) Step {
		s := StepOf(op, m.World, m.Now).Draw(t, "step")
		keys := m.ready(op)
		if len(keys) == 0 || rapid.IntRange(0, 3).Draw(t, "ready") == 0 {
			return s
		}
		s.Key = rapid.SampledFrom(keys).Draw(t, "ready key")
		s.Right = rapid.IntRange(0, 3).Draw(t, "right") > 0
		return s
	})
}

// ready lists, in order, the world's keys on which op is allowed now.
func (m *Model) ready(op Op) []string {
	var out []string
	for _, id := range m.World.Keys {
		k := m.Keys[id]
		switch {
		case op == OpWait:
		case op == OpCreate:
			if k == nil {
				out = append(out, id)
			}
		case k != nil && Allows(k.Kind, k.State, op.action()):
			out = append(out, id)
		}
	}
	return out
}
