package breakpoints

import (
	"context"
	"fmt"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// ID names one observer, unique for the manager's life.
type ID uint64

// Handler runs at a hit while the guest is stopped. It reads through the
// frame and stages edits on it; the edits reach the guest only if it
// returns nil before ctx's deadline.
type Handler func(ctx context.Context, f *Frame) error

// kernelStart is where the canonical upper half begins: addresses from
// here on are kernel-mode, the same in every address space.
const kernelStart = 0xffff_8000_0000_0000

// Spec asks for an observer on one virtual address.
type Spec struct {
	// Addr is a kernel VA, or a user VA of AddressSpace.
	Addr uint64
	// AddressSpace is required for a user VA, and then also filters hits
	// by CR3: the stub stops every address space executing Addr. For a
	// kernel VA it is an optional CR3 filter.
	AddressSpace *AddressSpace
	// Filter narrows the hits further.
	Filter Filter
	// OneShot removes the observer after the first hit it accepts.
	OneShot bool
	// Handler runs at each accepted hit. Nil makes an observer whose hits
	// only go to subscribers (Subscribe with its ID).
	Handler Handler
	// Timeout is the handler's deadline; 0 means Options.HandlerTimeout.
	Timeout time.Duration
	// Owner names who asked, for logs and events.
	Owner string
	// OnDrop is called, in a goroutine of its own, when the manager drops
	// the observer without being asked: at a guest reset (ErrReset), when
	// the target is gone (ErrGone) or the manager closes (ErrClosed). It
	// is not called for Remove or a one-shot that fired.
	OnDrop func(id ID, why error)
	// ReturnOf is set by Frame.BreakOnReturn: the observer whose hit's
	// call this one waits for the return of. Subscribers that asked for
	// that observer's hits get this one's too.
	ReturnOf ID
	// Kind is the kind of breakpoint asked for (KindAuto: the manager
	// chooses). An observer at an address already armed shares its slot
	// only if the slot's kind is the one asked for. A return observer
	// asking KindAuto gets the kind its call's observer asked for, while
	// that observer is still known: a caller that wants the guest blind
	// to its breakpoint wants it blind to the return too.
	Kind KindChoice
}

// validate checks what can be checked without the guest.
func (s *Spec) validate() error {
	if s.Addr < kernelStart && s.AddressSpace == nil {
		return fmt.Errorf("%w: %#x is a user-mode address; give its AddressSpace", ErrNoAddressSpace, s.Addr)
	}
	if s.Kind >= kindChoices {
		return fmt.Errorf("breakpoints: unknown breakpoint kind %v (want auto, hardware or software)", s.Kind)
	}
	if s.Timeout < 0 {
		return fmt.Errorf("breakpoints: negative handler timeout %v", s.Timeout)
	}
	return nil
}

// Placement is how a slot is armed in the stub, reported so that callers
// (winboot's report, the API) can say which kind was used.
type Placement struct {
	Kind vmi.BreakpointKind // vmi.SoftwareBreakpoint (Z0) or vmi.HardwareBreakpoint (Z1)
	// Visible: the breakpoint writes 0xCC into guest memory (Z0 under
	// KVM), where the guest can read it.
	Visible bool
}

func (p Placement) String() string {
	k := "software"
	if p.Kind == vmi.HardwareBreakpoint {
		k = "hardware"
	}
	if p.Visible {
		return k + " (visible to the guest)"
	}
	return k
}

// Armed reports an observer that was added.
type Armed struct {
	ID   ID
	Addr uint64
	Placement
	// Shared: the slot already existed for other observers.
	Shared bool
}
