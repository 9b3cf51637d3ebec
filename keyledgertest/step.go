package keyledgertest

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyledger/keyledger/access"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/secret"
)

// Op is what a Step does: one command of the key lifecycle, or a move of
// the clock.
type Op uint8

const (
	OpCreate              Op = iota + 1 // commands.Service.CreateKey
	OpShare                             // ShareKey
	OpDownload                          // DownloadKey
	OpEdit                              // EditKey
	OpRevoke                            // RevokeKey
	OpReset                             // ResetKey
	OpRequestDeactivation               // RequestDeactivation
	OpConfirmDeactivation               // ConfirmDeactivation
	OpDelete                            // DeleteKey
	OpUnlock                            // Unlock
	OpWait                              // the clock moves on
)

// Ops are every Op, in order.
var Ops = []Op{OpCreate, OpShare, OpDownload, OpEdit, OpRevoke, OpReset, OpRequestDeactivation, OpConfirmDeactivation, OpDelete, OpUnlock, OpWait}

var opNames = [...]string{"", "create", "share", "download", "edit", "revoke", "reset", "deactivate", "confirm", "delete", "unlock", "wait"}

func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// action is the lifecycle action an Op takes (0 for create and wait, which
// the rules table does not cover).
func (o Op) action() events.Action {
	switch o {
	case OpShare:
		return events.ActShare
	case OpDownload:
		return events.ActDownload
	case OpEdit:
		return events.ActEdit
	case OpRevoke:
		return events.ActRevoke
	case OpReset:
		return events.ActReset
	case OpRequestDeactivation:
		return events.ActRequestDeactivation
	case OpConfirmDeactivation:
		return events.ActConfirmDeactivation
	case OpDelete:
		return events.ActDelete
	case OpUnlock:
		return events.ActUnlock
	}
	return 0
}

// Step is one step of a check, as plain data: an Op and what its command
// needs. Owner commands are the world owner's. A field an Op does not use
// stays zero.
type Step struct {
	Op  Op
	Key string // every Op but OpWait

	// OpCreate.
	Kind       events.Kind
	Settings   events.Settings
	For        string            // digital keys: the account the key is for
	Credential events.Credential // digital keys: 0 (app), PIN or keycard
	Email      bool              // digital keys: e-mail the user; OpShare To Code: e-mail the code
	EmailPIN   bool              // digital keys with a PIN: e-mail the PIN
	Card       secret.Secret     // keycard keys: the card's identifier (one of Cards)

	// OpEdit.
	Patch commands.SettingsPatch

	// OpShare: To ID (to Account) or To Code.
	Method events.ShareMethod

	// Account: the recipient (OpShare To ID), who downloads (OpDownload),
	// who presents the key (OpUnlock).
	Account string

	// Right asks the model to fill in the right one (Model.Resolve): for
	// OpDownload the recipient (To ID) or the key's code (To Code), for
	// OpUnlock the key's holder. Otherwise Account acts, and an OpDownload
	// of a key shared To Code presents WrongCode. CodeOnly leaves the key
	// out of an OpDownload: the code alone must find it.
	Right, CodeOnly bool
	Code            secret.Secret

	Door access.Door   // OpUnlock
	Wait time.Duration // OpWait
}

// GoString is the step as rapid logs it: the op, the key and the fields
// the op uses.
func (s Step) GoString() string {
	var b strings.Builder
	b.WriteString(s.Op.String())
	if s.Op != OpWait {
		fmt.Fprintf(&b, " %q", s.Key)
	}
	switch s.Op {
	case OpCreate:
		fmt.Fprintf(&b, " %v", s.Kind)
		if s.Kind == events.KindDigital {
			fmt.Fprintf(&b, " for %q credential=%v email=%v emailPIN=%v", s.For, s.Credential, s.Email, s.EmailPIN)
			if !s.Card.IsZero() {
				fmt.Fprintf(&b, " card=%x", s.Card.Reveal()) // test cards only: a model run may show them
			}
		}
		fmt.Fprintf(&b, " %s", settingsString(s.Settings))
	case OpEdit:
		fmt.Fprintf(&b, " %s", patchString(s.Patch))
	case OpShare:
		fmt.Fprintf(&b, " %v", s.Method)
		if s.Method == events.ShareToID {
			fmt.Fprintf(&b, " %q", s.Account)
		} else {
			fmt.Fprintf(&b, " email=%v", s.Email)
		}
	case OpDownload:
		fmt.Fprintf(&b, " by %q right=%v codeOnly=%v", s.Account, s.Right, s.CodeOnly)
	case OpUnlock:
		fmt.Fprintf(&b, " by %q right=%v door=%v", s.Account, s.Right, s.Door)
	case OpWait:
		fmt.Fprintf(&b, " %v", s.Wait)
	}
	return b.String()
}

func (s Step) String() string { return s.GoString() }

func settingsString(st events.Settings) string {
	return fmt.Sprintf("{name=%q category=%v role=%v doors=%v welcome=%q policy=%+v}", st.Name, st.Category, st.Role, st.Doors, st.Welcome, st.Policy)
}

func patchString(p commands.SettingsPatch) string {
	var parts []string
	if p.Name != nil {
		parts = append(parts, fmt.Sprintf("name=%q", *p.Name))
	}
	if p.Category != nil {
		parts = append(parts, fmt.Sprintf("category=%v", *p.Category))
	}
	if p.Role != nil {
		parts = append(parts, fmt.Sprintf("role=%v", *p.Role))
	}
	if p.Doors != nil {
		parts = append(parts, fmt.Sprintf("doors=%v", *p.Doors))
	}
	if p.Policy != nil {
		parts = append(parts, fmt.Sprintf("policy=%+v", *p.Policy))
	}
	if p.Welcome != nil {
		parts = append(parts, fmt.Sprintf("welcome=%q", *p.Welcome))
	}
	return "{" + strings.Join(parts, " ") + "}"
}
