// Package vmi is everything that touches the hypervisor. Target is the one
// interface the rest of Frost sees of a running guest; the subpackages are
// its parts (gdbstub: control plane, physmem: data plane, qmp and libvirt:
// discovery, lifecycle and events, qemu: launching QEMU ourselves).
//
// vmi owns the vocabulary the rest of Frost speaks about a guest: the
// control-plane types below, breakpoint kinds and accelerators
// (breakpoint.go), stop signals (signals.go), the errors callers test with
// errors.Is and errors.As (errors.go), the data plane's kinds and ranges
// (backend.go, physmap.go), the monitor's system registers (sysregs.go)
// and libvirt's domains (domains.go). Most are aliases of the backend's
// own types and values, so a backend's error matches vmi's name; what
// matters is that nothing above vmi imports a backend: only the wiring in
// cmd/ does.
package vmi

import (
	"context"
	"time"

	"github.com/frostvmi/frost/vmi/gdbstub"
)

// The control-plane types are gdbstub's, under vmi's names: a Target adds
// ownership and events around them, not another shape.
type (
	// CPU names a vCPU (a gdbstub thread).
	CPU = gdbstub.ThreadID
	// Registers is one vCPU's register file, by target.xml name.
	Registers = gdbstub.Registers
	// Breakpoint is one Z/z target: kind, virtual address, size.
	Breakpoint = gdbstub.Breakpoint
	// Capabilities say which breakpoints the accelerator allows.
	Capabilities = gdbstub.Capabilities
	// Stop is a stop reply with the stopped vCPU's register snapshot.
	Stop = gdbstub.Stop
)

// Target is a running guest that Frost holds: one owner of its gdbstub, its
// guest-physical memory and its lifecycle events.
//
// OpenQEMU (a QEMU that vmi/qemu launched), DialQEMU (any QEMU, by its
// sockets) and AttachDomain (a libvirt domain) make one. Opening takes
// charge of the guest: it stops it and removes every breakpoint a previous
// owner left in the stub (one that died without detaching), and leaves it
// stopped, so the new owner can arm breakpoints before it runs again.
//
// The guest is all-stop: Pause, a breakpoint or a step stops every vCPU,
// and Resume runs them all. Calls that need the guest stopped (registers,
// steps, breakpoint changes under QEMU's stub) fail with an error wrapping
// ErrRunning while it runs. Physical reads never need it stopped.
//
// Methods are safe for concurrent use.
type Target interface {
	// Name says which guest this is, for logs and errors.
	Name() string

	// Pause stops the guest and returns the stop. If the guest stopped for
	// another reason at the same moment (a breakpoint hit racing the
	// interrupt), that stop is returned and also delivered on Events, so
	// the breakpoint's owner still sees it. Pausing a stopped guest returns
	// the stop it is in.
	Pause(ctx context.Context) (*Stop, error)
	// Resume runs every vCPU. The next stop arrives on Events.
	Resume(ctx context.Context) error
	// Running reports whether the guest runs, and the latest stop if not.
	Running() (bool, *Stop)
	// Step executes one instruction on cpu only.
	Step(ctx context.Context, cpu CPU) (*Stop, error)
	// StepOver moves cpu past the breakpoints at its instruction pointer
	// (removed for the step, armed again after it) and leaves the guest
	// stopped.
	StepOver(ctx context.Context, cpu CPU, at ...Breakpoint) (*Stop, error)

	// CPUs lists the vCPUs.
	CPUs(ctx context.Context) ([]CPU, error)
	// Registers reads cpu's register file; the guest must be stopped.
	Registers(ctx context.Context, cpu CPU) (*Registers, error)
	// SetRegisters writes cpu's whole register file.
	SetRegisters(ctx context.Context, cpu CPU, regs *Registers) error

	// ReadPhysical fills p from guest-physical address gpa through the
	// data plane, running or not. A hole or an address past RAM is an
	// error naming it, never zeros.
	ReadPhysical(ctx context.Context, gpa uint64, p []byte) error
	// WritePhysical writes through QEMU (the stub's physical mode), so
	// translated code and dirty tracking see it; the guest must be stopped.
	WritePhysical(ctx context.Context, gpa uint64, p []byte) error

	// InsertBreakpoint and RemoveBreakpoint arm and disarm one breakpoint,
	// checked against Capabilities first.
	InsertBreakpoint(ctx context.Context, bp Breakpoint) error
	RemoveBreakpoint(ctx context.Context, bp Breakpoint) error
	// Capabilities are what the accelerator allows (QMP query-kvm, never
	// probing).
	Capabilities() Capabilities

	// Events delivers the stops nobody asked for by a call (breakpoint and
	// watchpoint hits, a stop after Resume) and the guest's lifecycle:
	// resets, shutdown, the connection's end. One consumer reads it; it is
	// closed after Close or once the target is gone.
	Events() <-chan Event

	// Close leaves the guest running and clean: every breakpoint this
	// target armed is removed, then the stub is detached ("D;1"). It is
	// safe to call more than once.
	Close(ctx context.Context) error
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventStop: the guest stopped (Stop is set, with its registers).
	EventStop EventKind = iota + 1
	// EventReset: the guest reset and is booting again. Every breakpoint
	// stays armed in the stub at its old virtual address, which a new boot
	// (a new KASLR base) makes meaningless: owners must re-arm.
	EventReset
	// EventShutdown: the guest powered off or QEMU exited.
	EventShutdown
	// EventGone: the connection to the guest ended (Err says why); no more
	// events follow.
	EventGone
	// EventResumed: someone other than this Target resumed the guest (an
	// operator's QMP cont, virsh resume, the end of virsh dump) while the
	// Target had it stopped; Reason says how Frost learned it. The guest
	// runs: Running reports so, and the next stop arrives as usual.
	EventResumed
)

func (k EventKind) String() string {
	switch k {
	case EventStop:
		return "stop"
	case EventReset:
		return "reset"
	case EventShutdown:
		return "shutdown"
	case EventGone:
		return "gone"
	case EventResumed:
		return "resumed"
	case hintResumed:
		return "resume-hint"
	}
	return "unknown"
}

// Event is one thing that happened to the guest.
type Event struct {
	Kind EventKind
	// Time is the host's time when Frost saw it.
	Time time.Time
	// Stop is set for EventStop.
	Stop *Stop
	// Err is why the target is gone (EventGone), or what went wrong
	// reading the stop's registers.
	Err error
	// Reason is the hypervisor's own word for a lifecycle event (QMP's
	// RESET reason, libvirt's lifecycle detail), for logs.
	Reason string
}
