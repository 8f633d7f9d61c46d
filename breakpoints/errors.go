package breakpoints

import (
	"errors"
	"fmt"

	"github.com/frostvmi/frost/vmi"
)

// Sentinel errors; the typed errors below match them with errors.Is.
var (
	// ErrNoSlot: no breakpoint slot is free for this address under the
	// accelerator's capabilities. The API maps it to ResourceExhausted.
	ErrNoSlot = errors.New("breakpoints: no breakpoint slot free")
	// ErrClosed: the manager was closed; nothing more can be armed.
	ErrClosed = errors.New("breakpoints: manager closed")
	// ErrGone: the target went away (vmi.EventGone).
	ErrGone = errors.New("breakpoints: target gone")
	// ErrReset: the guest reset, so the breakpoint was removed: its
	// address belonged to the previous boot.
	ErrReset = errors.New("breakpoints: guest reset")
	// ErrNoAddressSpace: a user-mode address needs the DTB it belongs to.
	ErrNoAddressSpace = errors.New("breakpoints: user address without an address space")
	// ErrUnknown: no observer with this ID (removed, one-shot already
	// fired, or dropped at a reset).
	ErrUnknown = errors.New("breakpoints: unknown breakpoint")
	// ErrNoTranslator: reading or writing a virtual address needs
	// Options.Translate.
	ErrNoTranslator = errors.New("breakpoints: no address translator configured")
	// ErrFrameDone: the frame's hit is over (the handler returned or ran
	// out of time); its edits can no longer change anything.
	ErrFrameDone = errors.New("breakpoints: handler frame is finished")
	// ErrNotHeld: an ack for an event that does not hold the guest (no
	// hold asked, already acked, or its deadline passed).
	ErrNotHeld = errors.New("breakpoints: event does not hold the guest")
	// ErrHandlerTimeout: a handler overran its deadline.
	ErrHandlerTimeout = errors.New("breakpoints: handler deadline passed")
	// ErrFilterTimeout: a filter predicate or the thread resolver overran
	// Options.FilterTimeout; the hit counts as not matching.
	ErrFilterTimeout = errors.New("breakpoints: filter deadline passed")
	// ErrHandlerPanic: a handler (or a filter) panicked.
	ErrHandlerPanic = errors.New("breakpoints: handler panicked")
)

// SlotError explains an ErrNoSlot: what the capabilities allowed and what
// was already taken.
type SlotError struct {
	Addr uint64
	Caps vmi.Capabilities
	// HardwareUsed counts the debug-register slots armed now.
	HardwareUsed int
	// Err is the stub's own refusal, when it had the last word.
	Err error
}

func (e *SlotError) Error() string {
	c := e.Caps
	msg := fmt.Sprintf("breakpoints: no slot for %#x under %v: %d of %d debug registers in use", e.Addr, c.Accel, e.HardwareUsed, c.HardwareSlots)
	if !c.Software {
		msg += ", software breakpoints not allowed (visible ones need the operator's consent)"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *SlotError) Is(target error) bool { return target == ErrNoSlot }

func (e *SlotError) Unwrap() error { return e.Err }

// HandlerError says which observer's handler failed at which hit.
type HandlerError struct {
	ID    ID
	Owner string
	Addr  uint64
	Err   error // ErrHandlerTimeout, ErrHandlerPanic, or the handler's own
	// Panic is the recovered value of a panic.
	Panic any
}

func (e *HandlerError) Error() string {
	if e.Panic != nil {
		return fmt.Sprintf("breakpoints: handler %d (%s) at %#x panicked: %v", e.ID, e.Owner, e.Addr, e.Panic)
	}
	return fmt.Sprintf("breakpoints: handler %d (%s) at %#x: %v", e.ID, e.Owner, e.Addr, e.Err)
}

func (e *HandlerError) Unwrap() error { return e.Err }
