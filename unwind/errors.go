package unwind

import (
	"errors"
	"fmt"
)

// FormatError is malformed unwind data: an UNWIND_INFO or RUNTIME_FUNCTION
// that no compiler would emit and no unwinder could follow without
// guessing. Addr is where the structure was read.
type FormatError struct {
	Addr   uint64
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("unwind: malformed unwind data at %#x: %s", e.Addr, e.Reason)
}

func formatErr(addr uint64, format string, args ...any) error {
	return &FormatError{Addr: addr, Reason: fmt.Sprintf(format, args...)}
}

// ReadError is a guest read that failed: Len bytes at Addr, read for What
// (a return address, an UNWIND_INFO, a saved register, code bytes...).
type ReadError struct {
	Addr uint64
	Len  int
	What string
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("unwind: reading %s: %d bytes at %#x: %v", e.What, e.Len, e.Addr, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// errShortRead stands for a Memory that returned fewer bytes than asked
// without saying why.
var errShortRead = errors.New("short read")

// ErrUnknownRegister is wrapped by the error of a step that needs a
// register the context does not know (RSP, or the frame register).
var ErrUnknownRegister = errors.New("register unknown")

func unknownReg(reg int, why string) error {
	return fmt.Errorf("unwind: %s: %w: %s", why, ErrUnknownRegister, RegName(reg))
}

// StackError is a step whose result cannot be a caller: the stack pointer
// would wrap around the address space, or a lookup contradicted itself.
type StackError struct {
	RIP    uint64
	Reason string
}

func (e *StackError) Error() string {
	return fmt.Sprintf("unwind: frame at rip %#x: %s", e.RIP, e.Reason)
}
