package translate

import (
	"fmt"
	"io"
)

// State is where a virtual page's bytes are, as far as translation got.
type State uint8

const (
	StateUnknown     State = iota // translation failed; the error says why
	StateValid                    // in RAM, mapped
	StateTransition               // in RAM, on a standby or modified list
	StatePagefile                 // in a paging file
	StateCompressed               // in the virtual store: compressed, not decoded
	StateDemandZero               // reads as zeros
	StateDecommitted              // no bytes
	StateReserved                 // inside a private VAD that is not committed: no bytes
	StateNotMapped                // no VAD, or a kernel VA with a zero entry: no bytes
	StateFile                     // only in its mapped file
)

var stateNames = [...]string{
	StateUnknown: "Unknown", StateValid: "Valid", StateTransition: "Transition", StatePagefile: "Pagefile",
	StateCompressed: "Compressed", StateDemandZero: "Demand Zero", StateDecommitted: "Decommitted",
	StateReserved: "Reserved", StateNotMapped: "Not Mapped", StateFile: "File Mapping",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Location is the result of translating one virtual address.
type Location struct {
	State State
	// Addr locates the byte at the translated VA: a physical address
	// (Valid, Transition), a byte offset in the paging file (Pagefile,
	// Compressed) or in the file (File).
	Addr uint64
	// Pagefile is the paging file's number (PageFileLow).
	Pagefile uint64
	// PageSize is the size of the mapping: 4K, 2M or 1G.
	PageSize uint64
	// Protection is the software protection when the deciding entry or VAD
	// has one.
	Protection uint64
	// PrototypePTE is the kernel VA of the prototype PTE the page was
	// resolved through, or 0.
	PrototypePTE uint64
	// File describes a file-backed page.
	File *FileLocation
}

// FileLocation is the file side of a file-backed page.
type FileLocation struct {
	Subsection uint64 // kernel VA of the _SUBSECTION
	// DataEnd is the file offset where the subsection's data ends; bytes of
	// the page at or past it read as zeros, as the memory manager fills them.
	DataEnd uint64
	// Name is the file's name as the resolver gave it, "" when unknown.
	Name string
	data io.ReaderAt // nil when the file was not supplied
	err  error       // why data is nil
}

// String formats the location like Rekall's vadmap.
func (l Location) String() string {
	switch l.State {
	case StateValid:
		return fmt.Sprintf("Valid PhysAS @ 0x%x", l.Addr)
	case StateTransition:
		return fmt.Sprintf("Transition PhysAS @ 0x%x", l.Addr)
	case StatePagefile:
		return fmt.Sprintf("Pagefile %d @ 0x%x", l.Pagefile, l.Addr)
	case StateCompressed:
		return fmt.Sprintf("Compressed (virtual store, pagefile %d @ 0x%x)", l.Pagefile, l.Addr)
	case StateFile:
		name := "<unknown file>"
		if l.File != nil && l.File.Name != "" {
			name = l.File.Name
		}
		return fmt.Sprintf("File Mapping %s @ 0x%x", name, l.Addr)
	}
	return l.State.String()
}

// at returns the location of the byte off bytes further into the page.
// States without an address stay as they are.
func (l Location) at(off uint64) Location {
	l.advance(off)
	return l
}

// advance is at, in place, for the read path.
func (l *Location) advance(off uint64) {
	switch l.State {
	case StateValid, StateTransition, StatePagefile, StateCompressed, StateFile:
		l.Addr += off
	}
}
