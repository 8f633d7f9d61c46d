package minidump

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf16"
)

// Limits on what a Plan accepts. A minidump's directory and small streams
// are addressed by 32-bit offsets, so everything but the memory bytes must
// fit below 4 GiB; these caps are far below that and far above any real
// process, so a caller's bug shows as an error rather than a huge file.
const (
	maxModules = 1 << 16
	maxThreads = 1 << 16
	maxRanges  = 1 << 24
	maxString  = 1 << 15 // characters in a module or PDB name
	maxComment = 1 << 26 // bytes of comment text
)

// ErrInvalid wraps every reason Plan refuses a Dump.
var ErrInvalid = errors.New("minidump: invalid dump")

// Plan is a Dump with its file layout fixed: every stream's offset and the
// file's size, known before any memory is read.
type Plan struct {
	d Dump

	streams []stream
	// small holds every byte before the memory bytes: header, directory
	// and all streams but the memory itself. It is at most a few MB.
	small []byte
	// memRVA is where the first range's bytes start (the Memory64 list's
	// BaseRva); rangeRVA[i] is where range i's bytes start.
	memRVA   uint64
	rangeRVA []uint64
	size     uint64
}

type stream struct {
	typ       uint32
	rva, size uint32
}

// NewPlan checks d and lays out its file.
func NewPlan(d Dump) (*Plan, error) {
	if err := check(d); err != nil {
		return nil, err
	}
	p := &Plan{d: d}
	p.layout()
	return p, nil
}

// Size is the file's length in bytes.
func (p *Plan) Size() uint64 { return p.size }

// MemoryOffset is the file offset of the first memory byte: everything
// before it is the header and the small streams.
func (p *Plan) MemoryOffset() uint64 { return p.memRVA }

// MemoryBytes is the number of memory bytes the file holds.
func (p *Plan) MemoryBytes() uint64 { return p.size - p.memRVA }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func check(d Dump) error {
	if len(d.Modules) > maxModules {
		return invalid("%d modules (at most %d)", len(d.Modules), maxModules)
	}
	if len(d.Threads) > maxThreads {
		return invalid("%d threads (at most %d)", len(d.Threads), maxThreads)
	}
	if len(d.Memory) > maxRanges {
		return invalid("%d memory ranges (at most %d)", len(d.Memory), maxRanges)
	}
	if len(d.Comment) > maxComment {
		return invalid("comment of %d bytes (at most %d)", len(d.Comment), maxComment)
	}
	for i, m := range d.Modules {
		if len(m.Name) > maxString || len(m.PDB.Name) > maxString {
			return invalid("module %d: name longer than %d", i, maxString)
		}
		if m.Base+uint64(m.Size) < m.Base {
			return invalid("module %q: %#x+%#x wraps", m.Name, m.Base, m.Size)
		}
	}
	var prev uint64
	for i, r := range d.Memory {
		if r.Size == 0 {
			return invalid("memory range %d at %#x is empty", i, r.Base)
		}
		if r.End() < r.Base || r.End() == 0 {
			return invalid("memory range %d at %#x+%#x wraps", i, r.Base, r.Size)
		}
		if i > 0 && r.Base < prev {
			return invalid("memory range %d at %#x overlaps or precedes the one before (ending %#x)", i, r.Base, prev)
		}
		prev = r.End()
	}
	return nil
}

// utf16z is s as UTF-16LE with a terminating NUL.
func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u)+2)
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return b
}

// findRange is the index of the memory range that holds all of r, or -1.
func findRange(ranges []Range, r Range) int {
	lo, hi := 0, len(ranges)
	for lo < hi {
		m := (lo + hi) / 2
		if ranges[m].End() <= r.Base {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if r.Size > 0 && lo < len(ranges) && ranges[lo].Base <= r.Base && r.End() >= r.Base && r.End() <= ranges[lo].End() {
		return lo
	}
	return -1
}

// fits32 says whether an offset can be written as a 32-bit RVA.
func fits32(n uint64) bool { return n <= math.MaxUint32 }
