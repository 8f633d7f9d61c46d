package breakpoints

import (
	"errors"
	"fmt"
	"strings"

	"github.com/frostvmi/frost/vmi"
)

// KindChoice is what a Spec asks of the kind of breakpoint it is armed
// with. The zero value lets the manager choose.
type KindChoice uint8

const (
	// KindAuto takes the best the capabilities allow: under TCG a software
	// breakpoint (invisible, unlimited); under KVM a debug register while
	// one is free, then a software breakpoint only if the operator allowed
	// visible ones.
	KindAuto KindChoice = iota
	// KindHardware takes a debug register or fails (ErrNoSlot when all are
	// in use): the caller wants the guest unable to see the breakpoint.
	KindHardware
	// KindSoftware takes a software breakpoint or fails (ErrKindRefused):
	// under KVM it writes 0xCC into guest code, which the guest (and
	// Windows' kernel patch protection) can read, so it needs the
	// operator's consent; under TCG it is invisible.
	KindSoftware
	kindChoices // the number of choices, for validation
)

func (k KindChoice) String() string {
	switch k {
	case KindAuto:
		return "auto"
	case KindHardware:
		return "hardware"
	case KindSoftware:
		return "software"
	}
	return fmt.Sprintf("KindChoice(%d)", int(k))
}

// allows says whether a slot armed as p may serve an observer asking for
// k: an explicit kind is a promise about what the guest can see, so it is
// never met by the other kind even at an address already armed.
func (k KindChoice) allows(p Placement) bool {
	switch k {
	case KindHardware:
		return p.Kind == vmi.HardwareBreakpoint
	case KindSoftware:
		return p.Kind == vmi.SoftwareBreakpoint
	}
	return true
}

// consentHint is how an operator gives the consent to visible software
// breakpoints. Named here because refusals must say what to pass, and
// frostd's flag is the only way to give it.
const consentHint = "start frostd with --allow-software-breakpoints"

// ErrKindRefused: the kind of breakpoint a Spec asked for is not allowed
// here (software under KVM without the operator's consent, or at all on
// a host whose KVM dies on 0xCC), or the address is already armed with the
// other kind. The API maps it to FailedPrecondition.
var ErrKindRefused = errors.New("breakpoints: breakpoint kind refused")

// KindError explains an ErrKindRefused.
type KindError struct {
	Addr  uint64
	Want  KindChoice
	Accel vmi.Accelerator
	// Reason says why, and what would allow it.
	Reason string
}

func (e *KindError) Error() string {
	return fmt.Sprintf("breakpoints: a %s breakpoint at %#x under %v: %s", e.Want, e.Addr, e.Accel, e.Reason)
}

func (e *KindError) Is(target error) bool { return target == ErrKindRefused }

// softwareRefusal says why the capabilities refuse software breakpoints,
// and what would allow them.
func softwareRefusal(c vmi.Capabilities) string {
	if c.Accel == vmi.AccelKVMNoVirt {
		return "refused on this host: its KVM has no vmx/svm and the guest dies on the 0xCC a software breakpoint writes"
	}
	if !c.Hardware {
		return "software breakpoints are not available"
	}
	return "software breakpoints write 0xCC into guest code under KVM, where the guest and Windows' kernel patch protection can see it; " + consentHint + " to allow them"
}

// SlotUse is one debug register in use: its address and who observes it.
type SlotUse struct {
	Addr   uint64
	Owners []string
}

// HardwareInUse is carried by a *SlotError (its Err) when the debug
// registers ran out: who holds them, and whether software breakpoints
// could have been used instead. It wraps the stub's own refusal, if any.
type HardwareInUse struct {
	Used []SlotUse
	// Software says why software breakpoints were not the fallback; ""
	// when the request asked for hardware only (HardwareOnly).
	Software     string
	HardwareOnly bool
	// Stub is the stub's refusal when it had the last word.
	Stub error
}

func (e *HardwareInUse) Error() string {
	var b strings.Builder
	b.WriteString("debug registers held by ")
	if len(e.Used) == 0 {
		b.WriteString("nobody Frost knows of (another debugger attached to the stub?)")
	}
	for i, u := range e.Used {
		if i > 0 {
			b.WriteString(", ")
		}
		owners := strings.Join(u.Owners, " and ")
		if owners == "" {
			owners = "(no owner named)"
		}
		fmt.Fprintf(&b, "%s at %#x", owners, u.Addr)
	}
	if e.HardwareOnly {
		b.WriteString("; a debug register was asked for: remove one of these, or ask for any kind")
	}
	if e.Software != "" {
		b.WriteString("; no software fallback: ")
		b.WriteString(e.Software)
	}
	if e.Stub != nil {
		b.WriteString("; the stub: ")
		b.WriteString(e.Stub.Error())
	}
	return b.String()
}

func (e *HardwareInUse) Unwrap() error { return e.Stub }
