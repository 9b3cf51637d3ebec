package commands

import (
	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/policy"
)

// SettingsPatch is an edit of a key's settings: each non-nil field
// replaces that setting and a nil one keeps the current value, so an edit
// never widens a key by leaving something out (renaming a key keeps its
// schedule). A zero Category, Role or Doors set explicitly means the
// default, as on creation; Policy set to the zero policy.Policy makes the
// key unlimited. new(value) makes the pointers:
//
//	commands.SettingsPatch{Name: new("Ann's week"), Doors: new(access.Main | access.Inner)}
type SettingsPatch struct {
	Name     *string
	Category *events.Category
	Role     *events.Role
	Doors    *access.Doors
	Policy   *policy.Policy
	Welcome  *string
}

// AllSettings is the patch that sets every setting to st's: an edit that
// replaces the settings as a whole.
func AllSettings(st events.Settings) SettingsPatch {
	return SettingsPatch{Name: &st.Name, Category: &st.Category, Role: &st.Role, Doors: &st.Doors, Policy: &st.Policy, Welcome: &st.Welcome}
}

func (p SettingsPatch) empty() bool { return p == SettingsPatch{} }

// apply returns st with the patch's settings.
func (p SettingsPatch) apply(st events.Settings) events.Settings {
	if p.Name != nil {
		st.Name = *p.Name
	}
	if p.Category != nil {
		st.Category = *p.Category
	}
	if p.Role != nil {
		st.Role = *p.Role
	}
	if p.Doors != nil {
		st.Doors = *p.Doors
	}
	if p.Policy != nil {
		st.Policy = *p.Policy
	}
	if p.Welcome != nil {
		st.Welcome = *p.Welcome
	}
	return st
}

// edit returns key k's settings changed by the patch, validated (defaults
// filled in) and with the policy bound to lock l's zone.
func (p SettingsPatch) edit(k *KeyState, l *LockState) (events.Settings, error) {
	st := p.apply(k.Settings)
	if err := validateSettings(&st, k.Kind); err != nil {
		return st, err
	}
	if st.Doors&^l.Doors != 0 {
		return st, invalid("doors", "lock %q has no %v door", k.Lock, st.Doors&^l.Doors)
	}
	if err := bindPolicy(&st, l); err != nil {
		return st, err
	}
	return st, needsValidity(k.Kind, st.Policy)
}

// same compares the patch with the settings an edit recorded: applied to
// them it must change nothing (each setting it sets has the recorded value,
// defaults filled in).
func (p SettingsPatch) same(got events.Settings) string {
	want := p.apply(got)
	if err := validateSettings(&want, 0); err != nil { // the defaults do not depend on the kind
		return "settings"
	}
	return sameSettings(want, got)
}

// checkPatch refuses an edit that sets nothing.
func checkPatch(p SettingsPatch) error {
	if p.empty() {
		return invalid("settings", "the edit sets none; set at least one (a nil field keeps its value)")
	}
	return nil
}
