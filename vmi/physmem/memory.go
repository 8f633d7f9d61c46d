package physmem

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Kind names a backend.
type Kind int

const (
	// KindSharedFile is a memory-backend-file with share=on, mapped.
	KindSharedFile Kind = iota + 1
	// KindMemfd is a memory-backend-memfd, mapped through /proc/<pid>/fd.
	KindMemfd
	// KindProcMem is /proc/<pid>/mem at a verified mapping.
	KindProcMem
	// KindReference is the Reference reader (the gdbstub).
	KindReference
)

func (k Kind) String() string {
	switch k {
	case KindSharedFile:
		return "shared RAM file"
	case KindMemfd:
		return "memfd"
	case KindProcMem:
		return "/proc/<pid>/mem"
	case KindReference:
		return "reference reader"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// source reads block bytes for one backend. gpa and off name the same
// place: gpa for a reader that speaks guest-physical addresses (the
// reference), off (the RAM block offset) for one that reads the block.
// The caller keeps [off, off+len(p)) inside one range of the Map.
type source interface {
	read(ctx context.Context, p []byte, gpa, off uint64) error
	close() error
}

// Memory reads guest-physical memory through one backend. It is safe for
// concurrent use if its backend is: the mapped and procfs backends are,
// and a Reference must be.
type Memory struct {
	gm      *Map
	src     source
	kind    Kind
	desc    string
	skipped []Attempt
	// served counts the bytes read, for metrics (stats.go).
	served atomic.Uint64
}

func newMemory(gm *Map, src source, kind Kind, desc string) *Memory {
	return &Memory{gm: gm, src: src, kind: kind, desc: desc}
}

// Kind says which backend serves reads.
func (m *Memory) Kind() Kind { return m.kind }

// String names the backend and what it reads, e.g. the file.
func (m *Memory) String() string { return m.kind.String() + " " + m.desc }

// Map is the guest-physical map reads are translated through.
func (m *Memory) Map() *Map { return m.gm }

// Skipped lists the better backends Open tried first, and why each was
// not used.
func (m *Memory) Skipped() []Attempt { return append([]Attempt(nil), m.skipped...) }

// ReadPhysical fills p from guest-physical address gpa. If the read
// reaches an address that is not guest RAM, it fails with a *NotRAMError
// naming the first such address; the bytes before it are filled.
func (m *Memory) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	n, err := m.read(ctx, gpa, p)
	m.served.Add(uint64(n))
	return err
}

// ReadAt implements io.ReaderAt over guest-physical addresses, for parsers
// that take one. n is the count read before the first address that is
// not RAM.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("physmem: negative address %d", off)
	}
	n, err := m.read(context.Background(), uint64(off), p)
	m.served.Add(uint64(n))
	return n, err
}

func (m *Memory) read(ctx context.Context, gpa uint64, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		off, n, err := m.gm.Translate(gpa)
		if err != nil {
			return done, err
		}
		if rest := uint64(len(p) - done); n > rest {
			n = rest
		}
		if err := m.src.read(ctx, p[done:done+int(n)], gpa, off); err != nil {
			return done, err
		}
		done += int(n)
		gpa += n
		if gpa == 0 && done < len(p) {
			// Wrapped past 2^64: nothing is there.
			return done, &NotRAMError{GPA: 0, What: "address wraps past 2^64"}
		}
	}
	return done, nil
}

// Close releases the backend (unmaps, closes files). The Reference, if
// any, is the caller's to close.
func (m *Memory) Close() error {
	if m.src == nil {
		return nil
	}
	err := m.src.close()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
