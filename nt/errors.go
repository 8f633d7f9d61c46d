package nt

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is.
var (
	// ErrKernelNotFound: no kernel image was found where the scan looked.
	ErrKernelNotFound = errors.New("nt: kernel image not found")
	// ErrNoKernelAddress: the stopped vCPU holds no kernel-half address to
	// scan from (a loader, or firmware): nothing was looked at. It is an
	// ErrKernelNotFound too.
	ErrNoKernelAddress = fmt.Errorf("%w: no register of the stopped vCPU holds a kernel address", ErrKernelNotFound)
	// ErrNoProcess: no process has the pid, DTB or address asked for.
	ErrNoProcess = errors.New("nt: no such process")
	// ErrNoHandle: the handle is not in the table, or its entry is free.
	ErrNoHandle = errors.New("nt: no such handle")
	// ErrCycle: a list or tree in guest memory leads back to a node it
	// already visited.
	ErrCycle = errors.New("nt: cycle in guest structure")
	// ErrTooLong: a walk exceeded its bound (Limits).
	ErrTooLong = errors.New("nt: guest structure exceeds its bound")
	// ErrCorrupt: a guest structure holds a value no kernel writes.
	ErrCorrupt = errors.New("nt: corrupt guest structure")
)

// ReadError says which guest read failed: what was being read, where, and
// why (for a translation failure the error wraps translate's reason, e.g.
// translate.ErrPagefileNotSupplied).
type ReadError struct {
	What string
	DTB  uint64
	VA   uint64
	Len  int
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("nt: reading %s at %#x (%d bytes, DTB %#x): %v", e.What, e.VA, e.Len, e.DTB, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// WalkError reports a list or tree walk that guest memory made impossible:
// a cycle, a bound exceeded, or a node that cannot be what it claims.
// Err is ErrCycle, ErrTooLong or ErrCorrupt.
type WalkError struct {
	What string // "ActiveProcessLinks", "VAD tree of pid 8", ...
	At   uint64 // the node's address
	Err  error
	Msg  string
}

func (e *WalkError) Error() string {
	s := fmt.Sprintf("nt: walking %s at %#x: %v", e.What, e.At, e.Err)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func (e *WalkError) Unwrap() error { return e.Err }

// SymbolError says which symbol or field the kernel's symbols lack for the
// question asked. Err wraps the symbols package's *LookupError.
type SymbolError struct {
	Need string // what it was needed for
	Err  error
}

func (e *SymbolError) Error() string { return fmt.Sprintf("nt: %s: %v", e.Need, e.Err) }

func (e *SymbolError) Unwrap() error { return e.Err }
