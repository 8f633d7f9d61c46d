package translate

import (
	"errors"
	"fmt"
)

// Why a page has no bytes. Page statuses and translation errors wrap these,
// so callers test them with errors.Is.
var (
	ErrNotMapped           = errors.New("not mapped")
	ErrReserved            = errors.New("reserved, not committed")
	ErrDecommitted         = errors.New("decommitted")
	ErrCompressed          = errors.New("compressed, not decoded")
	ErrPagefileNotSupplied = errors.New("paging file not supplied")
	ErrFileNotSupplied     = errors.New("mapped file not supplied")
	// ErrTooDeep: a walk needed more nested walks than any Windows state
	// requires (a prototype PTE that leads to another, or a cycle).
	ErrTooDeep = errors.New("translation nested too deep")
)

// AddressError reports a virtual address no x64 walk accepts.
type AddressError struct {
	VA     uint64
	Reason string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("translate: address 0x%x: %s", e.VA, e.Reason)
}

// ReadError reports a read that translation needed and could not do: an
// entry, a prototype PTE, a _SUBSECTION, a VAD. Err may wrap
// ErrPagefileNotSupplied or ErrCompressed when the structure itself was
// paged out.
type ReadError struct {
	What string // "pde", "prototype PTE", "_SUBSECTION", ...
	At   Where
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("translate: reading %s at %s: %v", e.What, e.At, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// EntryError reports an entry no Windows state explains. Guest memory is
// untrusted, so this is an answer, not a crash.
type EntryError struct {
	What   string
	At     Where
	Raw    uint64
	Reason string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("translate: %s at %s = 0x%016x: %s", e.What, e.At, e.Raw, e.Reason)
}

// ConfigError reports an unusable Config.
type ConfigError struct{ Reason string }

func (e *ConfigError) Error() string { return "translate: config: " + e.Reason }
