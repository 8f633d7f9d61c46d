package physmem

import (
	"errors"
	"fmt"
	"strings"
)

// NotRAMError is a read that reached a guest-physical address holding no
// guest RAM: a hole, MMIO, a ROM, device memory, or past the end of RAM.
type NotRAMError struct {
	GPA  uint64 // the first address of the read that is not RAM
	What string // what QEMU's map has there, e.g. `i/o region "hpet"`
}

func (e *NotRAMError) Error() string {
	return fmt.Sprintf("physmem: GPA %#x is not guest RAM (%s)", e.GPA, e.What)
}

// FaultError is a fault while copying from a mapping, which happens if the
// file behind it shrank (someone truncated the RAM file).
type FaultError struct {
	GPA  uint64
	Path string
	Err  error
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("physmem: fault reading GPA %#x from %s (was the file truncated?): %v", e.GPA, e.Path, e.Err)
}

func (e *FaultError) Unwrap() error { return e.Err }

// ErrClosed is returned by reads after Close.
var ErrClosed = errors.New("physmem: memory closed")

// Attempt is one backend that Open tried, and why it was not used.
type Attempt struct {
	Kind Kind
	Err  error
}

// OpenError is Open finding no usable backend; each attempt says why.
type OpenError struct {
	Attempts []Attempt
}

func (e *OpenError) Error() string {
	var b strings.Builder
	b.WriteString("physmem: no backend can read guest RAM")
	for _, a := range e.Attempts {
		fmt.Fprintf(&b, "; %s: %v", a.Kind, a.Err)
	}
	return b.String()
}

// Unwrap gives every attempt's error, so errors.As finds e.g. a
// *VerifyError among them.
func (e *OpenError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		errs[i] = a.Err
	}
	return errs
}

// MapError is a guest-physical map that does not make sense: ranges that
// leave their RAM block, a missing block, no RAM at all.
type MapError struct {
	Msg string
}

func (e *MapError) Error() string { return "physmem: guest-physical map: " + e.Msg }
