package gdbstub

import (
	"errors"
	"fmt"
)

// Sentinel errors. Typed errors below match them with errors.Is.
var (
	// ErrClosed: the connection is gone (closed, reset or poisoned). Every
	// pending and later call fails with an error matching it.
	ErrClosed = errors.New("gdbstub: connection closed")
	// ErrRunning: the call needs a stopped guest, and the guest runs. Any
	// packet would stop it and be lost, so none was sent.
	ErrRunning = errors.New("gdbstub: the guest is running")
	// ErrExited: the stub reported that the guest exited (W or X).
	ErrExited = errors.New("gdbstub: the guest exited")
	// ErrProtocol: the stub broke the protocol, or its replies can no
	// longer be matched to requests. The connection is closed.
	ErrProtocol = errors.New("gdbstub: protocol error")
	// ErrUnsupported: the stub answered with an empty packet, the
	// protocol's "I do not know this request".
	ErrUnsupported = errors.New("gdbstub: request not supported by the stub")
	// ErrNoTargetDescription: registers cannot be named or decoded
	// because the stub offered no target.xml.
	ErrNoTargetDescription = errors.New("gdbstub: no target description")
	// ErrPacketTooLarge: the packet does not fit the stub's PacketSize.
	// QEMU drops such a packet without a reply, so it was not sent.
	ErrPacketTooLarge = errors.New("gdbstub: packet larger than the stub accepts")
	// ErrUnknownRegister: the target description has no such register.
	ErrUnknownRegister = errors.New("gdbstub: unknown register")
	// ErrUnavailable: the stub marked the register's value as unavailable.
	ErrUnavailable = errors.New("gdbstub: register value unavailable")
	// ErrRefused: the accelerator's capabilities forbid this breakpoint
	// kind; nothing was sent.
	ErrRefused = errors.New("gdbstub: breakpoint kind refused for this accelerator")
	// ErrSlotsExhausted: no hardware breakpoint slot is free (checked by
	// the client from Capabilities, or reported by the stub as E22).
	ErrSlotsExhausted = errors.New("gdbstub: hardware breakpoint slots exhausted")
	// ErrBreakpointsArmed: "?" would silently remove the breakpoints this
	// client armed, so Attach refuses to send it.
	ErrBreakpointsArmed = errors.New("gdbstub: breakpoints are armed")
	// ErrNoStop: no stop has been seen yet on this connection (call
	// Attach first).
	ErrNoStop = errors.New("gdbstub: no stop seen yet")
)

// StubError is an "Enn" reply: the stub refused the request.
type StubError struct {
	Request string // the request's command, e.g. "m" or "Z1"
	// Code is nn as sent. The protocol calls it hex, but QEMU writes
	// errno values in decimal ("E22" is EINVAL, "E14" EFAULT), so it is
	// kept as text: compare with CodeEINVAL and CodeEFAULT.
	Code string
}

// QEMU's error codes.
const (
	CodeEINVAL = "22" // bad request; for Z1 under KVM: no debug register free
	CodeEFAULT = "14" // unmapped address; for p: no such register
)

func (e *StubError) Error() string {
	return fmt.Sprintf("gdbstub: %s: stub replied E%s", e.Request, e.Code)
}

// ProtocolError explains an ErrProtocol.
type ProtocolError struct {
	Msg string
}

func (e *ProtocolError) Error() string        { return "gdbstub: protocol error: " + e.Msg }
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

func protocolErr(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// ConnError explains an ErrClosed: why the connection ended.
type ConnError struct {
	Err error // the underlying I/O or protocol error; nil after Close
}

func (e *ConnError) Error() string {
	if e.Err == nil {
		return ErrClosed.Error()
	}
	return ErrClosed.Error() + ": " + e.Err.Error()
}
func (e *ConnError) Unwrap() error        { return e.Err }
func (e *ConnError) Is(target error) bool { return target == ErrClosed }

// MemoryError reports the part of a memory access that failed.
type MemoryError struct {
	Op   string // "read" or "write"
	Addr uint64 // the first address of the failed chunk
	Len  int    // the chunk's length
	Err  error  // usually a *StubError (E14 for an unmapped address)
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("gdbstub: memory %s of %d bytes at %#x: %v", e.Op, e.Len, e.Addr, e.Err)
}
func (e *MemoryError) Unwrap() error { return e.Err }

// BreakpointError reports a breakpoint that could not be inserted or
// removed.
type BreakpointError struct {
	Op         string // "insert" or "remove"
	Breakpoint Breakpoint
	Err        error
}

func (e *BreakpointError) Error() string {
	return fmt.Sprintf("gdbstub: %s %v: %v", e.Op, e.Breakpoint, e.Err)
}
func (e *BreakpointError) Unwrap() error { return e.Err }

// CapabilityError explains an ErrRefused.
type CapabilityError struct {
	Kind   BreakpointKind
	Accel  Accelerator
	Reason string
}

func (e *CapabilityError) Error() string {
	return fmt.Sprintf("gdbstub: %v refused under %v: %s", e.Kind, e.Accel, e.Reason)
}
func (e *CapabilityError) Is(target error) bool { return target == ErrRefused }

// RegisterError names the register an access failed on.
type RegisterError struct {
	Name string
	Err  error
}

func (e *RegisterError) Error() string { return "gdbstub: register " + e.Name + ": " + e.Err.Error() }
func (e *RegisterError) Unwrap() error { return e.Err }
