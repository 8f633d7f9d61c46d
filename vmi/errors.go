package vmi

import (
	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/libvirt"
	"github.com/frostvmi/frost/vmi/physmem"
)

// The errors a Target's calls can wrap, under vmi's names so that callers
// test them with errors.Is without importing a backend. They are the
// backends' own values (a Target passes its backends' errors through,
// wrapped), so errors.Is matches either name.
var (
	// ErrRunning: the call needs a stopped guest (registers, steps,
	// breakpoint changes, writes) and the guest runs; nothing was sent.
	ErrRunning = gdbstub.ErrRunning
	// ErrExited: QEMU reported that the guest exited.
	ErrExited = gdbstub.ErrExited
	// ErrClosed: the connection to the guest's gdbstub is gone (closed,
	// reset, or broken by a protocol error).
	ErrClosed = gdbstub.ErrClosed
	// ErrUnsupported: QEMU does not know the request.
	ErrUnsupported = gdbstub.ErrUnsupported
	// ErrPacketTooLarge: a request does not fit the gdbstub's packet size;
	// it was not sent (QEMU would drop it without a reply).
	ErrPacketTooLarge = gdbstub.ErrPacketTooLarge
	// ErrUnknownRegister: the guest's register file has no register by
	// that name.
	ErrUnknownRegister = gdbstub.ErrUnknownRegister
	// ErrUnavailable: QEMU marked a register's value as unavailable.
	ErrUnavailable = gdbstub.ErrUnavailable
	// ErrRefused: the accelerator does not allow this breakpoint kind
	// (see Capabilities); nothing was armed. A *CapabilityError says why.
	ErrRefused = gdbstub.ErrRefused
	// ErrSlotsExhausted: every hardware breakpoint slot is taken.
	ErrSlotsExhausted = gdbstub.ErrSlotsExhausted
	// ErrNoDomain: libvirt knows no domain by that name or UUID.
	ErrNoDomain = libvirt.ErrNoDomain
)

// Typed errors that carry details, for errors.As.
type (
	// BreakpointError is a breakpoint that could not be armed or removed:
	// which one, and why (Err).
	BreakpointError = gdbstub.BreakpointError
	// CapabilityError explains an ErrRefused: the kind, the accelerator,
	// and the reason.
	CapabilityError = gdbstub.CapabilityError
	// NotRAMError is a physical read that reached an address holding no
	// guest RAM (a hole, MMIO, a ROM, past the end of RAM): GPA says where,
	// What what QEMU's map has there.
	NotRAMError = physmem.NotRAMError
)
